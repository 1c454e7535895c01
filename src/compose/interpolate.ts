/**
 * Interpolation of a parsed compose file as compose-go does it: every string value (not keys) substituted,
 * errors naming the path (`error while interpolating services.web.image: required variable …`), then the
 * strings at typed fields (booleans, integers, numbers) cast to their type.
 */
import { InvalidTemplateError, substitute, type Lookup } from "./template.ts";

/** Where a value sits: services.*.ports.[].target style patterns, matched segment by segment. */
type Cast = (v: string, warn: (message: string) => void) => unknown;
const casts: [string[], Cast][] = [];
const toInt = (v: string) => {
  if (!/^[-+]?\d+$/.test(v)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
};
const toFloat = (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || Number.isNaN(n)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(v)}: invalid syntax`);
  return n;
};
const toBool: Cast = (v, warn) => {
  switch (v.toLowerCase()) {
    case "true":
      return true;
    case "false":
      return false;
    case "y":
    case "yes":
    case "on":
      warn(`${JSON.stringify(v)} for boolean is not supported by YAML 1.2, please use \`true\``);
      return true;
    case "n":
    case "no":
    case "off":
      warn(`${JSON.stringify(v)} for boolean is not supported by YAML 1.2, please use \`false\``);
      return false;
  }
  throw new Error(`invalid boolean: ${v}`);
};
for (const [p, f] of [
  ["cpu_count", toInt], ["cpu_percent", toFloat], ["cpu_period", toInt], ["cpu_quota", toInt], ["cpu_rt_period", toInt],
  ["cpu_rt_runtime", toInt], ["cpus", toFloat], ["cpu_shares", toInt], ["init", toBool], ["depends_on.*.required", toBool],
  ["depends_on.*.restart", toBool], ["deploy.replicas", toInt], ["deploy.update_config.parallelism", toInt],
  ["deploy.update_config.max_failure_ratio", toFloat], ["deploy.rollback_config.parallelism", toInt],
  ["deploy.rollback_config.max_failure_ratio", toFloat], ["deploy.restart_policy.max_attempts", toInt],
  ["deploy.placement.max_replicas_per_node", toInt], ["healthcheck.retries", toInt], ["healthcheck.disable", toBool],
  ["oom_kill_disable", toBool], ["oom_score_adj", toInt], ["pids_limit", toInt], ["ports.[].target", toInt],
  ["privileged", toBool], ["read_only", toBool], ["scale", toInt], ["stdin_open", toBool], ["tty", toBool],
  ["ulimits.*", toInt], ["ulimits.*.hard", toInt], ["ulimits.*.soft", toInt], ["volumes.[].read_only", toBool],
  ["volumes.[].volume.nocopy", toBool],
] as [string, Cast][]) casts.push([["services", "*", ...p.split(".")], f]);
for (const top of ["networks", "volumes", "secrets", "configs"]) casts.push([[top, "*", "external"], toBool]);
for (const k of ["internal", "attachable", "enable_ipv4", "enable_ipv6"]) casts.push([["networks", "*", k], toBool]);

function castFor(path: string[]): Cast | undefined {
  outer: for (const [pattern, f] of casts) {
    if (pattern.length !== path.length) continue;
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i]!;
      if (p === "*") continue;
      if (p !== path[i]) continue outer;
    }
    return f;
  }
  return undefined;
}

/**
 * Substitutes every string of a parsed file in place; `unset` hears variables used without a value, `warn`
 * compose's other warnings (`yes` for a boolean).
 */
export function interpolateTree(value: unknown, lookup: Lookup, unset: (name: string) => void, warn: (message: string) => void = () => {}, path: string[] = []): unknown {
  if (typeof value === "string") {
    // compose-go's tree.Path: list items are `[]`, whatever their index (services.web.ports.[]).
    const where = () => path.join(".");
    let s: string;
    try {
      s = substitute(value, lookup, unset);
    } catch (e) {
      if (e instanceof InvalidTemplateError) throw new Error(`invalid interpolation format for ${where()}.\nYou may need to escape any $ with another $.\n${e.template}`);
      throw new Error(`error while interpolating ${where()}: ${(e as Error).message}`);
    }
    const cast = castFor(path);
    if (!cast) return s;
    try {
      return cast(s, warn);
    } catch (e) {
      throw new Error(`error while interpolating ${where()}: failed to cast to expected type: ${(e as Error).message}`);
    }
  }
  if (Array.isArray(value)) return value.map((v) => interpolateTree(v, lookup, unset, warn, [...path, "[]"]));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = interpolateTree(o[k], lookup, unset, warn, [...path, k]);
    return o;
  }
  return value;
}
