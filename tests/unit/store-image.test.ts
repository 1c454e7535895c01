/**
 * The store as an Image source: which blob a layer names (the pulled manifest's, then blob_sources, then the
 * blob cache, then the tar itself), uncompressed() byte for byte, materialize() gzipping once into the cache
 * (and GC removing it with the layer), and the errors push and save act on (blobNotLocal, noTarSplit).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/engine/store/db.ts";
import { LayerStore, chainIds } from "../../src/engine/store/layers.ts";
import { ImageStore } from "../../src/engine/store/images.ts";
import { StoreImage, storeImage } from "../../src/engine/store/image-source.ts";
import { blobSourcesOf } from "../../src/engine/store/blob-sources.ts";
import { DataRoot } from "../../src/engine/paths.ts";
import { MediaType } from "../../src/engine/image/types.ts";
import { EngineError } from "../../src/engine/errors.ts";
import { unpackLayer } from "../../src/fs/unpack.ts";
import { dirname } from "node:path";
import { streamOf, tar } from "../helpers/tar-writer.ts";

const dir = mkdtempSync(join(tmpdir(), "bunker-storeimage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const bytes = async (s: ReadableStream<Uint8Array>): Promise<Uint8Array> => new Uint8Array(await new Response(s).arrayBuffer());

/** A store with one two-layer image, unpacked with tar-split records as pull does. */
async function setup(name: string) {
  const root = new DataRoot(join(dir, name));
  const db = openDatabase(root.db);
  const layers = new LayerStore(root, db);
  const images = new ImageStore(db);
  const tars = [tar([{ name: "a", data: "alpha" }]), tar([{ name: "b", data: "x".repeat(5000) }])];
  const diffIds = tars.map(sha);
  const chains = chainIds(diffIds);
  for (let i = 0; i < tars.length; i++) {
    await layers.ensure(chains[i]!, diffIds[i]!, i ? chains[i - 1]! : null, (d) => unpackLayer(streamOf(tars[i]!), d, { tarSplitDir: dirname(d) }));
  }
  const rawConfig = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }));
  const id = sha(rawConfig);
  images.commit({ id, rawConfig, chainIds: chains, size: 0, tag: { repository: "docker.io/library/t", tag: "latest" } });
  return { root, db, layers, images, tars, diffIds, chains, id };
}

test("layers stream back byte for byte; without any blob record a layer is its own uncompressed blob", async () => {
  const s = await setup("plain");
  const img = storeImage(s.root, s.images, s.layers, "t");
  expect(img.id).toBe(s.id);
  expect(img.rawConfig).toEqual(s.images.get(s.id)!.rawConfig);
  expect(img.manifest.config.digest).toBe(s.id);
  const [l0, l1] = img.layers();
  expect(await bytes(await l0!.uncompressed())).toEqual(s.tars[0]!);
  expect(l1!.digest).toBe(s.diffIds[1]!);
  expect(l1!.mediaType).toBe(MediaType.OCI_LAYER);
  expect(l1!.size).toBe(s.tars[1]!.length);
  expect(await bytes(await l1!.compressed())).toEqual(s.tars[1]!);
});

test("a pulled layer names the registry's blob; compressed() says it is not here, uncompressed() rebuilds the tar", async () => {
  const s = await setup("pulled");
  const registryBlob = { digest: `sha256:${"a".repeat(64)}`, mediaType: MediaType.DOCKER_LAYER_GZIP, size: 123, repository: "docker.io/library/t" };
  blobSourcesOf(s.db).add({ diffId: s.diffIds[0]!, ...registryBlob });
  const img = new StoreImage(s.root, s.images, s.layers, s.images.resolve("t"));
  const l0 = img.layers()[0]!;
  expect(l0.digest).toBe(registryBlob.digest);
  const err = await l0.compressed().catch((e) => e);
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe("blobNotLocal");
  expect(await bytes(await l0.uncompressed!())).toEqual(s.tars[0]!);
  // A layer no registry is known to hold is its own uncompressed blob.
  expect(img.layers()[1]!.digest).toBe(s.diffIds[1]!);
});

test("a layer without a tar-split record is refused naming it, before any byte", async () => {
  const s = await setup("old");
  const rec = s.layers.get(s.chains[1]!)!;
  rmSync(join(s.layers.dir(rec), "tar-split.gz"));
  rmSync(join(s.layers.dir(rec), "tar-size"));
  expect(existsSync(join(s.layers.dir(rec), "diff"))).toBe(true);
  // Refused when the Image is made (its size is the tar's) or when the tar is asked for, whichever comes first.
  const err = await (async () => storeImage(s.root, s.images, s.layers, s.id).layers()[1]!.uncompressed())().catch((e) => e);
  expect((err as EngineError).code).toBe("noTarSplit");
  expect((err as Error).message).toContain(`layer ${s.diffIds[1]} was unpacked by an older bunker`);
  expect((err as Error).message).toContain("re-pull the image");
});
