/** `bunker push`: upload an image to a registry. */
import { checkPlatformFlag, CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { progressRenderer } from "./_progress.ts";

export default defineCommand({
  meta: { name: "push", description: "Upload an image to a registry", usage: "[OPTIONS] NAME[:TAG]", aliases: ["bunker image push", "bunker push"] },
  flags: {
    "all-tags": { type: "boolean", alias: "a", description: "Push all tags of an image to the repository" },
    "disable-content-trust": { type: "boolean", description: "Skip image signing", default: true, hidden: true },
    platform: {
      type: "string",
      description: "Push a platform-specific manifest as a single-platform image to the registry.\nImage index won't be pushed, meaning that other manifests, including attestations won't be preserved.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
      valueHint: "string",
    },
    quiet: { type: "boolean", alias: "q", description: "Suppress verbose output" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    // As the docker CLI: the platform is checked, and its note printed, before the name is.
    if (flags.platform) {
      await checkPlatformFlag(flags.platform, `Invalid platform ${flags.platform}`);
      process.stdout.write(note(["Using --platform pushes only the specified platform manifest of a multi-platform image index.", "Other components, like attestations, will not be included.", "To push the complete multi-platform image, remove the --platform flag.", ""]));
    }
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
    const notes: string[] = [];
    try {
      await backend.push(canonicalString(ref), { platform: flags.platform }, (m) => {
        streaming = true;
        const aux = m.aux as { manifestPushedInsteadOfIndex?: boolean; originalIndex?: { digest: string }; selectedManifest?: { digest: string } } | undefined;
        if (aux?.manifestPushedInsteadOfIndex) {
          const [red, green] = process.stdout.isTTY ? [(s: string) => `\x1b[31m${s}\x1b[0m`, (s: string) => `\x1b[32m${s}\x1b[0m`] : [(s: string) => s, (s: string) => s];
          notes.push(note(["Not all multiplatform-content is present and only the available single-platform image was pushed", `${red(aux.originalIndex!.digest)} -> ${green(aux.selectedManifest!.digest)}`]));
        }
        show(m);
      });
      if (flags.quiet) console.log(canonicalString(ref));
    } catch (e) {
      // A failure reported in the progress stream is printed as the docker CLI prints a JSON stream's error:
      // the registry's (or daemon's) text alone, exit 1. One before the stream is an "Error response from daemon".
      if (streaming) throw new CliError((e as Error).message, 1);
      throw e;
    } finally {
      // After the stream (and the -q name), as the docker CLI's deferred notes.
      for (const n of notes) process.stdout.write(n);
    }
    return 0;
  },
});

/**
 * A note as the docker CLI 28.2 prints one on stdout: a blank line, " Info -> ", then each line indented
 * under the first. On a terminal the header is styled and the lines italic, as its printNote does.
 */
function note(lines: string[]): string {
  const tty = process.stdout.isTTY === true;
  const ansi = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
  const header = tty ? ansi("1", `${ansi("106", ansi("30", "i"))} ${ansi("96", "Info → ")}`) : " Info -> ";
  return `\n${header}${lines.map((l) => `${ansi("3", l)}\n`).join(" ".repeat(9))}`;
}
