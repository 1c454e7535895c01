/**
 * Pushing images as dockerd does (distribution/push_v2.go): per layer, a blob the target repository has
 * already is skipped ("Layer already exists"), one another repository of the same registry has is mounted
 * ("Mounted from <repo>"), anything else is uploaded ("Pushing", "Pushed"), five layers at once, each
 * retried on temporary failures. Then the config blob and the manifest: the one the image was pulled with,
 * byte for byte, so its digest is kept; a Docker schema 2 manifest when a layer had to be compressed here.
 * Layers known only uncompressed are gzipped while they upload, and the result is remembered by diff ID
 * (store/blob-sources.ts) so the next push compresses and uploads nothing.
 *
 * Written against the `Image` interface, so any source pushes the same way. A pulled image keeps the manifest
 * it was pulled with; a blob the target lacks and cannot mount is read from a repository known to hold it.
 * An image made here (commit, import, load) is pushed from the store's layer tars (madeHere).
 */
import type { Engine } from "./engine.ts";
import { type Descriptor, type Image, type ImageConfig, type Index, type Layer, type Manifest, MediaType, type Platform, configPlatform, formatPlatform, pickPlatform } from "./image/types.ts";
import { EngineError, invalidParameter } from "./errors.ts";
import { type Reference, parseReference, withDefaultTag, familiarName, familiarString, repositoryName } from "./registry/reference.ts";
import { type RegistryClient, type RepoConnection, sha256 } from "./registry/client.ts";
import { RegistryError } from "./registry/auth.ts";
import { remoteLayer } from "./registry/remote.ts";
import { mountBlob, putManifest, statBlob, uploadBlob } from "./registry/upload.ts";
import { type BlobSources, blobSourcesOf } from "./store/blob-sources.ts";
import { storeImage } from "./store/image-source.ts";
import type { StoredIndex } from "./store/images.ts";
import type { JsonMessage } from "./progress.ts";
import { progressBar } from "./pull.ts";

/** Options of a push. */
export interface PushOptions {
  /** Receives Docker's progress messages. */
  onMessage?: (m: JsonMessage) => void;
  signal?: AbortSignal;
  /** The registry client (e.g. with the API client's credentials); default: the engine's. */
  registry?: RegistryClient;
  /** `push --platform`: only this platform's manifest of a multi-platform image. */
  platform?: Platform;
}

/** What one pushed tag became: moby's PushResult aux message. */
export interface PushResult {
  Tag: string;
  Digest: string;
  Size: number;
}

/** dockerd's max-concurrent-uploads default. */
const MAX_CONCURRENT_UPLOADS = 5;
/** dockerd's maxUploadAttempts: a layer is tried this often before the push fails. */
const MAX_ATTEMPTS = 5;
/** Mount attempts per layer (dockerd tries up to 4 for big layers). */
const MAX_MOUNT_ATTEMPTS = 3;

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const blobSources = (engine: Engine) => blobSourcesOf(engine.db);

/**
 * `docker push NAME[:TAG]` from the local store: one tag, or every tag of the repository for a bare name
 * (`push -a`, and the API without `tag`). Adds the pushed manifest's digest to the image's repo digests.
 */
export async function pushRepository(engine: Engine, name: string, opts: PushOptions = {}): Promise<PushResult[]> {
  const ref = parseReference(name);
  if (ref.digest) throw invalidParameter("cannot push a digest reference");
  const repo = repositoryName(ref);
  const emit = opts.onMessage ?? (() => {});
  // moby names the repository before it looks for the image, so a missing one is an error in the stream.
  emit({ status: `The push refers to repository [${repo}]` });
  const tags = engine.images.repositoryTags(repo);
  if (tags.length === 0) throw new EngineError("notFound", `An image does not exist locally with the tag: ${familiarName(ref)}`);
  const registry = opts.registry ?? engine.registry();
  const out: PushResult[] = [];
  for (const tag of ref.tag ? [ref.tag] : tags) {
    const target = { domain: ref.domain, path: ref.path, tag };
    const record = engine.images.byReference(target);
    if (!record) throw new EngineError("notFound", `tag does not exist: ${familiarString(target)}`);
    const choice = await pushChoice(engine, record.id, engine.images.tagIndex(repo, tag), familiarString(target), registry, opts.platform);
    if (choice.index) {
      const result = await pushIndex(engine, choice.index, choice.images, target, { ...opts, registry });
      const own = choice.images.find((i) => i.id === record.id)!;
      engine.images.addDigest(repo, result.Digest, record.id, own.rawManifest, own.manifestMediaType);
      out.push(result);
      continue;
    }
    const result = await pushImage(engine, choice.image, target, { ...opts, registry });
    engine.images.addDigest(repo, result.Digest, choice.image.id, choice.image.rawManifest, choice.image.manifestMediaType);
    // moby's note (auxprogress.ManifestPushedInsteadOfIndex): the CLI tells the user that the registry got one platform.
    if (choice.insteadOf) {
      const selected = { mediaType: choice.image.manifestMediaType, digest: result.Digest, size: result.Size };
      emit({ progressDetail: {}, aux: { manifestPushedInsteadOfIndex: true, originalIndex: choice.insteadOf, selectedManifest: selected } });
    }
    out.push(result);
  }
  return out;
}

/** What a push of one tag sends: a whole index with its platforms' images, or one image (with the index it stands in for). */
type PushChoice = { index: { raw: Uint8Array; mediaType: string }; images: Image[] } | { index?: undefined; image: Image; insteadOf?: Descriptor };

/**
 * moby's getPushDescriptor over what this store holds. A tag pulled through a multi-platform index (or
 * tagged from one that was) pushes that index, byte for byte, once every manifest it names is here (`pull
 * --platform` of each); otherwise the tag's own image, noting the index it stands in for. `--platform` picks
 * that platform's manifest, refused as moby's errPlatformNotFound when it is not here.
 */
async function pushChoice(engine: Engine, id: string, stored: StoredIndex | undefined, name: string, registry: RegistryClient, platform?: Platform): Promise<PushChoice> {
  const own = stored && [...stored.manifests].find(([, m]) => m.imageId === id);
  if (!own) stored = undefined; // the tag was pulled through an index whose platform it named is gone
  const notProvided = () => new EngineError("notFound", `image with reference ${name} was found but does not provide the specified platform (${formatPlatform(platform!)})`);
  if (!stored) {
    const image = await localImage(engine, id, registry);
    if (platform && !pickPlatform([{ platform: configPlatform(image.config) }], platform)) throw notProvided();
    return { image };
  }
  const entries = stored.entries;
  const present = entries.filter((e) => stored.manifests.has(e.digest));
  const imageOf = (digest: string) => {
    const m = stored.manifests.get(digest)!;
    return localImage(engine, m.imageId, registry, m);
  };
  if (platform) {
    const entry = pickPlatform(present, platform);
    if (!entry) throw notProvided();
    return { image: await imageOf(entry.digest) };
  }
  if (present.length === entries.length) return { index: stored, images: await Promise.all(entries.map((e) => imageOf(e.digest))) };
  return { image: await imageOf(own![0]), insteadOf: { mediaType: stored.mediaType, digest: stored.digest, size: stored.raw.length } };
}

/**
 * A local image as an `Image`: the manifest it was pulled with (byte for byte; `pulled` when the caller
 * knows which) and its config from the store; its layers stream from a repository known to hold them
 * (until the store can write them back).
 */
export async function localImage(engine: Engine, id: string, registry: RegistryClient, pulled?: { manifest: Uint8Array; mediaType: string }): Promise<Image> {
  const record = engine.images.get(id);
  if (!record) throw new EngineError("notFound", `No such image: ${id}`);
  const rows = engine.images.manifests(id);
  for (const m of pulled ? [{ repository: "", digest: "", ...pulled }, ...rows] : rows) {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(m.manifest)) as Manifest;
    } catch {
      continue;
    }
    if (manifest?.config?.digest !== id || !Array.isArray(manifest.layers)) continue;
    const diffIds = record.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) continue;
    const sources = blobSources(engine);
    const layers: Layer[] = manifest.layers.map((d, i) => {
      // Where this blob was pulled from first, then every other repository known to hold it.
      const known = sources.forDiffId(diffIds[i]!).filter((s) => s.digest === d.digest && s.repository).map((s) => s.repository);
      return sourcedLayer(registry, d, diffIds[i]!, [...new Set([...known.reverse(), ...rows.map((r) => r.repository)])]);
    });
    return {
      digest: sha256(m.manifest),
      id,
      manifest,
      rawManifest: m.manifest,
      manifestMediaType: m.mediaType,
      config: record.config,
      rawConfig: record.rawConfig,
      layers: () => layers,
    };
  }
  return madeHere(engine, id);
}

/**
 * An image made here (commit, import, load, build) as push sees it: its stored config, and each layer as its
 * tar from the store (tar-split) with no compressed digest of its own, so pushLayer gzips it while it uploads,
 * or finds the digest it gzipped to last time (blob_sources) in the registry and sends nothing. No manifest:
 * pushImage writes one from what it pushed.
 */
function madeHere(engine: Engine, id: string): Image {
  const image = storeImage(engine.root, engine.images, engine.layers, id);
  const layers: Layer[] = image.layers().map((l) => ({
    digest: "",
    diffId: l.diffId,
    size: 0,
    mediaType: MediaType.DOCKER_LAYER_GZIP,
    compressed: () => Promise.reject(new EngineError("system", `layer ${l.diffId} has no compressed blob here`)),
    uncompressed: () => l.uncompressed!(),
  }));
  return { digest: "", id, manifest: image.manifest, rawManifest: new Uint8Array(), manifestMediaType: MediaType.DOCKER_MANIFEST, config: image.config, rawConfig: image.rawConfig, layers: () => layers };
}

/** A layer of `d` read from the first of `repositories` that serves it, opened on first read (a push that mounts or skips never reads). */
function sourcedLayer(registry: RegistryClient, d: Descriptor, diffId: string, repositories: string[]): Layer {
  return {
    digest: d.digest,
    diffId,
    size: d.size,
    mediaType: d.mediaType,
    async compressed() {
      let first: unknown;
      for (const repository of repositories) {
        const slash = repository.indexOf("/");
        try {
          const conn = await registry.pullConnection({ domain: repository.slice(0, slash), path: repository.slice(slash + 1) });
          return await remoteLayer(conn, d.digest, diffId, d.size, d.mediaType).compressed();
        } catch (e) {
          first ??= e;
        }
      }
      throw first ?? new EngineError("notFound", `no registry known to hold layer ${d.digest}`);
    },
  };
}

/** A layer's blob as it ends up in the target repository. */
interface PushedLayer {
  descriptor: Descriptor;
  /** False when the layer was compressed here: the pulled manifest no longer describes it. */
  asPulled: boolean;
}

/**
 * Pushes one image to `target`: by tag (then the "<tag>: digest: … size: …" line and the aux PushResult are
 * emitted) or by digest (an index's child). Returns the manifest's digest and size.
 */
export async function pushImage(engine: Engine, image: Image, target: Reference, opts: PushOptions = {}): Promise<PushResult> {
  const emit = opts.onMessage ?? (() => {});
  const registry = opts.registry ?? engine.registry();
  const conn = await registry.pushConnection(target);
  const sources = blobSources(engine);
  const targetRepo = repositoryName(target);
  const layers = image.layers();
  if (layers.length !== (image.config.rootfs?.diff_ids ?? []).length) throw new EngineError("system", "layers from manifest don't match image configuration");

  // dockerd lists layers top first; one transfer per diff ID (a repeated layer is pushed once).
  const order = [...layers.keys()].reverse();
  const firstOf = new Map<string, number>();
  for (const i of order) if (!firstOf.has(layers[i]!.diffId)) firstOf.set(layers[i]!.diffId, i);
  const unique = order.filter((i) => firstOf.get(layers[i]!.diffId) === i);
  for (const i of unique) emit({ status: "Preparing", progressDetail: {}, id: short(layers[i]!.diffId) });
  unique.slice(MAX_CONCURRENT_UPLOADS).forEach((i) => emit({ status: "Waiting", progressDetail: {}, id: short(layers[i]!.diffId) }));

  const pushed = new Map<string, PushedLayer>();
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < unique.length && !signal.aborted; k = next++) {
      const layer = layers[unique[k]!]!;
      pushed.set(layer.diffId, await withRetries(layer, registry.retryDelayMs, emit, signal, () => pushLayer(conn, sources, targetRepo, layer, emit, signal)));
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(MAX_CONCURRENT_UPLOADS, unique.length) }, () =>
      worker().catch((e) => {
        stop.abort(e);
        throw e;
      }),
    ),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw stop.signal.reason ?? (failed as PromiseRejectedResult).reason;
  signal.throwIfAborted();

  // The config blob: a HEAD, else one monolithic upload.
  if ((await statBlob(conn, image.id)) === null) {
    await uploadBlob(conn, new Blob([image.rawConfig]).stream(), { expected: image.id, signal });
  }

  const laid = layers.map((l) => pushed.get(l.diffId)!);
  let raw: Uint8Array;
  let mediaType: string;
  if (laid.every((p) => p.asPulled) && image.rawManifest.length > 0) {
    raw = image.rawManifest;
    mediaType = image.manifestMediaType;
  } else {
    raw = schema2Manifest(image, laid.map((p) => p.descriptor));
    mediaType = MediaType.DOCKER_MANIFEST;
  }
  const ref = target.digest ?? target.tag ?? "latest";
  const digest = await putManifest(conn, target.digest ? sha256(raw) : ref, raw, mediaType);
  const result = { Tag: target.tag ?? "", Digest: digest, Size: raw.length };
  if (!target.digest) {
    emit({ status: `${result.Tag}: digest: ${digest} size: ${raw.length}` });
    emit({ progressDetail: {}, aux: result });
  }
  return result;
}

/** Runs one layer's push, retrying temporary failures as dockerd's upload manager does ("Retrying in N seconds"). */
async function withRetries<T>(layer: Layer, delayMs: number, emit: (m: JsonMessage) => void, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted || !(e instanceof RegistryError) || !e.temporary || attempt >= MAX_ATTEMPTS) throw e;
      const ms = delayMs * 2 ** (attempt - 1);
      const s = Math.max(1, Math.ceil(ms / 1000));
      emit({ status: `Retrying in ${s} second${s === 1 ? "" : "s"}`, progressDetail: {}, id: short(layer.diffId) });
      await sleep(ms);
    }
  }
}

/** One layer: already there, mounted, or uploaded (compressed on the way when only its tar is known). */
async function pushLayer(conn: RepoConnection, sources: BlobSources, targetRepo: string, layer: Layer, emit: (m: JsonMessage) => void, signal: AbortSignal): Promise<PushedLayer> {
  const id = short(layer.diffId);
  const known = sources.forDiffId(layer.diffId);
  // The digest to push: the layer's own (kept byte for byte), else the one it compressed to last time.
  const compressedHere = !layer.digest;
  const cached = compressedHere ? known.find((s) => s.mediaType === MediaType.DOCKER_LAYER_GZIP || s.mediaType === MediaType.OCI_LAYER_GZIP) : undefined;
  const digest = layer.digest || cached?.digest;
  const size = layer.digest ? layer.size : cached?.size ?? 0;
  const mediaType = layer.digest ? layer.mediaType : MediaType.DOCKER_LAYER_GZIP;
  const done = (d: string, n: number, status: string): PushedLayer => {
    sources.add({ diffId: layer.diffId, digest: d, size: n, mediaType, repository: targetRepo });
    emit({ status, progressDetail: {}, id });
    return { descriptor: { mediaType, digest: d, size: n }, asPulled: !compressedHere };
  };

  if (digest) {
    if ((await statBlob(conn, digest)) !== null) return done(digest, size, "Layer already exists");
    // Cross-repository mount from where this registry is known to hold the blob.
    const domain = `${conn.ref.domain}/`;
    const from = known.filter((s) => s.digest === digest && s.repository.startsWith(domain) && s.repository !== targetRepo).slice(0, MAX_MOUNT_ATTEMPTS);
    for (const s of from) {
      const path = s.repository.slice(domain.length);
      if (await mountBlob(conn, digest, path)) return done(digest, size, `Mounted from ${path}`);
      sources.remove(s);
    }
  }

  if (compressedHere && !layer.uncompressed) throw new EngineError("system", `layer ${layer.diffId} has neither a compressed blob nor a tar to push`);
  const source = compressedHere ? (await layer.uncompressed!()).pipeThrough(new CompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>) : await layer.compressed();
  let last = 0;
  const total = compressedHere ? 0 : layer.size;
  const onBytes = (n: number) => {
    if (n - last < 512 * 1024 && n !== total) return;
    last = n;
    emit({ status: "Pushing", progressDetail: { current: n, total }, progress: total ? progressBar(n, total) : undefined, id });
  };
  const up = await uploadBlob(conn, source, { expected: compressedHere ? undefined : layer.digest, onBytes, signal });
  if (compressedHere) sources.add({ diffId: layer.diffId, digest: up.digest, size: up.size, mediaType, repository: "" });
  return done(up.digest, up.size, "Pushed");
}

/** A Docker schema 2 manifest for `image` with these layer blobs, indented as distribution's builder does. */
function schema2Manifest(image: Image, layers: Descriptor[]): Uint8Array {
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.DOCKER_MANIFEST,
    config: { mediaType: MediaType.DOCKER_CONFIG, size: image.rawConfig.length, digest: image.id },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  return new TextEncoder().encode(JSON.stringify(m, null, 3));
}

/**
 * Pushes a multi-platform image: every platform's image by digest, then the index (or manifest list) by
 * tag, byte for byte. Every entry of the index must be among `images` (an index may not name a manifest
 * the registry lacks); attestation entries are refused with the platforms present listed.
 */
export async function pushIndex(engine: Engine, index: { raw: Uint8Array; mediaType: string }, images: Image[], target: Reference, opts: PushOptions = {}): Promise<PushResult> {
  const emit = opts.onMessage ?? (() => {});
  const parsed = JSON.parse(new TextDecoder().decode(index.raw)) as Index;
  const byDigest = new Map(images.map((i) => [i.digest, i]));
  const missing = parsed.manifests.filter((d) => !byDigest.has(d.digest));
  if (missing.length) throw invalidParameter(`cannot push the index: ${missing.length} of its ${parsed.manifests.length} manifests are not present (${missing.map((d) => d.digest).join(", ")})`);
  for (const d of parsed.manifests) await pushImage(engine, byDigest.get(d.digest)!, { domain: target.domain, path: target.path, digest: d.digest }, { ...opts, onMessage: emit });
  const conn = await (opts.registry ?? engine.registry()).pushConnection(target);
  const tag = target.tag ?? "latest";
  const digest = await putManifest(conn, tag, index.raw, index.mediaType);
  const result = { Tag: tag, Digest: digest, Size: index.raw.length };
  emit({ status: `${tag}: digest: ${digest} size: ${index.raw.length}` });
  emit({ progressDetail: {}, aux: result });
  return result;
}

/** GET /distribution/{name}/json: moby's DistributionInspect. */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Platform[];
}

/** The registry's descriptor of `name`'s manifest (or index) and its platforms, as moby's distribution route returns them. */
export async function distributionInspect(engine: Engine, name: string, registry: RegistryClient = engine.registry()): Promise<DistributionInspect> {
  const ref = withDefaultTag(parseReference(name));
  const conn = await registry.pullConnection(ref);
  const m = await registry.manifest(conn, ref.digest ?? ref.tag!);
  const body = JSON.parse(new TextDecoder().decode(m.raw)) as Partial<Index & Manifest>;
  const platforms: Platform[] = [];
  if (Array.isArray(body.manifests)) {
    for (const d of body.manifests) if (d.platform) platforms.push(platformOf(d.platform));
  } else if (body.config?.digest) {
    const image = await registry.image(ref);
    const c = image.config as ImageConfig;
    if (c.os || c.architecture) platforms.push(platformOf(c));
  }
  return { Descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size }, Platforms: platforms };
}

/** An OCI platform with only its own fields, in ocispec's order. */
function platformOf(p: Platform): Platform {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p["os.version"] ? { "os.version": p["os.version"] } : {}),
    ...(p["os.features"]?.length ? { "os.features": p["os.features"] } : {}),
    ...(p.variant ? { variant: p.variant } : {}),
  };
}
