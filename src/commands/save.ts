/** `bunker save`: write images to a tar archive (Docker's legacy layout and an OCI layout in one). */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isatty } from "node:tty";
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "save", description: "Save one or more images to a tar archive (streamed to STDOUT by default)", usage: "[OPTIONS] IMAGE [IMAGE...]", aliases: ["bunker image save", "bunker save"] },
  flags: {
    output: { type: "string", alias: "o", description: "Write to a file, instead of STDOUT", valueHint: "string" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const output = flags.output as string | undefined;
    // docker's check, before any request: a tar on a terminal is never what was meant.
    if (!output && isatty(1)) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
    const backend = await openBackend(global);
    const archive = await backend.saveImages(args);
    if (!output) {
      await writeAll(1, archive);
      return 0;
    }
    // As the docker CLI's CopyToFile: a temporary file beside the target, renamed once complete, so a
    // failure or kill leaves the target as it was.
    const tmp = join(dirname(output), `.${basename(output)}.bunker-save-${process.pid}`);
    const fd = openSync(tmp, "wx", 0o644);
    try {
      await writeAll(fd, archive);
      closeSync(fd);
      renameSync(tmp, output);
    } catch (e) {
      try {
        closeSync(fd);
      } catch {}
      rmSync(tmp, { force: true });
      throw e;
    }
    return 0;
  },
});

/** Writes the stream to `fd` (blocking writes; EAGAIN on a non-blocking pipe waited for). */
async function writeAll(fd: number, stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length; ) {
      try {
        off += writeSync(fd, chunk, off);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === "EPIPE") process.exit(141);
        if (code !== "EAGAIN") throw e;
        Bun.sleepSync(1);
      }
    }
  }
}
