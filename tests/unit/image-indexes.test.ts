/**
 * The store's multi-platform indexes (store/db.ts `imageIndexes`, store/images.ts): a pull through an index
 * records it with the platform it picked; a tag names the index it resolved; the index goes with its last
 * platform's image; a database from before the migration keeps its tags. SQLite files only, no root.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/engine/store/db.ts";
import { ImageStore, type NewImage } from "../../src/engine/store/images.ts";
import { tempDir } from "../helpers/bunker.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sha = (s: string) => `sha256:${new Bun.CryptoHasher("sha256").update(s).digest("hex")}`;
const bytes = (s: string) => new TextEncoder().encode(s);

/** A layerless image of `arch` picked from `index`, pulled as repo:tag. */
function platformImage(arch: string, index: { digest: string; raw: Uint8Array; mediaType: string }, tag: string): NewImage {
  const rawConfig = bytes(JSON.stringify({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const manifest = bytes(JSON.stringify({ schemaVersion: 2, config: { digest: sha(new TextDecoder().decode(rawConfig)) }, layers: [], arch }));
  return {
    id: sha(new TextDecoder().decode(rawConfig)),
    rawConfig,
    chainIds: [],
    size: 0,
    tag: { repository: "reg.test/multi", tag },
    digest: { repository: "reg.test/multi", digest: index.digest, manifest, mediaType: "application/vnd.oci.image.manifest.v1+json" },
    fromIndex: { index, manifestDigest: sha(new TextDecoder().decode(manifest)) },
  };
}

test("a pull through an index records it; each platform pulled joins it; the tag names it; it goes with its last platform", () => {
  const dir = tempDir("bunker-indexes-");
  dirs.push(dir);
  const db = openDatabase(join(dir, "bunker.db"));
  const store = new ImageStore(db);
  const raw = bytes('{"schemaVersion":2,"manifests":[]}');
  const index = { digest: sha(new TextDecoder().decode(raw)), raw, mediaType: "application/vnd.oci.image.index.v1+json" };
  const amd = platformImage("amd64", index, "list");
  store.commit(amd);
  expect([...store.tagIndex("reg.test/multi", "list")!.manifests.values()].map((m) => m.imageId)).toEqual([amd.id]);
  const arm = platformImage("arm64", index, "list");
  store.commit(arm); // the tag moves to arm64, the index now holds both
  const both = store.tagIndex("reg.test/multi", "list")!;
  expect(both.raw).toEqual(raw);
  expect(new Map([...both.manifests].map(([d, m]) => [d, m.imageId]))).toEqual(new Map([[amd.fromIndex!.manifestDigest, amd.id], [arm.fromIndex!.manifestDigest, arm.id]]));
  expect(both.manifests.get(arm.fromIndex!.manifestDigest)!.manifest).toEqual(arm.digest!.manifest);

  // A tag set without an index (tag by ID, load, build) names none.
  store.setTag("reg.test/other", "1", amd.id);
  expect(store.tagIndex("reg.test/other", "1")).toBeUndefined();

  const count = () => db.query("SELECT (SELECT count(*) FROM indexes) AS i, (SELECT count(*) FROM index_manifests) AS m").get();
  db.query("DELETE FROM images WHERE id = ?").run(arm.id);
  expect(count()).toEqual({ i: 1, m: 1 });
  db.query("DELETE FROM images WHERE id = ?").run(amd.id);
  expect(count()).toEqual({ i: 0, m: 0 });
  db.close();
});

test("a database from before the migration keeps its tags and gains the index tables", () => {
  const dir = tempDir("bunker-indexes-");
  dirs.push(dir);
  const path = join(dir, "bunker.db");
  const old = openDatabase(path);
  // Back to the schema before `imageIndexes` (user_version 7), with a tagged image in it.
  old.exec("DROP TRIGGER index_manifests_last; DROP TABLE index_manifests; DROP TABLE indexes; ALTER TABLE tags DROP COLUMN index_digest; PRAGMA user_version = 7");
  old.query("INSERT INTO images (id, config, top_layer, size, created_at) VALUES (?, ?, NULL, 0, 0)").run(sha("x"), bytes("{}"));
  old.query("INSERT INTO tags (repository, tag, image_id, created_at) VALUES ('reg.test/a', 'v1', ?, 0)").run(sha("x"));
  old.close();

  const db = openDatabase(path);
  expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBeGreaterThan(7);
  const store = new ImageStore(db);
  expect(store.byReference({ domain: "reg.test", path: "a", tag: "v1" })?.id).toBe(sha("x"));
  expect(store.tagIndex("reg.test/a", "v1")).toBeUndefined();
  expect(db.query("SELECT count(*) AS n FROM indexes").get()).toEqual({ n: 0 });
  db.close();
});
