/**
 * Image archives (`docker save` output, legacy or Docker 25+, and plain OCI image layouts, whole archive
 * gzip'd or not) as an `Image` source.
 *
 * The outer archive is read once, as a stream. Its metadata (manifest.json, index.json, configs, manifests)
 * comes last in docker's archives, so layers cannot wait for it: every member that is not small JSON is
 * unpacked at once, as it streams past, into its own staging directory under the data root's tmp/ (with its
 * tar-split record), which yields its diff ID; the bytes are hashed too, so a blob named by digest is checked.
 * No member is ever written under its own name: the archive's names only index these records, so `../`,
 * absolute names and links in the outer archive cannot reach the file system. Once the archive ended, the
 * manifests are read and each image's layers are looked up among the staged ones by path (symlinks and
 * hardlinks between members, as older docker versions wrote for shared layers, are followed inside the
 * archive's name space only). Loading then moves a staged directory into the layer store (load.ts).
 */
import { mkdirSync, rmSync } from "node:fs";
import { EngineError } from "../errors.ts";
import { MediaType, type Image, type ImageConfig, type Layer, type Manifest, type Index, hostPlatform } from "../image/types.ts";
import { parseReference, withDefaultTag, type Reference } from "../registry/reference.ts";
import { randomHex } from "../random.ts";
import { TarError, TarReader, type TarEntry, type TarSink } from "../../fs/tar.ts";
import { decompressed, LayerError, unpackLayer } from "../../fs/unpack.ts";
import { assembleLayerTar, recordedTarSize } from "../../fs/tar-split.ts";
import { fileInputOf } from "../../fs/file-input.ts";

/** Largest JSON member kept in memory (configs and manifests are a few KiB; Docker caps manifests at 4 MiB). */
const MAX_JSON = 8 << 20;
/** Bytes of a member read before deciding whether it is JSON or a layer. */
const SNIFF = 512;

/** What one archive member turned out to be. */
type Member =
  | { kind: "json"; digest: string; bytes: Uint8Array }
  | { kind: "layer"; digest: string; size: number; dir: string; diffId: string; unpackedSize: number; compressed: boolean }
  | { kind: "bad"; digest: string; error: string }
  | { kind: "link"; target: string }
  | { kind: "other" };

/** An archive's image: Image, plus the tags it was saved with. */
export interface ArchiveImage extends Image {
  /** References from manifest.json's RepoTags or the OCI index's annotations. */
  readonly tags: Reference[];
  layers(): StagedLayer[];
}

/** The archive is malformed or hostile. */
export const badArchive = (msg: string) => new EngineError("invalidParameter", msg);

/** A layer unpacked from the archive into a staging directory, not yet in the store. */
export class StagedLayer implements Layer {
  /** The store's layer directory once the staging directory was moved there (a next user reassembles from it). */
  adoptedAt: string | null = null;
  /** The staging directory was moved out (set before the store committed it). */
  taken = false;
  constructor(
    readonly digest: string,
    readonly diffId: string,
    readonly size: number,
    readonly mediaType: string,
    /** Staging directory: diff/ plus its tar-split record. */
    readonly dir: string,
    /** Sum of regular-file sizes. */
    readonly unpackedSize: number,
  ) {}

  async uncompressed(): Promise<ReadableStream<Uint8Array>> {
    return assembleLayerTar(this.adoptedAt ?? this.dir, this.diffId);
  }

  async compressed(): Promise<ReadableStream<Uint8Array>> {
    if (this.digest !== this.diffId) throw new EngineError("notFound", `layer ${this.diffId}: its archive blob ${this.digest} was unpacked, not kept`, { code: "blobNotLocal" });
    return this.uncompressed();
  }
}

/** Normalises a member name within the archive ("./a//b" -> "a/b"); null when it leaves the archive root. */
function memberPath(name: string, base = ""): string | null {
  if (name.startsWith("/") || name.includes("\0")) return null;
  const out = base ? base.split("/") : [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (!out.length) return null;
      out.pop();
    } else out.push(part);
  }
  return out.join("/");
}

const sha256 = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const decodeJson = <T>(bytes: Uint8Array, what: string): T => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw badArchive(`invalid ${what}: ${(e as Error).message}`);
  }
};

/**
 * Reads an archive and stages its layers under `stagingRoot` (created; the caller removes it). `onLayer`
 * is told of each layer as it is unpacked (for progress). Resolves to the archive's images; rejects on a
 * corrupt or hostile archive.
 */
export async function readArchive(input: ReadableStream<Uint8Array>, stagingRoot: string, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<ArchiveImage[]> {
  mkdirSync(stagingRoot, { recursive: true, mode: 0o700 });
  const members = new Map<string, Member>();
  const fed = new Set<Feed>(); // feeds given views of the current chunk

  // The member being read: its head is buffered until it is known to be JSON or not.
  let current: { name: string; size: number; head: Uint8Array[]; headLen: number; hasher: Bun.CryptoHasher | null; feed: Feed | null } | null = null;
  const done: Promise<void>[] = [];
  let failure: unknown;

  const startLayer = (m: NonNullable<typeof current>) => {
    const dir = `${stagingRoot}/${randomHex().slice(0, 16)}`;
    mkdirSync(`${dir}/diff`, { recursive: true, mode: 0o700 });
    // A compressed member's chunks are copied: the decompressor may hold them past the unpacker's next read.
    const compressed = isCompressed(m.head.length === 1 ? m.head[0]! : Buffer.concat(m.head));
    const feed = new Feed(compressed);
    m.feed = feed;
    const name = m.name;
    const size = m.size;
    // A plain tar's digest is its diff ID, which the unpacker computes anyway: only compressed blobs are hashed here.
    const hasher = compressed ? m.hasher : null;
    m.hasher = hasher;
    done.push(
      unpackLayer(feed.stream, `${dir}/diff`, { tarSplitDir: dir, signal: opts.signal }).then(
        (r) => {
          // The unpacker read its stream to the end, so the member's last byte was hashed.
          const digest = hasher ? `sha256:${hasher.digest("hex")}` : r.diffId;
          members.set(name, { kind: "layer", digest, size, dir, diffId: r.diffId, unpackedSize: r.size, compressed: digest !== r.diffId });
        },
        (err) => {
          rmSync(dir, { recursive: true, force: true });
          if (!(err instanceof LayerError)) failure ??= err;
          members.set(name, { kind: "bad", digest: "", error: (err as Error).message });
          feed.drop();
        },
      ),
    );
    for (const part of m.head) feed.push(part);
    m.head = [];
  };

  const sink: TarSink = {
    entry(e: TarEntry) {
      const name = memberPath(e.name);
      if (name === null) throw badArchive(`archive member "${e.name}" is outside the archive's root`);
      if (e.type === "symlink" || e.type === "hardlink") {
        // A link's target, resolved inside the archive's names: a symlink relative to its directory, a hardlink from the root.
        const base = e.type === "symlink" ? name.split("/").slice(0, -1).join("/") : "";
        const target = e.type === "symlink" && e.linkname.startsWith("/") ? null : memberPath(e.linkname, base);
        members.set(name, target === null ? { kind: "bad", digest: "", error: `"${e.name}" links outside the archive` } : { kind: "link", target });
        return;
      }
      if (e.type !== "file") {
        members.set(name, { kind: "other" });
        return;
      }
      current = { name, size: e.size, head: [], headLen: 0, hasher: new Bun.CryptoHasher("sha256"), feed: null };
    },
    data(chunk) {
      const m = current!;
      if (m.feed?.dropped) return;
      m.hasher?.update(chunk);
      if (m.feed) {
        fed.add(m.feed);
        return m.feed.push(chunk);
      }
      m.head.push(chunk.slice());
      m.headLen += chunk.length;
      if (m.headLen >= SNIFF && !looksLikeJson(m.head[0]!)) startLayer(m);
      else if (m.headLen > MAX_JSON) startLayer(m); // too big to be metadata: let the unpacker judge it
    },
    entryEnd() {
      const m = current;
      current = null;
      if (!m) return;
      if (m.feed) return m.feed.end();
      const bytes = m.head.length === 1 ? m.head[0]! : Buffer.concat(m.head);
      if (looksLikeJson(bytes) || bytes.length < 1024) members.set(m.name, { kind: "json", digest: sha256(bytes), bytes });
      else {
        startLayer(m);
        m.feed!.end();
      }
    },
  };

  const tar = new TarReader(sink);
  try {
    let total = 0;
    for await (const chunk of plainChunks(input)) {
      opts.signal?.throwIfAborted();
      total += chunk.length;
      opts.onBytes?.(total);
      tar.write(chunk);
      // The chunk's memory is read into next: every unpacker given a view of it must be done with it.
      for (const feed of fed) await feed.idle();
      fed.clear();
      if (failure) throw failure;
    }
    tar.end();
  } catch (err) {
    (current as { feed: Feed | null } | null)?.feed?.fail(err);
    await Promise.allSettled(done);
    if (err instanceof TarError) throw badArchive(`invalid tar header in archive: ${err.message}`);
    if (err instanceof EngineError) throw err;
    throw badArchive(`cannot read archive: ${(err as Error).message}`);
  }
  await Promise.all(done);
  if (failure) throw failure;
  return imagesOf(members);
}

/** Bytes read from an archive file at once, into the one reused buffer. */
const READ_CHUNK = 128 << 10;

/**
 * The archive's plain tar bytes (a gzip'd or zstd archive decompressed). An archive file (`load -i`) is read
 * synchronously into one reused buffer, so a chunk is valid only until the next is asked for (fresh memory
 * for every chunk cost a debian load ~10k page faults). Any other stream (stdin, a request body) hands out
 * its own chunks.
 */
async function* plainChunks(input: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const file = fileInputOf(input);
  if (!file) return yield* await decompressed(input); // a stream's iterator cancels it if the caller stops early
  try {
    const buf = new Uint8Array(READ_CHUNK);
    let n = file.readInto(buf);
    if (!isCompressed(buf.subarray(0, n))) {
      for (; n > 0; n = file.readInto(buf)) yield buf.subarray(0, n);
      return;
    }
    // The decompressor gets chunks of its own: it may keep one past the next read.
    const first = buf.slice(0, n);
    const rest = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(first),
      pull(c) {
        const chunk = Buffer.allocUnsafe(READ_CHUNK);
        const k = file.readInto(chunk);
        if (k > 0) c.enqueue(chunk.subarray(0, k));
        else c.close();
      },
    });
    yield* await decompressed(rest);
  } finally {
    file.close();
  }
}

/** Do these bytes start a gzip or zstd stream? */
function isCompressed(b: Uint8Array): boolean {
  return (b[0] === 0x1f && b[1] === 0x8b) || (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd);
}

/** Is this the start of a JSON document (metadata) rather than a layer? */
function looksLikeJson(b: Uint8Array): boolean {
  for (const c of b) {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b || c === 0x5b; // "{" or "["
  }
  return false;
}

/**
 * A byte queue between the synchronous outer tar sink and an unpacker reading a stream. It holds views of
 * the archive reader's chunk (copies, for a compressed member), which is reused for the next read: the
 * reader waits on `idle()`, the unpacker asking for more (unpackLayer keeps nothing of a plain tar's chunk
 * past its next read), before reading on. So memory stays bounded and no chunk is fresh memory.
 */
class Feed {
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #error: unknown = null;
  #wake: (() => void) | null = null;
  #idle: (() => void) | null = null;
  #asking = false; // the unpacker waits for bytes: it is done with every chunk it was given
  dropped = false;
  readonly stream = new ReadableStream<Uint8Array>(
    {
      pull: async (c) => {
        for (;;) {
          if (this.#error) throw this.#error;
          const chunk = this.#queue.shift();
          if (chunk) return c.enqueue(chunk);
          if (this.#ended) {
            this.#asking = true;
            this.#settle();
            return c.close();
          }
          this.#asking = true;
          this.#settle();
          await new Promise<void>((r) => (this.#wake = r));
          this.#asking = false;
        }
      },
      cancel: () => this.drop(),
    },
    { highWaterMark: 0 },
  );

  constructor(readonly copies: boolean) {}

  push(chunk: Uint8Array): void {
    if (this.dropped) return;
    this.#queue.push(this.copies ? chunk.slice() : chunk);
    this.#poke();
  }
  end(): void {
    this.#ended = true;
    this.#poke();
  }
  fail(err: unknown): void {
    this.#error = err;
    this.#poke();
  }
  /** The unpacker gave up: what is left of this member is read past. */
  drop(): void {
    this.dropped = true;
    this.#queue.length = 0;
    this.#settle();
  }
  /** Resolves once the unpacker took every chunk and asks for more (or ended, or gave up). */
  idle(): Promise<void> {
    if (this.dropped || (this.#asking && !this.#queue.length)) return Promise.resolve();
    return new Promise<void>((r) => (this.#idle = r));
  }
  #settle(): void {
    this.#idle?.();
    this.#idle = null;
  }
  #poke(): void {
    this.#wake?.();
    this.#wake = null;
  }
}

/** Legacy manifest.json entries. */
interface LegacyEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** The archive's images from its members: manifest.json first (docker), else index.json (OCI). */
function imagesOf(members: Map<string, Member>): ArchiveImage[] {
  const follow = (path: string, what: string): Member & { path: string } => {
    let p = memberPath(path);
    for (let hops = 0; p !== null && hops < 16; hops++) {
      const m = members.get(p);
      if (!m) break;
      if (m.kind === "bad") throw badArchive(`${what} "${path}": ${m.error}`);
      if (m.kind !== "link") return { ...m, path: p };
      p = m.target;
    }
    throw badArchive(`${what} "${path}" is not in the archive`);
  };
  const json = (path: string, what: string): { bytes: Uint8Array; digest: string } => {
    const m = follow(path, what);
    if (m.kind !== "json") throw badArchive(`${what} "${path}" is not a JSON document`);
    return m;
  };
  const layer = (path: string, what: string): Extract<Member, { kind: "layer" }> => {
    const m = follow(path, what);
    if (m.kind !== "layer") throw badArchive(`${what} "${path}" is not a layer`);
    return m;
  };
  /** A blob by digest: its path, after checking the member really hashes to it. */
  const blobPath = (digest: string, what: string) => {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw badArchive(`${what} has an invalid digest "${digest}"`);
    return `blobs/sha256/${digest.slice(7)}`;
  };
  const checkDigest = (m: { digest: string }, path: string, what: string) => {
    const named = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
    if (named && m.digest !== `sha256:${named[1]}`) throw badArchive(`${what} "${path}" has digest ${m.digest}, not the one its name says`);
  };

  const images: ArchiveImage[] = [];
  const shared = new Map<string, StagedLayer>();
  const archiveImage = (rawConfig: Uint8Array, config: ImageConfig, staged: StagedMember[], tags: Reference[], rawManifest?: Uint8Array, manifestMediaType?: string) =>
    makeImage(shared, rawConfig, config, staged, tags, rawManifest, manifestMediaType);
  const manifestJson = members.get("manifest.json");
  if (manifestJson) {
    const entries = decodeJson<LegacyEntry[]>(json("manifest.json", "manifest").bytes, "manifest.json");
    if (!Array.isArray(entries)) throw badArchive("invalid manifest.json: not a list");
    for (const e of entries) {
      if (typeof e?.Config !== "string" || !Array.isArray(e.Layers)) throw badArchive("invalid manifest.json entry");
      const cfg = json(e.Config, "config");
      checkDigest(cfg, memberPath(e.Config) ?? "", "config");
      const config = decodeJson<ImageConfig>(cfg.bytes, `config ${e.Config}`);
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== e.Layers.length) throw badArchive(`image config ${e.Config} lists ${diffIds.length} diff IDs, manifest.json ${e.Layers.length} layers`);
      const staged = e.Layers.map((path, i) => {
        const m = layer(path, "layer");
        checkDigest(m, memberPath(path) ?? "", "layer");
        if (m.diffId !== diffIds[i]) throw badArchive(`invalid diffID for layer ${i}: expected "${diffIds[i]}", got "${m.diffId}"`);
        return m;
      });
      images.push(archiveImage(cfg.bytes, config, staged, (e.RepoTags ?? []).map((t) => parseTag(t))));
    }
    return images;
  }
  if (!members.has("index.json")) throw badArchive("invalid archive: it has neither manifest.json (docker save) nor index.json (OCI image layout)");
  const platform = hostPlatform();
  const visit = (digest: string, mediaType: string | undefined, tags: Reference[], depth: number) => {
    if (depth > 4) throw badArchive("OCI index nests too deeply");
    const path = blobPath(digest, "manifest");
    const m = json(path, "manifest");
    checkDigest(m, path, "manifest");
    const doc = decodeJson<Manifest & Index>(m.bytes, `manifest ${digest}`);
    const type = doc.mediaType ?? mediaType;
    if (Array.isArray(doc.manifests)) {
      // An index: the host's platform, as pull picks it.
      const pick = doc.manifests.find((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture) ?? (doc.manifests.length === 1 ? doc.manifests[0] : undefined);
      if (!pick) throw badArchive(`no image for ${platform.os}/${platform.architecture} in index ${digest}`);
      return visit(pick.digest, pick.mediaType, tags, depth + 1);
    }
    if (type && type !== MediaType.OCI_MANIFEST && type !== MediaType.DOCKER_MANIFEST) throw badArchive(`unsupported manifest media type "${type}"`);
    if (!doc.config?.digest || !Array.isArray(doc.layers)) throw badArchive(`invalid manifest ${digest}`);
    const cfgPath = blobPath(doc.config.digest, "config");
    const cfg = json(cfgPath, "config");
    checkDigest(cfg, cfgPath, "config");
    const config = decodeJson<ImageConfig>(cfg.bytes, `config ${doc.config.digest}`);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== doc.layers.length) throw badArchive(`image config ${doc.config.digest} lists ${diffIds.length} diff IDs, its manifest ${doc.layers.length} layers`);
    const staged = doc.layers.map((d, i) => {
      const p = blobPath(d.digest, "layer");
      const l = layer(p, "layer");
      checkDigest(l, p, "layer");
      if (l.diffId !== diffIds[i]) throw badArchive(`invalid diffID for layer ${i}: expected "${diffIds[i]}", got "${l.diffId}"`);
      return { ...l, mediaType: d.mediaType };
    });
    images.push(archiveImage(cfg.bytes, config, staged, tags, m.bytes, type ?? MediaType.OCI_MANIFEST));
  };
  const index = decodeJson<Index>(json("index.json", "index").bytes, "index.json");
  if (!Array.isArray(index.manifests)) throw badArchive("invalid index.json: no manifests");
  // Descriptors of one manifest (one per tag) make one image with all those tags.
  const byDigest = new Map<string, { mediaType?: string; tags: Reference[] }>();
  for (const d of index.manifests) {
    const entry = byDigest.get(d.digest) ?? byDigest.set(d.digest, { mediaType: d.mediaType, tags: [] }).get(d.digest)!;
    const name = d.annotations?.["io.containerd.image.name"] ?? d.annotations?.["org.opencontainers.image.ref.name"];
    if (name) {
      try {
        const ref = parseReference(name);
        if (!ref.digest) entry.tags.push(withDefaultTag(ref));
      } catch {
        // A bare tag ("latest") names no repository: the image loads untagged, as its ID.
      }
    }
  }
  for (const [digest, { mediaType, tags }] of byDigest) visit(digest, mediaType, tags, 0);
  return images;
}

function parseTag(t: string): Reference {
  try {
    const ref = withDefaultTag(parseReference(t));
    if (ref.digest) throw new Error("digest");
    return ref;
  } catch {
    throw badArchive(`invalid tag "${t}" in manifest.json`);
  }
}

type StagedMember = Extract<Member, { kind: "layer" }> & { mediaType?: string };

/** An ArchiveImage. One StagedLayer per staging directory (`shared`): images sharing a layer share its record. */
function makeImage(shared: Map<string, StagedLayer>, rawConfig: Uint8Array, config: ImageConfig, staged: StagedMember[], tags: Reference[], rawManifest?: Uint8Array, manifestMediaType?: string): ArchiveImage {
  const layers = staged.map((m) => (shared.get(m.dir) ?? shared.set(m.dir, new StagedLayer(m.digest, m.diffId, m.size, m.mediaType ?? (m.compressed ? MediaType.OCI_LAYER_GZIP : MediaType.OCI_LAYER), m.dir, m.unpackedSize)).get(m.dir))!);
  const id = sha256(rawConfig);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: id, size: rawConfig.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const raw = rawManifest ?? new TextEncoder().encode(JSON.stringify(manifest));
  return {
    id,
    digest: sha256(raw),
    manifest: rawManifest ? (JSON.parse(new TextDecoder().decode(rawManifest)) as Manifest) : manifest,
    rawManifest: raw,
    manifestMediaType: manifestMediaType ?? MediaType.OCI_MANIFEST,
    config,
    rawConfig,
    tags,
    layers: () => layers,
  };
}

