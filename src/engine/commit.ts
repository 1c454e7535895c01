/**
 * Images made from containers and archives: commit (a container's upper dir becomes a layer on its image),
 * import (a tar becomes a one-layer image) and export (a container's merged root as a tar).
 *
 * New layers go through the same registration as pulled ones: their tar streams through `unpackLayer`
 * into a staging directory of the layer store (LayerStore.register), which hashes the diff ID on the way
 * and commits the layer under its chain ID with its row, lock and GC rules. So whatever the store records
 * for a pulled layer it records for these, and a hostile import tar is refused by the same checks.
 *
 * Why the upper dir is packed and unpacked rather than hard-linked or reflinked into a layer: the
 * container may be running, or be started again later (commit freezes it only while it reads). A hard link shares the
 * inode, so later writes by the container (running, or started again) would change the committed layer
 * under its diff ID. A reflink would be safe against later writes, but only btrfs/xfs have them (not the
 * ext4 data roots here), and it would bypass the one registration path (the unpacker's checks, the diff
 * ID hashed from what it writes); a reflink-aware unpacker (FICLONE from the packer's open fd instead of
 * writing the bytes it has hashed) is how to make this cheaper without leaving that path. So packDir reads
 * every path through open directory fds (a running container cannot redirect it with a symlink) and the
 * unpacker rewrites it as a layer (whiteout devices and opaque xattrs round-trip as `.wh.` entries), at the cost of
 * one copy of the changed files: scripts/bench/commit.ts, 100 MB in 1000 files, 0.90 s against 0.71 s for
 * `tar -c | sha256sum` (which writes nothing), 1.05 s for a tar copy and 1.90 s for dockerd, 73 MiB peak RSS.
 */
import { dirname } from "node:path";
import { readdirSync } from "node:fs";
import { registerUpperDir, writableBytes } from "./layer-write.ts";
import { containerEvent, type Engine } from "./engine.ts";
import { conflict, EngineError, invalidParameter } from "./errors.ts";
import { isBeingRemoved } from "./containers/removal.ts";
import { pauseContainer, unpauseContainer } from "./containers/manager.ts";
import { statusOf } from "./containers/state.ts";
import type { ContainerConfig } from "./containers/types.ts";
import type { ContainerConfigSpec, ImageConfig, Platform } from "./image/types.ts";
import { hostPlatform } from "./image/types.ts";
import { parseChanges } from "./build/dockerfile/instructions.ts";
import { DockerfileParseError } from "./build/dockerfile/parser.ts";
import { StageState } from "./build/dispatch.ts";
import { parseReference, repositoryName, familiarString, type Reference } from "./registry/reference.ts";
import { eventsOf } from "./events.ts";
import { packDir } from "../fs/pack.ts";
import { unpackLayer } from "../fs/unpack.ts";
import { sha256Hex } from "../fs/digest.ts";
import { fullJit } from "../jit.ts";
import { humanSize } from "./units.ts";
import type { JsonMessage } from "./progress.ts";

/** The diff ID of a tar with no members (1024 zero bytes): moby's layer.EmptyLayer, not added to rootfs. */
export const EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** What commit takes (POST /commit's query and body). */
export interface CommitOptions {
  /** REPOSITORY[:TAG] parts, as `repo` and `tag` of the API. */
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  /** Dockerfile instructions (applyChanges). */
  changes?: string[];
  /** The Config to start from instead of the container's (the API body). */
  config?: ChangeableConfig | null;
  /** Freeze a running container while its layer is read (default true), as moby: paused and unpaused around
   * the read, with the events; if it cannot be paused (a container started before freezer cgroups existed),
   * the commit goes on with it running, as moby ignores a failed pause. */
  pause?: boolean;
}

/** What import takes (POST /images/create?fromSrc=). */
export interface ImportOptions {
  repo?: string;
  tag?: string;
  /** The history comment; the API's default is "Imported from <src>". */
  message?: string;
  changes?: string[];
  platform?: Platform;
}

/** The config fields a change may set: a container's Config or an image's config section. */
export type ChangeableConfig = ContainerConfigSpec & { Healthcheck?: { Test?: string[]; [k: string]: unknown }; [field: string]: unknown };

/**
 * Applies `--change` lines (commit, import; `changes=` of the API) to a copy of `config`: read by the
 * Dockerfile front end (parseChanges: moby's validCommitCommands, "<name> is not a valid change command")
 * and applied by the build's dispatcher, as moby's BuildFromConfig runs its builder's dispatchers.
 * Errors are invalidParameter with the front end's reason.
 */
export function applyChanges<T extends ChangeableConfig>(config: T, changes: string[]): T {
  if (!changes.length) return config;
  const reason = (e: unknown) => (e instanceof DockerfileParseError ? invalidParameter(e.reason) : e);
  try {
    const state = new StageState({ config, rootfs: { type: "layers", diff_ids: [] } } as unknown as ImageConfig, new Map(), new Map());
    // A build stage runs its base's ONBUILD triggers and clears them; a commit keeps them.
    if (config.OnBuild !== undefined) state.config.OnBuild = config.OnBuild ? [...config.OnBuild] : config.OnBuild;
    for (const ins of parseChanges(changes)) state.dispatch(ins);
    const out = state.config as T;
    // BuildKit marks shell-form CMD/ENTRYPOINT ArgsEscaped; moby's commit (its classic builder) does only on Windows.
    if (config.ArgsEscaped === undefined) delete out.ArgsEscaped;
    return out;
  } catch (e) {
    throw reason(e);
  }
}

/** moby's RepoTagReference: repo and tag as a reference to tag, the default tag "latest"; none without repo. */
export function repoTagReference(repo: string | undefined, tag: string | undefined): Reference | undefined {
  if (!repo) return undefined;
  let ref: Reference;
  try {
    ref = parseReference(repo);
  } catch (e) {
    throw invalidParameter((e as Error).message);
  }
  if (ref.digest) throw invalidParameter("cannot import digest reference");
  if (tag) {
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw invalidParameter(`invalid tag format`);
    return { ...ref, tag };
  }
  return { ...ref, tag: ref.tag ?? "latest" };
}

/** moby's merge(): fills what the new config leaves empty from the container's config. */
function mergeConfig(user: ChangeableConfig, base: ContainerConfig & ChangeableConfig): ChangeableConfig {
  const c = { ...user };
  if (!c.User) c.User = base.User;
  if (!c.ExposedPorts || !Object.keys(c.ExposedPorts).length) c.ExposedPorts = base.ExposedPorts;
  else if (base.ExposedPorts) c.ExposedPorts = { ...c.ExposedPorts, ...Object.fromEntries(Object.keys(base.ExposedPorts).filter((p) => !(p in c.ExposedPorts!)).map((p) => [p, {}])) };
  if (!c.Env?.length) c.Env = base.Env;
  else {
    const keys = new Set(c.Env.map((e) => e.split("=")[0]));
    c.Env = [...c.Env, ...(base.Env ?? []).filter((e) => !keys.has(e.split("=")[0]))];
  }
  c.Labels = { ...(base.Labels ?? {}), ...(c.Labels ?? {}) };
  if (!c.Entrypoint?.length) {
    if (!c.Cmd?.length) c.Cmd = base.Cmd;
    if (c.Entrypoint === undefined || c.Entrypoint === null) c.Entrypoint = base.Entrypoint;
  }
  if (base.Healthcheck) c.Healthcheck = c.Healthcheck ? { ...base.Healthcheck, ...Object.fromEntries(Object.entries(c.Healthcheck).filter(([, v]) => (Array.isArray(v) ? v.length : v))) } : base.Healthcheck;
  if (!c.WorkingDir) c.WorkingDir = base.WorkingDir;
  if (!c.Volumes || !Object.keys(c.Volumes).length) c.Volumes = base.Volumes;
  else c.Volumes = { ...c.Volumes, ...(base.Volumes ?? {}) };
  if (!c.StopSignal) c.StopSignal = base.StopSignal;
  return c;
}

/** The config's JSON as the image store keeps it: its bytes and their digest (the image ID). */
function encodeConfig(config: ImageConfig): { raw: Uint8Array; id: string } {
  const raw = new TextEncoder().encode(JSON.stringify(config));
  return { raw, id: sha256Hex(raw) };
}

/**
 * `docker commit`: the container's changes as a new image on top of its image. Returns the image ID.
 * A running container is paused while its upper dir is read (unless `pause: false`): unpaused, each file is
 * read whole and safely (packDir), but files changed meanwhile may land in either state.
 */
export async function commitContainer(engine: Engine, ref: string, opts: CommitOptions = {}): Promise<string> {
  fullJit();
  const c = engine.containers.resolve(ref);
  if (isBeingRemoved(engine, c.id)) throw conflict(`You cannot commit container ${c.id} which is being removed`);
  const tagRef = repoTagReference(opts.repo, opts.tag);
  const parent = engine.images.get(c.image);
  if (!parent) throw new EngineError("notFound", `No such image: ${c.image}`);
  // moby's container Config carries the image's Healthcheck (merged at create); bunker's record does not.
  const inherited = parent.config.config?.Healthcheck;
  const base = { ...c.config, ...(inherited && !("Healthcheck" in c.config) ? { Healthcheck: inherited } : {}) } as ContainerConfig & ChangeableConfig;
  const changed = applyChanges(structuredClone(opts.config ?? base) as ChangeableConfig, opts.changes ?? []);
  const config = mergeConfig(changed, base);
  const upper = engine.root.layerDiff(c.cacheId);

  const gcHold = await engine.layers.holdAgainstGc();
  const frozen = opts.pause !== false && (await pauseForCommit(engine, c.id));
  try {
    // An untouched upper dir is moby's empty layer: a history entry, no rootfs entry, no layer stored.
    let layer: { chainId: string; diffId: string; size: number } | undefined;
    if (readdirSync(upper).length) {
      const { record } = await registerUpperDir(engine, c.topLayer, upper);
      if (record.diffId !== EMPTY_TAR_DIFF_ID) layer = record;
    }
    const created = new Date().toISOString();
    const p = parent.config;
    const history = [...(p.history ?? []), { created, ...(opts.author ? { author: opts.author } : {}), created_by: (base.Cmd ?? []).join(" "), ...(opts.comment ? { comment: opts.comment } : {}), ...(layer ? {} : { empty_layer: true }) }];
    const image = {
      architecture: p.architecture || hostPlatform().architecture,
      ...(p.variant ? { variant: p.variant } : {}),
      os: p.os || "linux",
      config,
      container: c.id,
      container_config: base,
      created,
      ...(opts.author ? { author: opts.author } : {}),
      rootfs: { type: "layers", diff_ids: [...(p.rootfs?.diff_ids ?? []), ...(layer ? [layer.diffId] : [])] },
      history,
      ...(p["os.version"] ? { "os.version": p["os.version"] } : {}),
      ...((p as any)["os.features"] ? { "os.features": (p as any)["os.features"] } : {}),
    } as unknown as ImageConfig;
    const { raw, id } = encodeConfig(image);
    const chains = [...engine.images.chainIds(parent.id), ...(layer ? [layer.chainId] : [])];
    engine.images.commit({ id, rawConfig: raw, chainIds: chains, size: parent.size + (layer?.size ?? 0), tag: tagRef ? { repository: repositoryName(tagRef), tag: tagRef.tag! } : undefined });
    const bus = eventsOf(engine);
    bus.publish("image", "create", id, { name: id });
    if (tagRef) bus.publish("image", "tag", id, { name: familiarString(tagRef) });
    engine.events.publish(containerEvent(c, "commit", { comment: opts.comment ?? "", imageID: id, imageRef: tagRef ? familiarString(tagRef) : "" }));
    return id;
  } finally {
    if (frozen) await unpauseContainer(engine, c.id).catch(() => {});
    gcHold.release();
  }
}

/** Pauses a running, unpaused container for a commit; false when it is not running, already paused, or cannot be. */
async function pauseForCommit(engine: Engine, id: string): Promise<boolean> {
  const st = await statusOf(engine.containers.resolve(id));
  if (!st.running || st.paused || st.restarting) return false;
  return pauseContainer(engine, id).then(
    () => true,
    () => false,
  );
}

/**
 * `docker import`: a tar (plain, gzip or zstd, sniffed by unpackLayer) as a one-layer image with the config
 * `changes` make from an empty one. A hostile tar is refused by unpackLayer and nothing is stored.
 */
export async function importImage(engine: Engine, source: ReadableStream<Uint8Array>, opts: ImportOptions = {}): Promise<string> {
  fullJit();
  const tagRef = repoTagReference(opts.repo, opts.tag);
  const platform = opts.platform ?? hostPlatform();
  if (platform.os !== "linux") throw invalidParameter(`operating system is not supported: ${platform.os}`);
  const config = applyChanges({} as ChangeableConfig, opts.changes ?? []);
  const gcHold = await engine.layers.holdAgainstGc();
  try {
    const { record } = await engine.layers.register(null, async (dir) => {
      try {
        return await unpackLayer(source, dir, { maxBytes: writableBytes(dir), tarSplitDir: dirname(dir) }); // tar-split: save and push rebuild the tar
      } catch (e) {
        if ((e as Error).name === "LayerError" || (e as Error).name === "ExpansionLimitError") throw invalidParameter((e as Error).message);
        throw e;
      }
    });
    const created = new Date().toISOString();
    const image = {
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config,
      created,
      ...(opts.message ? { comment: opts.message } : {}),
      rootfs: { type: "layers", diff_ids: [record.diffId] },
      history: [{ created, ...(opts.message ? { comment: opts.message } : {}) }],
    } as unknown as ImageConfig;
    const { raw, id } = encodeConfig(image);
    engine.images.commit({ id, rawConfig: raw, chainIds: [record.chainId], size: record.size, tag: tagRef ? { repository: repositoryName(tagRef), tag: tagRef.tag! } : undefined });
    const bus = eventsOf(engine);
    if (tagRef) bus.publish("image", "tag", id, { name: familiarString(tagRef) });
    bus.publish("image", "import", id, { name: id });
    return id;
  } finally {
    gcHold.release();
  }
}

/**
 * `docker export`: the container's root file system (its upper dir over its image's layers, merged as
 * overlayfs shows it, read without mounting anything) as a tar stream. Volumes and bind mounts are not in
 * it: they are mounted only inside the container.
 */
export function exportContainer(engine: Engine, ref: string): ReadableStream<Uint8Array> {
  const c = engine.containers.resolve(ref);
  const stream = packDir(engine.root.layerDiff(c.cacheId), { lower: engine.layers.diffDirs(c.topLayer) });
  engine.events.publish(containerEvent(c, "export"));
  return stream;
}

/** Docker's progress bar of a download ("[==>   ] 1.2MB/3.4MB"). */
function bar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  return `[${"=".repeat(Math.max(0, filled - 1))}${filled ? ">" : ""}${" ".repeat(width - filled)}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/**
 * The import job of POST /images/create?fromSrc= as moby runs it: a tar from the request body ("-") or
 * downloaded from an http(s) URL (a bare host/path gets "http://", as moby does; other schemes are refused),
 * the comment defaulting to "Imported from <src>", progress as Docker's messages, and the image ID as the
 * last status message.
 */
export async function importFrom(engine: Engine, source: ReadableStream<Uint8Array> | { url: string }, opts: ImportOptions, emit: (m: JsonMessage) => void): Promise<string> {
  let stream: ReadableStream<Uint8Array>;
  let src = "-";
  if (source instanceof ReadableStream) stream = source;
  else {
    src = source.url.includes("://") ? source.url : `http://${source.url}`;
    let url: URL;
    try {
      url = new URL(src);
    } catch {
      throw invalidParameter(`invalid URL: ${JSON.stringify(source.url)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidParameter(`unsupported URL scheme "${url.protocol.slice(0, -1)}": import takes http or https URLs`);
    const res = await fetch(url, { redirect: "follow" }).catch((e) => {
      throw new EngineError("system", `error downloading ${url}: ${(e as Error).message}`);
    });
    if (res.status >= 400) throw new EngineError(res.status === 404 ? "notFound" : "system", `failed to GET ${url} with status ${res.status} ${res.statusText}: ${(await res.text()).slice(0, 200)}`);
    emit({ status: `Downloading from ${url}` });
    const total = Number(res.headers.get("content-length") ?? 0);
    let current = 0;
    let last = 0;
    stream = res.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          current += chunk.length;
          if (current - last >= 512 * 1024 || current === total) {
            last = current;
            emit({ status: "Importing", progressDetail: { current, total }, progress: bar(current, total) });
          }
          ctl.enqueue(chunk);
        },
      }),
    );
  }
  const id = await importImage(engine, stream, { ...opts, message: opts.message || `Imported from ${src}` });
  emit({ status: id });
  return id;
}
