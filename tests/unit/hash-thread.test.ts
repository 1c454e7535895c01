import { describe, expect, test } from "bun:test";
import { ThreadHasher } from "../../src/fs/hash-thread.ts";

const reference = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** Bytes that differ at every position (a shifted or dropped chunk changes the digest). */
function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = x = (x * 1103515245 + 12345) >>> 16;
  return b;
}

/** Feeds `data` in chunks of the given sizes (cycled), waiting when the hasher says it is behind. */
async function hashInChunks(data: Uint8Array, sizes: number[]): Promise<string> {
  const h = new ThreadHasher();
  const scratch = new Uint8Array(Math.max(...sizes));
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - off);
    // The caller's buffer is reused at once, as save and load do: update must have copied it.
    scratch.set(data.subarray(off, off + n));
    h.update(scratch.subarray(0, n));
    scratch.fill(0);
    off += n;
    const behind = h.backlog();
    if (behind) await behind;
  }
  return h.digest();
}

describe("ThreadHasher", () => {
  test("the same digest as Bun.CryptoHasher for any size and chunking", async () => {
    for (const n of [0, 1, 1 << 20, (1 << 20) + 1, 9 * (1 << 20) + 12345]) {
      const data = bytes(n, n + 7);
      expect(await hashInChunks(data, [128 << 10])).toBe(reference(data));
      expect(await hashInChunks(data, [1, 4096, 1 << 20, 3 << 20, 77])).toBe(reference(data));
    }
  });

  test("hashes in flight at once stay apart", async () => {
    const inputs = [bytes(5 << 20, 1), bytes(3 << 20, 2), bytes(7 << 20, 3)];
    const digests = await Promise.all(inputs.map((d, i) => hashInChunks(d, [(i + 1) * 100_000])));
    expect(digests).toEqual(inputs.map(reference));
  });

  test("a cancelled hash does not disturb the next", async () => {
    const h = new ThreadHasher();
    h.update(bytes(6 << 20, 9));
    h.cancel();
    const data = bytes(4 << 20, 10);
    expect(await hashInChunks(data, [1 << 20])).toBe(reference(data));
  });

  test("the thread does not keep a process alive once its hashes are done or cancelled", () => {
    const module = new URL("../../src/fs/hash-thread.ts", import.meta.url).pathname;
    const script = `
      import { ThreadHasher } from ${JSON.stringify(module)};
      const a = new ThreadHasher().update(new Uint8Array(5 << 20));
      console.log(await a.digest());
      new ThreadHasher().update(new Uint8Array(3 << 20)).cancel();
    `;
    const r = Bun.spawnSync([process.execPath, "-e", script], { timeout: 20_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString().trim()).toBe(reference(new Uint8Array(5 << 20)));
  });
});
