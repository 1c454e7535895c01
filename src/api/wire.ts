/**
 * The Docker Engine API's shapes in one place, for both transports: the create request (Config fields at
 * the top, HostConfig, NetworkingConfig) as the docker CLI sends it (`createBody`, used by remote.ts) and
 * as the daemon reads it back into CreateOptions (`createOptionsOf`, used by the server's create route),
 * and the inspect results both return. The stored Config and HostConfig are the engine's
 * (engine/containers/types.ts): the body is those shapes as a client may send them.
 */
import { invalidParameter } from "../engine/errors.ts";
import { checkExposedPorts, checkPortBindings } from "../engine/network/ports.ts";
import type { CreateOptions, UpdateOptions } from "../engine/containers/manager.ts";
import type { Resources } from "../engine/runtime/cgroups.ts";
import type { ContainerConfig, HostConfig, RestartPolicy } from "../engine/containers/types.ts";
import type { inspectContainer } from "../engine/containers/query.ts";
import type { inspectImage } from "../engine/images.ts";

/** `GET /containers/{id}/json`. */
export type ContainerInspect = Awaited<ReturnType<typeof inspectContainer>>;
/** `GET /images/{name}/json`. */
export type ImageInspect = ReturnType<typeof inspectImage>;

/** HostConfig as a client sends it: the stored shape, every field optional, enums as free strings (checked on read). */
export type HostConfigBody = Partial<Omit<HostConfig, "RestartPolicy" | "LogConfig" | "CgroupnsMode">> & {
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
  LogConfig?: { Type?: string; Config?: Record<string, string> | null } | null;
  CgroupnsMode?: string;
  /** Fields bunker refuses unless zero (refuseUnsupported). */
  [field: string]: unknown;
};

/** The endpoint settings of NetworkingConfig.EndpointsConfig bunker applies. */
export interface EndpointBody {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
  MacAddress?: string;
  Links?: string[] | null;
}

/** The create request: Config fields at the top (Cmd and Entrypoint also as one string: Go's strslice), HostConfig, NetworkingConfig. */
export type CreateBody = Partial<Omit<ContainerConfig, "Cmd" | "Entrypoint" | "Env" | "Labels" | "StopTimeout">> & {
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  Labels?: Record<string, string> | null;
  StopTimeout?: number | null;
  Healthcheck?: import("../engine/containers/health.ts").HealthConfig | null;
  HostConfig?: HostConfigBody | null;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointBody | null> | null } | null;
  /** Fields bunker refuses unless zero (refuseUnsupported). */
  [field: string]: unknown;
};

/** The create body (Config + HostConfig) the docker CLI sends for these options. */
export function createBody(o: CreateOptions): CreateBody {
  return {
    Hostname: o.hostname ?? "",
    User: o.user ?? "",
    AttachStdin: o.attach?.stdin ?? false,
    AttachStdout: o.attach?.stdout ?? false,
    AttachStderr: o.attach?.stderr ?? false,
    Tty: o.tty ?? false,
    OpenStdin: o.openStdin ?? false,
    StdinOnce: o.stdinOnce ?? ((o.openStdin ?? false) && (o.attach?.stdin ?? false)),
    Env: o.env ?? [],
    Cmd: o.cmd?.length ? o.cmd : null,
    Image: o.image,
    WorkingDir: o.workdir ?? "",
    // --entrypoint "" is sent as [""], which the daemon reads as "no entrypoint".
    Entrypoint: o.entrypoint === undefined ? null : typeof o.entrypoint === "string" ? [o.entrypoint] : o.entrypoint,
    Labels: o.labels ?? {},
    ...(o.volumes?.length ? { Volumes: Object.fromEntries(o.volumes.map((v) => [v, {}])) } : {}),
    ...(o.stopSignal ? { StopSignal: o.stopSignal } : {}),
    ...(o.stopTimeout !== undefined ? { StopTimeout: o.stopTimeout } : {}),
    ...(o.healthcheck ? { Healthcheck: o.healthcheck } : {}),
    ...(o.portBindings || o.exposedPorts ? { ExposedPorts: Object.fromEntries([...(o.exposedPorts ?? []), ...Object.keys(o.portBindings ?? {})].map((p) => [p, {}])) } : {}),
    HostConfig: {
      Binds: o.binds ?? null,
      ...(o.mounts?.length ? { Mounts: o.mounts } : {}),
      ...(o.tmpfs ? { Tmpfs: o.tmpfs } : {}),
      NetworkMode: o.networkMode ?? "default",
      PortBindings: o.portBindings ?? {},
      PublishAllPorts: o.publishAll ?? false,
      RestartPolicy: o.restart ?? { Name: "no", MaximumRetryCount: 0 },
      AutoRemove: o.autoRemove ?? false,
      CapAdd: o.capAdd ?? null,
      CapDrop: o.capDrop ?? null,
      Privileged: o.privileged ?? false,
      SecurityOpt: o.securityOpt ?? null,
      LogConfig: { Type: o.logDriver ?? "", Config: o.logConfig ?? {} },
      ...(o.runtime !== undefined ? { Runtime: o.runtime } : {}),
      ...(o.deviceRequests?.length ? { DeviceRequests: o.deviceRequests } : {}),
      ExtraHosts: o.extraHosts ?? null,
      Dns: o.dns ?? [],
      DnsSearch: o.dnsSearch ?? [],
      DnsOptions: o.dnsOptions ?? [],
      // The docker CLI sends these always, 0 for none (PidsLimit only when set).
      Memory: o.resources?.Memory ?? 0,
      MemorySwap: o.resources?.MemorySwap ?? 0,
      NanoCpus: o.resources?.NanoCpus ?? 0,
      CpuShares: o.resources?.CpuShares ?? 0,
      ...(o.resources?.PidsLimit !== undefined ? { PidsLimit: o.resources.PidsLimit } : {}),
      CpuPeriod: o.resources?.CpuPeriod ?? 0,
      CpuQuota: o.resources?.CpuQuota ?? 0,
      CpusetCpus: o.resources?.CpusetCpus ?? "",
      CpusetMems: o.resources?.CpusetMems ?? "",
      BlkioWeight: o.resources?.BlkioWeight ?? 0,
      OomKillDisable: o.resources?.OomKillDisable ?? false,
      OomScoreAdj: o.oomScoreAdj ?? 0,
      ShmSize: o.shmSize ?? 0,
      ReadonlyRootfs: o.readonlyRootfs ?? false,
      Init: o.init ? true : null,
      Ulimits: o.ulimits ?? null,
      ...(o.sysctls ? { Sysctls: o.sysctls } : {}),
      Devices: o.devices ?? [],
      DeviceCgroupRules: o.deviceCgroupRules ?? null,
      CgroupnsMode: o.cgroupnsMode ?? "",
      PidMode: o.pidMode ?? "",
      IpcMode: o.ipcMode ?? "",
      UTSMode: o.utsMode ?? "",
      GroupAdd: o.groupAdd ?? null,
      Links: o.links ?? null,
      VolumesFrom: o.volumesFrom ?? null,
    },
    // Aliases, a static address and a MAC address belong to the endpoint on the network the container starts on.
    ...(o.networkAliases || o.ipv4Address || o.macAddress
      ? { NetworkingConfig: { EndpointsConfig: { [o.networkMode ?? "bridge"]: { Aliases: o.networkAliases ?? null, IPAMConfig: o.ipv4Address ? { IPv4Address: o.ipv4Address } : null, ...(o.macAddress ? { MacAddress: o.macAddress } : {}) } } } }
      : {}),
  };
}

/** Go's strslice: a JSON array of strings, or one string; null/absent → undefined. */
function strslice(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw invalidParameter(`invalid JSON: json: cannot unmarshal ${typeof v} into Go struct field .${field} of type []string`);
}

function strField(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw invalidParameter(`invalid JSON: json: cannot unmarshal ${typeof v} into Go struct field .${field} of type string`);
  return v;
}

/** An int64 field of the body (null or absent: undefined), or Go's decoding error. */
function int64(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidParameter(`json: cannot unmarshal ${typeof v} into Go struct field ${field} of type int64`);
  return v;
}

/** The JSON type name Go's decoder reports for a value. */
const goType = (v: unknown) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v === "boolean" ? "bool" : typeof v);

/** Config.Labels: an object of strings, or Go's decoding error (a number is not a label value). */
function labelsOf(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  const at = "Go struct field CreateRequest.Config.Labels of type";
  if (typeof v !== "object" || Array.isArray(v)) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(v)} into ${at} map[string]string`);
  for (const x of Object.values(v)) if (typeof x !== "string") throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(x)} into ${at} string`);
  return v as Record<string, string>;
}

/** Config.StopTimeout: an int (null or absent: the default), or Go's decoding error. */
function stopTimeoutOf(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(v)} into Go struct field CreateRequest.Config.StopTimeout of type int`);
  return v;
}

/** A value a client sends for "not set": the docker CLI sends every field, with zero values. */
const isZero = (v: unknown) => v === undefined || v === null || v === "" || v === 0 || v === false || (Array.isArray(v) && v.every(isZero)) || (typeof v === "object" && v !== null && !Array.isArray(v) && !Object.keys(v).length);

/** moby's Resources fields bunker does not apply (yet), refused at create and update unless zero. */
const UNSUPPORTED_RESOURCES: Record<string, unknown[]> = {
  CpuRealtimePeriod: [], CpuRealtimeRuntime: [], CpuCount: [], CpuPercent: [],
  BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [],
  IOMaximumIOps: [], IOMaximumBandwidth: [], KernelMemory: [], KernelMemoryTCP: [], MemoryReservation: [], MemorySwappiness: [-1],
};

/** The Resources fields bunker applies (runtime/cgroups.ts), as the API names them. */
function resourcesOf(r: Record<string, unknown>, at: string): Resources {
  const str = (k: string) => strField(r[k], `${at}${k}`);
  const oom = r.OomKillDisable;
  if (oom !== undefined && oom !== null && typeof oom !== "boolean") throw invalidParameter(`json: cannot unmarshal ${goType(oom)} into Go struct field ${at}OomKillDisable of type bool`);
  return {
    Memory: int64(r.Memory, `${at}Memory`),
    MemorySwap: int64(r.MemorySwap, `${at}MemorySwap`),
    NanoCpus: int64(r.NanoCpus, `${at}NanoCpus`),
    CpuShares: int64(r.CpuShares, `${at}CpuShares`),
    PidsLimit: int64(r.PidsLimit, `${at}PidsLimit`),
    CpuPeriod: int64(r.CpuPeriod, `${at}CpuPeriod`),
    CpuQuota: int64(r.CpuQuota, `${at}CpuQuota`),
    CpusetCpus: str("CpusetCpus"),
    CpusetMems: str("CpusetMems"),
    BlkioWeight: int64(r.BlkioWeight, `${at}BlkioWeight`),
    OomKillDisable: (oom as boolean | null | undefined) ?? undefined,
  };
}

/** UpdateOptions from a POST /containers/{id}/update body (moby's UpdateConfig: Resources and RestartPolicy); what bunker does not apply is refused. */
export function updateOptionsOf(body: Record<string, unknown>): UpdateOptions {
  for (const [k, same] of Object.entries(UNSUPPORTED_RESOURCES)) {
    const v = body[k];
    if (!isZero(v) && !same.includes(v)) throw invalidParameter(`invalid option: ${k} is not supported by bunker's update (got ${JSON.stringify(v)})`);
  }
  if (body.OomKillDisable) throw invalidParameter("invalid option: OomKillDisable cannot be updated (moby's update leaves it as created)");
  const rp = body.RestartPolicy as { Name?: unknown; MaximumRetryCount?: unknown } | null | undefined;
  const name = typeof rp?.Name === "string" ? rp.Name : "";
  if (!["", "no", "always", "unless-stopped", "on-failure"].includes(name)) throw invalidParameter(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  const { OomKillDisable: _, ...resources } = resourcesOf(body, "UpdateConfig.");
  return { ...resources, ...(name ? { RestartPolicy: { Name: name as RestartPolicy["Name"], MaximumRetryCount: int64(rp?.MaximumRetryCount, "UpdateConfig.RestartPolicy.MaximumRetryCount") ?? 0 } } : {}) };
}

/** moby's create fields bunker does not apply (yet), with the values that mean what bunker does anyway. */
const UNSUPPORTED: { Config: Record<string, unknown[]>; HostConfig: Record<string, unknown[]> } = {
  Config: { Domainname: [], OnBuild: [], Shell: [], ArgsEscaped: [] },
  HostConfig: {
    // Namespaces, cgroup and OCI options (PidMode, IpcMode, UTSMode, GroupAdd, Links, VolumesFrom are applied).
    UsernsMode: ["host"], Cgroup: [], CgroupParent: [],
    Isolation: ["default"], Annotations: [], StorageOpt: [],
    VolumeDriver: ["local"],
    // Resources bunker does not apply (RESOURCE_FIELDS are).
    ...UNSUPPORTED_RESOURCES,
  },
};

/** Refuses a create that sets a field bunker would otherwise drop: a field is applied or refused, never ignored. */
function refuseUnsupported(body: CreateBody): void {
  const hc = (body.HostConfig ?? {}) as Record<string, unknown>;
  for (const [where, fields] of Object.entries(UNSUPPORTED) as [string, Record<string, unknown[]>][]) {
    const obj = where === "Config" ? (body as Record<string, unknown>) : hc;
    for (const [k, same] of Object.entries(fields)) {
      const v = obj[k];
      if (!isZero(v) && !same.includes(v)) throw invalidParameter(`invalid option: ${where}.${k} is not supported by bunker (got ${JSON.stringify(v)})`);
    }
  }
}

/** Config.Healthcheck as Go decodes it: Test a []string, the durations and Retries integers; null or absent: none. */
function healthcheckOf(v: unknown): CreateOptions["healthcheck"] {
  if (v === undefined || v === null) return undefined;
  const at = "Go struct field CreateRequest.Config.Healthcheck";
  if (typeof v !== "object" || Array.isArray(v)) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(v)} into ${at} of type container.HealthConfig`);
  const h = v as Record<string, unknown>;
  const out: NonNullable<CreateOptions["healthcheck"]> = {};
  const test = h.Test;
  if (test !== undefined && test !== null) {
    if (!Array.isArray(test) || !test.every((x) => typeof x === "string")) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(test)} into ${at}.Test of type []string`);
    if (test.length) out.Test = test;
  }
  for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) {
    const n = h[k];
    if (n === undefined || n === null) continue;
    if (typeof n !== "number" || !Number.isInteger(n)) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${goType(n)} into ${at}.${k} of type ${k === "Retries" ? "int" : "time.Duration"}`);
    if (n) out[k] = n;
  }
  return out;
}

/** CreateOptions from a create request, and the warnings moby would not give but bunker owes (ignored options). */
export function createOptionsOf(body: CreateBody, name: string | undefined): { opts: CreateOptions; warnings: string[] } {
  const image = body.Image;
  if (typeof image !== "string" || !image) throw invalidParameter("config cannot be empty in order to create a container");
  refuseUnsupported(body);
  const hc = body.HostConfig ?? {};
  const warnings: string[] = [];
  const restartName = hc.RestartPolicy?.Name ?? "";
  if (!["", "no", "always", "unless-stopped", "on-failure"].includes(restartName)) throw invalidParameter(`invalid restart policy: unknown policy '${restartName}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  const restart: RestartPolicy = { Name: (restartName || "no") as RestartPolicy["Name"], MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0 };
  const env = strslice(body.Env, "Env");
  const labels = labelsOf(body.Labels);
  const opts: CreateOptions = {
    image,
    name,
    cmd: strslice(body.Cmd, "Cmd"),
    entrypoint: ((ep) => (ep?.length ? ep : undefined))(strslice(body.Entrypoint, "Entrypoint")),
    env,
    workdir: strField(body.WorkingDir, "WorkingDir"),
    user: strField(body.User, "User"),
    hostname: strField(body.Hostname, "Hostname"),
    tty: !!body.Tty,
    openStdin: !!body.OpenStdin,
    stdinOnce: typeof body.StdinOnce === "boolean" ? body.StdinOnce : undefined,
    attach: { stdin: !!body.AttachStdin, stdout: !!body.AttachStdout, stderr: !!body.AttachStderr },
    labels,
    restart,
    networkMode: hc.NetworkMode || undefined,
    portBindings: checkPortBindings(hc.PortBindings),
    exposedPorts: checkExposedPorts(body.ExposedPorts),
    publishAll: !!hc.PublishAllPorts,
    ...endpointOf(body.NetworkingConfig, hc.NetworkMode),
    capAdd: strslice(hc.CapAdd, "HostConfig.CapAdd"),
    capDrop: strslice(hc.CapDrop, "HostConfig.CapDrop"),
    privileged: !!hc.Privileged,
    securityOpt: strslice(hc.SecurityOpt, "HostConfig.SecurityOpt"),
    autoRemove: !!hc.AutoRemove,
    logConfig: { ...(hc.LogConfig?.Config ?? {}) },
    logDriver: hc.LogConfig?.Type || undefined,
    runtime: strField(hc.Runtime, "HostConfig.Runtime") || undefined,
    deviceRequests: Array.isArray(hc.DeviceRequests) && hc.DeviceRequests.length ? hc.DeviceRequests : undefined,
    stopSignal: strField(body.StopSignal, "StopSignal"),
    stopTimeout: stopTimeoutOf(body.StopTimeout),
    binds: strslice(hc.Binds, "HostConfig.Binds"),
    mounts: mountsOf(hc.Mounts),
    tmpfs: stringMap(hc.Tmpfs, "HostConfig.Tmpfs"),
    volumes: body.Volumes && typeof body.Volumes === "object" ? Object.keys(body.Volumes) : undefined,
    extraHosts: strslice(hc.ExtraHosts, "HostConfig.ExtraHosts"),
    dns: strslice(hc.Dns, "HostConfig.Dns"),
    dnsSearch: strslice(hc.DnsSearch, "HostConfig.DnsSearch"),
    dnsOptions: strslice(hc.DnsOptions, "HostConfig.DnsOptions"),
    resources: resourcesOf(hc as Record<string, unknown>, "HostConfig."),
    oomScoreAdj: int64(hc.OomScoreAdj, "HostConfig.OomScoreAdj") || undefined, // 0, what every client sends, is the default
    shmSize: int64(hc.ShmSize, "HostConfig.ShmSize"),
    readonlyRootfs: !!hc.ReadonlyRootfs,
    init: !!hc.Init,
    sysctls: stringMap(hc.Sysctls, "HostConfig.Sysctls"),
    ulimits: Array.isArray(hc.Ulimits) ? hc.Ulimits.map((u) => ({ Name: String(u?.Name ?? ""), Soft: Number(u?.Soft ?? 0), Hard: Number(u?.Hard ?? 0) })) : undefined,
    devices: devicesOf(hc.Devices),
    deviceCgroupRules: strslice(hc.DeviceCgroupRules, "HostConfig.DeviceCgroupRules"),
    cgroupnsMode: strField(hc.CgroupnsMode, "HostConfig.CgroupnsMode"),
    healthcheck: healthcheckOf(body.Healthcheck),
    pidMode: strField(hc.PidMode, "HostConfig.PidMode"),
    ipcMode: strField(hc.IpcMode, "HostConfig.IpcMode"),
    utsMode: strField(hc.UTSMode, "HostConfig.UTSMode"),
    groupAdd: strslice(hc.GroupAdd, "HostConfig.GroupAdd"),
    volumesFrom: strslice(hc.VolumesFrom, "HostConfig.VolumesFrom"),
    ...linksAndMacOf(body, hc),
  };
  return { opts, warnings };
}

/** HostConfig.Devices: an array of DeviceMapping objects of strings. */
function devicesOf(v: unknown): CreateOptions["devices"] {
  if (v === undefined || v === null) return undefined;
  const fields = ["PathOnHost", "PathInContainer", "CgroupPermissions"];
  const ok = (d: unknown) => !!d && typeof d === "object" && !Array.isArray(d) && fields.every((f) => [undefined, null].includes((d as any)[f]) || typeof (d as any)[f] === "string");
  if (!Array.isArray(v) || !v.every(ok)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field HostConfig.HostConfig.Devices of type []container.DeviceMapping");
  return v.map((d) => ({ PathOnHost: d.PathOnHost ?? "", PathInContainer: d.PathInContainer ?? "", CgroupPermissions: d.CgroupPermissions ?? "" }));
}

/** HostConfig.Mounts: an array of mount.Mount objects. */
function mountsOf(v: unknown): CreateOptions["mounts"] {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((m) => m && typeof m === "object" && !Array.isArray(m))) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field HostConfig.HostConfig.Mounts of type []mount.Mount");
  return v as CreateOptions["mounts"];
}

/** A JSON object of strings (HostConfig.Tmpfs). */
function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) throw invalidParameter(`invalid JSON: json: cannot unmarshal into Go struct field .${field} of type map[string]string`);
  return v as Record<string, string>;
}

/**
 * HostConfig.Links and the endpoint's (the docker CLI sends --link there for a user-defined network), and the
 * MAC address: the endpoint's (API 1.44+) or the deprecated container-wide Config.MacAddress.
 */
function linksAndMacOf(body: CreateBody, hc: HostConfigBody): Pick<CreateOptions, "links" | "macAddress"> {
  const eps = Object.values(body.NetworkingConfig?.EndpointsConfig ?? {});
  const links = [...(strslice(hc.Links, "HostConfig.Links") ?? []), ...eps.flatMap((ep, i) => strslice(ep?.Links, `NetworkingConfig.EndpointsConfig[${i}].Links`) ?? [])];
  const macs = [strField(body.MacAddress, "MacAddress"), ...eps.map((ep) => strField(ep?.MacAddress, "EndpointSettings.MacAddress"))].filter((m): m is string => !!m);
  if (new Set(macs).size > 1) throw invalidParameter("conflicting options: cannot specify both --mac-address and per-network MAC address");
  return { ...(links.length ? { links } : {}), ...(macs.length ? { macAddress: macs[0] } : {}) };
}

/** Aliases and a static IPv4 address from the endpoint of the network the container is created on. */
function endpointOf(nc: CreateBody["NetworkingConfig"], mode: string | undefined): Pick<CreateOptions, "networkAliases" | "ipv4Address"> {
  const eps = nc?.EndpointsConfig ?? {};
  const ep = eps[mode || "default"] ?? eps[mode === "default" || !mode ? "bridge" : ""] ?? Object.values(eps)[0];
  if (!ep) return {};
  return { networkAliases: ep.Aliases?.length ? ep.Aliases : undefined, ipv4Address: ep.IPAMConfig?.IPv4Address || undefined };
}

