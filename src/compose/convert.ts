/**
 * A compose service as the engine's create options (docker compose v2's getCreateConfigs): every key the
 * model carries is applied or refused with an error naming it. Networks past the first are connected
 * after create (`extraNetworks`), as compose does against an API before 1.44.
 */
import { isAbsolute, resolve } from "node:path";
import type { Backend } from "../api/backend.ts";
import { parseBytes } from "../engine/units.ts";
import { goDuration } from "../go/time.ts";
import type { Project, ServiceConfig } from "./model.ts";
import { ComposeError } from "./errors.ts";
import { shellSplit } from "./canonical.ts";
import type { TarFile } from "./tar.ts";
import * as L from "./labels.ts";

/** The engine's create options, as the Backend takes them. */
export type CreateOptions = Parameters<Backend["createContainer"]>[0];
type MountSpec = NonNullable<CreateOptions["mounts"]>[number];
type HealthConfig = NonNullable<CreateOptions["healthcheck"]>;
type RestartPolicy = NonNullable<CreateOptions["restart"]>;
type DeviceMapping = NonNullable<CreateOptions["devices"]>[number];

/** A service with its key (compose-go's ServiceConfig.Name, which the JSON leaves out). */
export type NamedService = ServiceConfig & { name: string };

/** Where a project came from, as its labels record it. */
export interface ProjectOrigin {
  workingDir: string;
  composeFiles: string[];
  envFiles?: string[];
}

/**
 * What creating one container of a service takes: the options, the networks to connect before start, and
 * the files (secrets and configs given by `environment:` or `content:`) to write into it before start.
 */
export interface ContainerPlan {
  options: CreateOptions;
  extraNetworks: { network: string; aliases: string[]; ipv4Address?: string }[];
  files: TarFile[];
}

/**
 * Service keys turned into create options here, or used by the orchestration (the rest are refused):
 * env_file and label_file are merged into environment and labels by the loader, attach is `up`'s.
 */
const HANDLED = new Set([
  "name", "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes", "networks", "network_mode",
  "healthcheck", "restart", "deploy", "user", "working_dir", "hostname", "labels", "init", "read_only", "tmpfs", "cap_add", "cap_drop",
  "privileged", "devices", "sysctls", "ulimits", "shm_size", "stop_signal", "stop_grace_period", "logging", "extra_hosts", "dns", "dns_search",
  "dns_opt", "secrets", "configs", "pull_policy", "container_name", "depends_on", "profiles", "scale", "tty", "stdin_open", "security_opt",
  "group_add", "pid", "ipc", "uts", "links", "external_links", "volumes_from", "mem_limit", "memswap_limit", "cpus", "cpu_shares", "cpu_period",
  "cpu_quota", "cpuset", "pids_limit", "oom_score_adj", "oom_kill_disable", "platform", "runtime", "mac_address", "device_cgroup_rules", "cgroup",
  "attach", "label_file", "blkio_config",
]);

/** Deploy keys applied (the rest are swarm's and refused). */
const DEPLOY_HANDLED = new Set(["replicas", "resources", "restart_policy", "mode"]);

/** Whether a value in the model means "set" (a default the loader left empty is not). */
const isSet = (v: unknown) => v !== undefined && v !== null && v !== false && !(Array.isArray(v) && !v.length) && !(typeof v === "object" && !Array.isArray(v) && !Object.keys(v as object).length) && v !== "";

/** Refuses every key of the service bunker does not apply, naming it. */
export function checkSupported(service: NamedService): void {
  for (const [k, v] of Object.entries(service)) {
    if (k.startsWith("x-") || HANDLED.has(k) || !isSet(v)) continue;
    throw new ComposeError(`service "${service.name}": ${k} is not supported by bunker compose`);
  }
  for (const [k, v] of Object.entries((service.deploy ?? {}) as Record<string, unknown>)) {
    if (DEPLOY_HANDLED.has(k) || !isSet(v)) continue;
    throw new ComposeError(`service "${service.name}": deploy.${k} is not supported by bunker compose`);
  }
  if (service.deploy?.mode && service.deploy.mode !== "replicated") throw new ComposeError(`service "${service.name}": deploy.mode ${service.deploy.mode} is not supported by bunker compose`);
  const res = service.deploy?.resources;
  if (res) {
    for (const k of Object.keys(res)) if (k !== "limits" && isSet((res as Record<string, unknown>)[k])) throw new ComposeError(`service "${service.name}": deploy.resources.${k} is not supported by bunker compose`);
    for (const [k, v] of Object.entries((res.limits ?? {}) as Record<string, unknown>)) if (!["cpus", "memory", "pids"].includes(k) && isSet(v)) throw new ComposeError(`service "${service.name}": deploy.resources.limits.${k} is not supported by bunker compose`);
  }
  for (const [k, v] of Object.entries(service.blkio_config ?? {})) if (k !== "weight" && isSet(v)) throw new ComposeError(`service "${service.name}": blkio_config.${k} is not supported by bunker compose`);
  if (service.label_file?.length) throw new ComposeError(`service "${service.name}": label_file is not supported by bunker compose`);
}

/** A compose duration (Go's text, or ns as a number) in ns. */
export function durationNs(v: unknown): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "number") return v;
  return goDuration(String(v));
}

/** A compose size (bytes as a number, or "64m") in bytes. */
export function bytesOf(v: unknown): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "number") return v;
  return /^\d+$/.test(String(v)) ? Number(v) : parseBytes(String(v));
}

/** A command in compose's forms: a list as is, a string split as a shell would (compose-go's shellwords). */
export function commandOf(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String);
  return shellSplit(String(v));
}

/** The service's environment as KEY=VALUE (a key without a value is left out, as the engine would drop it). */
function envOf(env: unknown): string[] {
  if (!env) return [];
  if (Array.isArray(env)) return env.map(String).filter((e) => e.includes("="));
  return Object.entries(env as Record<string, string | null>)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
}

/** The healthcheck as the engine's HealthConfig (durations in ns). */
export function healthOf(h: any): HealthConfig | undefined {
  if (!h) return undefined;
  if (h.disable) return { Test: ["NONE"] };
  const test = h.test === undefined ? undefined : typeof h.test === "string" ? ["CMD-SHELL", h.test] : (h.test as string[]);
  return {
    ...(test ? { Test: test } : {}),
    ...(h.interval !== undefined ? { Interval: durationNs(h.interval) } : {}),
    ...(h.timeout !== undefined ? { Timeout: durationNs(h.timeout) } : {}),
    ...(h.start_period !== undefined ? { StartPeriod: durationNs(h.start_period) } : {}),
    ...(h.start_interval !== undefined ? { StartInterval: durationNs(h.start_interval) } : {}),
    ...(h.retries !== undefined && h.retries !== null ? { Retries: Number(h.retries) } : {}),
  };
}

/** `restart:`, else deploy.restart_policy, as the engine's policy (compose v2's getRestartPolicy). */
export function restartOf(service: NamedService): RestartPolicy | undefined {
  if (service.restart) {
    const [name, count] = String(service.restart).split(":");
    if (!["no", "always", "on-failure", "unless-stopped"].includes(name!)) throw new ComposeError(`service "${service.name}": invalid restart policy: unknown policy '${name}'`);
    return { Name: name as RestartPolicy["Name"], MaximumRetryCount: count ? Number(count) : 0 };
  }
  const p = service.deploy?.restart_policy;
  if (!p) return undefined;
  for (const k of ["delay", "window"] as const) if (isSet(p[k])) throw new ComposeError(`service "${service.name}": deploy.restart_policy.${k} is not supported by bunker compose`);
  const name = ({ none: "no", "on-failure": "on-failure", any: "always", "": "always" } as Record<string, RestartPolicy["Name"]>)[p.condition ?? ""];
  if (!name) throw new ComposeError(`service "${service.name}": invalid restart policy condition ${p.condition}`);
  return { Name: name, MaximumRetryCount: Number(p.max_attempts ?? 0) };
}

/** A port key of the API ("80/tcp") from compose's "80", "80/udp" or a number. */
const portKey = (p: string | number, proto = "tcp") => (String(p).includes("/") ? String(p) : `${p}/${proto || "tcp"}`);

/** ports: as PortBindings; expose: as exposed ports (ranges expanded). */
function portsOf(service: NamedService): { bindings?: Record<string, { HostIp: string; HostPort: string }[]>; exposed: string[] } {
  const exposed: string[] = [];
  for (const e of (service.expose ?? []) as (string | number)[]) {
    const [ports, proto] = String(e).split("/");
    const [lo, hi] = ports!.split("-").map(Number);
    for (let p = lo!; p <= (hi ?? lo!); p++) exposed.push(portKey(p, proto));
  }
  if (!service.ports?.length) return { exposed };
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of service.ports as any[]) {
    if (typeof p !== "object") throw new ComposeError(`service "${service.name}": ports must be normalised by the loader, got ${JSON.stringify(p)}`);
    if (p.mode && p.mode !== "ingress" && p.mode !== "host") throw new ComposeError(`service "${service.name}": ports mode ${p.mode} is not supported by bunker compose`);
    const key = portKey(p.target, p.protocol);
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? "", HostPort: p.published === undefined || p.published === null ? "" : String(p.published) });
  }
  return { bindings, exposed };
}

/** A path of the file relative to the project directory, absolute. */
const projectPath = (dir: string, p: string) => (isAbsolute(p) ? p : resolve(dir, p));

/** A short-form device (`/dev/x[:/dev/y][:rwm]`) as the engine's mapping, as the docker CLI parses --device. */
function parseDevice(v: string): DeviceMapping {
  const [host, a, b] = v.split(":");
  const mode = (m?: string) => m !== undefined && /^[rwm]{1,3}$/.test(m);
  if (b !== undefined) return { PathOnHost: host!, PathInContainer: a!, CgroupPermissions: b };
  if (a !== undefined) return mode(a) ? { PathOnHost: host!, PathInContainer: host!, CgroupPermissions: a } : { PathOnHost: host!, PathInContainer: a, CgroupPermissions: "rwm" };
  return { PathOnHost: host!, PathInContainer: host!, CgroupPermissions: "rwm" };
}

/** The engine name of a project volume key, or the key when it names no project volume (an external name). */
function volumeName(project: Project, key: string): string {
  const v = project.volumes?.[key];
  return v ? L.resourceName(project.name, key, v) : key;
}

/**
 * volumes: binds with create_host_path as `-v` binds (the engine creates a missing source, as compose v2
 * relies on), everything else as mounts. `anonymous` maps a target to the volume an old container had there.
 */
function mountsOf(project: Project, dir: string, service: NamedService, anonymous: Map<string, string>, environment: Record<string, string>): { binds: string[]; mounts: MountSpec[]; tmpfs: Record<string, string>; files: TarFile[] } {
  const files: TarFile[] = [];
  const binds: string[] = [];
  const mounts: MountSpec[] = [];
  const tmpfs: Record<string, string> = {};
  for (const v of (service.volumes ?? []) as any[]) {
    if (typeof v !== "object") throw new ComposeError(`service "${service.name}": volumes must be normalised by the loader, got ${JSON.stringify(v)}`);
    const type = v.type ?? "volume";
    if (v.consistency && !["consistent", "cached", "delegated", "default"].includes(v.consistency)) throw new ComposeError(`service "${service.name}": volume consistency ${v.consistency} is not supported`);
    if (type === "bind") {
      if (v.bind?.selinux) throw new ComposeError(`service "${service.name}": volumes bind.selinux is not supported by bunker compose`);
      if (v.bind?.recursive && v.bind.recursive !== "enabled") throw new ComposeError(`service "${service.name}": volumes bind.recursive is not supported by bunker compose`);
      const source = projectPath(dir, String(v.source ?? ""));
      const create = v.bind?.create_host_path ?? true;
      if (create && !v.bind?.propagation) binds.push(`${source}:${v.target}${v.read_only ? ":ro" : ""}`);
      else mounts.push({ Type: "bind", Source: source, Target: v.target, ReadOnly: !!v.read_only, ...(v.bind?.propagation ? { BindOptions: { Propagation: v.bind.propagation } } : {}) });
    } else if (type === "volume") {
      const source = v.source ? volumeName(project, v.source) : anonymous.get(v.target);
      const opts = { ...(v.volume?.nocopy ? { NoCopy: true } : {}), ...(v.volume?.subpath ? { Subpath: v.volume.subpath } : {}) };
      mounts.push({ Type: "volume", ...(source ? { Source: source } : {}), Target: v.target, ReadOnly: !!v.read_only, ...(Object.keys(opts).length ? { VolumeOptions: opts } : {}) });
    } else if (type === "tmpfs") {
      const size = bytesOf(v.tmpfs?.size);
      mounts.push({ Type: "tmpfs", Target: v.target, ...(size || v.tmpfs?.mode ? { TmpfsOptions: { ...(size ? { SizeBytes: size } : {}), ...(v.tmpfs?.mode ? { Mode: Number(v.tmpfs.mode) } : {}) } } : {}) });
    } else throw new ComposeError(`service "${service.name}": volumes of type ${type} are not supported by bunker compose`);
  }
  for (const t of ([] as string[]).concat(service.tmpfs ?? [])) {
    const i = t.indexOf(":");
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? "" : t.slice(i + 1);
  }
  // secrets and configs: file-based ones bind-mounted read-only (as compose v2 mounts them), those given by
  // `environment:` or `content:` written into the container before it starts (as compose v2 copies them).
  for (const [kind, list, base] of [["secrets", service.secrets, "/run/secrets/"], ["configs", service.configs, "/"]] as const) {
    for (const ref of (list ?? []) as any[]) {
      const source = typeof ref === "string" ? ref : ref.source;
      const decl = (project as any)[kind]?.[source];
      const what = kind.slice(0, -1);
      if (!decl) throw new ComposeError(`service "${service.name}" refers to undefined ${what} ${source}: invalid compose project`);
      if (decl.external) throw new ComposeError(`${what} "${source}": external ${kind} are swarm's and not supported by bunker compose`);
      const target = typeof ref === "object" && ref.target ? (ref.target.startsWith("/") ? ref.target : base + ref.target) : base + source;
      const owned = typeof ref === "object" && (ref.uid || ref.gid || (ref.mode !== undefined && ref.mode !== null));
      if (decl.file) {
        if (owned) throw new ComposeError(`service "${service.name}": ${kind} uid, gid and mode are not supported for file-based ${kind} (they are bind-mounted)`);
        mounts.push({ Type: "bind", Source: projectPath(dir, decl.file), Target: target, ReadOnly: true });
        continue;
      }
      let text: string | undefined = decl.content;
      if (decl.environment !== undefined) {
        text = environment[decl.environment];
        if (text === undefined) throw new ComposeError(`environment variable "${decl.environment}" required by ${what} "${source}" is not set`);
      }
      if (text === undefined) throw new ComposeError(`${what} "${source}": one of file, environment or content is required`);
      const id = (v: unknown) => (v === undefined || v === null || v === "" ? 0 : Number(v));
      files.push({ path: target, data: new TextEncoder().encode(text), mode: ref.mode ?? 0o444, uid: id(ref.uid), gid: id(ref.gid) });
    }
  }
  return { binds, mounts, tmpfs, files };
}

/** The service's networks by priority (highest first, then name), as compose v2's NetworksByPriority. */
export function networksByPriority(service: NamedService): string[] {
  const nets = (service.networks ?? {}) as Record<string, { priority?: number } | null>;
  const keys = Object.keys(nets);
  if (!keys.length && !service.network_mode) return ["default"];
  return keys.sort((a, b) => (nets[b]?.priority ?? 0) - (nets[a]?.priority ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
}

/** What `containerPlan` needs beyond the service. */
export interface PlanContext {
  project: Project;
  origin: ProjectOrigin;
  number: number;
  hash: string;
  /** The image ID, for the image label (compose v2 records the digest it created from). */
  imageId?: string;
  oneoff?: boolean;
  /** The container's name (default: the service's). */
  name?: string;
  /** The first container of each service named in network_mode/pid/ipc/volumes_from `service:X`. */
  serviceContainer(service: string): string;
  /** Anonymous volumes of a replaced container by target, kept unless -V. */
  anonymous?: Map<string, string>;
  /** The variables `environment:` secrets and configs read (the project's interpolation environment). */
  environment?: Record<string, string>;
  /** Network aliases (service name and aliases:), false for `run` without --use-aliases. */
  useAliases?: boolean;
}

/** `service:X` as `container:<id of X's first container>`. */
function serviceMode(v: string | undefined, ctx: PlanContext): string | undefined {
  if (!v) return undefined;
  return v.startsWith("service:") ? `container:${ctx.serviceContainer(v.slice(8))}` : v;
}

/** The engine's create options for container `ctx.number` of a service. */
export function containerPlan(service: NamedService, ctx: PlanContext): ContainerPlan {
  checkSupported(service);
  const { project } = ctx;
  const name = ctx.name ?? L.containerName(project.name, service, ctx.number);
  const labels: Record<string, string> = {
    ...((service.labels ?? {}) as Record<string, string>),
    [L.PROJECT]: project.name,
    [L.SERVICE]: service.name,
    [L.NUMBER]: String(ctx.number),
    [L.ONEOFF]: ctx.oneoff ? "True" : "False",
    [L.CONFIG_HASH]: ctx.hash,
    [L.DEPENDS_ON]: Object.entries((service.depends_on ?? {}) as Record<string, any>).map(([k, d]) => `${k}:${d?.condition ?? "service_started"}:${d?.restart ?? false}`).join(","),
    [L.VERSION]: L.COMPOSE_VERSION,
    [L.WORKING_DIR]: ctx.origin.workingDir,
    [L.CONFIG_FILES]: ctx.origin.composeFiles.join(","),
    ...(ctx.origin.envFiles?.length ? { [L.ENVIRONMENT_FILE]: ctx.origin.envFiles.join(",") } : {}),
    ...(ctx.imageId ? { [L.IMAGE]: ctx.imageId } : {}),
  };
  const { bindings, exposed } = portsOf(service);
  const { binds, mounts, tmpfs, files } = mountsOf(project, ctx.origin.workingDir, service, ctx.anonymous ?? new Map(), ctx.environment ?? {});
  const limits = service.deploy?.resources?.limits ?? {};
  const cpus = limits.cpus ?? service.cpus;
  const memory = bytesOf(limits.memory) ?? bytesOf(service.mem_limit);
  const pids = limits.pids ?? service.pids_limit;
  const resources = {
    ...(cpus !== undefined && cpus !== null && Number(cpus) ? { NanoCpus: Math.round(Number(cpus) * 1e9) } : {}),
    ...(memory ? { Memory: memory } : {}),
    ...(bytesOf(service.memswap_limit) ? { MemorySwap: service.memswap_limit === -1 ? -1 : bytesOf(service.memswap_limit) } : {}),
    ...(pids ? { PidsLimit: Number(pids) } : {}),
    ...(service.cpu_shares ? { CpuShares: Number(service.cpu_shares) } : {}),
    ...(service.cpu_period ? { CpuPeriod: Number(service.cpu_period) } : {}),
    ...(service.cpu_quota ? { CpuQuota: Number(service.cpu_quota) } : {}),
    ...(service.cpuset ? { CpusetCpus: String(service.cpuset) } : {}),
    ...(service.oom_kill_disable ? { OomKillDisable: true } : {}),
    ...(service.blkio_config?.weight ? { BlkioWeight: service.blkio_config.weight } : {}),
  };
  if (service.cgroup && service.cgroup !== "private" && service.cgroup !== "host") throw new ComposeError(`service "${service.name}": invalid cgroup ${service.cgroup}`);
  // The primary network on create, the others connected before start (compose v2 against API < 1.44).
  const mode = serviceMode(service.network_mode, ctx);
  const nets = mode ? [] : networksByPriority(service);
  const endpoint = (key: string) => {
    const cfg = ((service.networks ?? {}) as Record<string, any>)[key] ?? {};
    if (cfg.ipv6_address || cfg.link_local_ips?.length || cfg.driver_opts && Object.keys(cfg.driver_opts).length || cfg.gw_priority) throw new ComposeError(`service "${service.name}": networks.${key}: only aliases, ipv4_address, mac_address and priority are supported by bunker compose`);
    const network = project.networks?.[key];
    if (!network && key !== "default") throw new ComposeError(`service "${service.name}" refers to undefined network ${key}: invalid compose project`);
    return {
      network: L.resourceName(project.name, key, network),
      aliases: [name, ...(ctx.useAliases === false ? [] : [service.name, ...((cfg.aliases ?? []) as string[])])],
      ipv4Address: cfg.ipv4_address as string | undefined,
      mac: cfg.mac_address as string | undefined,
    };
  };
  const endpoints = nets.map(endpoint);
  const primary = endpoints[0];
  if (endpoints.slice(1).some((e) => e.mac)) throw new ComposeError(`service "${service.name}": mac_address is supported on the first network only`);
  const devices = ((service.devices ?? []) as any[]).map((d) =>
    typeof d === "string" ? parseDevice(d) : { PathOnHost: d.source, PathInContainer: d.target || d.source, CgroupPermissions: d.permissions || "rwm" },
  );
  const ulimits = Object.entries((service.ulimits ?? {}) as Record<string, any>).map(([n, u]) =>
    typeof u === "number" ? { Name: n, Soft: u, Hard: u } : u.single !== undefined && u.single !== 0 ? { Name: n, Soft: u.single, Hard: u.single } : { Name: n, Soft: u.soft, Hard: u.hard },
  );
  const sysctls = Array.isArray(service.sysctls) ? Object.fromEntries(service.sysctls.map((s: string) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)])) : service.sysctls;
  const extraHosts = Array.isArray(service.extra_hosts)
    ? service.extra_hosts.map((h: string) => h.replace("=", ":"))
    : Object.entries((service.extra_hosts ?? {}) as Record<string, string | string[]>).flatMap(([h, ips]) => [ips].flat().map((ip) => `${h}:${ip}`));
  const stopGrace = durationNs(service.stop_grace_period);
  const links = [
    ...((service.links ?? []) as string[]).map((l) => {
      const [svc, alias] = l.split(":");
      return `${ctx.serviceContainer(svc!)}:${alias ?? svc}`;
    }),
    ...((service.external_links ?? []) as string[]).map((l) => (l.includes(":") ? l : `${l}:${l}`)),
  ];
  const options: CreateOptions = {
    image: imageOf(project, service),
    name,
    ...(service.platform ? { platform: service.platform } : {}),
    cmd: commandOf(service.command),
    entrypoint: commandOf(service.entrypoint),
    env: envOf(service.environment),
    workdir: service.working_dir || undefined,
    user: service.user || undefined,
    hostname: service.hostname || undefined,
    tty: !!service.tty,
    openStdin: !!service.stdin_open,
    attach: { stdin: false, stdout: true, stderr: true },
    labels,
    restart: restartOf(service),
    networkMode: mode ?? primary?.network,
    networkAliases: primary?.aliases,
    ...(primary?.ipv4Address ? { ipv4Address: primary.ipv4Address } : {}),
    ...(primary?.mac || service.mac_address ? { macAddress: primary?.mac ?? service.mac_address } : {}),
    portBindings: bindings,
    exposedPorts: exposed.length ? exposed : undefined,
    capAdd: service.cap_add?.length ? service.cap_add : undefined,
    capDrop: service.cap_drop?.length ? service.cap_drop : undefined,
    privileged: !!service.privileged,
    securityOpt: service.security_opt?.length ? service.security_opt : undefined,
    ...(service.logging?.driver ? { logDriver: service.logging.driver } : {}),
    ...(service.logging?.options ? { logConfig: service.logging.options } : {}),
    ...(service.runtime ? { runtime: service.runtime } : {}),
    stopSignal: service.stop_signal || undefined,
    ...(stopGrace !== undefined ? { stopTimeout: Math.ceil(stopGrace / 1e9) } : {}),
    binds: binds.length ? binds : undefined,
    mounts: mounts.length ? mounts : undefined,
    tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
    extraHosts: extraHosts.length ? extraHosts : undefined,
    dns: service.dns?.length ? [service.dns].flat() : undefined,
    dnsSearch: service.dns_search?.length ? [service.dns_search].flat() : undefined,
    dnsOptions: service.dns_opt?.length ? service.dns_opt : undefined,
    resources: Object.keys(resources).length ? resources : undefined,
    ...(service.oom_score_adj ? { oomScoreAdj: Number(service.oom_score_adj) } : {}),
    ...(bytesOf(service.shm_size) ? { shmSize: bytesOf(service.shm_size) } : {}),
    ulimits: ulimits.length ? ulimits : undefined,
    readonlyRootfs: !!service.read_only,
    init: service.init === true ? true : undefined,
    sysctls: sysctls && Object.keys(sysctls).length ? sysctls : undefined,
    devices: devices.length ? devices : undefined,
    deviceCgroupRules: service.device_cgroup_rules?.length ? service.device_cgroup_rules : undefined,
    ...(service.cgroup ? { cgroupnsMode: service.cgroup } : {}),
    healthcheck: healthOf(service.healthcheck),
    pidMode: serviceMode(service.pid, ctx),
    ipcMode: serviceMode(service.ipc, ctx),
    utsMode: service.uts || undefined,
    groupAdd: service.group_add?.length ? service.group_add.map(String) : undefined,
    links: links.length ? links : undefined,
    volumesFrom: service.volumes_from?.length ? (service.volumes_from as string[]).map((v) => (v.startsWith("container:") ? v.slice(10) : v.replace(/^[^:]+/, (s) => ctx.serviceContainer(s)))) : undefined,
  };
  for (const k of Object.keys(options) as (keyof CreateOptions)[]) if (options[k] === undefined) delete options[k];
  return { options, files, extraNetworks: endpoints.slice(1).map(({ network, aliases, ipv4Address }) => ({ network, aliases, ...(ipv4Address ? { ipv4Address } : {}) })) };
}

/** The service's image: `image:`, else the name compose v2 gives a built one (`<project>-<service>`). */
export function imageOf(project: Project, service: NamedService): string {
  return service.image || `${project.name}-${service.name}`;
}
