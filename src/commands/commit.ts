/** `bunker commit`: create a new image from a container's changes. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "commit", description: "Create a new image from a container's changes", usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", aliases: ["bunker container commit", "bunker commit"] },
  flags: {
    author: { type: "string", alias: "a", description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")', valueHint: "string" },
    change: { type: "string", alias: "c", multiple: true, description: "Apply Dockerfile instruction to the created image", valueHint: "list" },
    message: { type: "string", alias: "m", description: "Commit message", valueHint: "string" },
    pause: { type: "boolean", alias: "p", default: true, description: "Pause container during commit" },
  },
  interspersed: false,
  args: { min: 1, max: 2 },
  async run({ flags, args, global }) {
    const { parseReference, familiarName } = await import("../engine/registry/reference.ts");
    // The docker CLI parses the reference and sends its familiar name and tag apart.
    let repo: string | undefined;
    let tag: string | undefined;
    if (args[1]) {
      const ref = parseReference(args[1]);
      if (ref.digest) throw new CliError("refusing to create a tag with a digest reference", 1);
      repo = familiarName(ref);
      tag = ref.tag;
    }
    const { Id } = await (await openBackend(global)).commit(args[0]!, {
      repo,
      tag,
      author: flags.author || undefined,
      comment: flags.message || undefined,
      changes: flags.change ?? [],
      pause: flags.pause !== false,
    });
    console.log(Id);
    return 0;
  },
});

