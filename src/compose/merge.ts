/**
 * The Compose Specification's merge rules (merge.md, compose-go's override package) over canonical forms:
 * mappings merged key by key, sequences appended then made unique (ports by host ip/port/target/protocol,
 * volumes by target, secrets/configs by target, expose/dns/cap_add… by value, env_file by path), command,
 * entrypoint and healthcheck.test replaced, logging merged only when the driver is the same, scalars replaced.
 */
type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/** Key of a sequence entry for unicity, per service field (a later entry with the same key replaces the earlier). */
const uniqueBy: Record<string, (e: any) => string> = {
  ports: (p) => `${p.host_ip ?? "0.0.0.0"}:${p.published ?? ""}:${p.target}/${p.protocol ?? "tcp"}`,
  volumes: (v) => v.target,
  secrets: (s) => s.target ?? `/run/secrets/${s.source}`,
  configs: (c) => c.target ?? `/${c.source}`,
  env_file: (e) => e.path,
  devices: (d) => d.target,
  expose: String,
  dns: String,
  dns_opt: String,
  dns_search: String,
  cap_add: String,
  cap_drop: String,
  links: String,
  profiles: String,
  tmpfs: String,
  label_file: String,
};
const REPLACED = new Set(["command", "entrypoint"]);

/** Keeps one entry per key, the later replacing the earlier in the earlier's place. */
export function unique<T>(list: T[], key: (e: T) => string): T[] {
  const out: T[] = [];
  const at = new Map<string, number>();
  for (const e of list) {
    // A short form kept as written (no interpolation) is its own key.
    const k = typeof e === "string" ? e : key(e);
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, out.length);
      out.push(e);
    } else out[i] = e;
  }
  return out;
}

/** Generic merge: mappings by key, sequences appended, anything else replaced by the override. */
function mergeValue(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isObj(base) && isObj(over)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in out ? mergeValue(out[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) return [...base, ...over];
  return over;
}

/** Merges an overriding service onto a base service (both canonical). */
export function mergeService(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in out) || REPLACED.has(k) || v === null) {
      out[k] = v;
      continue;
    }
    const b = out[k];
    if (k === "logging" && isObj(b) && isObj(v) && v.driver !== undefined && b.driver !== undefined && v.driver !== b.driver) {
      out[k] = v;
    } else if (k === "healthcheck" && isObj(b) && isObj(v)) {
      out[k] = { ...mergeValue(b, { ...v, test: undefined }) as Obj, ...(v.test !== undefined ? { test: v.test } : {}) };
      if (out[k].test === undefined) delete out[k].test;
    } else if (k === "ulimits" && isObj(b) && isObj(v)) {
      out[k] = { ...b, ...v };
    } else if (k === "extra_hosts" && isObj(b) && isObj(v)) {
      const m: Obj = { ...b };
      for (const [h, ips] of Object.entries(v)) m[h] = [...new Set([...(m[h] ?? []), ...(ips as string[])])];
      out[k] = m;
    } else {
      out[k] = mergeValue(b, v);
    }
    if (Array.isArray(out[k]) && uniqueBy[k]) out[k] = unique(out[k], uniqueBy[k]!);
  }
  if (isObj(out.networks)) {
    for (const [n, cfg] of Object.entries(out.networks)) {
      if (isObj(cfg) && Array.isArray(cfg.aliases)) out.networks[n] = { ...cfg, aliases: [...new Set(cfg.aliases)] };
    }
  }
  if (isObj(out.build) && Array.isArray(out.build.tags)) out.build = { ...out.build, tags: [...new Set(out.build.tags)] };
  return out;
}

/** Makes a single file's sequences unique too (compose enforces unicity after each file). */
export function uniqueService(s: Obj): Obj {
  for (const [k, key] of Object.entries(uniqueBy)) if (Array.isArray(s[k])) s[k] = unique(s[k], key);
  return s;
}

/** Merges an overriding model (canonical services and resources) onto a base model. */
export function mergeModel(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === "services" && isObj(out.services) && isObj(v)) {
      const services: Obj = { ...out.services };
      for (const [name, s] of Object.entries(v)) services[name] = name in services ? mergeService(services[name], s as Obj) : s;
      out.services = services;
    } else if (["networks", "volumes", "secrets", "configs"].includes(k) && isObj(out[k]) && isObj(v)) {
      const res: Obj = { ...out[k] };
      for (const [name, r] of Object.entries(v)) res[name] = name in res ? mergeResource(res[name], r as Obj) : r;
      out[k] = res;
    } else {
      out[k] = mergeValue(out[k], v);
    }
  }
  return out;
}

/** Top-level resources: mappings merged; an ipam config list merged by subnet. */
function mergeResource(base: Obj, over: Obj): Obj {
  const out = mergeValue(base, over) as Obj;
  const pools = out.ipam?.config;
  if (Array.isArray(pools)) out.ipam = { ...out.ipam, config: unique(pools, (p: Obj) => String(p.subnet ?? "")) };
  return out;
}
