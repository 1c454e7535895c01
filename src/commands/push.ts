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
    if (!flags["all-tags"] && !ref.tag && !ref.digest) {
      ref = withDefaultTag(ref);
      if (!flags.quiet) console.log(`Using default tag: ${ref.tag}`);
    }
    const backend = await openBackend(global);
    const render = flags.quiet ? () => {} : progressRenderer(process.stdout, process.stdout.isTTY === true);
    await backend.push(canonicalString(ref), render);
    if (flags.quiet) console.log(canonicalString(ref));
    return 0;
  },
});
