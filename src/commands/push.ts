/** `bunker push`: upload an image to a registry. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { progressRenderer } from "./_progress.ts";

export default defineCommand({
  meta: { name: "push", description: "Upload an image to a registry", usage: "[OPTIONS] NAME[:TAG]", aliases: ["bunker image push", "bunker push"] },
  flags: {
    "all-tags": { type: "boolean", alias: "a", description: "Push all tags of an image to the repository" },
    "disable-content-trust": { type: "boolean", description: "Skip image signing", default: true, hidden: true },
    quiet: { type: "boolean", alias: "q", description: "Suppress verbose output" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const { parseReference, withDefaultTag, canonicalString } = await import("../engine/registry/reference.ts");
    let ref = parseReference(args[0]!);
    if (flags["all-tags"] && (ref.tag || ref.digest)) throw new CliError("tag can't be used with --all-tags/-a", 1);
    if (ref.digest) throw new CliError("cannot push a digest reference", 1);
    if (!flags["all-tags"] && !ref.tag && !ref.digest) {
      ref = withDefaultTag(ref);
      if (!flags.quiet) console.log(`Using default tag: ${ref.tag}`);
    }
    const backend = await openBackend(global);
    const show = flags.quiet ? () => {} : progressRenderer(process.stdout, process.stdout.isTTY === true);
    let streaming = false;
    try {
      await backend.push(canonicalString(ref), (m) => {
        streaming = true;
        show(m);
      });
    } catch (e) {
      // A failure reported in the progress stream is printed as the docker CLI prints a JSON stream's error:
      // the registry's (or daemon's) text alone, exit 1. One before the stream is an "Error response from daemon".
      if (streaming) throw new CliError((e as Error).message, 1);
      throw e;
    }
    if (flags.quiet) console.log(canonicalString(ref));
    return 0;
  },
});
