/** `bunker load`: load images from a tar archive (docker save or OCI layout, gzip'd or not). */
import { isTerminal } from "./_terminal.ts";
import { openSync } from "node:fs";
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { progressRenderer } from "./_progress.ts";
import { fileStream } from "../fs/file-input.ts";

export default defineCommand({
  meta: { name: "load", description: "Load an image from a tar archive or STDIN", usage: "[OPTIONS]", aliases: ["bunker image load", "bunker load"] },
  flags: {
    input: { type: "string", alias: "i", description: "Read from tar archive file, instead of STDIN", valueHint: "string" },
    quiet: { type: "boolean", alias: "q", description: "Suppress the load output" },
  },
  args: { exact: 0 },
  async run({ flags, global }) {
    const input = flags.input as string | undefined;
    if (!input && isTerminal(0)) throw new CliError("requested load from stdin, but stdin is empty", 1);
    let stream: ReadableStream<Uint8Array>;
    if (input) {
      // Opened here, as the docker CLI does, so a missing file is the CLI's "open …" error before any request.
      let fd: number;
      try {
        fd = openSync(input, "r");
      } catch (e) {
        throw new CliError(`open ${input}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`, 1);
      }
      stream = fileStream(fd);
    } else {
      stream = Bun.stdin.stream();
    }
    const backend = await openBackend(global);
    // The docker CLI asks for a quiet load whenever its output is not a terminal.
    const quiet = !!flags.quiet || !process.stdout.isTTY;
    await backend.loadImages(stream, { quiet }, progressRenderer(process.stdout, process.stdout.isTTY === true));
    return 0;
  },
});
