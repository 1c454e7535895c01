/**
 * The store as an `Image` source (image/types.ts): an image found by ID or reference, its config bytes as
 * stored (so its ID is kept), its layers streamed back byte for byte from their tar-split records.
 *
 * A layer's distributed blob (`digest`, `size`, `mediaType`), in this order:
 * 1. the image's own stored manifest (the one it was pulled with), so a pulled image pushed unchanged keeps
 *    its manifest digest;
 * 2. the most recent registry blob recorded for its diff ID (blob-sources.ts: Docker's v2metadata, written at
 *    pull and push);
 * 3. the layer tar itself, uncompressed (digest = diff ID, media type application/vnd.oci.image.layer.v1.tar).
 * `compressed()` streams the reassembled tar for 3; for 1 and 2 the blob is only a name the registry knows,
 * so it rejects with code "blobNotLocal". No compressed copy is kept: push gzips `uncompressed()` while it
 * uploads and remembers the digest by diff ID (engine/push.ts, blob-sources.ts), so a layer is never stored twice.
 */
import { MediaType, type Descriptor, type Image, type ImageConfig, type Layer, type Manifest } from "../image/types.ts";
import { EngineError } from "../errors.ts";
import type { DataRoot } from "../paths.ts";
import type { ImageStore, ImageRecord } from "./images.ts";
import type { LayerRecord, LayerStore } from "./layers.ts";
import { blobSourcesOf } from "./blob-sources.ts";

/** A distributed blob a layer is known as. */
interface LayerBlob {
  digest: string;
  mediaType: string;
  size: number;
  repository: string;
}
import { assembleLayerTar, TarSplitMissingError, recordedTarSize, writeLayerTar } from "../../fs/tar-split.ts";
import type { ArchiveFile } from "../../fs/archive-file.ts";

const hex = (d: string) => d.replace(/^sha256:/, "");
const utf8 = new TextEncoder();

/** One stored layer as an image layer. */
export class StoreLayer implements Layer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly diffId: string;
  readonly #dir: string;

  /** `blob`: the distributed blob it is known as (see the file's header), or none: the tar itself. */
  constructor(
    readonly root: DataRoot,
    readonly record: LayerRecord,
    dir: string,
    blob: Pick<Descriptor, "digest" | "size" | "mediaType"> | undefined,
  ) {
    this.diffId = record.diffId;
    this.#dir = dir;
    this.digest = blob?.digest ?? record.diffId;
    this.size = blob?.size ?? this.tarSize();
    this.mediaType = blob?.mediaType ?? MediaType.OCI_LAYER;
  }

  /** Bytes of the layer tar, from its tar-split record. */
  tarSize(): number {
    try {
      return recordedTarSize(this.#dir);
    } catch (e) {
      throw this.#missing(e);
    }
  }

  async uncompressed(): Promise<ReadableStream<Uint8Array>> {
    try {
      return assembleLayerTar(this.#dir, this.diffId);
    } catch (e) {
      throw this.#missing(e);
    }
  }

  /**
   * Writes the layer tar into the archive file `out` (`save -o`: bodies copied by the kernel); `checked`
   * rejects unless what was written hashes to the diff ID (see writeLayerTar).
   */
  async writeTar(out: ArchiveFile): Promise<{ checked: Promise<void> }> {
    try {
      return await writeLayerTar(this.#dir, this.diffId, out);
    } catch (e) {
      throw this.#missing(e);
    }
  }

  async compressed(): Promise<ReadableStream<Uint8Array>> {
    if (this.digest === this.diffId) return this.uncompressed();
    throw new EngineError("notFound", `layer ${this.diffId}: blob ${this.digest} is known from ${this.mediaType} but not held locally`, { code: "blobNotLocal" });
  }

  #missing(e: unknown): unknown {
    if (e instanceof TarSplitMissingError) {
      return new EngineError("conflict", `layer ${this.diffId} was unpacked by an older bunker without a tar-split record, so its tar cannot be rebuilt: re-pull the image (rmi it, then pull)`, { code: "noTarSplit" });
    }
    return e;
  }
}

/** A stored image as an `Image`. */
export class StoreImage implements Image {
  readonly digest: string;
  readonly manifest: Manifest;
  readonly rawManifest: Uint8Array;
  readonly manifestMediaType: string;
  readonly config: ImageConfig;
  readonly rawConfig: Uint8Array;
  readonly id: string;
  readonly #layers: StoreLayer[];

  constructor(root: DataRoot, images: ImageStore, layers: LayerStore, readonly record: ImageRecord) {
    this.id = record.id;
    this.config = record.config;
    this.rawConfig = record.rawConfig;
    const diffIds = record.config.rootfs?.diff_ids ?? [];
    const chains = images.chainIds(record.id);
    if (chains.length !== diffIds.length) throw new EngineError("system", `image ${record.id}: the store lists ${chains.length} layers, its config ${diffIds.length}`);
    const pulled = pulledManifest(images, record.id, diffIds.length);
    const sources = blobSourcesOf(layers.db);
    this.#layers = chains.map((c, i) => {
      const rec = layers.get(c);
      if (!rec) throw new EngineError("system", `image ${record.id}: layer ${c} is missing from the store`);
      return new StoreLayer(root, rec, layers.dir(rec), pulled?.manifest.layers[i] ?? sources.forDiffId(rec.diffId).find((b) => b.repository !== ""));
    });
    if (pulled) {
      this.manifest = pulled.manifest;
      this.rawManifest = pulled.raw;
      this.manifestMediaType = pulled.mediaType;
    } else {
      const docker = this.#layers.every((l) => l.mediaType === MediaType.DOCKER_LAYER_GZIP);
      this.manifestMediaType = docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST;
      this.manifest = {
        schemaVersion: 2,
        mediaType: this.manifestMediaType,
        config: { mediaType: docker ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG, digest: record.id, size: record.rawConfig.length },
        layers: this.#layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      };
      this.rawManifest = utf8.encode(JSON.stringify(this.manifest));
    }
    this.digest = `sha256:${new Bun.CryptoHasher("sha256").update(this.rawManifest).digest("hex")}`;
  }

  layers(): StoreLayer[] {
    return this.#layers;
  }
}

/** The manifest an image was pulled with, when it names this config and layer count. */
function pulledManifest(images: ImageStore, id: string, layerCount: number): { manifest: Manifest; raw: Uint8Array; mediaType: string } | undefined {
  for (const m of images.manifests(id)) {
    try {
      const manifest = JSON.parse(new TextDecoder().decode(m.manifest)) as Manifest;
      if (manifest.config?.digest === id && manifest.layers?.length === layerCount) return { manifest, raw: m.manifest, mediaType: m.mediaType };
    } catch {}
  }
  return undefined;
}

/** The image `refOrId` names in the store, as an `Image` (throws "No such image"). */
export function storeImage(root: DataRoot, images: ImageStore, layers: LayerStore, refOrId: string): StoreImage {
  return new StoreImage(root, images, layers, images.resolve(refOrId));
}
