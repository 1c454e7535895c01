/** `bunker export`: a container's file system as a tar archive. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "export", description: "Export a container's filesystem as a tar archive", usage: "[OPTIONS] CONTAINER", aliases: ["bunker container export", "bunker export"] },
  flags: {
    output: { type: "string", alias: "o", description: "Write to a file, instead of STDOUT", valueHint: "string" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const out: string | undefined = flags.output || undefined;
    if (!out && process.stdout.isTTY) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
    const tar = await (await openBackend(global)).exportContainer(args[0]!);
    await writeStream(tar, out);
    return 0;
  },
});

/**
 * Writes a stream to stdout, or to `file` as the docker CLI's CopyToFile does: into a temporary file
 * beside it, renamed over it once complete, so a failed export leaves no partial file under its name.
 */
export async function writeStream(stream: ReadableStream<Uint8Array>, file?: string): Promise<void> {
  const tmp = file ? join(dirname(file), `.${basename(file)}.${process.pid}.tmp`) : undefined;
  const fd = tmp ? openSync(tmp, "wx", 0o600) : 1;
  try {
    for await (const chunk of stream) {
      for (let off = 0; off < chunk.length; ) {
        try {
          off += writeSync(fd, chunk, off);
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code === "EPIPE") process.exit(141);
          if (code !== "EAGAIN") throw e;
          await Bun.sleep(1);
        }
      }
    }
    if (tmp) {
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, file!);
    }
  } catch (e) {
    if (tmp) {
      try {
        closeSync(fd);
      } catch {}
      rmSync(tmp, { force: true });
    }
    throw e;
  }
}
