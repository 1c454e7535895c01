/**
 * Docker's stdcopy framing, for the API's logs of a container without a TTY.
 */
import type { LogChunk } from "./types.ts";

/** Docker's stdcopy framing of chunks (for the API when the container has no TTY): 8-byte header per chunk. */
export function stdcopyFrames(chunks: LogChunk[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += 8 + c.data.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const c of chunks) {
    out[o] = c.stream === "stdout" ? 1 : 2;
    out[o + 1] = out[o + 2] = out[o + 3] = 0;
    out.writeUInt32BE(c.data.length, o + 4);
    out.set(c.data, o + 8);
    o += 8 + c.data.length;
  }
  return out;
}
