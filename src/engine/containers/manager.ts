/**
 * The container lifecycle: create, start, stop, kill, restart, remove, wait, rename, prune. State that
 * several bunker processes share lives in the database (the container row) and in what each container's
 * shim records (<dir>/status.json); this module holds no state of its own, so the CLI in-process and the
 * daemon behave the same and survive each other.
 */
import { existsSync, mkdirSync, rmSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { randomHex } from "../random.ts";
import { containerEvent, type Engine } from "../engine.ts";
import { EngineError, conflict, invalidParameter, noSuchContainer, noSuchImage } from "../errors.ts";
import { parseReference, withDefaultTag, familiarString } from "../registry/reference.ts";
import type { ContainerConfig, ContainerRecord, HostConfig, RestartPolicy, StoredContainer as Stored } from "./types.ts";
import { randomName, validateName } from "./names.ts";
import { beginRemoval, endRemoval, reconcileRemovals } from "./removal.ts";
import { resolveCapabilities, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, containerEnv, checkDnsServer, parseExtraHost, checkUlimit, checkSysctl, type ContainerPlan } from "../runtime/spec.ts";
import { checkDeviceOptions, devicePlan } from "../runtime/devices.ts";
import { startContainer as runtimeStart } from "../runtime/start.ts";
import { availableCpuset, containerCgroups, defaultCgroupns, removeCgroups, setFrozen, unsupportedLimit, updateCgroups, type Resources } from "../runtime/cgroups.ts";
import { signalContainer, signalNumber, type ContainerStatus } from "../runtime/status.ts";
import { dirSize, matchLabels, stateName, statusOf } from "./state.ts";
import { applyEtcOptions } from "./etc.ts";
import { logRotation, resolveLogConfig } from "./logs/drivers.ts";
import { pruneUntilMs } from "../units.ts";
import { formatPlatform, parsePlatform, type Platform } from "../image/types.ts";
import { publishAll } from "../network/ports.ts";
import { resolveMounts, tmpfsFlags, tmpfsSpecData, type MountPoint, type MountSpec } from "../volumes/spec.ts";
import { markPopulated, mountSource, mountsOf, recordMounts, removeAnonymousVolumes } from "../volumes/index.ts";
import { network } from "../lazy.ts";
import { removeAll } from "../../fs/remove.ts";
import { checkHealthConfig, healthPlan, mergeHealthConfig } from "./health.ts";
import { applyLinks, checkLinks, checkNamespaceModes, namespacePlan, volumesFrom } from "./sharing.ts";

/** What `create`/`run` ask for, in Docker's terms. */
export interface CreateOptions {
  image: string;
  /** --platform (the create request's `platform`): the stored image must be of it, or it is "not found" (then pulled). */
  platform?: string;
  name?: string;
  /** The command after the image name. */
  cmd?: string[];
  /** --entrypoint: a string replaces the image's (empty clears it); the API's array form as is ([] or [""] clears it). */
  entrypoint?: string | string[];
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  openStdin?: boolean;
  /** Config.StdinOnce as an API client sent it; otherwise what the docker CLI sends (-i with stdin attached). */
  stdinOnce?: boolean;
  attach?: { stdin: boolean; stdout: boolean; stderr: boolean };
  labels?: Record<string, string>;
  restart?: RestartPolicy;
  networkMode?: string;
  /** -p: HostConfig.PortBindings ("80/tcp" -> host bindings); -P: publish every exposed port. */
  portBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  publishAll?: boolean;
  /** Config.ExposedPorts of the API, checked ("80/tcp" keys), added to the image's. */
  exposedPorts?: string[];
  /** --network-alias and --ip: the endpoint config of the network the container is created on. */
  networkAliases?: string[];
  ipv4Address?: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  autoRemove?: boolean;
  logConfig?: Record<string, string>;
  /** --log-driver (HostConfig.LogConfig.Type): json-file, local or none; absent: the daemon's default. */
  logDriver?: string;
  /** --runtime (HostConfig.Runtime): only runc, the one runtime there is, or the default. */
  runtime?: string;
  /** --gpus (HostConfig.DeviceRequests): refused, as by a dockerd without a device driver. */
  deviceRequests?: { Driver?: string; Capabilities?: string[][] | null }[];
  stopSignal?: string;
  stopTimeout?: number;
  /** -v SRC:DST[:OPTS] (HostConfig.Binds), --mount (HostConfig.Mounts), --tmpfs (HostConfig.Tmpfs). */
  binds?: string[];
  mounts?: MountSpec[];
  tmpfs?: Record<string, string>;
  /** -v /path: anonymous volumes (Config.Volumes, with the image's VOLUMEs). */
  volumes?: string[];
  /** --add-host, --dns, --dns-search, --dns-option (HostConfig.ExtraHosts, Dns, DnsSearch, DnsOptions). */
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** -m, --memory-swap, --cpus, --cpu-shares, --pids-limit (HostConfig.Memory, MemorySwap, NanoCpus, CpuShares, PidsLimit). */
  resources?: Resources;
  /** --oom-score-adj (HostConfig.OomScoreAdj), -1000..1000. */
  oomScoreAdj?: number;
  /** --shm-size in bytes (0: Docker's 64 MiB) and --ulimit (HostConfig.ShmSize, Ulimits). */
  shmSize?: number;
  ulimits?: { Name: string; Soft: number; Hard: number }[];
  /** --read-only (HostConfig.ReadonlyRootfs). */
  readonlyRootfs?: boolean;
  /** --init (HostConfig.Init). */
  init?: boolean;
  /** Read-only binds read-only on their top mount only (API clients before 1.44, as moby). */
  readonlyNonRecursive?: boolean;
  /** --sysctl (HostConfig.Sysctls): the namespaced ones only (checkSysctl). */
  sysctls?: Record<string, string>;
  /** --device, --device-cgroup-rule, --cgroupns (HostConfig.Devices, DeviceCgroupRules, CgroupnsMode). */
  devices?: import("../runtime/spec.ts").DeviceMapping[];
  deviceCgroupRules?: string[];
  cgroupnsMode?: string;
  /** --health-*, --no-healthcheck (Config.Healthcheck): over the image's HEALTHCHECK. */
  healthcheck?: import("./health.ts").HealthConfig;
  /** --pid, --ipc, --uts (HostConfig.PidMode, IpcMode, UTSMode): host, or container:<name> for PID and IPC. */
  pidMode?: string;
  ipcMode?: string;
  utsMode?: string;
  /** --group-add (HostConfig.GroupAdd), --link (HostConfig.Links), --volumes-from (HostConfig.VolumesFrom). */
  groupAdd?: string[];
  links?: string[];
  volumesFrom?: string[];
  /** --mac-address: the endpoint's MAC address on the network the container is created on (bridge networks only). */
  macAddress?: string;
}

const overlayDir = (engine: Engine, c: { cacheId: string }) => engine.root.layerDir(c.cacheId);

/** Whether a network mode has networking for the engine to set up: a bridge or user network, or container:<name>. */
const hasNetworking = (mode: string) => mode !== "host" && mode !== "none";

/** Creates a container from a stored image (the caller pulls first if needed). */
export async function createContainer(engine: Engine, opts: CreateOptions): Promise<Stored> {
  checkConfig(opts);
  const image = engine.images.resolve(opts.image);
  if (opts.platform) checkPlatform(opts.image, image.config, opts.platform);
  const ic = image.config.config ?? {};
  const id = randomHex();
  const hostConfig = buildHostConfig(opts, opts.exposedPorts?.length ? { ...(ic.ExposedPorts ?? {}), ...Object.fromEntries(opts.exposedPorts.map((k) => [k, {}])) } : ic.ExposedPorts);
  hostConfig.LogConfig = resolveLogConfig(opts.logDriver, opts.logConfig ?? {}, { driver: engine.config.logDriver, opts: engine.config.logOpts });
  if (hasNetworking(hostConfig.NetworkMode)) hostConfig.NetworkMode = network().validateNetworkMode(engine, hostConfig.NetworkMode);
  const ep = Array.isArray(opts.entrypoint) && opts.entrypoint.length === 1 ? opts.entrypoint[0]! : opts.entrypoint;
  const entrypoint = ep !== undefined ? (ep === "" || (Array.isArray(ep) && !ep.length) ? null : Array.isArray(ep) ? ep : [ep]) : (ic.Entrypoint ?? null);
  // An entrypoint given on the command line drops the image's Cmd, as Docker does.
  const cmd = opts.cmd?.length ? opts.cmd : opts.entrypoint !== undefined ? null : (ic.Cmd ?? null);
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (!argv.length) throw invalidParameter("No command specified");
  const volumes = opts.volumes?.length || ic.Volumes ? { ...Object.fromEntries((opts.volumes ?? []).map((v) => [v, {}])), ...(ic.Volumes ?? {}) } : null;
  // Every mount is decided (and refused) before anything is recorded.
  const { mounts: own } = resolveMounts({ binds: hostConfig.Binds, mounts: hostConfig.Mounts, tmpfs: hostConfig.Tmpfs, volumes }, existsSync, isProcfs);
  const mounts = hostConfig.VolumesFrom?.length ? [...own, ...volumesFrom(engine, hostConfig.VolumesFrom, own)] : own;
  const links = checkLinks(engine, opts.links ?? [], hostConfig.NetworkMode);
  if (opts.readonlyNonRecursive) for (const m of mounts) if (m.Type === "bind" && !m.RW) m.Spec.BindOptions = { ...m.Spec.BindOptions, ReadOnlyNonRecursive: true };
  const config: ContainerConfig = {
    Hostname: opts.hostname ?? id.slice(0, 12),
    Domainname: "",
    User: opts.user ?? ic.User ?? "",
    AttachStdin: opts.attach?.stdin ?? false,
    AttachStdout: opts.attach?.stdout ?? false,
    AttachStderr: opts.attach?.stderr ?? false,
    ...(ic.ExposedPorts || opts.exposedPorts?.length || Object.keys(hostConfig.PortBindings ?? {}).length ? { ExposedPorts: { ...(ic.ExposedPorts ?? {}), ...Object.fromEntries([...(opts.exposedPorts ?? []), ...Object.keys(hostConfig.PortBindings ?? {})].map((k) => [k, {}])) } } : {}),
    Tty: opts.tty ?? false,
    OpenStdin: opts.openStdin ?? false,
    StdinOnce: opts.stdinOnce ?? ((opts.openStdin ?? false) && (opts.attach?.stdin ?? false)),
    Env: mergeEnv(ic.Env ?? [], opts.env ?? []),
    Cmd: cmd,
    Image: opts.image,
    Volumes: volumes,
    WorkingDir: (opts.workdir ? posix.normalize(opts.workdir).replace(/(.)\/$/, "$1") : undefined) ?? ic.WorkingDir ?? "",
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...(ic.Labels ?? {}), ...(opts.labels ?? {}) },
    ...((opts.stopSignal ?? ic.StopSignal) ? { StopSignal: opts.stopSignal ?? ic.StopSignal } : {}),
    ...(opts.stopTimeout !== undefined ? { StopTimeout: opts.stopTimeout } : {}),
    ...((h) => (h ? { Healthcheck: h } : {}))(mergeHealthConfig(opts.healthcheck, ic.Healthcheck)),
  };
  const record: Stored = {
    id,
    name: "",
    image: image.id,
    imageRef: opts.image,
    topLayer: image.topLayer,
    cacheId: id,
    created: Date.now(),
    config,
    hostConfig,
    dir: engine.root.containerDir(id),
    path: argv[0]!,
    args: argv.slice(1),
  };
  // An empty name is no name, as in moby: a random one.
  const wanted = opts.name || undefined;
  // The row goes in first, then the directories: a process killed in between leaves a "Created" container
  // that rm and container prune remove, never an orphan no row names. Against layer GC (an rmi in another
  // process) the row goes in within one write transaction with a check that the top layer is still stored;
  // GC deletes layer rows in its own write transaction before their directories (LayerStore.collect). No
  // flock here: that took loading bun:ffi, ~1 ms of every `run`.
  for (let attempt = 0; ; attempt++) {
    record.name = wanted !== undefined ? validateName(wanted) : randomName(attempt);
    // moby records a link as "/child:/parent/alias"
    if (links.length) hostConfig.Links = links.map((l) => l.replace(/:\//, `:/${record.name}/`));
    try {
      engine.db
        .transaction(() => {
          if (record.topLayer && !engine.layers.get(record.topLayer)) throw noSuchImage(opts.image);
          engine.containers.insert(record);
        })
        .immediate();
      break;
    } catch (e) {
      if (wanted !== undefined || attempt > 5 || !(e instanceof EngineError && e.kind === "conflict")) throw e;
    }
  }
  // The endpoint (and its address) of a bridge network is recorded now and kept until removal, and so are
  // the mounts (creating the volumes they name).
  try {
    // (host and none have no endpoint, and refuse aliases: the module says so)
    if (hasNetworking(hostConfig.NetworkMode) || opts.networkAliases?.length || opts.macAddress) network().attachAtCreate(engine, record, { aliases: opts.networkAliases, ip: opts.ipv4Address, mac: opts.macAddress });
    recordMounts(engine, record.id, mounts);
  } catch (e) {
    engine.containers.delete(record.id);
    throw e;
  }
  const dir = overlayDir(engine, record);
  // The layer dir keeps others out (0700); the upper dir's mode becomes the container's "/", which must
  // be 0755 as in Docker's overlay2, or a non-root user in the container cannot list "/".
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of ["diff", "work", "merged"]) mkdirSync(join(dir, d), { mode: d === "diff" ? 0o755 : 0o700 });
  writeFileSync(join(dir, "lower"), engine.layers.diffDirs(record.topLayer).join(":"));
  mkdirSync(record.dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(record.dir, "config.v2.json"), JSON.stringify({ ID: id, Name: `/${record.name}`, Config: config, HostConfig: hostConfig, Image: image.id, Created: new Date(record.created).toISOString() }));
  // An rm -f or container prune (a daemon serving another request) may have removed the row while the
  // directories were being made: it found none to remove, so they go here, or nothing would name them.
  if (engine.containers.lookup(id)?.id !== id) {
    removeAll(dir);
    removeAll(record.dir);
    throw noSuchContainer(id);
  }
  engine.events.publish(containerEvent(record, "create"));
  return record;
}

/** moby's answer when the stored image is of another platform than asked: not found, so that clients pull it. */
function checkPlatform(ref: string, have: Platform, platform: string): void {
  let want: Platform;
  try {
    want = parsePlatform(platform);
  } catch (e) {
    throw invalidParameter((e as Error).message);
  }
  const variant = (p: Platform) => p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);
  const [a, b] = [variant(have), variant(want)];
  if (have.os !== want.os || have.architecture !== want.architecture || (a && b && a !== b)) {
    throw new EngineError("notFound", `image with reference ${ref} was found but its platform (${formatPlatform(have)}) does not match the specified platform (${formatPlatform(want)})`, { code: "imagePlatformMismatch" });
  }
}

/** moby's ValidateRestartPolicy. */
function checkRestartPolicy(p: RestartPolicy): void {
  const n = p.MaximumRetryCount ?? 0;
  if (p.Name === "on-failure" && n < 0) throw invalidParameter("invalid restart policy: maximum retry count cannot be negative");
  if ((p.Name === "no" || p.Name === "always" || p.Name === "unless-stopped") && n !== 0) {
    throw invalidParameter(`invalid restart policy: maximum retry count can only be used with 'on-failure'${n < 0 ? " and cannot be negative" : ""}`);
  }
}

/** The runtimes dockerd knows by default: runc under its two names (an empty name is the default). */
const RUNTIMES = ["", "runc", "io.containerd.runc.v2"];

/** --runtime and --gpus as a dockerd with only runc and no device driver refuses them (moby's texts). */
function checkRuntimeOptions(opts: CreateOptions): void {
  if (opts.runtime !== undefined && !RUNTIMES.includes(opts.runtime)) throw invalidParameter(`unknown or invalid runtime name: ${opts.runtime}`);
  const req = opts.deviceRequests?.[0];
  if (req) throw invalidParameter(`could not select device driver ${JSON.stringify(req.Driver ?? "")} with capabilities: [${(req.Capabilities ?? []).map((c) => `[${c.join(" ")}]`).join(" ")}]`);
}

/** moby's checks of the Config (validateContainerConfig, verifyPlatformContainerSettings), with its messages. */
function checkConfig(opts: CreateOptions): void {
  if (opts.workdir && !opts.workdir.startsWith("/")) throw invalidParameter(`the working directory '${opts.workdir}' is invalid, it needs to be an absolute path`);
  for (const e of opts.env ?? []) if (e.startsWith("=") || e === "") throw invalidParameter(`invalid environment variable: ${e}`);
  checkRuntimeOptions(opts);
  if (opts.hostname && Buffer.byteLength(opts.hostname) > 64) throw invalidParameter(`hostname "${opts.hostname}" is too long (maximum 64 bytes)`);
  checkHealthConfig(opts.healthcheck);
}

/** Docker's HostConfig for what was asked. */
function buildHostConfig(opts: CreateOptions, exposed?: Record<string, object>): HostConfig {
  const restart = opts.restart ?? { Name: "no", MaximumRetryCount: 0 };
  checkRestartPolicy(restart);
  if (opts.autoRemove && restart.Name !== "no" && restart.Name !== "") throw invalidParameter("can't create 'AutoRemove' container with restart policy");
  const securityOpt = opts.securityOpt ?? [];
  for (const s of securityOpt) {
    // The docker CLI sends a --security-opt seccomp=<file>'s JSON itself; the profile built into the shim is Docker's default.
    if (/^seccomp[:=]/.test(s) && !/^seccomp[:=](unconfined|builtin)$/.test(s)) throw invalidParameter(`custom seccomp profiles are not supported: use the default profile, or --security-opt seccomp=unconfined`);
    if (!/^(no-new-privileges(([:=])(true|false))?|seccomp[:=](unconfined|builtin)|apparmor[:=]unconfined|label[:=]disable)$/.test(s)) throw invalidParameter(`invalid --security-opt: ${JSON.stringify(s)}`);
  }
  const resources = checkResources(opts.resources ?? {});
  const mode = opts.networkMode || "bridge";
  // -P: every port the image exposes gets a free host port at each start.
  const ports = opts.publishAll ? publishAll(exposed, { ...(opts.portBindings ?? {}) }) : (opts.portBindings ?? {});
  const namespaces = checkNamespaceModes(opts);
  if (opts.links?.length && mode.startsWith("container:")) throw invalidParameter("conflicting options: container type network can't be used with links. This would result in undefined behavior");
  if (opts.macAddress && !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(opts.macAddress.trim())) throw invalidParameter(`invalid MAC address ${opts.macAddress}`);
  if (opts.macAddress && (mode === "host" || mode === "none" || mode.startsWith("container:"))) throw invalidParameter("conflicting options: mac-address and the network mode");
  return {
    Binds: opts.binds?.length ? opts.binds : null,
    ...(opts.mounts?.length ? { Mounts: opts.mounts } : {}),
    ...(opts.tmpfs && Object.keys(opts.tmpfs).length ? { Tmpfs: opts.tmpfs } : {}),
    VolumeDriver: "",
    VolumesFrom: opts.volumesFrom?.length ? opts.volumesFrom : null,
    NetworkMode: mode === "default" ? "bridge" : mode,
    PortBindings: ports,
    PublishAllPorts: opts.publishAll ?? false,
    RestartPolicy: restart,
    AutoRemove: opts.autoRemove ?? false,
    CapAdd: opts.capAdd?.length ? opts.capAdd : null,
    CapDrop: opts.capDrop?.length ? opts.capDrop : null,
    Privileged: opts.privileged ?? false,
    SecurityOpt: securityOpt.length ? securityOpt : null,
    LogConfig: { Type: "json-file", Config: opts.logConfig ?? {} },
    ReadonlyRootfs: opts.readonlyRootfs ?? false,
    Init: opts.init ? true : null,
    ExtraHosts: opts.extraHosts?.length ? opts.extraHosts.map((e) => parseExtraHost(e).join(":")) : null,
    Dns: (opts.dns ?? []).map(checkDnsServer),
    DnsSearch: opts.dnsSearch ?? [],
    DnsOptions: opts.dnsOptions ?? [],
    ...resources,
    OomScoreAdj: checkOomScoreAdj(opts.oomScoreAdj ?? 0),
    ShmSize: checkShmSize(opts.shmSize),
    // by name, the last one given winning, as the docker CLI's UlimitOpt keeps them
    Ulimits: opts.ulimits?.length ? [...new Map(opts.ulimits.map((u) => [u.Name, checkUlimit(u)])).values()] : null,
    ...(opts.sysctls && Object.keys(opts.sysctls).length ? { Sysctls: checkSysctls(opts.sysctls, mode, namespaces) } : {}),
    ...checkDeviceOptions(opts, defaultCgroupns),
    ...namespaces,
    GroupAdd: opts.groupAdd?.length ? opts.groupAdd : null,
    Links: null,
  };
}

/** HostConfig.Sysctls, each refused unless the container's own namespaces hold it (runc's rules, at create). */
function checkSysctls(sysctls: Record<string, string>, network: string, modes: { IpcMode?: string; UTSMode?: string }): Record<string, string> {
  for (const [k, v] of Object.entries(sysctls)) checkSysctl(k, v, network, { ipc: modes.IpcMode, uts: modes.UTSMode });
  return { ...sysctls };
}

/** HostConfig.OomScoreAdj, in the kernel's range (moby's message). */
function checkOomScoreAdj(v: number): number {
  if (!Number.isInteger(v) || v < -1000 || v > 1000) throw invalidParameter(`Invalid value ${v}, range for oom score adj is [-1000, 1000]`);
  return v;
}

/** HostConfig.ShmSize: Docker's 64 MiB for 0 or none; negative is moby's error. */
function checkShmSize(size = 0): number {
  if (size < 0) throw invalidParameter("SHM size can not be less than 0");
  return size || DEFAULT_SHM_SIZE;
}

/** moby's checks of the limits it enforces (daemon_unix.go verifyPlatformContainerResources), with its messages; `update` checks the values given only. */
function checkResources(r: Resources, update = false): Required<Resources> {
  const memory = r.Memory ?? 0;
  const swap = r.MemorySwap ?? 0;
  if (memory !== 0 && memory < 6 * 1024 * 1024) throw invalidParameter("Minimum memory limit allowed is 6MB");
  if (!update && swap > 0 && memory === 0) throw invalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (swap > 0 && memory > 0 && swap < memory) throw invalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage");
  const ncpu = navigator.hardwareConcurrency;
  const nano = r.NanoCpus ?? 0;
  if (nano < 0 || nano > ncpu * 1e9) throw invalidParameter(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  if ((r.CpuShares ?? 0) < 0) throw invalidParameter(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  const period = r.CpuPeriod ?? 0;
  const quota = r.CpuQuota ?? 0;
  if (nano > 0 && period > 0) throw invalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && quota > 0) throw invalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (period !== 0 && (period < 1000 || period > 1_000_000)) throw invalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  if (quota > 0 && quota < 1000) throw invalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  const available = r.CpusetCpus || r.CpusetMems ? availableCpuset() : { cpus: "", mems: "" };
  if (r.CpusetCpus) checkCpuset(r.CpusetCpus, available.cpus, "cpus", "CPUs");
  if (r.CpusetMems) checkCpuset(r.CpusetMems, available.mems, "mems", "memory nodes");
  const weight = r.BlkioWeight ?? 0;
  if (weight > 0 && (weight < 10 || weight > 1000)) throw invalidParameter("Range of blkio weight is from 10 to 1000");
  const why = update ? undefined : unsupportedLimit(r);
  if (why) throw invalidParameter(why);
  // docker: 0 and -1 both mean unlimited, kept as null (what inspect shows)
  const pids = r.PidsLimit && r.PidsLimit > 0 ? r.PidsLimit : null;
  return { Memory: memory, MemorySwap: swap, NanoCpus: nano, CpuShares: r.CpuShares ?? 0, PidsLimit: pids, CpuPeriod: period, CpuQuota: quota, CpusetCpus: r.CpusetCpus ?? "", CpusetMems: r.CpusetMems ?? "", BlkioWeight: weight, OomKillDisable: r.OomKillDisable ?? false };
}

/** A cpuset list ("0-2,4") as moby parses it (parsers.ParseUintList), and each member among the host's. */
function checkCpuset(list: string, available: string, what: string, nouns: string): void {
  const parse = (v: string): Set<number> | undefined => {
    const out = new Set<number>();
    for (const part of v.split(",")) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) return undefined;
      for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.add(i);
    }
    return out;
  };
  const want = parse(list);
  if (!want) throw invalidParameter(`Invalid value ${list} for cpuset ${what}`);
  const have = parse(available) ?? new Set<number>();
  if ([...want].some((n) => !have.has(n))) throw invalidParameter(`Requested ${nouns} are not available - requested ${list}, available: ${available}`);
}

/** Image env, then the user's (-e) overriding by key; a bare NAME replaces the image's NAME=... (moby's merge), unsetting it. */
function mergeEnv(image: string[], user: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...image, ...user]) out.set(e.split("=")[0]!, e);
  return [...out.values()];
}


/** The runtime plan for a container's next start (its /etc files written); `mounts` are its recorded mounts. */
export async function planFor(engine: Engine, c: Stored, mounts: MountPoint[]): Promise<ContainerPlan> {
  const hc = c.hostConfig;
  const dir = overlayDir(engine, c);
  const nnp = (hc.SecurityOpt ?? []).some((s) => /^no-new-privileges(([:=])true)?$/.test(s));
  const unconfined = (hc.SecurityOpt ?? []).some((s) => /^seccomp[:=]unconfined$/.test(s));
  // (a container joining the IPC namespace of one that uses the host's is in the host's: no IPC sysctl there)
  const shared = namespacePlan(engine, hc);
  const ipc = shared.namespaces?.ipc === "host" ? "host" : hc.IpcMode;
  const base = {
    id: c.id,
    rootfs: { lowerDirs: engine.layers.diffDirs(c.topLayer), upperDir: join(dir, "diff"), workDir: join(dir, "work"), mergedDir: join(dir, "merged") },
    hostname: c.config.Hostname,
    args: [c.path, ...c.args],
    env: c.config.Env,
    cwd: c.config.WorkingDir || "/",
    user: c.config.User,
    tty: c.config.Tty,
    openStdin: c.config.OpenStdin,
    capabilities: resolveCapabilities({ capAdd: hc.CapAdd ?? undefined, capDrop: hc.CapDrop ?? undefined, privileged: hc.Privileged }),
    noNewPrivileges: nnp,
    seccomp: !unconfined && !hc.Privileged,
    ...containerCgroups(c.id, hc, (hc.CgroupnsMode ?? defaultCgroupns()) === "private"),
    ...devicePlan(hc),
    shmSize: hc.ShmSize,
    readonlyRootfs: hc.ReadonlyRootfs,
    init: !!hc.Init,
    ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    oomScoreAdj: hc.OomScoreAdj || undefined,
    privileged: hc.Privileged,
    network: hc.NetworkMode === "host" ? ("host" as const) : hc.NetworkMode === "none" ? ("none" as const) : ("private" as const),
    ...userMounts(engine, c, mounts),
    sysctls: Object.entries(hc.Sysctls ?? {}).map(([k, v]) => checkSysctl(k, v, hc.NetworkMode, { ipc, uts: hc.UTSMode })),
    ...shared,
    ...(hc.GroupAdd?.length ? { groupAdd: hc.GroupAdd } : {}),
    hostNetns: hc.Sysctls ? statSync("/proc/self/ns/net").ino : undefined,
    maskedPaths: hc.Privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: hc.Privileged ? [] : [...DEFAULT_READONLY_PATHS],
    containerDir: c.dir,
    ...logRotation(hc.LogConfig),
    noLog: hc.LogConfig.Type === "none",
    restart: { name: (hc.RestartPolicy.Name || "no") as ContainerPlan["restart"]["name"], maxRetries: hc.RestartPolicy.MaximumRetryCount || undefined },
    health: healthPlan(c.config.Healthcheck),
  };
  // Bridge networks and container:<name>: veths, published ports, DNS and /etc files (src/engine/network).
  const net = hasNetworking(hc.NetworkMode) ? await network().networkPlan(engine, c) : {};
  const plan = { ...base, ...net, env: containerEnv(base) };
  applyEtcOptions(engine, c, plan); // --add-host, --dns...: on top of what the network wrote
  if (hc.Links?.length) applyLinks(engine, c, plan); // --link: after the network's own /etc/hosts lines
  return plan;
}



/** The plan's binds (volumes and host paths) and tmpfs mounts, from the container's recorded mounts. */
function userMounts(engine: Engine, c: Stored, mounts: MountPoint[]): Pick<ContainerPlan, "binds" | "tmpfs"> {
  const tmpfs = Object.entries(c.hostConfig.Tmpfs ?? {}).map(([target, data]) => ({ target: posix.normalize(target), ...tmpfsFlags(data) }));
  for (const m of mounts) if (m.Type === "tmpfs") tmpfs.push({ target: m.Destination, ...tmpfsFlags(tmpfsSpecData(m.Spec)) });
  const binds = mounts.filter((m) => m.Type !== "tmpfs").map((m) => ({ source: mountSource(engine, m), target: m.Destination, readonly: !m.RW, copy: m.Type === "volume" && m.CopyData, ...bindRecursion(m.Spec) }));
  return { binds, tmpfs };
}

/** moby's BindOptions that decide how far a bind (and its read-only flag) reaches into the source's submounts. */
function bindRecursion(spec: MountSpec): Pick<ContainerPlan["binds"][number], "nonRecursive" | "readonlyNonRecursive" | "readonlyForceRecursive"> {
  const o = spec.BindOptions ?? {};
  return { nonRecursive: !!o.NonRecursive, readonlyNonRecursive: !!o.ReadOnlyNonRecursive, readonlyForceRecursive: !!o.ReadOnlyForceRecursive };
}

/** Whether a bind source lies on a procfs (the one source runc lets cover /proc). */
function isProcfs(path: string): boolean {
  try {
    return statfsSync(path).type === 0x9fa0; // PROC_SUPER_MAGIC
  } catch {
    return false;
  }
}

/** Options for a start. */
export interface StartOptions {
  /** Attach before the container runs (foreground run, start -a): output goes to these handlers. */
  attach?: { onStdout?(b: Uint8Array): void; onStderr?(b: Uint8Array): void };
  /**
   * With attach: return only once the process has been exec'd (or failed), as Docker's start does. The CLI's
   * own foreground run needs no such wait (it relays until the exit); an API client may call wait next.
   */
  untilRunning?: boolean;
}

/** Starts a created or stopped container; a running one is left as is (Docker answers 304). `runtime` is the shim's start (a test's fake). */
export async function startContainer(engine: Engine, ref: string, opts: StartOptions = {}, runtime = runtimeStart) {
  const c = engine.containers.resolve(ref);
  // Known while under way, so that a removal in this process (rm -f, prune) waits for it instead of taking
  // the container away from under it, as moby's container lock orders them.
  const starting = startsOf(engine);
  const work = startOnce(engine, c, opts, runtime);
  const tracked = work.then(() => {}, () => {});
  starting.set(c.id, tracked);
  const settled = work.finally(() => starting.get(c.id) === tracked && starting.delete(c.id));
  // Docker removes an --rm container whose start failed, so `run --rm` with a bad command leaves nothing
  // (once the start is no longer under way: the removal waits for that).
  return settled.catch(async (e) => {
    if (c.hostConfig.AutoRemove) await removeContainer(engine, c.id, { force: true, volumes: true }).catch(() => {});
    throw e;
  });
}

/** The starts under way in this process, per engine and container ID. */
const starts = new WeakMap<Engine, Map<string, Promise<void>>>();
const startsOf = (engine: Engine) => {
  let m = starts.get(engine);
  if (!m) starts.set(engine, (m = new Map()));
  return m;
};
/** Resolves once no start of container `id` is under way in this process. */
const startSettled = (engine: Engine, id: string) => starts.get(engine)?.get(id);

async function startOnce(engine: Engine, c: Stored, opts: StartOptions, runtime: typeof runtimeStart) {
  const st = await statusOf(c);
  if (st.running) return { pid: st.pid!, alreadyRunning: true as const };
  const mounts = mountsOf(engine, c.id);
  // A stop request from an earlier stop must not suppress this run's restart policy, nor an update of the last run's replace this run's.
  rmSync(join(c.dir, "stop-requested"), { force: true });
  rmSync(join(c.dir, "restart-policy"), { force: true });
  try {
    const plan = await planFor(engine, c, mounts);
    const started = await runtime(plan, opts.attach ? "attached" : "detached", { dataRoot: engine.root.root, untilRunning: opts.untilRunning, ...opts.attach }).catch((e) => {
      throw plan.hostPorts?.length ? network().startError(engine, c, e) : e;
    });
    if (plan.hostPorts?.length) await network().networkStarted(engine, c);
    if (plan.binds.some((b) => b.copy)) markPopulated(engine, c.id);
    for (const m of mounts) {
      if (m.Type === "volume") engine.events.publish({ Type: "volume", Action: "mount", id: m.Name, attributes: { container: c.id, destination: m.Destination, driver: "local", propagation: m.Propagation, "read/write": String(m.RW) } });
    }
    engine.events.publish(containerEvent(c, "start"));
    return { ...started, alreadyRunning: false as const };
  } catch (e) {
    // Any other than an --rm one (removed once the start is over: startContainer) keeps no cgroup until its next start.
    if (!c.hostConfig.AutoRemove) removeCgroups(c.id);
    throw e;
  }
}

/**
 * Polls the status until `done` holds or `ms` pass; true if it held. Every 10 ms at most for the first
 * quarter second (a killed container's exit is recorded within tens of ms: a stop waits no longer than
 * that, and compose's down waits for stops one after another), then every 50 ms.
 */
async function until(c: { dir: string }, done: (st: ContainerStatus) => boolean, ms: number): Promise<boolean> {
  const start = Date.now();
  const deadline = start + ms;
  for (let delay = 2; ; delay = Math.min(delay * 2, Date.now() - start < 250 ? 10 : 50)) {
    if (done(await statusOf(c))) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Stops a container: its stop signal (STOPSIGNAL, default SIGTERM), then SIGKILL after the timeout
 * (-t, the container's StopTimeout, else 10 s). A stopped container is left as is.
 */
export async function stopContainer(engine: Engine, ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<{ wasRunning: boolean }> {
  const c = engine.containers.resolve(ref);
  const st = await statusOf(c);
  if (!st.running && !st.restarting) return { wasRunning: false };
  const timeout = opts.timeout ?? c.config.StopTimeout ?? 10;
  try {
    signalContainer(c.dir, opts.signal ?? c.config.StopSignal ?? "SIGTERM", { stop: true });
  } catch (e) {
    if (!(e instanceof EngineError && e.kind === "conflict")) throw e;
  }
  if (st.paused) await thaw(engine, c); // the stop signal waits in frozen processes: thawed, they get it (moby)
  const stopped = (s: ContainerStatus) => !s.running && !s.restarting;
  if (timeout < 0 || !(await until(c, stopped, timeout * 1000))) {
    try {
      signalContainer(c.dir, "SIGKILL", { stop: true });
    } catch {}
    if (!(await until(c, stopped, 10_000))) throw new EngineError("system", `cannot stop container: ${c.id}: tried to kill container, but did not receive an exit event`);
  }
  // Docker unpublishes at stop; the next start programs them again
  if (hasNetworking(c.hostConfig.NetworkMode)) await network().releasePortsAsync(engine, c.id);
  engine.events.publish(containerEvent(c, "stop"));
  return { wasRunning: true };
}

/** Sends a signal (default SIGKILL); the container must be running. SIGKILL also counts as a manual stop. */
export async function killContainer(engine: Engine, ref: string, signal = "SIGKILL"): Promise<void> {
  const c = engine.containers.resolve(ref);
  const sig = signalNumber(signal);
  const st = await statusOf(c);
  if (!st.running) throw conflict(`cannot kill container: ${ref}: container ${c.id} is not running`);
  signalContainer(c.dir, sig, { stop: sig === 9 });
  engine.events.publish(containerEvent(c, "kill", { signal: String(sig) }));
  // moby: SIGKILL or the stop signal to a paused container thaws it, so the signal is delivered
  if (st.paused && (sig === 9 || sig === signalNumber(c.config.StopSignal ?? "SIGTERM"))) await thaw(engine, c);
  if (sig === 9) await until(c, (s) => !s.running, 5000);
}

/** Restarts: stop (with the timeout), then start. */
export async function restartContainer(engine: Engine, ref: string, opts: { timeout?: number } = {}) {
  await stopContainer(engine, ref, opts);
  await startContainer(engine, ref);
  const c = engine.containers.resolve(ref);
  engine.events.publish(containerEvent(c, "restart"));
}

/** Removes a container, its layer and directory; running ones only with force (killed first). */
export async function removeContainer(engine: Engine, ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
  const c = engine.containers.resolve(ref);
  await startSettled(engine, c.id);
  const st = await statusOf(c);
  if (st.running || st.restarting) {
    if (!opts.force && st.paused) throw conflict(`cannot remove container "/${c.name}": container is paused and must be unpaused first`);
    if (!opts.force) throw conflict(`cannot remove container "/${c.name}": container is ${st.running ? "running" : "restarting"}: stop the container before removing or force remove`);
    // From here on the removal is decided: a crash part-way is finished by the next engine start.
    beginRemoval(engine, c, opts.volumes ? anonymousNames(mountsOf(engine, c.id)) : []);
    try {
      signalContainer(c.dir, "SIGKILL", { stop: true });
    } catch {}
    if (st.paused) await thaw(engine, c);
    await until(c, (s) => !s.running && !s.restarting, 10_000);
  }
  await deleteContainerFiles(engine, c, opts.volumes);
}

/** Names of the anonymous volumes among a container's mounts (removed with it by rm -v and --rm). */
const anonymousNames = (mounts: MountPoint[]) => mounts.filter((m) => m.Type === "volume" && !m.Spec.Source).map((m) => m.Name);


/**
 * Deletes the row, then the files; with `volumes`, its anonymous volumes. `destroy` is published between the
 * two, while the shim's status file still tells the daemon's monitor the exit it may not have seen yet (its
 * `die` must come first, as in moby). The whole is bracketed by a removal intent (removal.ts): a process
 * killed anywhere in between leaves it, and the next engine start finishes the job.
 */
function deleteContainerFiles(engine: Engine, c: Stored, volumes = false): Promise<void> {
  // Single flight: the monitor's --rm and a listing's reap can both find the same exited container; the
  // second waits for the first instead of deleting (and announcing `destroy`) twice.
  let inFlight = removals.get(engine);
  if (!inFlight) removals.set(engine, (inFlight = new Map()));
  const running = inFlight.get(c.id);
  if (running) return running;
  const done = deleteOnce(engine, c, volumes).finally(() => inFlight.delete(c.id));
  inFlight.set(c.id, done);
  return done;
}

/** The removals under way in this process, per engine and container ID. */
const removals = new WeakMap<Engine, Map<string, Promise<void>>>();

async function deleteOnce(engine: Engine, c: Stored, volumes: boolean) {
  const mounts = volumes ? mountsOf(engine, c.id) : [];
  beginRemoval(engine, c, anonymousNames(mounts));
  // Published-port rules, address claims and DNS names go first: they are found through the rows.
  if (hasNetworking(c.hostConfig.NetworkMode)) {
    await network().releasePortsAsync(engine, c.id);
    network().containerRemoved(engine, c);
  }
  // Its mount rows go with it, releasing its volumes. Only the remover that deleted the row announces it.
  if (engine.containers.delete(c.id)) engine.events.publish(containerEvent(c, "destroy"));
  removeAnonymousVolumes(engine, mounts);
  // The overlay was mounted only inside the container's mount namespace, which died with it: nothing to unmount.
  removeAll(overlayDir(engine, c));
  // Its shim may still be unlinking its socket as it exits: removeAll holds where rmSync gave up silently.
  removeAll(c.dir);
  removeCgroups(c.id);
  endRemoval(engine, c.id);
}

/** Waits for a condition (Docker's wait: not-running, next-exit, removed) and returns the exit code. */
export async function waitContainer(engine: Engine, ref: string, condition: "not-running" | "next-exit" | "removed" = "not-running", signal?: AbortSignal): Promise<number> {
  const c = engine.containers.resolve(ref);
  if (!["not-running", "next-exit", "removed"].includes(condition)) throw invalidParameter(`invalid condition: "${condition}"`);
  const first = await statusOf(c);
  const startedAt = first.startedAt;
  let last = first;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    signal?.throwIfAborted();
    if (condition === "removed") {
      if (!engine.containers.lookup(c.id)) return last.exitCode ?? 0;
      last = await statusOf(c);
    } else {
      last = await statusOf(c);
      const exited = !last.running && !last.restarting;
      if (condition === "not-running" && exited) return last.exitCode ?? 0;
      if (condition === "next-exit" && exited && (first.running || last.startedAt !== startedAt)) return last.exitCode ?? 0;
    }
    await Bun.sleep(delay);
  }
}

/** Thaws a paused container after a signal that must reach it (kill, stop, rm -f), as moby resumes it: `unpause` follows. */
async function thaw(engine: Engine, c: Stored): Promise<void> {
  await setFrozen(c.id, false).catch(() => {});
  engine.events.publish(containerEvent(c, "unpause"));
}

/** `docker pause`: freezes every process of a running container (cgroup freezer), with moby's errors. */
export async function pauseContainer(engine: Engine, ref: string): Promise<void> {
  const c = engine.containers.resolve(ref);
  const st = statusOf(c);
  if (st.restarting) throw conflict(`Container ${c.id} is restarting, wait until the container is running`);
  if (!st.running) throw conflict(`container ${c.id} is not running`);
  if (st.paused) throw conflict(`container ${c.id} is already paused`);
  await setFrozen(c.id, true);
  engine.events.publish(containerEvent(c, "pause"));
}

/** `docker unpause`: thaws a paused container. */
export async function unpauseContainer(engine: Engine, ref: string): Promise<void> {
  const c = engine.containers.resolve(ref);
  const st = statusOf(c);
  if (!st.running || !st.paused) throw conflict(`Container ${c.id} is not paused`);
  await setFrozen(c.id, false);
  engine.events.publish(containerEvent(c, "unpause"));
}

/** What `docker update` may change (moby's UpdateConfig): resources, 0 / "" / undefined unchanged, and the restart policy. */
export interface UpdateOptions extends Resources {
  RestartPolicy?: RestartPolicy;
}

/**
 * `docker update`: checks the new limits as moby does (alone, then against the container's: NanoCpus and
 * CpuPeriod/CpuQuota exclude each other, memory above an already set swap limit needs a new swap limit),
 * keeps them in HostConfig for the next start and, if the container runs, writes them into its cgroups.
 */
export async function updateContainer(engine: Engine, ref: string, u: UpdateOptions): Promise<{ Warnings: string[] }> {
  const c = engine.containers.resolve(ref);
  const cannot = (m: string) => invalidParameter(`Cannot update container ${c.id}: ${m}`);
  checkResources({ ...u, PidsLimit: u.PidsLimit === -1 ? undefined : u.PidsLimit }, true);
  const hc = { ...c.hostConfig };
  if (u.NanoCpus && hc.CpuPeriod) throw cannot("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if (u.NanoCpus && hc.CpuQuota) throw cannot("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  if ((u.CpuPeriod ?? 0) > 0 && hc.NanoCpus) throw cannot("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if ((u.CpuQuota ?? 0) > 0 && hc.NanoCpus) throw cannot("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  const swapNow = hc.MemorySwap || (hc.Memory ? hc.Memory * 2 : 0);
  if (u.Memory && swapNow > 0 && u.Memory > swapNow && !u.MemorySwap) throw cannot("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
  if (u.MemorySwap && u.MemorySwap > 0 && u.MemorySwap < (u.Memory || hc.Memory || 0)) throw invalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (u.MemorySwap && u.MemorySwap > 0 && !(u.Memory || hc.Memory)) throw invalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage");
  const why = unsupportedLimit(u);
  if (why) throw cannot(why);
  if (u.RestartPolicy?.Name) {
    checkRestartPolicy(u.RestartPolicy);
    if (u.RestartPolicy.Name !== "no" && hc.AutoRemove) throw cannot("Restart policy cannot be updated because AutoRemove is enabled for the container");
    hc.RestartPolicy = u.RestartPolicy;
  }
  for (const k of ["BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "Memory", "MemorySwap"] as const) {
    if (u[k]) (hc as Record<string, unknown>)[k] = u[k];
  }
  if (u.PidsLimit !== undefined && u.PidsLimit !== null) hc.PidsLimit = u.PidsLimit > 0 ? u.PidsLimit : null;
  const st = statusOf(c);
  if (st.running) {
    try {
      // Only what changed is written: the rest is as the start left it.
      updateCgroups(c.id, { ...u, Memory: u.Memory || (u.MemorySwap ? hc.Memory : 0), MemorySwap: u.MemorySwap || (u.Memory ? hc.MemorySwap : 0) });
    } catch (e) {
      throw cannot((e as Error).message);
    }
  }
  engine.containers.updateHostConfig(c.id, hc);
  // The running container's supervisor reads a changed policy at its next exit (shim/run.c); the next start's plan holds it.
  if (u.RestartPolicy?.Name && (st.running || st.restarting)) writeFileSync(join(c.dir, "restart-policy"), `${hc.RestartPolicy.Name} ${hc.RestartPolicy.MaximumRetryCount || 0}`);
  engine.events.publish(containerEvent(c, "update"));
  return { Warnings: [] };
}

/** Renames a container. */
export function renameContainer(engine: Engine, ref: string, newName: string): void {
  if (!ref || !newName) throw invalidParameter("Neither old nor new names may be empty");
  const c = engine.containers.resolve(ref);
  const name = validateName(newName);
  if (name === c.name) throw invalidParameter(`Renaming a container with the same name as its current name`);
  engine.containers.rename(c.id, name);
  engine.events.publish(containerEvent({ ...c, name }, "rename", { oldName: `/${c.name}` }));
}

/** Removes every stopped or created container; returns their IDs and the space their layers held. */
export async function pruneContainers(engine: Engine, opts: { labels?: string[]; filters?: Record<string, string[]> } = {}): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
  // The filters of POST /containers/prune (moby's: label, label!, until), applied or refused, never dropped.
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!["label", "label!", "until"].includes(k)) throw invalidParameter(`invalid filter '${k}'`);
  const labels = opts.labels ?? f.label;
  const until = f.until?.length ? pruneUntilMs(f.until[0]!) : undefined;
  const deleted: string[] = [];
  let reclaimed = 0;
  // What an in-process CLI finishes at each engine start, a long-running daemon finishes here: removals a
  // killed process left half done, and directories no row names.
  reconcileRemovals(engine);
  for (const c of engine.containers.all()) {
    await startSettled(engine, c.id); // a container being started is running once it is
    const st = await statusOf(c);
    if (st.running || st.restarting) continue;
    if (labels && !matchLabels(c.config.Labels, labels)) continue;
    if (f["label!"]?.some((l) => matchLabels(c.config.Labels, [l]))) continue;
    if (until !== undefined && c.created >= until) continue;
    reclaimed += dirSize(join(overlayDir(engine, c), "diff"));
    await deleteContainerFiles(engine, c);
    deleted.push(c.id);
  }
  return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
}



/**
 * Removes --rm containers that exited while no bunker process was watching (detached runs). Called when
 * containers are listed, so the record never outlives the next look at it.
 */
export async function reapAutoRemoved(engine: Engine, containers: Stored[] = engine.containers.all()): Promise<Stored[]> {
  const removed: Stored[] = [];
  for (const c of containers) {
    if (!c.hostConfig.AutoRemove) continue;
    const st = await statusOf(c);
    if (stateName(st) === "exited") {
      await deleteContainerFiles(engine, c, true);
      removed.push(c);
    }
  }
  return removed;
}


/** Normalises a run/create image argument for messages ("redis" → "redis:latest"). */
export function familiarImage(name: string): string {
  try {
    return familiarString(withDefaultTag(parseReference(name)));
  } catch {
    return name;
  }
}
