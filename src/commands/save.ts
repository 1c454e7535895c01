/** `bunker save`: write images to a tar archive (Docker's legacy layout and an OCI layout in one). */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { checkArchiveOutput, writeArchive, writeArchiveFile } from "./_stdio.ts";

export default defineCommand({
  meta: { name: "save", description: "Save one or more images to a tar archive (streamed to STDOUT by default)", usage: "[OPTIONS] IMAGE [IMAGE...]", aliases: ["bunker image save", "bunker save"] },
  flags: {
    output: { type: "string", alias: "o", description: "Write to a file, instead of STDOUT", valueHint: "string" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const out: string | undefined = flags.output || undefined;
    checkArchiveOutput(out); // docker's check, before any request
    const backend = await openBackend(global);
    // Into a file, the engine writes itself (layer bodies copied by the kernel); to stdout, a stream.
    if (out) await writeArchiveFile(out, (fd) => backend.saveImagesInto(args, fd));
    else await writeArchive(await backend.saveImages(args), out);
    return 0;
  },
});
