/**
 * The tar inside a file ADD may unpack: plain, gzip, zstd, bzip2 or xz, told by the magic number (moby's
 * compression.DecompressStream). gzip and zstd are Bun's DecompressionStream; bzip2 and xz have no
 * decompressor in Bun, so the host's `bzip2 -dc` / `xz -dc` read the bytes on stdin (no argument comes from
 * the build) and a failure of theirs fails the stream.
 */
import { CopyError } from "./copy.ts";

/** The decompressed content of what `open` streams (called again for the body once the magic is read). */
export async function archiveStream(open: () => ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const b = await head(open(), 6);
  if (b[0] === 0x1f && b[1] === 0x8b) return inflate(open(), "gzip");
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return inflate(open(), "zstd");
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return tool("bzip2", open());
  if (b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0) return tool("xz", open());
  return open();
}

function inflate(s: ReadableStream<Uint8Array>, kind: "gzip" | "zstd"): ReadableStream<Uint8Array> {
  return s.pipeThrough(new DecompressionStream(kind as "gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
}

/** The first `n` bytes (fewer at the end), the stream cancelled after. */
async function head(stream: ReadableStream<Uint8Array>, n: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let len = 0;
  try {
    while (len < n) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      len += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(parts);
}

/** `name -dc` as a filter: stdin the compressed stream, stdout the result; a non-zero exit errors at the end. */
function tool(name: "bzip2" | "xz", input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([name, "-dc"], { stdin: new Response(input), stdout: "pipe", stderr: "pipe" });
  } catch {
    throw new CopyError(`${name} is needed to unpack a ${name}-compressed archive and is not installed`);
  }
  const out = proc.stdout as ReadableStream<Uint8Array>;
  return out.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async flush() {
        const code = await proc.exited;
        if (code !== 0) throw new CopyError(`${name}: corrupt archive (${(await new Response(proc.stderr as ReadableStream).text()).trim()})`);
      },
    }),

  );
}
