/**
 * Published ports in Docker's terms, as pure functions: parsing `-p` specs (the docker CLI's nat.ParsePortSpec),
 * the PortBindings / NetworkSettings.Ports shapes, and the strings `ps` and `port` print.
 */
import { invalidParameter } from "../errors.ts";
import { parseIPv4, type IPv4 } from "./ipam.ts";
import type { Engine } from "../engine.ts";
import type { ContainerRecord } from "../containers/types.ts";

/** HostConfig.PortBindings: "80/tcp" -> [{ HostIp, HostPort }] ("" = any address / a free port). */
export type PortBindings = Record<string, { HostIp: string; HostPort: string }[]>;

/** A transport bunker publishes. */
export type Proto = "tcp" | "udp";

/** One host port actually programmed for a running container: typed values only, as rule text takes them. */
export interface PortMapping {
  proto: Proto;
  hostIp: IPv4;
  hostPort: number;
  containerPort: number;
}

const PORT = /^\d{1,5}$/;

function portNumber(raw: string, what: string, min = 1): number {
  if (!PORT.test(raw) || Number(raw) < min || Number(raw) > 65535) throw invalidParameter(`invalid ${what}: ${raw}`);
  return Number(raw);
}

/** "a-b" or "a" -> [a..b]. */
function portRange(raw: string, what: string, min = 1): number[] {
  const [lo, hi, ...more] = raw.split("-");
  if (more.length) throw invalidParameter(`invalid ${what}: ${raw}`);
  const a = portNumber(lo!, what, min);
  const b = hi === undefined ? a : portNumber(hi, what, min);
  if (b < a) throw invalidParameter(`invalid range specified for ${what}: ${raw}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** A container port key ("80", "80/tcp", "53/udp") as moby reads it; `exposeOnly` also takes sctp. */
export function parsePortKey(key: string, exposeOnly = false): { port: number; proto: Proto | "sctp" } {
  const slash = typeof key === "string" ? key.indexOf("/") : -1;
  const num = slash < 0 ? key : key.slice(0, slash);
  const proto = slash < 0 ? "tcp" : key.slice(slash + 1).toLowerCase();
  if (typeof num !== "string" || !PORT.test(num) || Number(num) < 1 || Number(num) > 65535) throw invalidParameter(`invalid port specification: ${JSON.stringify(num)}`);
  if (proto !== "tcp" && proto !== "udp" && !(exposeOnly && proto === "sctp")) throw invalidParameter(`invalid port specification: ${JSON.stringify(key)}`);
  return { port: Number(num), proto: proto as Proto | "sctp" };
}

/** A binding's HostPort: "" or "0" (an ephemeral port) -> undefined, "N" or "N-M" -> the range. */
export function parseHostPort(raw: string): { lo: number; hi: number } | undefined {
  if (raw === "" || raw === "0") return undefined;
  const m = typeof raw === "string" ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(raw) : null;
  const lo = Number(m?.[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw invalidParameter(`invalid port specification: ${JSON.stringify(raw)}`);
  return { lo, hi };
}

/**
 * HostConfig.PortBindings from the API, checked as moby does (validatePortBindings) and normalised: keys
 * "80/tcp", HostIp "" or a canonical IPv4 address, HostPort "" (an ephemeral port; "0" too) or "N" / "N-M".
 */
export function checkPortBindings(pb: unknown): PortBindings | undefined {
  if (pb === undefined || pb === null) return undefined;
  if (typeof pb !== "object" || Array.isArray(pb)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap");
  const out: PortBindings = {};
  for (const [k, v] of Object.entries(pb)) {
    const { port, proto } = parsePortKey(k);
    if (v !== null && !Array.isArray(v)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field HostConfig.HostConfig.PortBindings of type []nat.PortBinding");
    const list = v?.length ? v : [{}];
    out[`${port}/${proto}`] = list.map((b: any) => {
      if (b === null || typeof b !== "object" || Array.isArray(b)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortBinding");
      const ip = b.HostIp ?? "";
      const hp = b.HostPort ?? "";
      if (typeof ip !== "string" || typeof hp !== "string") throw invalidParameter("invalid JSON: json: cannot unmarshal number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string");
      if (ip.includes(":")) throw invalidParameter(`IPv6 host addresses are not supported: ${ip}`);
      const range = parseHostPort(hp);
      return { HostIp: ip === "" ? "" : parseIPv4(ip), HostPort: range ? (range.lo === range.hi ? `${range.lo}` : `${range.lo}-${range.hi}`) : "" };
    });
  }
  return out;
}

/** Config.ExposedPorts from the API: keys checked ("invalid port specification") and normalised to "80/tcp". */
export function checkExposedPorts(ep: unknown): string[] | undefined {
  if (ep === undefined || ep === null) return undefined;
  if (typeof ep !== "object" || Array.isArray(ep)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field Config.ExposedPorts of type nat.PortSet");
  return Object.keys(ep).map((k) => {
    const { port, proto } = parsePortKey(k, true);
    return `${port}/${proto}`;
  });
}

/**
 * A container's recorded PortBindings as the mappings of one start: typed values, ephemeral ports chosen by
 * `free`. A record that does not parse (written by an older build) fails the start before any rule is made.
 */
export function resolveMappings(bindings: PortBindings, free: (ip: IPv4, proto: Proto) => number, defaultIp = "0.0.0.0"): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const { port, proto } = parsePortKey(key);
    for (const b of list ?? []) {
      const hostIp = parseIPv4(b.HostIp || defaultIp);
      const range = parseHostPort(b.HostPort ?? "");
      out.push({ proto: proto as Proto, hostIp, hostPort: range ? range.lo : free(hostIp, proto as Proto), containerPort: port });
    }
  }
  return out;
}

/**
 * `-p [IP:][HOST:]CONTAINER[/PROTO]` (ranges allowed) merged into PortBindings and the exposed-port set, as
 * the docker CLI does before it calls the API.
 */
export function parsePublish(specs: string[], into: PortBindings = {}): PortBindings {
  for (const spec of specs) {
    let rest = spec;
    let proto = "tcp";
    const slash = rest.lastIndexOf("/");
    if (slash >= 0) {
      proto = rest.slice(slash + 1).toLowerCase();
      rest = rest.slice(0, slash);
    }
    if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") throw invalidParameter(`invalid proto: ${proto}`);
    let ip = "";
    let host = "";
    let ctr = rest;
    // IPv6 host addresses come in brackets: [::1]:8080:80.
    const m = /^(?:(\[[^\]]*\]|[^:]*):)?(?:([^:]*):)?([^:]+)$/.exec(rest);
    if (!m) throw invalidParameter(`invalid port format for --publish: ${spec}`);
    if (m[2] !== undefined) {
      ip = m[1] ?? "";
      host = m[2];
    } else if (m[1] !== undefined) host = m[1];
    ctr = m[3]!;
    ip = ip.replace(/^\[|\]$/g, "");
    if (ip.includes(":")) throw invalidParameter(`IPv6 host addresses are not supported: ${ip}`);
    if (ip) ip = parseIPv4(ip);
    if (proto === "sctp") throw invalidParameter("sctp ports are not supported");
    const ctrPorts = portRange(ctr, "containerPort");
    // Host port 0, as in Docker: an ephemeral port.
    const hostPorts = host && host !== "0" ? portRange(host, "hostPort") : [];
    if (hostPorts.length > 1 && hostPorts.length !== ctrPorts.length) throw invalidParameter(`invalid ranges specified for container and host Ports: ${ctr} and ${host}`);
    ctrPorts.forEach((p, i) => {
      const key = `${p}/${proto}`;
      const hp = hostPorts.length === 1 && ctrPorts.length > 1 ? `${hostPorts[0]}` : hostPorts[i] !== undefined ? String(hostPorts[i]) : "";
      (into[key] ??= []).push({ HostIp: ip, HostPort: hp });
    });
  }
  return into;
}

/** "80/tcp" keys of the ports an image EXPOSEs, for `-P`: each gets a free host port. */
export function publishAll(exposed: Record<string, object> | undefined, into: PortBindings = {}): PortBindings {
  for (const key of Object.keys(exposed ?? {})) {
    const k = key.includes("/") ? key : `${key}/tcp`;
    if (k.endsWith("/sctp")) continue; // exposed, never published: bunker publishes tcp and udp
    if (!into[k]) into[k] = [{ HostIp: "", HostPort: "" }];
  }
  return into;
}

/** NetworkSettings.Ports of a running container: every exposed port, null where nothing is published. */
export function networkSettingsPorts(exposed: Record<string, object> | undefined, mappings: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const k of Object.keys(exposed ?? {})) out[k.includes("/") ? k : `${k}/tcp`] = null;
  for (const m of mappings) (out[`${m.containerPort}/${m.proto}`] ??= [])!.push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  return out;
}

/** ps's PORTS column (the docker CLI's DisplayablePorts): "0.0.0.0:8080->80/tcp, 6379/tcp", ranges merged. */
export function displayPorts(ports: { PrivatePort: number; Type: string; IP?: string; PublicPort?: number }[]): string {
  const groups = new Map<string, { first: number; last: number; pubFirst?: number; pubLast?: number }[]>();
  const order: string[] = [];
  // the docker CLI's comparePorts: private port, public port, type, IP; groups keep first-appearance order
  const sorted = [...ports].sort((a, b) => a.PrivatePort - b.PrivatePort || (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || a.Type.localeCompare(b.Type) || (a.IP ?? "").localeCompare(b.IP ?? ""));
  for (const p of sorted) {
    const key = p.PublicPort ? `${p.IP ?? ""}|${p.Type}` : `|${p.Type}|private`;
    if (!groups.has(key)) groups.set(key, []), order.push(key);
    const list = groups.get(key)!;
    const last = list[list.length - 1];
    if (last && last.last + 1 === p.PrivatePort && (p.PublicPort === undefined ? last.pubLast === undefined : last.pubLast !== undefined && last.pubLast + 1 === p.PublicPort)) {
      last.last = p.PrivatePort;
      if (p.PublicPort !== undefined) last.pubLast = p.PublicPort;
    } else list.push({ first: p.PrivatePort, last: p.PrivatePort, pubFirst: p.PublicPort, pubLast: p.PublicPort });
  }
  const out: string[] = [];
  for (const key of order) {
    const [ip, type] = key.split("|");
    for (const g of groups.get(key)!) {
      const priv = g.first === g.last ? `${g.first}` : `${g.first}-${g.last}`;
      if (g.pubFirst === undefined) out.push(`${priv}/${type}`);
      else {
        const pub = g.pubFirst === g.pubLast ? `${g.pubFirst}` : `${g.pubFirst}-${g.pubLast}`;
        out.push(`${ip}:${pub}->${priv}/${type}`);
      }
    }
  }
  return out.join(", ");
}

/** A container's published ports as recorded (bound while it runs). */
export function mappingsOf(engine: Engine, containerId: string): PortMapping[] {
  return (engine.db.query("SELECT proto, host_ip, host_port, container_port FROM port_mappings WHERE container_id = ? ORDER BY container_port, proto, host_ip").all(containerId) as any[]).map((r) => ({
    proto: r.proto,
    hostIp: r.host_ip as IPv4,
    hostPort: r.host_port,
    containerPort: r.container_port,
  }));
}

/** Every container's port mappings in one query (a listing's), by container ID, in mappingsOf's order. */
export function mappingsByContainer(engine: Engine): Map<string, PortMapping[]> {
  const out = new Map<string, PortMapping[]>();
  for (const r of engine.db.query("SELECT container_id, proto, host_ip, host_port, container_port FROM port_mappings ORDER BY container_id, container_port, proto, host_ip").all() as any[]) {
    const list = out.get(r.container_id) ?? out.set(r.container_id, []).get(r.container_id)!;
    list.push({ proto: r.proto, hostIp: r.host_ip as IPv4, hostPort: r.host_port, containerPort: r.container_port });
  }
  return out;
}

/**
 * Ports for ps (moby's types.Port): published mappings while running, else the exposed ports. A listing
 * passes `all` (mappingsByContainer) rather than querying once per container.
 */
export function containerPorts(engine: Engine, c: Pick<ContainerRecord, "id" | "config">, running: boolean, all?: Map<string, PortMapping[]>): { PrivatePort: number; Type: string; IP?: string; PublicPort?: number }[] {
  const maps = running ? (all ? (all.get(c.id) ?? []) : mappingsOf(engine, c.id)) : [];
  const out: { PrivatePort: number; Type: string; IP?: string; PublicPort?: number }[] = maps.map((m) => ({ IP: m.hostIp, PrivatePort: m.containerPort, PublicPort: m.hostPort, Type: m.proto }));
  for (const k of Object.keys(c.config.ExposedPorts ?? {})) {
    const [p, t = "tcp"] = k.split("/");
    if (!maps.some((m) => m.containerPort === Number(p) && m.proto === t)) out.push({ PrivatePort: Number(p), Type: t });
  }
  return out;
}
