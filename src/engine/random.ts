/**
 * Random IDs and picks from the Web Crypto global. Why not node:crypto: importing it loads Node's stream
 * machinery (~2-3 ms per process), and every CLI command that creates or lists anything would pay for it.
 */

/** `bytes` random bytes as lowercase hex: 32 bytes is a Docker object ID. */
export function randomHex(bytes = 32): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

/** `n` random bytes. */
export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A uniform integer in [0, max), without modulo bias (as node:crypto's randomInt). */
export function randomInt(max: number): number {
  const limit = 2 ** 32 - (2 ** 32 % max);
  const buf = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0]! < limit) return buf[0]! % max;
  }
}
