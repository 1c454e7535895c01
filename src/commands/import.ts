/** `bunker import`: import the contents from a tarball to create a filesystem image. */
import { openSync } from "node:fs";
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { progressRenderer } from "./_progress.ts";
import { fileStream } from "../fs/file-input.ts";

export default defineCommand({
  meta: { name: "import", description: "Import the contents from a tarball to create a filesystem image", usage: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", aliases: ["bunker image import", "bunker import"] },
  flags: {
    change: { type: "string", alias: "c", multiple: true, description: "Apply Dockerfile instruction to the created image", valueHint: "list" },
    message: { type: "string", alias: "m", description: "Set commit message for imported image", valueHint: "string" },
    platform: { type: "string", description: "Set platform if server is multi-platform capable", valueHint: "string" },
  },
  args: { min: 1, max: 2 },
  async run({ flags, args, global }) {
    const { parseReference } = await import("../engine/registry/reference.ts");
    const { parsePlatform } = await import("../engine/image/types.ts");
    const [source, ref] = args as [string, string | undefined];
    if (ref) parseReference(ref); // the docker CLI validates the reference before sending anything
    if (flags.platform) parsePlatform(flags.platform);
    // As the docker CLI: "-" is stdin, an http(s) URL is downloaded by the engine, anything else is a file.
    let body: ReadableStream<Uint8Array> | { url: string };
    if (source === "-") body = Bun.file(0).stream();
    else if (/^https?:\/\//.test(source)) body = { url: source };
    else {
      let fd: number;
      try {
        fd = openSync(source, "r");
      } catch (e) {
        // The docker CLI's os.Open error text.
        const text: Record<string, string> = { ENOENT: "no such file or directory", EACCES: "permission denied", EISDIR: "is a directory" };
        const code = (e as NodeJS.ErrnoException).code ?? "";
        throw new CliError(`open ${source}: ${text[code] ?? (e as Error).message}`, 1);
      }
      body = fileStream(fd);
    }
    const render = progressRenderer(process.stdout, process.stdout.isTTY === true);
    await (await openBackend(global)).importImage(body, { repo: ref, message: flags.message || undefined, changes: flags.change ?? [], platform: flags.platform || undefined }, render);
    return 0;
  },
});
