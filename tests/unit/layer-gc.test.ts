/** Layer garbage collection on long chains: linear in the number of layers (rmi once took 62 s for 2,000). */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/engine/store/db.ts";
import { LayerStore } from "../../src/engine/store/layers.ts";
import { DataRoot } from "../../src/engine/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "bunker-gc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store holding a chain of `n` layer rows (no directories: collect removes missing ones quietly). */
function chain(n: number) {
  const root = new DataRoot(join(dir, `root-${n}`));
  const db = openDatabase(root.db);
  const insert = db.query("INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created_at) VALUES (?, ?, ?, ?, ?, 0)");
  db.transaction(() => {
    let parent: string | null = null;
    for (let i = 0; i < n; i++) {
      const id = `sha256:${new Bun.CryptoHasher("sha256").update(`${n}-${i}`).digest("hex")}`;
      insert.run(id, id, parent, id.slice(7), 10);
      parent = id;
    }
  })();
  return { store: new LayerStore(root, db), db };
}

test("collect frees a chain of 2,000 unreferenced layers in linear time", () => {
  const times: number[] = [];
  for (const n of [500, 2000]) {
    const { store, db } = chain(n);
    const t0 = performance.now();
    const out = store.collect() as unknown;
    times.push(performance.now() - t0);
    const removed = Array.isArray(out) ? out.length : (out as { layers: unknown[] }).layers.length;
    expect(removed).toBe(n);
    expect((db.query("SELECT count(*) AS n FROM layers").get() as { n: number }).n).toBe(0);
    db.close();
  }
  // 4x the layers: well under 16x the time (quadratic), and fast in absolute terms.
  expect(times[1]!).toBeLessThan(3000);
  expect(times[1]! / Math.max(times[0]!, 1)).toBeLessThan(10);
}, 30_000);

test("layers.parent is indexed", () => {
  const { db } = chain(1);
  const idx = db.query("SELECT name FROM pragma_index_list('layers')").all() as { name: string }[];
  expect(idx.map((i) => i.name)).toContain("layers_parent");
  db.close();
});
