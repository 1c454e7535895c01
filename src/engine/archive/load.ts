/**
 * `docker load`: an image archive (tarball.ts) into the store, the way pull stores a registry's image: each
 * layer through LayerStore.ensure (chain ID lock, tmp/ staging, diff ID verified, renamed into overlay2/
 * before its row), under a shared hold of the GC lock, then the image row and its tags in one transaction.
 * A layer was already unpacked (and verified) while the archive streamed in: ensure's unpacker just moves its
 * staging directory into place. A failure or kill -9 leaves no image row; what was staged is garbage.
 * Messages are moby's: "Loading layer" progress, then "Loaded image: name:tag" or "Loaded image ID: sha256:…".
 */
import { renameSync, rmdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Engine } from "../engine.ts";
import { eventsOf } from "../events.ts";
import type { JsonMessage } from "../progress.ts";
import { familiarString, repositoryName } from "../registry/reference.ts";
import { chainIds } from "../store/layers.ts";
import { tryLock } from "../store/locks.ts";
import { randomHex } from "../random.ts";
import { progressBar } from "../pull.ts";
import { readArchive, type StagedLayer } from "./tarball.ts";
import { TAR_SIZE_FILE, TAR_SPLIT_FILE, assembleLayerTar, recordedTarSize } from "../../fs/tar-split.ts";
import { unpackLayer } from "../../fs/unpack.ts";
import { fullJit } from "../../jit.ts";

/** Options of a load. */
export interface LoadOptions {
  /** No progress messages, only the "Loaded image" lines. */
  quiet?: boolean;
  onMessage?: (m: JsonMessage) => void;
  signal?: AbortSignal;
}

const short = (d: string) => d.replace(/^sha256:/, "").slice(0, 12);

/** Loads every image of the archive `input`; resolves to the IDs loaded. */
export async function loadImages(engine: Engine, input: ReadableStream<Uint8Array>, opts: LoadOptions = {}): Promise<string[]> {
  fullJit(); // the tar readers check every header's 512 bytes: interpreted, that was a fifth of a debian load
  const emit = opts.onMessage ?? (() => {});
  const token = randomHex().slice(0, 16);
  // The lock marks this staging directory live: an engine start removes those of dead loads (kill -9).
  const live = tryLock(engine.root.lock(`load-${token}`))!;
  const staging = `${engine.root.tmp}/load-${token}`;
  const gcHold = await engine.layers.holdAgainstGc();
  try {
    const images = await readArchive(input, staging, { signal: opts.signal });
    const loaded: string[] = [];
    for (const image of images) {
      const layers = image.layers();
      const diffIds = layers.map((l) => l.diffId);
      const chains = chainIds(diffIds);
      let size = 0;
      for (let i = 0; i < layers.length; i++) {
        const layer = layers[i]!;
        const { record } = await engine.layers.ensure(chains[i]!, layer.diffId, i ? chains[i - 1]! : null, (dir) => adopt(layer, dir, opts.signal));
        layer.adoptedAt ??= engine.layers.dir(record);
        size += record.size;
        if (!opts.quiet) {
          const total = recordedTarSize(engine.layers.dir(record));
          emit({ status: "Loading layer", progressDetail: { current: total, total }, progress: progressBar(total, total), id: short(layer.diffId) });
        }
      }
      // An archive's compressed blobs are not recorded in blob_sources: they are gone once unpacked, and a
      // push must not take their digests for a compression it can repeat.
      const [first, ...rest] = image.tags;
      const moved: { name: string; old: string }[] = [];
      const before = (t: typeof first) => (t ? engine.images.byReference(t)?.id : undefined);
      for (const t of image.tags) {
        const old = before(t);
        if (old && old !== image.id) moved.push({ name: familiarString(t), old });
      }
      engine.images.commit({ id: image.id, rawConfig: image.rawConfig, chainIds: chains, size, tag: first ? { repository: repositoryName(first), tag: first.tag! } : undefined });
      for (const t of rest) engine.images.setTag(repositoryName(t), t.tag!, image.id);
      for (const m of moved) emit({ stream: `The image ${m.name} already exists, renaming the old one with ID ${m.old} to empty string\n` });
      eventsOf(engine).publish("image", "load", image.id, { name: image.id });
      for (const t of image.tags) {
        eventsOf(engine).publish("image", "tag", image.id, { name: familiarString(t) });
        emit({ stream: `Loaded image: ${familiarString(t)}\n` });
      }
      if (!image.tags.length) emit({ stream: `Loaded image ID: ${image.id}\n` });
      loaded.push(image.id);
    }
    return loaded;
  } finally {
    gcHold.release();
    rmSync(staging, { recursive: true, force: true });
    live.release();
    rmSync(engine.root.lock(`load-${token}`), { force: true });
  }
}

/**
 * ensure()'s unpacker for a staged layer: the first chain that needs it takes its directory (diff/ and
 * tar-split record moved, no copy); a second chain with the same diff ID (the same layer at two places)
 * unpacks it again from the first one's record.
 */
async function adopt(layer: StagedLayer, dir: string, signal?: AbortSignal): Promise<{ diffId: string; size: number }> {
  const layerDir = dirname(dir);
  if (layer.adoptedAt === null && !layer.taken) {
    layer.taken = true;
    rmdirSync(dir);
    renameSync(`${layer.dir}/diff`, dir);
    renameSync(`${layer.dir}/${TAR_SPLIT_FILE}`, `${layerDir}/${TAR_SPLIT_FILE}`);
    renameSync(`${layer.dir}/${TAR_SIZE_FILE}`, `${layerDir}/${TAR_SIZE_FILE}`);
    return { diffId: layer.diffId, size: layer.unpackedSize };
  }
  if (layer.adoptedAt === null) throw new Error(`layer ${layer.diffId}: its staged copy was lost`);
  return unpackLayer(assembleLayerTar(layer.adoptedAt, layer.diffId), dir, { tarSplitDir: layerDir, signal });
}
