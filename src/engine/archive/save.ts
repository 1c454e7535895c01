/**
 * `docker save`: images from the store as one tar stream holding both of Docker 25+'s layouts at once,
 * every blob stored once under blobs/sha256/:
 * - Docker's legacy layout: manifest.json ([{Config, RepoTags, Layers}], Layers naming the uncompressed layer
 *   blobs) and repositories ({familiar name: {tag: top layer's diff ID hex}});
 * - an OCI image layout: oci-layout, index.json (one descriptor per tag, annotated with
 *   io.containerd.image.name and org.opencontainers.image.ref.name; one without annotations for an image
 *   saved by ID), and per image an OCI manifest whose layers are the same uncompressed blobs
 *   (application/vnd.oci.image.layer.v1.tar, digest = diff ID).
 * Layer tars stream from their tar-split records (store/image-source.ts), never buffered; each is checked
 * against its diff ID as it goes, and the stream errors if one does not match.
 */
import type { Engine } from "../engine.ts";
import { EngineError } from "../errors.ts";
import { MediaType, type Descriptor, type Manifest, type Platform } from "../image/types.ts";
import { type Reference, parseReference, familiarName, familiarString, canonicalString, repositoryName } from "../registry/reference.ts";
import { StoreImage, type StoreLayer } from "../store/image-source.ts";
import { eventsOf } from "../events.ts";
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from "../../fs/tar-write.ts";
import { fullJit } from "../../jit.ts";

const utf8 = new TextEncoder();
const hex = (d: string) => d.replace(/^sha256:/, "");
const ID_RE = /^(sha256:)?[a-f0-9]{64}$/;

/** One image to save and the tags it is saved with. */
interface SaveItem {
  image: StoreImage;
  tags: Reference[];
}

/**
 * Resolves names as moby's tarexport parseNames does: an ID (full, or a prefix) saves the image untagged;
 * a name with a tag saves that tag; a name alone saves every tag of that repository (or, if none, an image
 * whose ID starts with it); a name@digest saves the image untagged. Throws "No such image" before any byte.
 */
function resolveNames(engine: Engine, names: string[]): SaveItem[] {
  const items = new Map<string, SaveItem>();
  const add = (id: string, tag?: Reference) => {
    let item = items.get(id);
    if (!item) {
      const record = engine.images.get(id)!;
      items.set(id, (item = { image: new StoreImage(engine.root, engine.images, engine.layers, record), tags: [] }));
    }
    if (tag && !item.tags.some((t) => canonicalString(t) === canonicalString(tag))) item.tags.push(tag);
  };
  for (const name of names) {
    if (ID_RE.test(name)) {
      add(engine.images.resolve(name).id);
      continue;
    }
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch (e) {
      // Not a reference: maybe an ID prefix ("docker save 4a1b").
      const found = engine.images.lookup(name);
      if (!found) throw e;
      add(found.id);
      continue;
    }
    if (ref.digest) {
      add(engine.images.resolve(name).id);
    } else if (ref.tag === undefined) {
      const tagged = engine.images.repositoryTags(repositoryName(ref));
      for (const tag of tagged) add(engine.images.byReference({ ...ref, tag })!.id, { ...ref, tag });
      if (!tagged.length) add(engine.images.resolve(name).id);
    } else {
      add(engine.images.resolve(name).id, ref);
    }
  }
  return [...items.values()];
}

/** The member header of a file in the archive (moby's archive.Tar of its temp dir: root-owned, 0644). */
function fileHeader(name: string, size: number, mtime: number): TarHeader {
  return { name, type: "file", mode: 0o644, size, mtime };
}

/**
 * The images to save, resolved and every layer's tar-split checked, so that a missing image or an old layer
 * fails before any byte is written; the save is announced.
 */
function prepare(engine: Engine, names: string[]): SaveItem[] {
  fullJit(); // the tar-split records of every layer are parsed record by record
  if (!names.length) throw new EngineError("invalidParameter", "no images to save");
  const items = resolveNames(engine, names);
  for (const { image } of items) {
    if (!image.config.rootfs?.diff_ids?.length) throw new EngineError("invalidParameter", `image ${image.id}: empty export - not implemented`);
    for (const l of image.layers()) l.tarSize(); // no tar-split: "re-pull the image", now rather than mid-stream
  }
  for (const { image } of items) eventsOf(engine).publish("image", "save", image.id, { name: image.id });
  return items;
}

/** The archive `docker save names...` writes, as a stream (GET /images/get, save to stdout). */
export function saveImages(engine: Engine, names: string[]): ReadableStream<Uint8Array> {
  return toStream(members(prepare(engine, names)));
}

/**
 * The same archive written into the regular file `fd` (`save -o`: a new file open for reading and writing;
 * `save > file`: stdout, with `opts` as ArchiveFile takes them): layer bodies are copied by the kernel, and
 * each layer's diff ID is checked on what was written, read back by the hash thread. Rejects after the last
 * byte if one does not match; the fds must stay open until then.
 */
export async function saveImagesInto(engine: Engine, names: string[], fd: number, opts: { readFd?: number; at?: number } = {}): Promise<void> {
  const { ArchiveFile } = await import("../../fs/archive-file.ts");
  const out = new ArchiveFile(fd, opts);
  // Each layer's check settles while later layers are written; its outcome is kept (an error, or null) so
  // that a rejection waits here rather than going unhandled.
  const checks: Promise<unknown>[] = [];
  let failed: unknown = null;
  try {
    for await (const piece of members(prepare(engine, names))) {
      if (piece instanceof Uint8Array) out.write(piece);
      else checks.push((await piece.writeTar(out)).checked.then(() => null, (e: unknown) => e));
    }
    out.flush();
  } catch (e) {
    failed = e;
  }
  // Also after a failure: the hash thread may still be reading `fd`, which the caller closes next.
  const mismatch = (await Promise.all(checks)).find((e) => e !== null);
  if (failed || mismatch) throw failed ?? mismatch;
}

type Piece = Uint8Array | StoreLayer;

/** The archive as pieces: bytes, or a layer whose tar is read when the reader gets there. */
async function* members(items: SaveItem[]): AsyncGenerator<Piece> {
  const written = new Set<string>();
  const blob = function* (digest: string, bytes: Uint8Array, mtime: number): Generator<Piece> {
    if (written.has(digest)) return;
    written.add(digest);
    yield encodeHeader(fileHeader(`blobs/sha256/${hex(digest)}`, bytes.length, mtime));
    yield bytes;
    yield padding(bytes.length);
  };
  yield encodeHeader({ name: "blobs/", type: "dir", mode: 0o755, size: 0 });
  yield encodeHeader({ name: "blobs/sha256/", type: "dir", mode: 0o755, size: 0 });

  const legacy: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const index: Descriptor[] = [];
  for (const { image, tags } of items) {
    const created = image.config.created ? Math.floor(Date.parse(image.config.created) / 1000) || 0 : 0;
    const layers: StoreLayer[] = image.layers();
    const descriptors: Descriptor[] = [];
    for (const layer of layers) {
      const size = layer.tarSize();
      descriptors.push({ mediaType: MediaType.OCI_LAYER, digest: layer.diffId, size });
      if (written.has(layer.diffId)) continue;
      written.add(layer.diffId);
      yield encodeHeader(fileHeader(`blobs/sha256/${hex(layer.diffId)}`, size, created));
      yield layer;
      yield padding(size);
    }
    yield* blob(image.id, image.rawConfig, created);
    const platform: Platform = { architecture: image.config.architecture, os: image.config.os, ...(image.config.variant ? { variant: image.config.variant } : {}) };
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: image.id, size: image.rawConfig.length, platform },
      layers: descriptors,
    };
    const rawManifest = utf8.encode(JSON.stringify(manifest));
    const manifestDigest = `sha256:${new Bun.CryptoHasher("sha256").update(rawManifest).digest("hex")}`;
    yield* blob(manifestDigest, rawManifest, 0);
    const descriptor = { mediaType: MediaType.OCI_MANIFEST, digest: manifestDigest, size: rawManifest.length, platform };
    for (const tag of tags) {
      (repositories[familiarName(tag)] ??= {})[tag.tag!] = hex(layers.at(-1)!.diffId);
      index.push({ ...descriptor, annotations: { "io.containerd.image.name": canonicalString(tag), "org.opencontainers.image.ref.name": tag.tag! } });
    }
    if (!tags.length) index.push(descriptor);
    legacy.push({ Config: `blobs/sha256/${hex(image.id)}`, RepoTags: tags.length ? tags.map(familiarString) : null, Layers: layers.map((l) => `blobs/sha256/${hex(l.diffId)}`) });
  }
  const file = function* (name: string, text: string): Generator<Piece> {
    const bytes = utf8.encode(text);
    yield encodeHeader(fileHeader(name, bytes.length, 0));
    yield bytes;
    yield padding(bytes.length);
  };
  yield* file("index.json", JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: index }));
  yield* file("manifest.json", `${JSON.stringify(legacy)}\n`);
  yield* file("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  if (Object.keys(repositories).length) yield* file("repositories", `${JSON.stringify(repositories)}\n`);
  yield END_OF_ARCHIVE;
}

/** A layer's reader: BYOB (`read(view)`) when the archive's reader brings its own buffer, else the default one. */
interface LayerReader {
  read(view?: Uint8Array<ArrayBuffer>): Promise<{ done: boolean; value?: Uint8Array<ArrayBuffer> }>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Pieces as a byte stream, pulled as the consumer reads (one layer chunk in memory at a time). A BYOB reader
 * (`save -o`) gets small pieces gathered into its buffer and layer bytes read straight into it, so one buffer
 * carries the whole archive; any other reader gets the pieces as chunks.
 */
function toStream(pieces: AsyncGenerator<Piece>): ReadableStream<Uint8Array> {
  let layer: LayerReader | null = null;
  let pending: Uint8Array | null = null; // the rest of a piece a BYOB buffer had no room for
  const nextPiece = async (): Promise<Piece | null> => {
    if (pending) {
      const p = pending;
      pending = null;
      return p;
    }
    const next = await pieces.next();
    return next.done ? null : next.value;
  };
  return new ReadableStream<Uint8Array>(
    {
      type: "bytes",
      async pull(c) {
        const request = c.byobRequest;
        if (!request) {
          for (;;) {
            if (layer) {
              const r = await layer.read();
              if (!r.done) return c.enqueue(r.value!);
              layer = null;
            }
            const piece = await nextPiece();
            if (piece === null) return c.close();
            if (!(piece instanceof Uint8Array)) layer = (await piece.uncompressed()).getReader() as LayerReader;
            // A copy: enqueue takes the chunk's buffer, and a piece may be shared (END_OF_ARCHIVE, a config).
            else if (piece.length) return c.enqueue(piece.slice());
          }
        }
        // The buffer being filled; a layer's read hands it back as a new view of the same (transferred) memory.
        let view = request.view as Uint8Array<ArrayBuffer>;
        const size = view.length; // `view` is detached while a layer reads into its memory
        let fill = 0;
        const answer = () => request.respondWithNewView(view.subarray(0, fill));
        for (;;) {
          if (layer) {
            if (fill) return answer(); // a layer's read takes a whole buffer
            const r = await layer.read(view);
            const back = r.value!;
            if (!r.done) return request.respondWithNewView(back);
            layer = null;
            view = new Uint8Array(back.buffer, back.byteOffset, size);
            continue;
          }
          const piece = await nextPiece();
          if (piece === null) {
            if (fill) return answer();
            c.close();
            return request.respondWithNewView(view.subarray(0, 0));
          }
          if (!(piece instanceof Uint8Array)) {
            layer = (await piece.uncompressed()).getReader({ mode: "byob" }) as LayerReader;
            continue;
          }
          const n = Math.min(piece.length, view.length - fill);
          view.set(piece.subarray(0, n), fill);
          fill += n;
          if (n < piece.length) {
            pending = piece.subarray(n);
            return answer();
          }
        }
      },
      async cancel(reason) {
        await layer?.cancel(reason).catch(() => {});
        await pieces.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
