/**
 * Pulling an image: the local store first, then the registry; every layer streamed from the network
 * straight into the unpacker (no temporary blob file), its compressed digest verified by the registry
 * layer's stream and its diff ID by the unpacker, at most three layers at once (dockerd's default).
 * Progress is reported as Docker's JSON messages, so the CLI and the API show the same thing.
 */
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { fullJit } from "../jit.ts";
import type { Engine } from "./engine.ts";
import type { Layer, Platform } from "./image/types.ts";
import { EngineError } from "./errors.ts";
import { type Reference, parseReference, withDefaultTag, familiarString, familiarName, repositoryName, canonicalString } from "./registry/reference.ts";
import type { RegistryClient } from "./registry/client.ts";
import { eventsOf } from "./events.ts";
import { chainIds } from "./store/layers.ts";
import { blobSourcesOf } from "./store/blob-sources.ts";
import type { JsonMessage } from "./progress.ts";
import { humanSize } from "./units.ts";
import { ExpansionLimitError, unpackLayer, type UnpackResult } from "../fs/unpack.ts";

/** Options of a pull. */
export interface PullOptions {
  platform?: Platform;
  /** Receives Docker's progress messages. */
  onMessage?: (m: JsonMessage) => void;
  signal?: AbortSignal;
  /** The registry client of this pull (e.g. with the API client's credentials); default: the engine's. */
  registry?: RegistryClient;
}

/** What a pull did. */
export interface PullResult {
  id: string;
  /** canonical reference pulled, e.g. docker.io/library/alpine:latest */
  reference: string;
  /** true when nothing new was stored */
  upToDate: boolean;
}

const MAX_CONCURRENT_LAYERS = 3;
const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** Pulls one reference (tag or digest), then publishes the image's "pull" event with moby's actor. */
export async function pullImage(engine: Engine, refString: string, opts: PullOptions = {}): Promise<PullResult> {
  const result = await pullOne(engine, refString, opts);
  const ref = withDefaultTag(parseReference(refString));
  eventsOf(engine).publish("image", "pull", familiarString(ref), { ...(engine.images.get(result.id)?.config.config?.Labels ?? {}), name: familiarName(ref) });
  return result;
}

async function pullOne(engine: Engine, refString: string, opts: PullOptions): Promise<PullResult> {
  fullJit(); // the tar reader and the progress loop run for every block of every layer
  const ref = withDefaultTag(parseReference(refString));
  const emit = opts.onMessage ?? (() => {});
  const tagOrDigest = ref.digest ?? ref.tag!;
  const repo = repositoryName(ref);
  const local = engine.images.byReference(ref);

  // A digest names immutable content: if we have it, the registry has nothing to add.
  if (ref.digest && local) {
    emit({ status: `${ref.digest}: Pulling from ${ref.path}`, id: tagOrDigest });
    emit({ status: `Digest: ${ref.digest}` });
    emit({ status: `Status: Image is up to date for ${familiarString(ref)}` });
    return { id: local.id, reference: canonicalString(ref), upToDate: true };
  }

  let remote;
  try {
    remote = await (opts.registry ?? engine.registry()).image(ref, { platform: opts.platform });
  } catch (e) {
    // With the registry out of reach, a tag we already have is served from the store, as the user asked for
    // an image they can use; anything else (denied, unknown tag) is reported as is.
    if (local && isUnreachable(e)) {
      emit({ status: `Pulling from ${ref.path}`, id: tagOrDigest });
      emit({ status: `Status: Image is up to date for ${familiarString(ref)} (registry unreachable: ${(e as Error).message})` });
      return { id: local.id, reference: canonicalString(ref), upToDate: true };
    }
    throw e;
  }
  emit({ status: `Pulling from ${ref.path}`, id: tagOrDigest });

  const repoDigest = remote.index?.digest ?? remote.digest;
  const diffIds = remote.config.rootfs?.diff_ids ?? [];
  const layers = remote.layers();
  if (layers.length !== diffIds.length) throw new EngineError("invalidParameter", `image ${familiarString(ref)}: manifest has ${layers.length} layers but the config lists ${diffIds.length} diff IDs`);
  const chains = chainIds(diffIds);

  const gcHold = await engine.layers.holdAgainstGc();
  let downloaded = false;
  try {
    const present = chains.map((c) => engine.layers.get(c) !== undefined);
    layers.forEach((l, i) => emit({ status: present[i] ? "Already exists" : "Pulling fs layer", progressDetail: {}, id: short(l.digest) }));

    // Layers unpack into separate overlay2 directories, so they download and unpack at once; each commits
    // after its parent (committed[i] settles when layer i is in the store, or failed).
    let next = 0;
    const sizes: number[] = new Array(layers.length).fill(0);
    const settle: (() => void)[] = [];
    const committed = layers.map((_, i) => new Promise<void>((resolve) => (settle[i] = resolve)));
    // The first failure stops the other layers, and the pull waits for them all before giving up its hold.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const worker = async () => {
      for (let i = next++; i < layers.length && !signal.aborted; i = next++) {
        const layer = layers[i]!;
        const id = short(layer.digest);
        if (present[i]) {
          sizes[i] = engine.layers.get(chains[i]!)!.size;
          settle[i]!();
          continue;
        }
        const { record, created } = await engine.layers.ensure(chains[i]!, diffIds[i]!, i ? chains[i - 1]! : null, async (dir) => {
          let last = 0;
          const onProgress = (n: number) => {
            if (n - last < 512 * 1024 && n !== layer.size) return;
            last = n;
            emit({ status: "Downloading", progressDetail: { current: n, total: layer.size }, progress: progressBar(n, layer.size), id });
          };
          const result = await unpackBounded(layer, dir, { signal, onProgress, tarSplitDir: dirname(dir) });
          emit({ status: "Verifying Checksum", progressDetail: {}, id });
          emit({ status: "Download complete", progressDetail: {}, id });
          return result;
        }, i ? committed[i - 1] : undefined).finally(() => settle[i]!());
        sizes[i] = record.size;
        if (created) downloaded = true;
        emit({ status: created ? "Pull complete" : "Already exists", progressDetail: {}, id });
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(MAX_CONCURRENT_LAYERS, layers.length) }, () =>
        worker().catch((e) => {
          stop.abort(e);
          throw e;
        }),
      ),
    );
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw stop.signal.reason ?? (failed as PromiseRejectedResult).reason;

    const { previous } = engine.images.commit({
      id: remote.id,
      rawConfig: remote.rawConfig,
      chainIds: chains,
      size: sizes.reduce((a, b) => a + b, 0),
      tag: ref.tag && !ref.digest ? { repository: repo, tag: ref.tag } : undefined,
      digest: { repository: repo, digest: repoDigest, manifest: remote.rawManifest, mediaType: remote.manifestMediaType },
      fromIndex: remote.index && { index: remote.index, manifestDigest: remote.digest },
    });
    // Where each blob came from, so that a push to this registry can mount it instead of uploading it.
    const sources = blobSourcesOf(engine.db);
    for (const l of layers) sources.add({ diffId: l.diffId, digest: l.digest, size: l.size, mediaType: l.mediaType, repository: repo });
    const upToDate = !downloaded && local?.id === remote.id;
    emit({ status: `Digest: ${repoDigest}` });
    emit({ status: upToDate ? `Status: Image is up to date for ${familiarString(ref)}` : `Status: Downloaded newer image for ${familiarString(ref)}` });
    void previous;
    return { id: remote.id, reference: canonicalString(ref), upToDate };
  } finally {
    gcHold.release();
  }
}

/** An unverified layer may expand to this many times its compressed size before the pull stops writing it. */
const UNVERIFIED_RATIO = 20;
/** ... and in any case to this many bytes (small layers with one large, very compressible file). */
const UNVERIFIED_FLOOR = 64 << 20;

/**
 * Bytes a layer may write in the file system holding `dir`: its free space less a reserve (5% of the file
 * system, at most 1 GiB), so that no layer, verified or not, fills the disk.
 */
function writableBytes(dir: string): number {
  const st = statfsSync(dir);
  return Math.max(0, st.bavail * st.bsize - Math.min(1 << 30, (st.blocks * st.bsize) / 20));
}

/**
 * Unpacks a layer into `dir` while it downloads, without letting an unverified stream fill the disk.
 *
 * The blob's digest is only known at its end. Streaming straight into the unpacker (the digest checked at
 * the end, the staging directory dropped if it is wrong) is what keeps a pull at or under `gzip -dc |
 * tar -x` of the same blob; downloading to a file, verifying, then unpacking costs a write and a read of
 * the blob and serialises download and unpack: 1.37x the time for the debian test layer (2.05 s streaming,
 * 2.82 s verify first, scripts/bench/pull-verify.ts). So the stream is unpacked at once, but only up to
 * UNVERIFIED_RATIO times its declared size (at least UNVERIFIED_FLOOR) and never past the free space less
 * a reserve. A layer that expands further stops writing, is read to its end, and either fails its digest
 * (a bomb from a lying registry: the usual verification error, after at most that bound was written), or
 * is genuine and unusually compressible: then it is downloaded again to a file, verified, and only then
 * unpacked.
 */
async function unpackBounded(layer: Layer, dir: string, opts: { signal: AbortSignal; onProgress: (n: number) => void; tarSplitDir: string }): Promise<UnpackResult> {
  const free = writableBytes(dir);
  const unverified = Math.min(free, Math.max(UNVERIFIED_FLOOR, layer.size * UNVERIFIED_RATIO));
  try {
    return await unpackLayer(await layer.compressed(), dir, { ...opts, maxBytes: unverified });
  } catch (e) {
    if (!(e instanceof ExpansionLimitError) || unverified >= free) {
      if (e instanceof ExpansionLimitError) throw new EngineError("system", `layer ${layer.digest} expands to more than the ${humanSize(free)} free on the data root's file system`);
      throw e;
    }
  }
  // Genuine (its digest matched) but more compressible than streaming trusts: verify first, then unpack.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  const blob = `${dir}.blob`;
  if (layer.size > writableBytes(dir)) throw new EngineError("system", `layer ${layer.digest} of ${humanSize(layer.size)} does not fit in the data root's free space`);
  const fd = openSync(blob, "wx", 0o600);
  try {
    // The stream errors at its end unless the bytes hash to the layer's digest, and never passes its size.
    for await (const chunk of await layer.compressed()) {
      opts.signal.throwIfAborted();
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    }
  } finally {
    closeSync(fd);
  }
  try {
    return await unpackLayer(Bun.file(blob).stream(), dir, { signal: opts.signal, maxBytes: writableBytes(dir), tarSplitDir: opts.tarSplitDir });
  } catch (e) {
    if (e instanceof ExpansionLimitError) throw new EngineError("system", `layer ${layer.digest} expands to more than the free space on the data root's file system`);
    throw e;
  } finally {
    rmSync(blob, { force: true });
  }
}

/** True for failures to reach a registry at all (connection refused, DNS, timeouts), not for its answers. */
function isUnreachable(e: unknown): boolean {
  const err = e as { temporary?: boolean; httpStatus?: number };
  return err?.temporary === true && err.httpStatus === 0;
}

/** Docker's progress bar: "[=====>      ]  1.2MB/3.6MB". */
export function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const bar = "=".repeat(Math.max(0, filled - 1)) + (filled ? ">" : "") + " ".repeat(width - filled);
  return `[${bar}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

export type { Reference };
