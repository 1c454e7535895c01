/**
 * A compact, hand-written validator for the Compose Specification's shape (types, enums, patterns, required
 * keys, no unknown keys), reporting as docker compose v2 does (compose-go over santhosh-tekuri/jsonschema):
 * the dotted path, then `additional properties 'foo' not allowed`, `must be a string`, `must be a number or
 * string`, `missing property 'target'`, `value must be one of 'a', 'b'`. The most specific error wins: of a
 * value that may take several shapes, the one its type selects is checked.
 */
import { parseGoDuration } from "../go/time.ts";

type JsonType = "string" | "number" | "integer" | "boolean" | "null" | "object" | "array";

/** One schema node. */
interface Node {
  /** Accepted JSON types (absent: anything). */
  type?: JsonType[];
  props?: Record<string, Node>;
  /** Keys matching this pattern take `patternNode` (x- extensions, service names). */
  keyPattern?: RegExp;
  patternNode?: Node;
  /** Other keys: false = refused, a node = their schema, absent = allowed. */
  additional?: false | Node;
  required?: string[];
  items?: Node;
  enum?: (string | number | boolean)[];
  pattern?: RegExp;
  format?: "duration";
  minimum?: number;
  /** Alternatives (JSON Schema's oneOf), chosen by the value's type. */
  oneOf?: Node[];
}

const t = (...type: JsonType[]): Node => ({ type });
const ANY: Node = {};
const STR = t("string");
const BOOL = t("boolean", "string");
const INT = t("integer", "string");
const NUM = t("number", "string");
const DURATION: Node = { type: ["string"], format: "duration" };
const STR_OR_NUM = t("number", "string");
const X_KEYS = /^x-/;

/** A mapping with known keys and x- extensions, nothing else. */
function obj(props: Record<string, Node>, extra: Partial<Node> = {}): Node {
  return { type: ["object"], props, keyPattern: X_KEYS, patternNode: ANY, additional: false, ...extra };
}
const list = (items: Node): Node => ({ type: ["array"], items });
const STR_LIST = list(STR);
const STRING_OR_LIST: Node = { oneOf: [STR, STR_LIST] };
/** list_or_dict: `{K: V}` with scalar values, or `["K=V"]`. */
const LIST_OR_DICT: Node = { oneOf: [{ type: ["object"], keyPattern: /.+/, patternNode: t("boolean", "null", "number", "string"), additional: false }, STR_LIST] };
const DICT_OF_STR: Node = { type: ["object"], additional: t("boolean", "null", "number", "string") };
const EXTRA_HOSTS: Node = { oneOf: [{ type: ["object"], additional: { oneOf: [STR, STR_LIST] } }, STR_LIST] };
const ULIMITS: Node = { type: ["object"], additional: { oneOf: [INT, obj({ hard: INT, soft: INT }, { required: ["soft", "hard"] })] } };
const LABELS = LIST_OR_DICT;
const EXTERNAL: Node = { oneOf: [BOOL, obj({ name: STR })] };
const FILE_REF: Node = { oneOf: [STR, obj({ source: STR, target: STR, uid: STR, gid: STR, mode: t("number", "string") })] };
const DEVICE_REQUEST = obj({ capabilities: STR_LIST, count: { oneOf: [STR, t("integer")] }, device_ids: STR_LIST, driver: STR, options: LIST_OR_DICT });
const RESOURCE = obj({ cpus: STR_OR_NUM, memory: STR, pids: INT, devices: list(DEVICE_REQUEST), generic_resources: list(ANY) });
const UPDATE = obj({ parallelism: INT, delay: DURATION, failure_action: STR, monitor: DURATION, max_failure_ratio: NUM, order: { type: ["string"], enum: ["start-first", "stop-first"] } });

const HEALTHCHECK = obj({
  disable: BOOL,
  interval: DURATION,
  retries: NUM,
  test: STRING_OR_LIST,
  timeout: DURATION,
  start_period: DURATION,
  start_interval: DURATION,
});

const BUILD: Node = {
  oneOf: [
    STR,
    obj({
      context: STR,
      dockerfile: STR,
      dockerfile_inline: STR,
      entitlements: STR_LIST,
      args: LIST_OR_DICT,
      ssh: LIST_OR_DICT,
      labels: LABELS,
      cache_from: STR_LIST,
      cache_to: STR_LIST,
      no_cache: BOOL,
      no_cache_filter: STRING_OR_LIST,
      additional_contexts: LIST_OR_DICT,
      network: STR,
      provenance: t("string", "boolean"),
      sbom: t("string", "boolean"),
      pull: BOOL,
      target: STR,
      shm_size: t("integer", "string"),
      extra_hosts: EXTRA_HOSTS,
      isolation: STR,
      privileged: BOOL,
      secrets: list(FILE_REF),
      tags: STR_LIST,
      ulimits: ULIMITS,
      platforms: STR_LIST,
    }),
  ],
};

const PORT: Node = {
  oneOf: [
    t("number", "string"),
    obj({
      name: STR,
      mode: STR,
      host_ip: STR,
      target: INT,
      published: t("string", "integer"),
      protocol: STR,
      app_protocol: STR,
    }),
  ],
};

const SERVICE_VOLUME: Node = {
  oneOf: [
    STR,
    obj(
      {
        type: { type: ["string"], enum: ["bind", "volume", "tmpfs", "cluster", "npipe", "image"] },
        source: STR,
        target: STR,
        read_only: BOOL,
        consistency: STR,
        bind: obj({ propagation: STR, create_host_path: BOOL, recursive: { type: ["string"], enum: ["enabled", "disabled", "writable", "readonly"] }, selinux: { type: ["string"], enum: ["z", "Z"] } }),
        volume: obj({ labels: LIST_OR_DICT, nocopy: BOOL, subpath: STR }),
        tmpfs: obj({ size: { oneOf: [{ type: ["integer"], minimum: 0 }, STR] }, mode: NUM }),
        image: obj({ subpath: STR }),
      },
      { required: ["type"] },
    ),
  ],
};

const SERVICE_NETWORKS: Node = {
  oneOf: [
    STR_LIST,
    {
      type: ["object"],
      keyPattern: /^[a-zA-Z0-9._-]+$/,
      patternNode: {
        oneOf: [
          obj({
            aliases: STR_LIST,
            interface_name: STR,
            ipv4_address: STR,
            ipv6_address: STR,
            link_local_ips: STR_LIST,
            mac_address: STR,
            driver_opts: DICT_OF_STR,
            priority: t("number"),
            gw_priority: t("number"),
          }),
          t("null"),
        ],
      },
      additional: false,
    },
  ],
};

const DEPENDS_ON: Node = {
  oneOf: [
    STR_LIST,
    {
      type: ["object"],
      keyPattern: /^[a-zA-Z0-9._-]+$/,
      patternNode: obj(
        { condition: { type: ["string"], enum: ["service_started", "service_healthy", "service_completed_successfully"] }, restart: BOOL, required: BOOL },
        { required: ["condition"] },
      ),
      additional: false,
    },
  ],
};

const DEPLOY = obj({
  mode: STR,
  endpoint_mode: STR,
  replicas: INT,
  labels: LABELS,
  rollback_config: UPDATE,
  update_config: UPDATE,
  resources: obj({ limits: RESOURCE, reservations: RESOURCE }),
  restart_policy: obj({ condition: STR, delay: DURATION, max_attempts: INT, window: DURATION }),
  placement: obj({ constraints: STR_LIST, preferences: list(obj({ spread: STR })), max_replicas_per_node: INT }),
});

const ENV_FILE: Node = { oneOf: [STR, list({ oneOf: [STR, obj({ path: STR, format: STR, required: { ...BOOL, type: ["boolean", "string"] } }, { required: ["path"] })] })] };

const SERVICE = obj({
  develop: ANY,
  deploy: { oneOf: [DEPLOY, t("null")] },
  annotations: LIST_OR_DICT,
  attach: BOOL,
  build: BUILD,
  blkio_config: ANY,
  cap_add: STR_LIST,
  cap_drop: STR_LIST,
  cgroup: { type: ["string"], enum: ["host", "private"] },
  cgroup_parent: STR,
  command: { oneOf: [t("null"), STR, STR_LIST] },
  configs: list(FILE_REF),
  container_name: STR,
  cpu_count: { oneOf: [STR, { type: ["integer"], minimum: 0 }] },
  cpu_percent: { oneOf: [STR, { type: ["integer"], minimum: 0 }] },
  cpu_shares: t("number", "string"),
  cpu_quota: t("number", "string"),
  cpu_period: t("number", "string"),
  cpu_rt_period: t("number", "string"),
  cpu_rt_runtime: t("number", "string"),
  cpus: t("number", "string"),
  cpuset: STR,
  credential_spec: ANY,
  depends_on: DEPENDS_ON,
  device_cgroup_rules: STR_LIST,
  devices: list({ oneOf: [STR, obj({ source: STR, target: STR, permissions: STR }, { required: ["source"] })] }),
  dns: STRING_OR_LIST,
  dns_opt: STR_LIST,
  dns_search: STRING_OR_LIST,
  domainname: STR,
  entrypoint: { oneOf: [t("null"), STR, STR_LIST] },
  env_file: ENV_FILE,
  label_file: STRING_OR_LIST,
  environment: LIST_OR_DICT,
  expose: list(t("string", "number")),
  extends: { oneOf: [STR, obj({ service: STR, file: STR }, { required: ["service"] })] },
  external_links: STR_LIST,
  extra_hosts: EXTRA_HOSTS,
  gpus: ANY,
  group_add: list(t("string", "number")),
  healthcheck: HEALTHCHECK,
  hostname: STR,
  image: STR,
  init: BOOL,
  ipc: STR,
  isolation: STR,
  labels: LABELS,
  links: STR_LIST,
  logging: obj({ driver: STR, options: { type: ["object"], additional: t("string", "number", "null") } }),
  mac_address: STR,
  mem_limit: t("number", "string"),
  mem_reservation: t("integer", "string"),
  mem_swappiness: t("integer", "string"),
  memswap_limit: t("number", "string"),
  models: ANY,
  network_mode: STR,
  networks: SERVICE_NETWORKS,
  oom_kill_disable: BOOL,
  oom_score_adj: { oneOf: [STR, { type: ["integer"], minimum: -1000 }] },
  pid: t("string", "null"),
  pids_limit: t("number", "string"),
  platform: STR,
  ports: list(PORT),
  post_start: ANY,
  pre_start: ANY,
  pre_stop: ANY,
  privileged: BOOL,
  profiles: STR_LIST,
  provider: ANY,
  pull_policy: { oneOf: [{ type: ["string"], pattern: /^always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+$/ }] },
  pull_refresh_after: STR,
  read_only: BOOL,
  restart: STR,
  runtime: STR,
  scale: INT,
  security_opt: STR_LIST,
  shm_size: t("number", "string"),
  secrets: list(FILE_REF),
  sysctls: LIST_OR_DICT,
  stdin_open: BOOL,
  stop_grace_period: DURATION,
  stop_signal: STR,
  storage_opt: t("object"),
  tmpfs: STRING_OR_LIST,
  tty: BOOL,
  ulimits: ULIMITS,
  use_api_socket: t("boolean"),
  user: STR,
  uts: STR,
  userns_mode: STR,
  volumes: list(SERVICE_VOLUME),
  volumes_from: STR_LIST,
  working_dir: STR,
});

const IPAM = obj({
  driver: STR,
  config: list(obj({ subnet: STR, ip_range: STR, gateway: STR, aux_addresses: { type: ["object"], additional: STR } }, { additional: ANY, keyPattern: undefined })),
  options: { type: ["object"], additional: STR },
});

const NETWORK: Node = {
  oneOf: [
    obj({
      name: STR,
      driver: STR,
      driver_opts: { type: ["object"], additional: t("string", "number") },
      ipam: IPAM,
      external: EXTERNAL,
      internal: BOOL,
      enable_ipv4: BOOL,
      enable_ipv6: BOOL,
      attachable: BOOL,
      labels: LABELS,
    }),
    t("null"),
  ],
};

const VOLUME: Node = {
  oneOf: [obj({ name: STR, driver: STR, driver_opts: { type: ["object"], additional: t("string", "number") }, external: EXTERNAL, labels: LABELS }), t("null")],
};

const FILE_OBJECT = (extra: Record<string, Node>): Node =>
  obj({ name: STR, file: STR, environment: STR, content: STR, external: EXTERNAL, labels: LABELS, driver: STR, driver_opts: { type: ["object"], additional: t("string", "number") }, template_driver: STR, ...extra });

const INCLUDE: Node = { oneOf: [STR, obj({ path: STRING_OR_LIST, env_file: STRING_OR_LIST, project_directory: STR })] };

const NAMED = /^[a-zA-Z0-9._-]+$/;
const TOP = obj({
  version: STR,
  name: { type: ["string"], pattern: /^[a-z0-9][a-z0-9_-]*$/ },
  include: list(INCLUDE),
  services: { type: ["object"], keyPattern: NAMED, patternNode: SERVICE, additional: false },
  models: ANY,
  networks: { type: ["object"], keyPattern: NAMED, patternNode: NETWORK },
  volumes: { type: ["object"], keyPattern: NAMED, patternNode: VOLUME, additional: false },
  secrets: { type: ["object"], keyPattern: NAMED, patternNode: FILE_OBJECT({}), additional: false },
  configs: { type: ["object"], keyPattern: NAMED, patternNode: FILE_OBJECT({}), additional: false },
});

/** A value that breaks the spec: its dotted path and compose's words. */
export class SchemaError extends Error {}

/** Checks a parsed compose file (after interpolation) against the spec; throws the most specific error. */
export function validateSchema(doc: unknown): void {
  const e = check(doc, TOP, []);
  if (e) throw new SchemaError(e.message);
}

interface Failure {
  depth: number;
  message: string;
}

function typeOf(v: unknown): JsonType {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v as JsonType;
}

function typeMatches(v: unknown, types: JsonType[]): boolean {
  const k = typeOf(v);
  return types.includes(k) || (k === "integer" && types.includes("number"));
}

/** `mapping`, or `a, b or c` sorted, as compose-go's humanReadableType. */
function typeWords(types: JsonType[]): string {
  const words = types.map((w) => (w === "object" ? "mapping" : w));
  if (words.length === 1) return words[0]!;
  const sorted = [...words].sort();
  return `${sorted.slice(0, -1).join(", ")} or ${sorted.at(-1)}`;
}

// compose-go joins the path and the message with a space even at the root (whose path is empty).
const at = (path: string[], message: string): Failure => ({ depth: path.length, message: `${path.join(".")} ${message}` });
const quoteList = (xs: unknown[]) => xs.map((x) => `'${x}'`).join(", ");

function check(v: unknown, node: Node, path: string[]): Failure | undefined {
  if (node.oneOf) {
    const fits = node.oneOf.filter((alt) => !alt.type || typeMatches(v, alt.type));
    if (fits.length === 0) return check(v, node.oneOf[0]!, path);
    let best: Failure | undefined;
    for (const alt of fits) {
      const e = check(v, alt, path);
      if (!e) return undefined;
      if (!best || e.depth > best.depth) best = e;
    }
    return best;
  }
  if (node.type && !typeMatches(v, node.type)) return at(path, `must be a ${typeWords(node.type)}`);
  if (node.enum && !node.enum.includes(v as string)) return at(path, `value must be one of ${quoteList(node.enum)}`);
  if (typeof v === "string") {
    if (node.pattern && !node.pattern.test(v)) return at(path, `'${v}' does not match pattern '${node.pattern.source}'`);
    if (node.format === "duration" && parseGoDuration(v) === undefined) return at(path, `'${v}' is not valid 'duration'`);
  }
  if (typeof v === "number" && node.minimum !== undefined && v < node.minimum) return at(path, `must be greater than or equal to ${node.minimum}`);
  if (Array.isArray(v) && node.items) {
    for (let i = 0; i < v.length; i++) {
      const e = check(v[i], node.items, [...path, String(i)]);
      if (e) return e;
    }
  }
  if (typeOf(v) === "object" && (node.props || node.additional !== undefined || node.keyPattern)) {
    const o = v as Record<string, unknown>;
    const unknown: string[] = [];
    let deepest: Failure | undefined;
    for (const [k, child] of Object.entries(o)) {
      const sub = node.props?.[k] ?? (node.keyPattern?.test(k) ? node.patternNode : node.additional === false ? undefined : node.additional);
      if (!sub) {
        unknown.push(k);
        continue;
      }
      const e = check(child, sub, [...path, k]);
      if (e && (!deepest || e.depth > deepest.depth)) deepest = e;
    }
    const missing = (node.required ?? []).filter((k) => !(k in o));
    if (deepest && deepest.depth > path.length + 1) return deepest;
    if (unknown.length) return at(path, `additional ${unknown.length > 1 ? "properties" : "properties"} ${quoteList(unknown)} not allowed`);
    if (deepest) return deepest;
    if (missing.length) return at(path, `missing ${missing.length > 1 ? "properties" : "property"} ${quoteList(missing)}`);
  }
  return undefined;
}
