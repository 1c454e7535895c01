/**
 * A Project printed as `docker compose config` prints it: Go's field order for each struct (compose-go's
 * types), map keys sorted, sizes as strings of bytes, ulimits with a single value as a number, extra_hosts as
 * sorted `host=ip`, file modes in octal; JSON indented by two spaces (Go's json.MarshalIndent, with its HTML
 * escapes), YAML with two-space indents.
 */
import type { Project, ServiceConfig } from "./model.ts";

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

const SERVICE_FIELDS = `profiles annotations attach build develop blkio_config cap_add cap_drop cgroup_parent cgroup cpu_count cpu_percent
cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpus cpuset cpu_shares command configs container_name credential_spec depends_on deploy
device_cgroup_rules devices dns dns_opt dns_search dockerfile domainname entrypoint provider environment env_file expose extends
external_links extra_hosts group_add gpus hostname healthcheck image init ipc isolation labels label_file links logging log_driver log_opt
mem_limit mem_reservation memswap_limit mem_swappiness mac_address models net network_mode networks oom_kill_disable oom_score_adj pid
pids_limit platform ports privileged pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open stop_grace_period
stop_signal storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volume_driver volumes volumes_from working_dir
pre_start post_start pre_stop`.split(/\s+/);

/** Struct field orders by path pattern (`*` any key, `[]` any index). */
const STRUCTS: Record<string, string[]> = {
  "services.*": SERVICE_FIELDS,
  "services.*.build": "context dockerfile dockerfile_inline entitlements args provenance sbom ssh labels cache_from cache_to no_cache no_cache_filter additional_contexts pull extra_hosts isolation network target secrets shm_size tags ulimits platforms privileged".split(" "),
  "services.*.ports.[]": "name mode host_ip target published protocol app_protocol".split(" "),
  "services.*.volumes.[]": "type source target read_only consistency bind volume tmpfs image".split(" "),
  "services.*.volumes.[].bind": "selinux propagation create_host_path recursive".split(" "),
  "services.*.volumes.[].volume": "labels nocopy subpath".split(" "),
  "services.*.volumes.[].tmpfs": "size mode".split(" "),
  "services.*.healthcheck": "test timeout interval retries start_period start_interval disable".split(" "),
  "services.*.depends_on.*": "condition restart required".split(" "),
  "services.*.networks.*": "aliases driver_opts gw_priority interface_name ipv4_address ipv6_address link_local_ips mac_address priority".split(" "),
  "services.*.deploy": "mode replicas labels update_config rollback_config resources restart_policy placement endpoint_mode".split(" "),
  "services.*.deploy.resources": ["limits", "reservations"],
  "services.*.deploy.resources.*": "cpus memory pids devices generic_resources".split(" "),
  "services.*.deploy.restart_policy": "condition delay max_attempts window".split(" "),
  "services.*.logging": ["driver", "options"],
  "services.*.secrets.[]": "source target uid gid mode".split(" "),
  "services.*.configs.[]": "source target uid gid mode".split(" "),
  "services.*.devices.[]": "source target permissions".split(" "),
  "services.*.env_file.[]": "path required format".split(" "),
  "services.*.ulimits.*": "single soft hard".split(" "),
  "networks.*": "name driver driver_opts ipam external internal attachable labels enable_ipv4 enable_ipv6".split(" "),
  "networks.*.ipam": "driver config options".split(" "),
  "networks.*.ipam.config.[]": "subnet gateway ip_range aux_addresses".split(" "),
  "volumes.*": "name driver driver_opts external labels".split(" "),
  "secrets.*": "name file environment content external labels driver driver_opts template_driver".split(" "),
  "configs.*": "name file environment content external labels driver driver_opts template_driver".split(" "),
};
const SIZES = new Set(["mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "shm_size", "memory", "size"]);

const ORDERS = Object.entries(STRUCTS).map(([pattern, fields]) => [pattern.split("."), fields] as const);

function matches(p: readonly string[], path: string[]): boolean {
  if (p.length !== path.length) return false;
  return p.every((seg, i) => (seg === "*" ? !path[i]!.startsWith("[") : seg === "[]" ? path[i]!.startsWith("[") : seg === path[i]));
}

/** The value as Go would marshal it: ordered keys and compose-go's custom marshallers. */
function goValue(v: unknown, path: string[]): unknown {
  const key = path.at(-1) ?? "";
  if (Array.isArray(v)) return v.map((e, i) => goValue(e, [...path, `[${i}]`]));
  if (!isObj(v)) {
    if (typeof v === "number" && SIZES.has(key) && path[0] === "services") return String(v);
    if (typeof v === "number" && key === "mode" && (path.includes("secrets") || path.includes("configs"))) return `0${v.toString(8)}`;
    return v;
  }
  if (key === "extra_hosts" && path.length === 3 || (key === "extra_hosts" && path.at(-2) === "build")) {
    return Object.entries(v).flatMap(([h, ips]) => (ips as string[]).map((ip) => `${h}=${ip}`)).sort();
  }
  if (path.length === 4 && path[2] === "ulimits" && typeof v.single === "number") return v.single;
  const order = ORDERS.find(([p]) => matches(p, path))?.[1];
  const keys = order ? order.filter((k) => k in v) : Object.keys(v).sort();
  const out: Obj = {};
  for (const k of keys) out[k] = goValue(v[k], [...path, k]);
  return out;
}

/** Go's json.Marshal escapes of <, >, & and the line separators. */
const goEscapes = (json: string) => json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/**
 * docker compose's ServiceHash (the `com.docker.compose.config-hash` label): SHA-256 of the service's compact
 * JSON in compose-go's field order, without build, pull_policy, scale, deploy.replicas, depends_on and profiles.
 */
export function serviceHash(service: ServiceConfig): string {
  const { build: _b, pull_policy: _p, scale: _s, depends_on: _d, profiles: _f, ...rest } = service;
  const s: Obj = { ...rest };
  if (s.deploy) {
    const { replicas: _r, ...deploy } = s.deploy;
    s.deploy = deploy;
  }
  // The service's own name only places it in the tree (services.*): any name orders the same.
  const json = goEscapes(JSON.stringify(goValue(s, ["services", "_"])));
  return new Bun.CryptoHasher("sha256").update(json).digest("hex");
}

/** The project as compose-go's Project.MarshalJSON: top-level keys sorted, services' x- keys left out. */
export function projectJson(project: Project): string {
  // NetworkConfig.Ipam is a struct, not a pointer: Go's JSON prints it even empty (`"ipam": {}`).
  if (project.networks) project = { ...project, networks: Object.fromEntries(Object.entries(project.networks).map(([k, n]) => [k, { ipam: {}, ...n }])) };
  const o: Obj = {};
  for (const k of Object.keys(project).sort()) if (k !== "models") o[k] = k.startsWith("x-") ? project[k as `x-${string}`] : goValue((project as Obj)[k], k === "name" ? [] : [k]);
  return goEscapes(JSON.stringify(o, null, 2));
}

/** The project as compose-go's YAML: name, services, networks, volumes, secrets, configs, then x- keys. */
export function projectYaml(project: Project): string {
  const o: Obj = {};
  for (const k of ["name", "services", "networks", "volumes", "secrets", "configs", "models"]) if (k in project) o[k] = k === "name" ? project.name : goValue((project as Obj)[k], [k]);
  // yaml.v3's omitempty leaves out what JSON keeps: a null command/entrypoint (their yaml tags have omitempty,
  // their json tags not) and the empty deploy.resources and deploy.placement structs.
  for (const s of Object.values((o.services ?? {}) as Obj)) {
    for (const k of ["command", "entrypoint"]) if (s[k] === null) delete s[k];
    for (const k of ["resources", "placement"]) if (isObj(s.deploy?.[k]) && !Object.keys(s.deploy[k]).length) delete s.deploy[k];
  }
  for (const k of Object.keys(project).sort()) if (k.startsWith("x-")) o[k] = project[k as `x-${string}`];
  const yaml = Bun.YAML.stringify(o, null, 2);
  return yaml.endsWith("\n") ? yaml : `${yaml}\n`;
}
