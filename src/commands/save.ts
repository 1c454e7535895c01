/** `bunker save`: write images to a tar archive (Docker's legacy layout and an OCI layout in one). */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { closeSync } from "node:fs";
import { checkArchiveOutput, regularStdout, writeArchive, writeArchiveFile } from "./_stdio.ts";

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
    // Into a file, -o or stdout redirected to one, the engine writes itself (layer bodies copied by the
    // kernel); into a pipe, a stream.
    if (out) {
      await writeArchiveFile(out, (fd) => backend.saveImagesInto(args, fd));
      return 0;
    }
    const file = regularStdout();
    if (!file) await writeArchive(await backend.saveImages(args));
    else {
      try {
        await backend.saveImagesInto(args, 1, file);
      } finally {
        closeSync(file.readFd);
      }
    }
    return 0;
  },
});
