/** `bunker export`: a container's file system as a tar archive. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { checkArchiveOutput, writeArchive } from "./_stdio.ts";

export default defineCommand({
  meta: { name: "export", description: "Export a container's filesystem as a tar archive", usage: "[OPTIONS] CONTAINER", aliases: ["bunker container export", "bunker export"] },
  flags: {
    output: { type: "string", alias: "o", description: "Write to a file, instead of STDOUT", valueHint: "string" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const out: string | undefined = flags.output || undefined;
    checkArchiveOutput(out);
    await writeArchive(await (await openBackend(global)).exportContainer(args[0]!), out);
    return 0;
  },
});
