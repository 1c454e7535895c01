/**
 * The last step of loading, as compose-go's Normalize, ModelToProject and checkConsistency: profiles applied,
 * defaults set (the `default` network, build context and Dockerfile, depends_on from links/network_mode/
 * volumes_from, secret targets, resource names `<project>_<key>`), environment resolved (env_file under
 * environment, bare keys from the environment), values typed (durations as Go prints them, sizes in bytes),
 * then the project checked (undefined services, networks, volumes, secrets, configs; depends_on cycles).
 */
import { goDuration, goDurationString } from "../go/time.ts";
import { parseBytes } from "../engine/units.ts";
import { toMapping } from "./canonical.ts";
import { ComposeError } from "./errors.ts";
import type { Project, ServiceConfig } from "./model.ts";

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/** What normalisation needs from the loader. */
export interface NormalizeOptions {
  name: string;
  /** The project directory (a build without context builds it). */
  workingDir: string;
  environment: Record<string, string>;
  profiles: string[];
  /** Services named on the command line (enabled whatever their profiles). */
  services: string[];
  normalize: boolean;
  /** Drop env_file after merging its values (`config`). */
  discardEnvFiles: boolean;
  /** false without interpolation: compose then renders the model unchecked (its ToModel). */
  consistency: boolean;
  /** Reads an env_file (undefined when missing and not required). */
  readEnvFile(path: string, required: boolean, format?: string): Record<string, string> | undefined;
}

const duration = (v: unknown): string => goDurationString(typeof v === "number" ? v * 1e9 : goDuration(String(v)));
const bytes = (v: unknown): number => (typeof v === "number" ? v : /^-?\d+$/.test(String(v)) ? Number(v) : parseBytes(String(v)));
const num = (v: unknown): number => Number(v);

/** Applies typed conversions to a service in place. */
function typeService(s: Obj): void {
  for (const k of ["mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "shm_size"]) if (k in s) s[k] = bytes(s[k]);
  for (const k of ["cpus", "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period", "cpu_rt_runtime", "cpu_count", "cpu_percent", "pids_limit", "oom_score_adj", "scale"]) if (k in s) s[k] = num(s[k]);
  if ("stop_grace_period" in s) s.stop_grace_period = duration(s.stop_grace_period);
  if (isObj(s.healthcheck)) {
    const h = s.healthcheck;
    for (const k of ["timeout", "interval", "start_period", "start_interval"]) if (k in h) h[k] = duration(h[k]);
    if ("retries" in h) h.retries = Number(h.retries);
  }
  if (isObj(s.build) && "shm_size" in s.build) s.build.shm_size = bytes(s.build.shm_size);
  for (const v of s.volumes ?? []) if (isObj(v.tmpfs) && "size" in v.tmpfs) v.tmpfs.size = bytes(v.tmpfs.size);
  const d = s.deploy;
  if (isObj(d)) {
    if ("replicas" in d) d.replicas = Number(d.replicas);
    for (const which of ["limits", "reservations"]) {
      const r = d.resources?.[which];
      if (!isObj(r)) continue;
      if ("cpus" in r) r.cpus = Number(r.cpus);
      if ("memory" in r) r.memory = bytes(r.memory);
      if ("pids" in r) r.pids = Number(r.pids);
    }
    if (isObj(d.restart_policy)) for (const k of ["delay", "window"]) if (k in d.restart_policy) d.restart_policy[k] = duration(d.restart_policy[k]);
    for (const u of [d.update_config, d.rollback_config]) if (isObj(u)) for (const k of ["delay", "monitor"]) if (k in u) u[k] = duration(u[k]);
    d.resources ??= {};
    d.placement ??= {};
  }
  for (const k of ["secrets", "configs"]) for (const r of s[k] ?? []) if (typeof r.mode === "string") r.mode = parseInt(r.mode, 8);
}

/** Turns the merged canonical model into the Project (and the services profiles switched off). */
export function normalizeProject(model: Obj, opts: NormalizeOptions): { project: Project; disabled: Record<string, ServiceConfig> } {
  const env = opts.environment;
  const all: Obj = model.services ?? {};
  const top: Obj = {};
  for (const k of ["networks", "volumes", "secrets", "configs"]) if (isObj(model[k]) && Object.keys(model[k]).length) top[k] = model[k];

  if (opts.normalize) {
    // The default network: for each service without networks nor network_mode.
    let usesDefault = false;
    for (const s of Object.values(all)) {
      if (s.network_mode !== undefined || s.provider) continue;
      if (!isObj(s.networks) || !Object.keys(s.networks).length) s.networks = { default: null };
      if ("default" in s.networks) usesDefault = true;
    }
    if (usesDefault) {
      top.networks ??= {};
      top.networks.default ??= {};
    }
    for (const [name, s] of Object.entries(all)) normalizeService(name, s, opts);
    for (const kind of ["networks", "volumes", "secrets", "configs"]) {
      for (const [key, r] of Object.entries((top[kind] ?? {}) as Obj)) {
        if (r.name === undefined) r.name = r.external ? key : `${opts.name}_${key}`;
      }
    }
  }
  for (const s of Object.values(all)) {
    typeService(s);
    s.command ??= null;
    s.entrypoint ??= null;
  }

  // Profiles: a service without profiles is always on; otherwise one of its profiles must be active
  // ("*" activates all), or the service named on the command line.
  const active = (s: Obj, name: string) =>
    opts.services.includes(name) || !Array.isArray(s.profiles) || !s.profiles.length || opts.profiles.includes("*") || s.profiles.some((p: string) => opts.profiles.includes(p));
  const services: Obj = {};
  const disabled: Obj = {};
  for (const name of Object.keys(all).sort()) (active(all[name], name) ? services : disabled)[name] = all[name];

  const project: Obj = { name: opts.name, services };
  for (const [k, v] of Object.entries(top)) project[k] = v;
  // Top-level models (AI models for services) are kept for the orchestration to apply or refuse.
  if (isObj(model.models)) project.models = model.models;
  for (const [k, v] of Object.entries(model)) if (k.startsWith("x-")) project[k] = v;
  if (opts.consistency) {
    checkConsistency(project, disabled);
    checkCycles(services);
  }
  return { project: project as Project, disabled: disabled as Record<string, ServiceConfig> };
}

/** One service's defaults and resolved environment. */
function normalizeService(name: string, s: Obj, opts: NormalizeOptions): void {
  const env = opts.environment;
  if (s.pull_policy === "if_not_present") s.pull_policy = "missing";
  if (isObj(s.build)) {
    s.build.context ??= opts.workingDir;
    if (s.build.dockerfile === undefined && s.build.dockerfile_inline === undefined) s.build.dockerfile = "Dockerfile";
    if (isObj(s.build.args)) {
      for (const [k, v] of Object.entries(s.build.args)) {
        if (v !== null) continue;
        if (k in env) s.build.args[k] = env[k];
        else delete s.build.args[k];
      }
    }
  }
  // environment: env_file values first, then the service's own, bare keys looked up in the environment.
  if (Array.isArray(s.env_file) || isObj(s.environment)) {
    const merged: Record<string, string | null> = {};
    for (const f of s.env_file ?? []) Object.assign(merged, opts.readEnvFile(f.path, f.required !== false, f.format) ?? {});
    for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string | null>)) merged[k] = v === null ? (k in env ? env[k]! : null) : v;
    if (Object.keys(merged).length) s.environment = merged;
    else delete s.environment;
    if (opts.discardEnvFiles || !s.env_file?.length) delete s.env_file;
    // compose-go prints `required` only when false (OptOut).
    else s.env_file = s.env_file.map((f: Obj) => (f.required === false ? f : { path: f.path, ...(f.format ? { format: f.format } : {}) }));
  }
  if (Array.isArray(s.label_file)) {
    const labels: Obj = {};
    for (const f of s.label_file) Object.assign(labels, toMapping(Object.entries(opts.readEnvFile(f, true) ?? {}).map(([k, v]) => `${k}=${v}`), ""));
    s.labels = { ...labels, ...(s.labels ?? {}) };
    // Merged into labels; not kept (unlike env_file) since nothing downstream reads the files themselves.
    delete s.label_file;
  }
  // depends_on gains what links, network_mode/ipc/pid… `service:x` and volumes_from name.
  const dependsOn: Obj = isObj(s.depends_on) ? s.depends_on : {};
  for (const link of s.links ?? []) {
    const target = String(link).split(":")[0]!;
    dependsOn[target] ??= { condition: "service_started", restart: true, required: true };
  }
  for (const ns of ["network_mode", "ipc", "pid", "uts", "cgroup"]) {
    const ref = s[ns];
    if (typeof ref === "string" && ref.startsWith("service:")) dependsOn[ref.slice(8)] ??= { condition: "service_started", restart: true, required: true };
  }
  for (const v of s.volumes_from ?? []) {
    if (String(v).startsWith("container:")) continue;
    dependsOn[String(v).split(":")[0]!] ??= { condition: "service_started", required: true };
  }
  for (const [k, d] of Object.entries(dependsOn)) dependsOn[k] = orderDependency(d);
  if (Object.keys(dependsOn).length) s.depends_on = dependsOn;
  for (const secret of s.secrets ?? []) secret.target ??= `/run/secrets/${secret.source}`;
  for (const v of s.volumes ?? []) {
    if (isObj(v) && v.type === "bind") {
      v.bind ??= {};
      if (v.bind.create_host_path === true || v.bind.create_host_path === "true") delete v.bind.create_host_path;
      else if (v.bind.create_host_path !== undefined) v.bind.create_host_path = false;
    }
  }
  void name;
}

function orderDependency(d: Obj): Obj {
  const out: Obj = { condition: d.condition ?? "service_started" };
  if (d.restart) out.restart = true;
  out.required = d.required !== false;
  return out;
}

/** compose-go's checkConsistency, services in name order. */
function checkConsistency(project: Obj, disabled: Obj): void {
  const invalid = (m: string) => new ComposeError(`${m}: invalid compose project`);
  const services: Obj = project.services;
  for (const [name, s] of Object.entries(services)) {
    if (!s.build && !s.image && !s.provider) throw invalid(`service ${JSON.stringify(name)} has neither an image nor a build context specified`);
    if (s.build?.dockerfile_inline && s.build?.dockerfile && s.build.dockerfile !== "Dockerfile") throw invalid(`service ${JSON.stringify(name)} declares mutualy exclusive dockerfile and dockerfile_inline`);
    if (s.network_mode && isObj(s.networks) && Object.keys(s.networks).length) throw invalid(`service ${name} declares mutually exclusive \`network_mode\` and \`networks\``);
    for (const n of Object.keys(s.networks ?? {})) if (!project.networks?.[n]) throw invalid(`service ${JSON.stringify(name)} refers to undefined network ${n}`);
    const test = s.healthcheck?.test;
    if (Array.isArray(test) && test.length && !["CMD", "CMD-SHELL", "NONE"].includes(test[0])) throw new ComposeError(`healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"`);
    for (const [dep, cfg] of Object.entries((s.depends_on ?? {}) as Obj)) {
      if (services[dep]) continue;
      if (disabled[dep] && !cfg.required) continue;
      throw invalid(`service ${JSON.stringify(name)} depends on undefined service ${JSON.stringify(dep)}`);
    }
    if (typeof s.network_mode === "string" && s.network_mode.startsWith("service:")) {
      const ref = s.network_mode.slice(8);
      if (!services[ref]) throw new ComposeError(`service ${JSON.stringify(ref)} not found for network_mode 'service:${ref}'`);
    }
    for (const link of s.links ?? []) {
      const ref = String(link).split(":")[0]!;
      if (!services[ref] && !disabled[ref]) throw invalid(`service ${JSON.stringify(name)} depends on undefined service ${JSON.stringify(ref)}`);
    }
    for (const v of s.volumes ?? []) if (v.type === "volume" && v.source && !project.volumes?.[v.source]) throw invalid(`service ${JSON.stringify(name)} refers to undefined volume ${v.source}`);
    for (const r of s.build?.secrets ?? []) if (!project.secrets?.[r.source]) throw invalid(`service ${JSON.stringify(name)} refers to undefined build secret ${r.source}`);
    for (const r of s.configs ?? []) if (!project.configs?.[r.source]) throw invalid(`service ${JSON.stringify(name)} refers to undefined config ${r.source}`);
    for (const m of Object.keys(isObj(s.models) ? s.models : {})) if (!project.models?.[m]) throw invalid(`service ${JSON.stringify(name)} refers to undefined model ${m}`);
    for (const r of s.secrets ?? []) if (!project.secrets?.[r.source]) throw invalid(`service ${JSON.stringify(name)} refers to undefined secret ${r.source}`);
    if (s.scale !== undefined && s.deploy?.replicas !== undefined && s.scale !== s.deploy.replicas) throw invalid(`services.${name}: can't set distinct values on 'scale' and 'deploy.replicas'`);
    // As compose-go: with both set (and equal), deploy.replicas follows scale.
    if (s.scale !== undefined && isObj(s.deploy)) s.deploy.replicas = s.scale;
    if (s.scale !== undefined && s.scale < 0) throw new ComposeError(`services.${name}.scale: must be greater than or equal to 0`);
    if (s.deploy?.replicas !== undefined && s.deploy.replicas < 0) throw new ComposeError(`services.${name}.deploy.replicas: must be greater than or equal to 0`);
    const scale = s.scale ?? s.deploy?.replicas ?? 1;
    if (scale > 1 && s.container_name) {
      // compose-go prints the attribute and the service in this (swapped) order; kept to read as docker compose.
      throw invalid(`services.${s.scale !== undefined ? "scale" : "deploy.replicas"}: can't set container_name and ${name} as container name must be unique`);
    }
    const mounts = new Map<string, string>();
    (s.tmpfs ?? []).forEach((t: string, i: number) => {
      const p = t.split(":")[0]!;
      const loc = `services.${name}.tmpfs[${i}]`;
      if (mounts.has(p)) throw new ComposeError(`${loc}: target ${p} already mounted as ${mounts.get(p)}`);
      mounts.set(p, loc);
    });
    (s.volumes ?? []).forEach((v: Obj, i: number) => {
      if (!isObj(v)) return;
      const loc = `services.${name}.volumes[${i}]`;
      if (mounts.has(v.target)) throw new ComposeError(`${loc}: target ${v.target} already mounted as ${mounts.get(v.target)}`);
      mounts.set(v.target, loc);
    });
  }
}

/** depends_on cycles, in name order as compose-go walks them: `dependency cycle detected: a -> b -> a`. */
function checkCycles(services: Obj): void {
  const children = (n: string) => Object.keys((services[n]?.depends_on ?? {}) as Obj).filter((d) => services[d]).sort();
  const search = (path: string[]): void => {
    for (const next of children(path.at(-1)!)) {
      const i = path.indexOf(next);
      if (i >= 0) throw new ComposeError(`dependency cycle detected: ${path.slice(i).join(" -> ")} -> ${next}`);
      search([...path, next]);
    }
  };
  for (const name of Object.keys(services).sort()) search([name]);
}

/**
 * compose-go's CheckContainerNameUnicity (run by `config` and `up`): two services may not share a
 * container_name. (compose-go prints the set's empty value where the first service belongs; bunker names it.)
 */
export function checkContainerNames(project: Project): void {
  const seen = new Map<string, string>();
  for (const [name, s] of Object.entries(project.services)) {
    if (!s.container_name) continue;
    const first = seen.get(s.container_name);
    if (first !== undefined) throw new ComposeError(`services.${name}: container name ${JSON.stringify(s.container_name)} is already in use by service ${first}`);
    seen.set(s.container_name, name);
  }
}

/**
 * compose-go's WithoutUnnecessaryResources, which the docker compose CLI applies unless --all-resources: only
 * the networks, volumes, secrets, configs and models the enabled services use are kept.
 */
export function withoutUnusedResources(project: Project): Project {
  const used: Record<string, Set<string>> = { networks: new Set(), volumes: new Set(), secrets: new Set(), configs: new Set(), models: new Set() };
  for (const s of Object.values(project.services) as Obj[]) {
    for (const n of Object.keys(s.networks ?? {})) used.networks!.add(n);
    for (const v of s.volumes ?? []) if (isObj(v) && v.type === "volume" && v.source) used.volumes!.add(v.source);
    for (const r of [...(s.secrets ?? []), ...(s.build?.secrets ?? [])]) used.secrets!.add(r.source);
    for (const r of s.configs ?? []) used.configs!.add(r.source);
    for (const m of Object.keys(isObj(s.models) ? s.models : {})) used.models!.add(m);
  }
  const out: Obj = { ...project };
  for (const [kind, names] of Object.entries(used)) {
    if (!out[kind]) continue;
    const kept = Object.fromEntries(Object.entries(out[kind] as Obj).filter(([k]) => names.has(k)));
    if (Object.keys(kept).length) out[kind] = kept;
    else delete out[kind];
  }
  return out as Project;
}
