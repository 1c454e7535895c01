/**
 * Why pulls stream layers into the unpacker before their digest is known: the debian test image's layer
 * unpacked straight from the registry stream (digest checked at the end), against downloading it to a file,
 * verifying it and then unpacking the file (Docker's order), interleaved. Not a test.
 *
 *   bun scripts/bench/pull-verify.ts [rounds]
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { RegistryClient } from "../../src/engine/registry/client.ts";
import { parseReference } from "../../src/engine/registry/reference.ts";
import { unpackLayer } from "../../src/fs/unpack.ts";
import { fullJit } from "../../src/jit.ts";

const rounds = Number(process.argv[2] ?? 5);
fullJit(); // as a pull does
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-verify-"));
try {
  const image = await new RegistryClient().image(parseReference(`${reg.host}/debian:bookworm`));
  const layer = image.layers()[0]!;
  let n = 0;
  const fresh = () => {
    const d = join(work, String(n++));
    mkdirSync(d);
    return d;
  };
  const streaming = async () => {
    await unpackLayer(await layer.compressed(), fresh());
  };
  const verifyFirst = async () => {
    const dir = fresh();
    const blob = `${dir}.blob`;
    const fd = openSync(blob, "wx", 0o600);
    for await (const chunk of await layer.compressed()) for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    closeSync(fd);
    await unpackLayer(Bun.file(blob).stream(), dir);
  };
  const times: Record<string, number[]> = { streaming: [], "verify first": [] };
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs on a cache the other warmed.
    const order = [["streaming", streaming], ["verify first", verifyFirst]] as const;
    for (const [name, fn] of r % 2 ? [...order].reverse() : order) {
      const t0 = performance.now();
      await fn();
      times[name]!.push(performance.now() - t0);
    }
  }
  const s = median(times.streaming!);
  const v = median(times["verify first"]!);
  console.log(`debian layer (${(layer.size / 1e6).toFixed(1)} MB), ${rounds} rounds: streaming ${s.toFixed(0)} ms, verify first ${v.toFixed(0)} ms (${(v / s).toFixed(2)}x)`);
} finally {
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
