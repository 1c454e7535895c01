/** `bunker diff`: changes to files or directories on a container's filesystem (A/C/D). */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "diff", description: "Inspect changes to files or directories on a container's filesystem", usage: "CONTAINER", aliases: ["bunker container diff", "bunker diff"] },
  flags: {},
  args: { exact: 1 },
  async run({ args, global }) {
    const { changeLetter } = await import("../engine/containers/diff.ts");
    const changes = await (await openBackend(global)).changes(args[0]!);
    if (changes.length) console.log(changes.map((ch) => `${changeLetter(ch.Kind)} ${ch.Path}`).join("\n"));
    return 0;
  },
});
