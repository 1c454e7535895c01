/**
 * `--change` of commit and import (`changes=` of POST /commit and /images/create): Dockerfile instructions
 * applied to a runtime config, as moby's BuildFromConfig does. Only the instructions moby's
 * validCommitCommands lists are accepted (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
 * STOPSIGNAL, USER, VOLUME, WORKDIR); any other is refused with moby's "<name> is not a valid change
 * command". Lines are joined with "\n" and read as a Dockerfile: `#` comments, blank lines, a trailing
 * backslash continues a line; exec form (a JSON array) or shell form; quotes and `$VAR`/`${VAR}` (from the
 * config's Env) handled as BuildKit's shell lexer does for ENV, LABEL, EXPOSE, USER, VOLUME, WORKDIR and
 * STOPSIGNAL.
 */
import { posix } from "node:path";
import { invalidParameter } from "../errors.ts";

/** A Healthcheck as moby's container.HealthConfig (durations in ns). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The config fields a change may set (a container's Config or an image's config section). */
export interface ChangeableConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Healthcheck?: HealthConfig;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  OnBuild?: string[] | null;
  StopSignal?: string;
  Shell?: string[];
  [field: string]: unknown;
}

const VALID = new Set(["cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "stopsignal", "user", "volume", "workdir"]);

/** The instructions of a Dockerfile text: [lower-case name, the rest of the line]. */
function instructions(text: string): { name: string; original: string; rest: string }[] {
  const out: { name: string; original: string; rest: string }[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (!pending && /^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, "");
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    if (!full) continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(full)!;
    out.push({ name: m[1]!.toLowerCase(), original: m[1]!, rest: m[2]! });
  }
  if (pending.trim()) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(pending.trim())!;
    out.push({ name: m[1]!.toLowerCase(), original: m[1]!, rest: m[2]! });
  }
  return out;
}

/** The exec form's array, or undefined for shell form. */
function jsonArgs(rest: string): string[] | undefined {
  if (!rest.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(rest);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  } catch {}
  return undefined;
}

/** Words of a line with quotes removed and variables expanded (BuildKit's shell lexer, the parts changes use). */
function words(rest: string, env: string[], expand = true): string[] {
  const vars = new Map(env.map((e) => [e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")), e.indexOf("=") < 0 ? "" : e.slice(e.indexOf("=") + 1)]));
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "\\" && i + 1 < rest.length) cur += rest[++i];
    else if (c === "'") {
      const end = rest.indexOf("'", i + 1);
      if (end < 0) throw invalidParameter("unexpected end of statement while looking for matching single-quote");
      cur += rest.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < rest.length && rest[j] !== '"'; j++) {
        if (rest[j] === "\\" && j + 1 < rest.length && /["\\$]/.test(rest[j + 1]!)) cur += rest[++j];
        else if (rest[j] === "$" && expand) j = variable(j) - 1;
        else cur += rest[j];
      }
      if (j >= rest.length) throw invalidParameter("unexpected end of statement while looking for matching double-quote");
      i = j;
    } else if (c === "$" && expand) i = variable(i) - 1;
    else cur += c;
  }
  if (inWord) out.push(cur);
  return out;

  /** Expands the variable at `at` into `cur`; returns the index after it. */
  function variable(at: number): number {
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}/.exec(rest.slice(at));
    if (braced) {
      const [all, name] = braced;
      const op = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-+])(.*)\}$/.exec(all);
      const val = vars.get(name!);
      if (!op) cur += val ?? "";
      else if (op[1]!.endsWith("-")) cur += val ? val : op[2]!;
      else cur += val ? op[2]! : "";
      return at + all.length;
    }
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(rest.slice(at));
    if (plain) {
      cur += vars.get(plain[1]!) ?? "";
      return at + plain[0].length;
    }
    cur += "$";
    return at + 1;
  }
}

/** `k=v k2=v2` (or the legacy `k v`) pairs of ENV and LABEL. */
function pairs(cmd: string, rest: string, env: string[]): [string, string][] {
  const ws = words(rest, env);
  if (!ws.length) throw invalidParameter(`${cmd.toUpperCase()} requires at least one argument`);
  if (!ws[0]!.includes("=")) {
    // Legacy form: the first word is the name, the rest of the line (unsplit) its value.
    const m = /^\s*\S+\s+([\s\S]*)$/.exec(rest);
    if (!m) throw invalidParameter(`${cmd.toUpperCase()} must have two arguments`);
    return [[ws[0]!, words(m[1]!, env).join(" ")]];
  }
  return ws.map((w) => {
    const i = w.indexOf("=");
    if (i <= 0) throw invalidParameter(i === 0 ? `${cmd.toUpperCase()} names can not be blank` : `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

/** Go's time.ParseDuration for HEALTHCHECK's flags, in ns. */
function duration(flag: string, v: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(v))) {
    total += Number(m[1]) * units[m[2]!]!;
    at = re.lastIndex;
  }
  if (!v || at !== v.length) throw invalidParameter(`time: invalid duration "${v}"`);
  return Math.round(total);
}

/** The shell-form command line: the config's Shell (default /bin/sh -c) and the text as one argument. */
function shellForm(cfg: ChangeableConfig, rest: string): string[] {
  return [...(cfg.Shell?.length ? cfg.Shell : ["/bin/sh", "-c"]), rest];
}

/**
 * Applies `changes` to a copy of `config` and returns it. Throws invalidParameter with moby's texts for an
 * instruction commit does not accept or a malformed one.
 */
export function applyChanges<T extends ChangeableConfig>(config: T, changes: string[]): T {
  if (!changes.length) return config;
  const cfg: T = structuredClone(config);
  let cmdSet = false;
  for (const { name, original, rest } of instructions(changes.join("\n"))) {
    if (!VALID.has(name)) throw invalidParameter(`${original.toLowerCase()} is not a valid change command`);
    const env = cfg.Env ?? [];
    switch (name) {
      case "cmd": {
        cfg.Cmd = jsonArgs(rest) ?? shellForm(cfg, rest);
        cmdSet = true;
        break;
      }
      case "entrypoint": {
        const args = jsonArgs(rest);
        cfg.Entrypoint = args ?? (rest.trim() ? shellForm(cfg, rest) : null);
        if (!cmdSet) cfg.Cmd = null; // ENTRYPOINT resets a CMD not given in the same changes
        break;
      }
      case "env": {
        const list = [...env];
        for (const [k, v] of pairs(name, rest, env)) {
          const i = list.findIndex((e) => e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")) === k);
          if (i >= 0) list[i] = `${k}=${v}`;
          else list.push(`${k}=${v}`);
        }
        cfg.Env = list;
        break;
      }
      case "label": {
        cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs(name, rest, env)) };
        break;
      }
      case "expose": {
        const ports = words(rest, env);
        if (!ports.length) throw invalidParameter("EXPOSE requires at least one argument");
        const out = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of ports) {
          const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!m || Number(m[1]) > 65535 || (m[2] && (Number(m[2]) > 65535 || Number(m[2]) < Number(m[1])))) throw invalidParameter(`invalid containerPort: ${p.split("/")[0]}`);
          const proto = (m[3] ?? "tcp").toLowerCase();
          for (let n = Number(m[1]); n <= Number(m[2] ?? m[1]); n++) out[`${n}/${proto}`] = {};
        }
        cfg.ExposedPorts = out;
        break;
      }
      case "user": {
        const w = words(rest, env);
        if (w.length !== 1) throw invalidParameter("USER requires exactly one argument");
        cfg.User = w[0]!;
        break;
      }
      case "stopsignal": {
        const w = words(rest, env);
        if (w.length !== 1) throw invalidParameter("STOPSIGNAL requires exactly one argument");
        cfg.StopSignal = w[0]!;
        break;
      }
      case "workdir": {
        const w = words(rest, env);
        if (w.length !== 1) throw invalidParameter("WORKDIR requires exactly one argument");
        cfg.WorkingDir = posix.resolve(cfg.WorkingDir || "/", w[0]!);
        break;
      }
      case "volume": {
        const vols = jsonArgs(rest) ?? words(rest, env);
        if (!vols.length) throw invalidParameter("VOLUME requires at least one argument");
        cfg.Volumes = { ...(cfg.Volumes ?? {}) };
        for (const v of vols) {
          if (!v.trim()) throw invalidParameter("VOLUME specified can not be an empty string");
          cfg.Volumes[v] = {};
        }
        break;
      }
      case "onbuild": {
        const trigger = /^(\S+)/.exec(rest)?.[1]?.toUpperCase();
        if (!trigger) throw invalidParameter("ONBUILD requires at least one argument");
        if (trigger === "ONBUILD") throw invalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (trigger === "MAINTAINER" || trigger === "FROM") throw invalidParameter(`${trigger} isn't allowed as an ONBUILD trigger`);
        cfg.OnBuild = [...(cfg.OnBuild ?? []), rest.replace(/^\S+/, trigger)];
        break;
      }
      case "healthcheck": {
        cfg.Healthcheck = healthcheck(rest);
        break;
      }
    }
  }
  return cfg;
}

/** HEALTHCHECK [--interval= --timeout= --start-period= --start-interval= --retries=] CMD ... | NONE. */
function healthcheck(rest: string): HealthConfig {
  let line = rest.trim();
  const hc: HealthConfig = {};
  for (let m; (m = /^--([a-z-]+)=(\S*)\s*/.exec(line)); line = line.slice(m[0].length)) {
    const [, flag, value] = m;
    if (flag === "retries") {
      if (!/^-?\d+$/.test(value!)) throw invalidParameter(`strconv.ParseInt: parsing "${value}": invalid syntax`);
      if (Number(value) < 0) throw invalidParameter("--retries cannot be negative");
      hc.Retries = Number(value);
    } else if (flag === "interval" || flag === "timeout" || flag === "start-period" || flag === "start-interval") {
      const ns = duration(flag, value!);
      if (ns !== 0 && ns < 1e6) throw invalidParameter(`Interval "${flag}" cannot be less than 1ms`);
      hc[flag === "interval" ? "Interval" : flag === "timeout" ? "Timeout" : flag === "start-period" ? "StartPeriod" : "StartInterval"] = ns;
    } else throw invalidParameter(`Unknown flag: ${flag}`);
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
  const kind = m?.[1]?.toUpperCase();
  if (kind === "NONE") {
    if (m![2] || Object.keys(hc).length) throw invalidParameter("HEALTHCHECK NONE takes no arguments");
    return { Test: ["NONE"] };
  }
  if (kind !== "CMD") throw invalidParameter(`Unknown type "${m?.[1] ?? ""}" in HEALTHCHECK (try CMD)`);
  const args = jsonArgs(m![2]!);
  return { Test: args ? ["CMD", ...args] : ["CMD-SHELL", m![2]!], ...hc };
}
