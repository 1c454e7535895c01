/**
 * One compose file's services and resources in canonical (long) form, as compose-go's transform package
 * leaves them before merging: ports, volumes, depends_on, env_file, secrets/configs long form; environment,
 * labels, sysctls, extra_hosts, networks as mappings; command/entrypoint as lists; relative paths resolved
 * against the file's base directory (`~` against the home directory).
 */
import { isAbsolute, join, normalize as cleanPath, posix, resolve } from "node:path";
import { ComposeError } from "./errors.ts";

type Obj = Record<string, any>;

/** A short-form value compose cannot read: its words. */
export class FormatError extends ComposeError {}

const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
/** Go's fmt %v of a scalar, as compose turns mapping values into strings. */
export const scalar = (v: unknown): string => (typeof v === "number" && !Number.isInteger(v) ? String(v) : String(v));

/** `KEY=VALUE` list or `{KEY: VALUE}` to a mapping; a bare key maps to `bare` (null for environment, "" for labels). */
export function toMapping(v: unknown, bare: string | null): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    for (const e of v) {
      const s = String(e);
      const eq = s.indexOf("=");
      if (eq < 0) out[s] = bare;
      else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
  } else if (isObj(v)) {
    for (const [k, val] of Object.entries(v)) out[k] = val === null || val === undefined ? bare : scalar(val);
  }
  return out;
}

/** go-shellwords' Parse as compose uses it for `command: echo "a b"` and `run --entrypoint` (its isSpace: space, tab, CR, LF). */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (c === "\\" && i + 1 < s.length && quote !== "'") {
      const n = s[++i]!;
      if (quote === '"' && !'"\\$`'.includes(n)) cur += "\\";
      cur += n;
      has = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else cur += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      has = true;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
      continue;
    }
    cur += c;
  }
  if (quote) throw new FormatError(`invalid command line string`);
  if (has || cur) out.push(cur);
  return out;
}

/** A host path as compose resolves it: `~` from home, relative from the base directory. */
export function hostPath(p: string, baseDir: string, home: string): string {
  if (p === "~" || p.startsWith("~/")) return join(home, p.slice(1));
  return isAbsolute(p) ? cleanPath(p) : resolve(baseDir, p);
}

const isUrl = (s: string) => /^(https?:\/\/|git@|git:\/\/|github\.com\/|ssh:\/\/)/.test(s) || /\.git(#.*)?$/.test(s);

/** nat.ParsePortSpecs for one short-form port: one long-form entry per container port. */
export function parsePort(spec: string): Obj[] {
  let rest = spec;
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  let ip = "";
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    ip = rest.slice(1, close);
    rest = rest.slice(close + 2);
  } else {
    const parts = rest.split(":");
    if (parts.length > 3) throw new FormatError(`invalid port format: ${spec}`);
    if (parts.length === 3) {
      ip = parts[0]!;
      rest = parts.slice(1).join(":");
    }
  }
  const colon = rest.lastIndexOf(":");
  const host = colon >= 0 ? rest.slice(0, colon) : "";
  const container = colon >= 0 ? rest.slice(colon + 1) : rest;
  const range = (r: string, what: string): [number, number] => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) throw new FormatError(`invalid ${what}: ${r}`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (b < a || b > 65535) throw new FormatError(`invalid ${what}: ${r}`);
    return [a, b];
  };
  const [c0, c1] = range(container, "containerPort");
  const h = host ? range(host, "hostPort") : undefined;
  if (h && c1 - c0 !== h[1] - h[0] && c1 !== c0) throw new FormatError(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  const out: Obj[] = [];
  for (let p = c0; p <= c1; p++) {
    let published: string | undefined;
    if (h) published = c1 === c0 ? (h[0] === h[1] ? String(h[0]) : `${h[0]}-${h[1]}`) : String(h[0] + (p - c0));
    out.push(port({ mode: "ingress", host_ip: ip || undefined, target: p, published, protocol: proto }));
  }
  return out;
}

/** A long-form port in compose-go's field order, with its defaults. */
function port(p: Obj): Obj {
  const published = p.published === undefined || p.published === null || p.published === "" ? undefined : String(p.published);
  return clean({ name: p.name, mode: p.mode ?? "ingress", host_ip: p.host_ip, target: p.target === undefined ? undefined : Number(p.target), published, protocol: p.protocol ?? "tcp", app_protocol: p.app_protocol });
}

/** Drops undefined fields (Go's omitempty for fields never set). */
export function clean<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const PROPAGATIONS = ["rprivate", "private", "rshared", "shared", "rslave", "slave"];

/** format.ParseVolume: `[source:]target[:options]` to the long form. */
export function parseVolume(spec: string): Obj {
  if (spec.length === 0) throw new FormatError("invalid empty volume spec");
  const v: Obj = {};
  let readOnly = false;
  let bind: Obj | undefined;
  let volume: Obj | undefined;
  if (spec.length <= 2) {
    v.target = spec;
  } else {
    const parts: string[] = [];
    let buf = "";
    let depth = 0;
    for (let i = 0; i < spec.length; i++) {
      const c = spec[i]!;
      if (c === "$" && spec[i + 1] === "{") depth++;
      else if (c === "}" && depth > 0) depth--;
      if (c === ":" && depth === 0) {
        parts.push(buf);
        buf = "";
      } else buf += c;
    }
    parts.push(buf);
    if (parts.some((p) => p === "")) throw new FormatError(`invalid spec: ${spec}: empty section between colons`);
    if (parts.length > 3) throw new FormatError(`invalid spec: ${spec}: too many colons`);
    if (parts.length === 1) v.target = parts[0];
    else {
      v.source = parts[0];
      v.target = parts[1];
    }
    for (const option of parts[2]?.split(",") ?? []) {
      if (option === "ro") readOnly = true;
      else if (option === "rw") readOnly = false;
      else if (option === "nocopy") volume = { nocopy: true };
      else if (PROPAGATIONS.includes(option)) (bind ??= {}).propagation = option;
      else if (option === "z" || option === "Z") (bind ??= {}).selinux = option;
    }
  }
  const isPath = typeof v.source === "string" && (v.source.startsWith(".") || v.source.startsWith("/") || v.source.startsWith("~"));
  return clean({
    type: isPath ? "bind" : "volume",
    source: v.source,
    target: v.target,
    read_only: readOnly || undefined,
    bind: isPath ? { ...bind } : undefined,
    volume: isPath ? undefined : (volume ?? {}),
  });
}

/** Canonical form of one service; relative paths resolved against `baseDir`. */
export function canonicalService(s: Obj, baseDir: string, home: string, lenient = false): Obj {
  const out: Obj = { ...s };
  // An attribute left empty (`deploy:`) is absent, as compose-go's nil pointers.
  for (const k of Object.keys(out)) if (out[k] === null && k !== "command" && k !== "entrypoint") delete out[k];
  const path = (p: string) => hostPath(p, baseDir, home);
  if (typeof out.build === "string") out.build = { context: out.build };
  if (isObj(out.build)) {
    const b = { ...out.build };
    if (typeof b.context === "string" && !isUrl(b.context)) b.context = path(b.context);
    for (const k of ["args", "labels", "additional_contexts"]) if (k in b) b[k] = toMapping(b[k], k === "args" ? null : "");
    if ("extra_hosts" in b) b.extra_hosts = extraHosts(b.extra_hosts);
    if (Array.isArray(b.secrets)) b.secrets = b.secrets.map(fileRef);
    if (typeof b.ssh === "string" || isObj(b.ssh)) b.ssh = Array.isArray(b.ssh) ? b.ssh : isObj(b.ssh) ? Object.entries(b.ssh).map(([k, v]) => (v === null ? k : `${k}=${v}`)) : [b.ssh];
    if (isObj(b.ulimits)) b.ulimits = ulimits(b.ulimits);
    out.build = b;
  }
  for (const k of ["command", "entrypoint"]) if (typeof out[k] === "string") out[k] = shellSplit(out[k]);
  if ("environment" in out) out.environment = toMapping(out.environment, null);
  for (const k of ["labels", "annotations", "sysctls"]) if (k in out) out[k] = toMapping(out[k], "");
  if ("env_file" in out) {
    const list = typeof out.env_file === "string" ? [out.env_file] : out.env_file;
    out.env_file = list.map((e: string | Obj) => (typeof e === "string" ? { path: path(e), required: true } : clean({ path: path(e.path), required: e.required ?? true, format: e.format })));
  }
  if (typeof out.label_file === "string") out.label_file = [out.label_file];
  if (Array.isArray(out.label_file)) out.label_file = out.label_file.map(path);
  for (const k of ["dns", "dns_search", "tmpfs"]) if (typeof out[k] === "string") out[k] = [out[k]];
  if (Array.isArray(out.expose)) out.expose = out.expose.map(String);
  // Without interpolation (`config --no-interpolate`) a short form holding `${VAR}` is kept as written.
  const short = <T>(parse: (v: string) => T, v: string): T | string => {
    if (!lenient) return parse(v);
    try {
      return parse(v);
    } catch {
      return v;
    }
  };
  if (Array.isArray(out.ports)) out.ports = out.ports.flatMap((p: unknown): any => (isObj(p) ? [port(p)] : short(parsePort, String(p))));
  if (Array.isArray(out.volumes)) {
    out.volumes = out.volumes.map((v: string | Obj) => {
      const parsed = typeof v === "string" ? short(parseVolume, v) : { ...v };
      if (typeof parsed === "string") return parsed;
      const long = parsed;
      if (long.type === "bind" && typeof long.source === "string") long.source = path(long.source);
      if (long.type === "volume" && typeof long.source === "string" && long.source === "") delete long.source;
      if (typeof long.target === "string" && long.target) long.target = posix.normalize(long.target).replace(/(.)\/$/, "$1");
      if (long.volume && isObj(long.volume) && "labels" in long.volume) long.volume = { ...long.volume, labels: toMapping(long.volume.labels, "") };
      return long;
    });
  }
  if (Array.isArray(out.networks)) out.networks = Object.fromEntries(out.networks.map((n: string) => [n, null]));
  if (Array.isArray(out.models)) out.models = Object.fromEntries(out.models.map((n: string) => [n, null]));
  if ("depends_on" in out) {
    const d = out.depends_on;
    const m: Obj = {};
    if (Array.isArray(d)) for (const n of d) m[n] = { condition: "service_started", required: true };
    else for (const [n, c] of Object.entries(d as Obj)) m[n] = clean({ condition: c?.condition ?? "service_started", restart: c?.restart, required: c?.required ?? true });
    out.depends_on = m;
  }
  for (const k of ["secrets", "configs"]) if (Array.isArray(out[k])) out[k] = out[k].map(fileRef);
  if ("extra_hosts" in out) out.extra_hosts = extraHosts(out.extra_hosts);
  if (isObj(out.ulimits)) out.ulimits = ulimits(out.ulimits);
  if (isObj(out.healthcheck) && typeof out.healthcheck.test === "string") out.healthcheck = { ...out.healthcheck, test: ["CMD-SHELL", out.healthcheck.test] };
  if (Array.isArray(out.devices)) {
    out.devices = out.devices.map((d: string | Obj) => {
      if (isObj(d)) return clean({ source: d.source, target: d.target ?? d.source, permissions: d.permissions ?? "rwm" });
      const [source, target, permissions] = String(d).split(":");
      return { source, target: target || source, permissions: permissions || "rwm" };
    });
  }
  if (typeof out.extends === "string") out.extends = { service: out.extends };
  if (isObj(out.extends) && typeof out.extends.file === "string") out.extends = { ...out.extends, file: path(out.extends.file) };
  if (isObj(out.logging) && "options" in out.logging) out.logging = { ...out.logging, options: toMapping(out.logging.options, "") };
  if (isObj(out.deploy) && "labels" in out.deploy) out.deploy = { ...out.deploy, labels: toMapping(out.deploy.labels, "") };
  for (const k of Object.keys(out)) if (k.startsWith("x-")) delete out[k];
  return out;
}

function fileRef(r: string | Obj): Obj {
  return typeof r === "string" ? { source: r } : { ...r };
}

function ulimits(u: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(u)) out[k] = isObj(v) ? clean({ soft: v.soft === undefined ? undefined : Number(v.soft), hard: v.hard === undefined ? undefined : Number(v.hard) }) : { single: Number(v) };
  return out;
}

/** extra_hosts (`host:ip`, `host=ip` or a mapping) to host -> addresses. */
function extraHosts(v: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (h: string, ip: string) => {
    const list = (out[h] ??= []);
    if (!list.includes(ip)) list.push(ip);
  };
  if (Array.isArray(v)) {
    for (const e of v) {
      const s = String(e);
      const eq = s.indexOf("=");
      const i = eq >= 0 ? eq : s.indexOf(":");
      if (i < 0) throw new FormatError(`invalid additional host, missing IP address: ${s}`);
      add(s.slice(0, i), s.slice(i + 1).replace(/^\[(.*)\]$/, "$1"));
    }
  } else if (isObj(v)) {
    for (const [h, ip] of Object.entries(v)) for (const a of Array.isArray(ip) ? ip : [ip]) add(h, String(a));
  }
  return out;
}

/** Canonical form of a top-level network/volume/secret/config (null becomes {}; labels as a mapping; file paths resolved). */
export function canonicalResource(kind: string, r: unknown, baseDir: string, home: string): Obj {
  const out: Obj = isObj(r) ? { ...r } : {};
  if ("labels" in out) out.labels = toMapping(out.labels, "");
  if (isObj(out.external)) {
    // The legacy `external: {name: x}` form.
    if (out.external.name !== undefined) out.name = out.external.name;
    out.external = true;
  }
  if ((kind === "secrets" || kind === "configs") && typeof out.file === "string") out.file = hostPath(out.file, baseDir, home);
  if (isObj(out.driver_opts)) out.driver_opts = toMapping(out.driver_opts, "");
  for (const k of Object.keys(out)) if (k.startsWith("x-")) delete out[k];
  return out;
}
