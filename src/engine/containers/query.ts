/**
 * Reading containers in the Docker API's shapes: GET /containers/json (ps) and GET /containers/{id}/json
 * (inspect), with moby's filters and status strings.
 */
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { conflict, invalidParameter } from "../errors.ts";
import { humanDuration } from "../units.ts";
import type { ContainerStatus } from "../runtime/status.ts";
import { readHealth } from "./health.ts";
import { dirSize, displayImage, matchLabels, stateName, statusOf } from "./state.ts";
import type { ContainerRecord, StoredContainer as Stored } from "./types.ts";
import { containerPorts, mappingsByContainer, type PortMapping } from "../network/ports.ts";
import { reconcileIfPending } from "../network/pending.ts";
import { mountsByContainer, mountsOf, mountView } from "../volumes/mounts.ts";
import { network } from "../lazy.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";

/** moby's list Command: path and args, args with spaces in single quotes. */
function commandLine(c: Stored): string {
  return c.args.length ? `${c.path} ${c.args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}` : c.path;
}

/** moby's State.String(): "Up 5 seconds", "Exited (0) 3 minutes ago", "Created", "Restarting (1) ...". */
export function statusText(st: ContainerStatus, now = Date.now()): string {
  const ago = (t?: string) => humanDuration(now - (t ? Date.parse(t) : now));
  switch (stateName(st)) {
    case "running":
      // moby's Health.String(): "health: starting", else the status itself
      return `Up ${ago(st.startedAt)}${st.health ? ` (${st.health === "starting" ? "health: starting" : st.health})` : ""}`;
    case "restarting":
      return `Restarting (${st.exitCode ?? 0}) ${ago(st.finishedAt)} ago`;
    case "exited":
      return `Exited (${st.exitCode ?? 0}) ${ago(st.finishedAt)} ago`;
    default:
      return "Created";
  }
}

/** GET /containers/json item. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: { PrivatePort: number; Type: string; IP?: string; PublicPort?: number }[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, object> };
  Mounts: object[];
  SizeRw?: number;
  SizeRootFs?: number;
}

const FILTERS = ["status", "name", "label", "ancestor", "exited", "id", "before", "since", "network", "health", "volume", "publish", "expose", "is-task"];

/**
 * Removes --rm containers that exited while nobody watched (their anonymous volumes with them); returns
 * the containers left. The lifecycle module loads only when there is one.
 */
export async function reapExited(engine: Engine, all: Stored[] = engine.containers.all()): Promise<Stored[]> {
  if (!all.some((c) => c.hostConfig.AutoRemove && stateName(statusOf(c)) === "exited")) return all;
  const reaped = await (await import("./manager.ts")).reapAutoRemoved(engine, all);
  return all.filter((c) => !reaped.includes(c));
}

/** GET /containers/json: running containers, or all; filters as moby's; -n/-l via limit; sizes with size. */
export async function listContainers(engine: Engine, opts: { all?: boolean; limit?: number; size?: boolean; filters?: Record<string, string[]> } = {}): Promise<ContainerSummary[]> {
  let all = await reapExited(engine);
  await reconcileIfPending(engine); // after a crash mid-change to the host's network: one readdir when there was none
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!FILTERS.includes(k)) throw invalidParameter(`invalid filter '${k}'`);
  for (const s of f.status ?? []) if (!["created", "restarting", "running", "removing", "paused", "exited", "dead"].includes(s)) throw invalidParameter(`invalid filter 'status=${s}'`);
  for (const e of f.exited ?? []) if (!/^-?\d+$/.test(e)) throw invalidParameter(`invalid filter 'exited=${e}'`);
  for (const h of f.health ?? []) if (!["starting", "healthy", "unhealthy", "none"].includes(h)) throw invalidParameter(`Unrecognised filter value for health: ${h}`);
  const ancestors = (f.ancestor ?? []).map((a) => engine.images.lookup(a)?.id ?? a);
  const before = f.before?.[0] !== undefined ? engine.containers.resolve(f.before[0]).created : undefined;
  const sinceT = f.since?.[0] !== undefined ? engine.containers.resolve(f.since[0]).created : undefined;

  // -n/-l count the most recent containers of any state, as Docker does.
  const showAll = opts.all || (opts.limit ?? -1) > 0 || Object.keys(f).length > 0;
  if ((opts.limit ?? -1) > 0) all = all.slice(0, opts.limit);
  const out: ContainerSummary[] = [];
  const images = new Map<string, string | undefined>();
  let mappings: Map<string, PortMapping[]> | undefined;
  const mountsById = mountsByContainer(engine);
  for (const c of all) {
    const st = await statusOf(c);
    const state = stateName(st);
    if (!showAll && state !== "running") continue;
    if (f.status && !f.status.includes(state)) continue;
    if (f.name && !f.name.some((n) => new RegExp(n).test(`/${c.name}`))) continue;
    if (f.id && !f.id.some((i) => c.id.startsWith(i))) continue;
    if (f.label && !matchLabels(c.config.Labels, f.label)) continue;
    if (f.exited && !(state === "exited" && f.exited.includes(String(st.exitCode ?? 0)))) continue;
    if (f.health && !f.health.includes(st.health ?? "none")) continue;
    if (ancestors.length && !ancestors.includes(c.image) && !ancestors.includes(c.imageRef)) continue;
    if (before !== undefined && c.created >= before) continue;
    if (sinceT !== undefined && c.created <= sinceT) continue;
    const mounts = (mountsById.get(c.id) ?? []).map((m) => mountView(engine, m));
    // moby: a volume filter names a mount's destination, or its volume (its source for a bind).
    if (f.volume && !f.volume.some((v) => mounts.some((m) => m.Destination === v || (m.Name ?? m.Source) === v))) continue;
    const summary: ContainerSummary = {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: displayImage(engine, c, images),
      ImageID: c.image,
      Command: commandLine(c),
      Created: Math.floor(c.created / 1000),
      Ports: containerPorts(engine, c, state === "running", state === "running" ? (mappings ??= mappingsByContainer(engine)) : undefined),
      Labels: c.config.Labels ?? {},
      State: state,
      Status: statusText(st),
      HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
      NetworkSettings: { Networks: { [c.hostConfig.NetworkMode]: {} } },
      Mounts: mounts,
    };
    if (opts.size) {
      summary.SizeRw = dirSize(join(engine.root.layerDir(c.cacheId), "diff"));
      summary.SizeRootFs = summary.SizeRw + (engine.images.get(c.image)?.size ?? 0);
    }
    out.push(summary);
  }
  return out;
}

/** GET /containers/{id}/json. */
export async function inspectContainer(engine: Engine, ref: string, opts: { size?: boolean } = {}) {
  await (await import("./manager.ts")).reapAutoRemoved(engine);
  const c = engine.containers.resolve(ref);
  const st = await statusOf(c);
  const state = stateName(st);
  const dir = engine.root.layerDir(c.cacheId);
  const lower = engine.layers.diffDirs(c.topLayer);
  const sizeRw = opts.size ? dirSize(join(dir, "diff")) : undefined;
  return {
    Id: c.id,
    Created: new Date(c.created).toISOString(),
    Path: c.path,
    Args: c.args,
    State: {
      Status: state,
      Running: state === "running",
      Paused: false,
      Restarting: state === "restarting",
      OOMKilled: !!st.oomKilled,
      Dead: false,
      Pid: st.running ? (st.pid ?? 0) : 0,
      ExitCode: st.exitCode ?? 0,
      Error: st.error ?? "",
      StartedAt: st.startedAt ?? ZERO_TIME,
      FinishedAt: st.finishedAt ?? ZERO_TIME,
      ...((h) => (h ? { Health: h } : {}))(readHealth(c.dir)),
    },
    Image: c.image,
    ResolvConfPath: join(c.dir, "resolv.conf"),
    HostnamePath: join(c.dir, "hostname"),
    HostsPath: join(c.dir, "hosts"),
    LogPath: join(c.dir, `${c.id}-json.log`),
    Name: `/${c.name}`,
    RestartCount: st.restartCount,
    Driver: "overlay2",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: null,
    HostConfig: c.hostConfig,
    GraphDriver: {
      Data: { LowerDir: lower.join(":"), MergedDir: join(dir, "merged"), UpperDir: join(dir, "diff"), WorkDir: join(dir, "work") },
      Name: "overlay2",
    },
    ...(sizeRw !== undefined ? { SizeRw: sizeRw, SizeRootFs: sizeRw + (engine.images.get(c.image)?.size ?? 0) } : {}),
    Mounts: mountsOf(engine, c.id).map((m) => mountView(engine, m)),
    Config: c.config,
    NetworkSettings: network().networkSettings(engine, c, state === "running", st.pid),
  };
}

/**
 * Mount points the runtime creates in the upper dir when the image lacks them (moby's initlayer list).
 * Docker keeps these in a per-container "-init" layer below the upper dir, so they never show as
 * changes; neither do they here.
 */
const INIT_PATHS = new Set(["/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys", "/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/.dockerenv"]);

/** GET /containers/{id}/changes: A/C/D against the image, as `docker diff` lists them. */
export async function containerDiff(engine: Engine, ref: string) {
  const { containerChanges } = await import("./diff.ts"); // `docker diff` only: it walks layers through sys
  const c = engine.containers.resolve(ref);
  const changes = containerChanges(join(engine.root.layerDir(c.cacheId), "diff"), engine.layers.diffDirs(c.topLayer));
  const kept = changes.filter((ch) => !(INIT_PATHS.has(ch.Path) && ch.Kind === 1));
  // A parent reported only because of a dropped init path is no change either.
  return kept.filter((ch) => ch.Kind !== 0 || !changes.some((o) => INIT_PATHS.has(o.Path) && o.Path.startsWith(`${ch.Path}/`)) || kept.some((o) => o !== ch && o.Path.startsWith(`${ch.Path}/`)));
}

/** GET /containers/{id}/top: the container's processes as `ps` shows them. */
export async function containerTopOf(engine: Engine, ref: string, psArgs?: string) {
  const c = engine.containers.resolve(ref);
  const st = statusOf(c);
  if (!st.running || !st.pid) throw conflict(`Container ${c.id} is not running`);
  const { containerTop } = await import("./top.ts"); // `docker top` only
  return containerTop(st.pid, psArgs, c.id);
}
