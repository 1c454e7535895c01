/**
 * The one client interface the bunker CLI's commands use, with two transports: in-process (the engine in
 * this process; local.ts) and remote (a daemon over the Docker Engine API; remote.ts). Every operation
 * takes and returns the Docker API's shapes, so a command renders the same output either way.
 */
import type { ImageDeleteItem, ImageSummary } from "../engine/images.ts";
import type { ContainerSummary } from "../engine/containers/query.ts";
import type { CreateOptions } from "../engine/containers/manager.ts";
import type { JsonMessage } from "../engine/progress.ts";
import type { Attachment, ExecOptions } from "../engine/runtime/index.ts";
import type { systemDf, systemInfo, systemVersion } from "../engine/system.ts";
import type { Volume } from "../engine/volumes/index.ts";
import type { NetworkCreateRequest, NetworkResource } from "../engine/network/index.ts";
import type { ContainerInspect, ImageInspect } from "./wire.ts";
import type { PathStat } from "../engine/containers/archive.ts";
import type { ContainerStats } from "../engine/containers/stats.ts";
import type { UpdateOptions } from "../engine/containers/manager.ts";
import type { BuildEvent, BuildOptions, BuildResult } from "../engine/build/types.ts";

/** Output handlers of an attached container or exec. */
export interface OutputHandlers {
  onStdout?(b: Uint8Array): void;
  onStderr?(b: Uint8Array): void;
}

/** What `logs` asks for (times in epoch ns). */
export interface LogsOptions {
  follow?: boolean;
  tail?: number;
  since?: bigint;
  until?: bigint;
  timestamps?: boolean;
}

/** What `exec` asks for: the runtime's exec options less what the backend supplies (ID, shim, output). */
export type ExecRequest = Omit<ExecOptions, "execId" | "dataRoot" | "onStdout" | "onStderr">;

/** The operations behind the CLI's commands. */
export interface Backend {
  /** "in-process" or the daemon's address. */
  readonly where: string;

  listImages(opts: { all?: boolean; filters?: Record<string, string[]> }): Promise<ImageSummary[]>;
  /** `platform`: that platform of a multi-platform image ("linux/arm64"). */
  inspectImage(name: string, opts?: { platform?: string }): Promise<ImageInspect>;
  imageHistory(name: string, opts?: { platform?: string }): Promise<{ Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[]>;
  tagImage(source: string, target: string): Promise<void>;
  removeImage(name: string, opts: { force?: boolean; noPrune?: boolean }): Promise<ImageDeleteItem[]>;
  pruneImages(opts: { all?: boolean; filters?: Record<string, string[]> }): Promise<{ ImagesDeleted: ImageDeleteItem[] | null; SpaceReclaimed: number }>;
  /** Pulls; progress as Docker's JSON messages; rejects with the pull's error. */
  pull(ref: string, opts: { platform?: string }, onMessage: (m: JsonMessage) => void): Promise<void>;
  /** The archive `docker save` writes; rejects before any byte when a name is unknown or cannot be saved. */
  saveImages(names: string[]): Promise<ReadableStream<Uint8Array>>;
  /**
   * The same archive written into the regular file `fd`: a new one open for reading and writing (`save -o`), or
   * stdout (`save > file`) with a descriptor to read it through and the offset its writes start at. The
   * caller keeps them open until this settles.
   */
  saveImagesInto(names: string[], fd: number, opts?: { readFd?: number; at?: number }): Promise<void>;
  /** Loads an image archive; messages as Docker's load stream; rejects with the load's error. */
  loadImages(input: ReadableStream<Uint8Array>, opts: { quiet?: boolean }, onMessage: (m: JsonMessage) => void): Promise<void>;
  /** Pushes NAME:TAG, or every tag of a bare NAME (one platform's manifest with `platform`); progress as Docker's JSON messages; rejects with the push's error. */
  push(ref: string, opts: { platform?: string }, onMessage: (m: JsonMessage) => void): Promise<void>;

  info(): Promise<ReturnType<typeof systemInfo>>;
  version(): Promise<ReturnType<typeof systemVersion>>;
  df(): Promise<Awaited<ReturnType<typeof systemDf>>>;

  createContainer(opts: CreateOptions): Promise<{ Id: string }>;
  /** Starts; with `attach`, output flows to the handlers and the Attachment relays stdin and the exit code. */
  startContainer(id: string, attach?: OutputHandlers & { stdin?: boolean; tty?: boolean }): Promise<{ attach?: Attachment }>;
  stopContainer(id: string, opts: { timeout?: number; signal?: string }): Promise<void>;
  restartContainer(id: string, opts: { timeout?: number; signal?: string }): Promise<void>;
  killContainer(id: string, signal?: string): Promise<void>;
  removeContainer(id: string, opts: { force?: boolean; volumes?: boolean }): Promise<void>;
  waitContainer(id: string, condition?: "not-running" | "next-exit" | "removed"): Promise<number>;
  renameContainer(id: string, name: string): Promise<void>;
  pruneContainers(opts: { filters?: Record<string, string[]> }): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>;
  listContainers(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Record<string, string[]> }): Promise<ContainerSummary[]>;
  inspectContainer(id: string, opts?: { size?: boolean }): Promise<ContainerInspect>;
  /** Sends a signal to an attached container's process (the CLI's signal proxy). */
  signalContainer(id: string, signal: string): Promise<void>;
  logs(id: string, opts: LogsOptions): AsyncIterable<{ stream: "stdout" | "stderr"; data: Uint8Array }[]>;
  top(id: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  changes(id: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]>;
  exec(id: string, req: ExecRequest, out: OutputHandlers): Promise<{ attach?: Attachment }>;
  /** HEAD /containers/{id}/archive: the stat of a path inside the container. */
  statPath(id: string, path: string): Promise<PathStat>;
  /** GET /containers/{id}/archive: the path's stat and a tar of it. */
  getArchive(id: string, path: string): Promise<{ stat: PathStat; content: ReadableStream<Uint8Array> }>;
  /** PUT /containers/{id}/archive: extracts a tar into a directory of the container. */
  putArchive(id: string, path: string, content: ReadableStream<Uint8Array>, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean }): Promise<void>;
  /** A container's resource usage: one sample a second while `stream`, else one (GET /containers/{id}/stats). */
  stats(id: string, opts: { stream: boolean; oneShot?: boolean }, signal?: AbortSignal): AsyncIterable<ContainerStats>;
  /** `stats --no-stream` without names: one sample of each running container (each one with `all`), in `ps` order, holding at least the figures its table shows; one that went meanwhile is its error. */
  statsSnapshot(opts: { all: boolean }): Promise<{ id: string; sample: ContainerStats | Error }[]>;
  pauseContainer(id: string): Promise<void>;
  unpauseContainer(id: string): Promise<void>;
  /** `docker update`: new limits and restart policy (0 / "" unchanged). */
  updateContainer(id: string, update: UpdateOptions): Promise<{ Warnings: string[] | null }>;

  createVolume(req: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }): Promise<Volume>;
  listVolumes(filters?: Record<string, string[]>): Promise<{ Volumes: Volume[] | null; Warnings: string[] | null }>;
  inspectVolume(name: string): Promise<Volume>;
  removeVolume(name: string, opts: { force?: boolean }): Promise<void>;
  pruneVolumes(filters?: Record<string, string[]>): Promise<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>;
  listNetworks(opts: { filters?: Record<string, string[]> }): Promise<NetworkResource[]>;
  inspectNetwork(ref: string, opts?: { verbose?: boolean }): Promise<NetworkResource>;
  /** Creates a network; resolves to its full ID. */
  createNetwork(req: NetworkCreateRequest): Promise<{ Id: string; Warning?: string }>;
  removeNetwork(ref: string): Promise<void>;
  connectNetwork(network: string, container: string, endpoint: { Aliases?: string[]; IPAddress?: string }): Promise<void>;
  disconnectNetwork(network: string, container: string, force?: boolean): Promise<void>;
  pruneNetworks(opts: { filters?: Record<string, string[]> }): Promise<{ NetworksDeleted: string[] | null }>;

  /** POST /commit: a new image from a container's changes; resolves to its ID. */
  commit(container: string, opts: CommitRequest): Promise<{ Id: string }>;
  /** GET /containers/{id}/export: the container's root file system as a tar stream. */
  exportContainer(id: string): Promise<ReadableStream<Uint8Array>>;
  /** POST /images/create?fromSrc=: a tar (a stream, or a URL the engine downloads) as an image; progress as Docker's JSON messages, the last one the image ID. */
  importImage(source: ReadableStream<Uint8Array> | { url: string }, opts: ImportRequest, onMessage: (m: JsonMessage) => void): Promise<void>;
  /** Attaches to a running container (`attach`): output to the handlers, stdin when asked, the exit code when it exits. */
  attachContainer(id: string, io: OutputHandlers & { stdin: boolean; tty: boolean }): Promise<Attachment>;
  /** Events as `GET /events` streams them (JSON objects, timeNano exact as a bigint), until `until` or the caller stops. */
  events(opts: { since?: bigint; until?: bigint; filters?: Record<string, string[]> }): AsyncIterable<EventMessage>;
  /** Builds an image from a Dockerfile; progress as BuildEvents; rejects with the build's error (nothing tagged). */
  build(req: BuildRequest, onEvent: (e: BuildEvent) => void): Promise<BuildResult>;
  /** POST /build/prune: frees the build cache; resolves to what went and the bytes freed. */
  pruneBuildCache(opts: BuildPruneRequest): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>;
}

/**
 * What `build` sends: the build's options with its context as a directory (in-process: read in place;
 * remote: sent as a tar with .dockerignore applied) or as a tar stream (`bunker build -`).
 */
export interface BuildRequest extends Omit<BuildOptions, "contextDir"> {
  context: { dir: string } | { tar: ReadableStream<Uint8Array> };
}

/** What `builder prune` asks for (POST /build/prune's query). */
export interface BuildPruneRequest {
  /** Also cache still referenced (BuildKit: not only dangling); this cache has no references, so the same. */
  all?: boolean;
  /** Bytes of cache to keep (the least recently used goes first). */
  keepStorage?: number;
  filters?: Record<string, string[]>;
}

/** What `commit` sends (POST /commit's query; `config` is its body). */
export interface CommitRequest {
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  changes?: string[];
  pause?: boolean;
  config?: Record<string, unknown>;
}

/** What `import` sends (POST /images/create's query). */
export interface ImportRequest {
  /** REPOSITORY[:TAG], as the docker CLI sends it in `repo`. */
  repo?: string;
  message?: string;
  changes?: string[];
  platform?: string;
}

/** One event as `GET /events` sends it (events.Message). */
export interface EventMessage {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: bigint;
}
