/**
 * The command framework: commands declare their flags in citty's argument schema (ArgDef), parsed with
 * Docker's (pflag's) rules. citty's own parser keeps only the last of repeated flags and reads flags after
 * the image name as ours, so argv is parsed here: repeatable flags, `-it` bundles, `--flag=value`, `--` and,
 * for run/exec/create, no flags after the first positional. Errors and exit codes match the docker CLI's.
 * Only citty's types are imported: its module loads consola (and its reporters) at the top, measured at
 * ~56 ms CPU from source and ~23 ms in the compiled binary, which every command's start-up would pay for
 * nothing it uses.
 */
import type { StringArgDef } from "citty";
import type { GlobalFlags } from "../engine/config.ts";
import type * as Units from "../engine/units.ts";
import type * as Strconv from "../go/strconv.ts";
import type * as GoTime from "../go/time.ts";

// Required on first use, not imported: every command starts through this file, and few parse a size, a
// duration or a malformed value (measured: ~30 of `--version`'s ~790 page faults).
const parseBytes = (v: string) => (require("../engine/units.ts") as typeof Units).parseBytes(v);
const strconvError = (...a: Parameters<typeof Strconv.strconvError>) => (require("../go/strconv.ts") as typeof Strconv).strconvError(...a);
const goDuration = (v: string) => (require("../go/time.ts") as typeof GoTime).goDuration(v);

/**
 * A user mistake on the command line, or a failure the CLI reports itself: printed as is, with the exit
 * code the docker CLI uses (125 for flag errors, 1 by default). Exit codes live in the command layer only.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * A flag's value type, as the docker CLI declares it with pflag: string, bool, int (int64), bytes (opts.MemBytes:
 * go-units' RAMInBytes, "" leaves it unset), memswap (opts.MemSwapBytes: bytes or -1 for unlimited), duration
 * (pflag's DurationVar: Go's time.ParseDuration, the value in nanoseconds) and map (opts.MapOpts: repeatable
 * `key=value`, split at the first "=", a bare key maps to "", a later key replaces an earlier one; the value is
 * a record). A value its type or validator refuses is pflag's flag error (125), raised before the command runs.
 */
export type FlagType = "boolean" | "string" | "int" | "bytes" | "memswap" | "duration" | "map";

/** A flag: citty's argument schema (description, alias, valueHint) plus what Docker's flags need. */
export type Flag = Omit<StringArgDef, "type" | "default"> & {
  type: FlagType;
  /** The value when the flag is absent, as it would be typed on the command line. */
  default?: string | boolean;
  /** May be given more than once (`-e A -e B`); the value is an array. */
  multiple?: boolean;
  /** Kept for compatibility, not shown in help. */
  hidden?: boolean;
  /** A map flag's validator (MapOpts' ValidatorFctType): returns the entry to store or throws the reason. */
  validate?: (entry: string) => string;
};

/** pflag's error for a value a flag refuses: `invalid argument "V" for "-s, --name" flag: REASON`, exit 125. */
export function flagError(name: string, value: string, reason: string, alias?: string | string[]): CliError {
  const short = [alias ?? []].flat()[0];
  return new CliError(`invalid argument "${value}" for "${short ? `-${short}, ` : ""}--${name}" flag: ${reason}`, 125);
}

/** Runs a flag value through `parse`; what it throws becomes pflag's flag error with its message. */
export function flagValue<T>(name: string, value: string, parse: (v: string) => T, alias?: string | string[]): T {
  try {
    return parse(value);
  } catch (e) {
    throw flagError(name, value, (e as Error).message, alias);
  }
}

/** strconv.ParseInt(v, 10, 64) as pflag's int flags call it. */
function parseInt64(v: string): number {
  if (!/^[-+]?\d+$/.test(v)) throw new Error(strconvError("ParseInt", v));
  return Number(v);
}

/** Each typed flag's parser; undefined leaves the flag unset. */
const typedParsers: Partial<Record<FlagType, (v: string) => number | undefined>> = {
  int: parseInt64,
  bytes: (v) => (v === "" ? undefined : parseBytes(v)),
  memswap: (v) => (v === "" ? undefined : v === "-1" ? -1 : parseBytes(v)),
  duration: goDuration,
};

/** What a command's run() receives. */
export interface Invocation {
  /** Parsed flags by long name: boolean, string, a number for int/bytes/memswap/duration flags (durations in
   * ns), a record for map flags, an array for `multiple`. */
  flags: Record<string, any>;
  /** Positional arguments (for run/exec: the image or container, then the command). */
  args: string[];
  /** The global options (dockerd's names), merged from before and after the command name. */
  global: GlobalFlags;
}

/** A bunker command: citty metadata plus Docker's usage line and parsing rules. */
export interface Command {
  meta: { name: string; description: string; usage: string; aliases?: string[] };
  flags: Record<string, Flag>;
  /** false for run/exec/create: everything after the first positional belongs to the container. */
  interspersed?: boolean;
  /** Required positional count, as cobra's Args validators ("requires at least 1 argument"). */
  args?: { min?: number; max?: number; exact?: number };
  run(inv: Invocation): Promise<number | void>;
}

/** Global options (dockerd's names) accepted before the command and by every command. */
export const globalFlags: Record<string, Flag> = {
  "data-root": { type: "string", description: "Root directory of persistent state", valueHint: "string" },
  "registry-mirror": { type: "string", multiple: true, description: "Preferred registry mirror", valueHint: "list" },
  "insecure-registry": { type: "string", multiple: true, description: "Enable insecure registry communication", valueHint: "list" },
  "config-file": { type: "string", description: "Daemon configuration file", valueHint: "string" },
  debug: { type: "boolean", alias: "D", description: "Enable debug mode" },
  bip: { type: "string", description: "Network bridge IP (bunker0's address and subnet)", valueHint: "string" },
  "default-address-pool": { type: "string", multiple: true, description: "Default address pools for user-defined networks", valueHint: "pool-options" },
  iptables: { type: "boolean", description: "Enable addition of iptables rules (default true)" },
  "ip-forward": { type: "boolean", description: "Enable IP forwarding (default true)" },
  "ip-masq": { type: "boolean", description: "Enable IP masquerading for bridge networks (default true)" },
  "userland-proxy": { type: "boolean", description: "Relay published ports in user space where iptables is off or unavailable (default true)" },
  host: { type: "string", alias: "H", description: "Daemon socket to connect to (default: in-process unless a daemon answers on /run/bunker.sock)", valueHint: "list" },
};

/**
 * Defines a command (gives the definition its type, as citty's defineCommand does). A command with --format
 * also gets the docker CLI's handling of templates: parsed before the command runs, errors reported in its words.
 */
export function defineCommand(cmd: Command): Command {
  if (!cmd.flags.format) return cmd;
  const run = cmd.run;
  return { ...cmd, run: (inv) => runWithTemplate(cmd.meta.name, inv, run) };
}

/**
 * How the docker CLI reports a --format template that fails (Go's text/template message after a prefix), by
 * command name. A parse error exits 64 where the command returns cli.StatusError{StatusCode: 64}.
 * - inspect (all kinds; cli/command/inspect/inspector.go): "template parsing error: ", 64; an execution error
 *   is retried on the raw JSON with missingkey=error, so a missing field reads `map has no entry for key "X"`.
 * - info (cli/command/system/info.go formatInfo): parse "template parsing error: ", 64; execution error as is.
 * - version (system/version.go newVersionTemplate): as info, the template being named "version".
 * - ps (container/list.go buildContainerListOptions): "failed to parse template: " / "failed to execute template: ".
 * - the rest (formatter.Context: images, history, network ls, volume ls...): "template parsing error: ", exit 1.
 */
const templateErrors: Record<string, { parse: string; exec: string; parseStatus: number; name?: string; mapKeys?: boolean }> = {
  inspect: { parse: "template parsing error: ", exec: "template parsing error: ", parseStatus: 64, mapKeys: true },
  info: { parse: "template parsing error: ", exec: "", parseStatus: 64 },
  version: { parse: "template parsing error: ", exec: "", parseStatus: 64, name: "version" },
  ps: { parse: "failed to parse template: ", exec: "failed to execute template: ", parseStatus: 1 },
};
const formatterErrors = { parse: "template parsing error: ", exec: "template parsing error: ", parseStatus: 1 };

async function runWithTemplate(name: string, inv: Invocation, run: Command["run"]): Promise<number | void> {
  const format = inv.flags.format;
  if (typeof format !== "string" || format === "" || format === "json") return run(inv);
  // Loaded already by the command itself; imported here only when a template is given.
  const [{ compileTemplate }, { TemplateError }] = await Promise.all([import("./_output.ts"), import("../go/template/index.ts")]);
  const report = templateErrors[name] ?? formatterErrors;
  try {
    compileTemplate(format); // parsed once (the tree is cached) before the command does anything, as docker's
    return await run(inv);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    if (e.parse) throw new CliError(report.parse + e.text(report.name), report.parseStatus);
    throw new CliError(report.exec + e.text(report.name, report.mapKeys), 1);
  }
}

const see = (path: string) => `\n\nRun '${path} --help' for more information`;

/**
 * Checks a --platform value as the docker CLI does before anything else (containerd's platforms.Parse):
 * a bad one is its error, after `prefix` (push words it "Invalid platform <value>"), exit 1.
 */
export async function checkPlatformFlag(value: string | undefined, prefix = ""): Promise<void> {
  if (!value) return;
  const { parsePlatform } = await import("../engine/image/types.ts");
  try {
    parsePlatform(value);
  } catch (e) {
    throw new CliError(`${prefix}${(e as Error).message}`, 1);
  }
}

/** Parses argv for one command with pflag's rules. Throws CliError (exit 125) on flag errors. */
export function parseFlags(argv: string[], cmd: Command, path: string): Invocation {
  const specs: Record<string, Flag> = { ...globalFlags, ...cmd.flags };
  const byShort = new Map<string, string>();
  for (const [name, f] of Object.entries(specs)) for (const a of [f.alias ?? []].flat()) byShort.set(a, name);
  const flags: Record<string, any> = {};
  const args: string[] = [];
  const usageErr = (msg: string) => new CliError(`${msg}\n\nUsage:  ${path} ${cmd.meta.usage}${see(path)}`, 125);
  const set = (name: string, raw: string | boolean) => {
    const f = specs[name]!;
    if (f.type === "map") {
      const entry = f.validate ? flagValue(name, raw as string, f.validate, f.alias) : (raw as string);
      const eq = entry.indexOf("=");
      (flags[name] ??= {})[eq < 0 ? entry : entry.slice(0, eq)] = eq < 0 ? "" : entry.slice(eq + 1);
      return;
    }
    const parse = typedParsers[f.type];
    const value = parse && typeof raw === "string" ? flagValue(name, raw, parse, f.alias) : raw;
    if (value === undefined) return;
    if (f.multiple) (flags[name] ??= []).push(value);
    else flags[name] = value;
  };
  const parseBool = (name: string, raw: string) => {
    if (/^(1|t|true|TRUE|True)$/.test(raw)) return true;
    if (/^(0|f|false|FALSE|False)$/.test(raw)) return false;
    throw usageErr(`invalid argument "${raw}" for "--${name}" flag: ${strconvError("ParseBool", raw)}`);
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const f = specs[name];
      if (!f) throw usageErr(`unknown flag: --${name}`);
      if (f.type === "boolean") set(name, eq < 0 ? true : parseBool(name, a.slice(eq + 1)));
      else if (eq >= 0) set(name, a.slice(eq + 1));
      else if (i + 1 < argv.length) set(name, argv[++i]!);
      else throw usageErr(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // A bundle of shorthands: -it, -e=A, -eA, -p80:80.
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const name = byShort.get(c);
        if (!name) throw usageErr(`unknown shorthand flag: '${c}' in ${a}`);
        const f = specs[name]!;
        if (f.type === "boolean") {
          if (a[j + 1] === "=") {
            set(name, parseBool(name, a.slice(j + 2)));
            break;
          }
          set(name, true);
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest) set(name, rest.startsWith("=") ? rest.slice(1) : rest);
        else if (i + 1 < argv.length) set(name, argv[++i]!);
        else throw usageErr(`flag needs an argument: '${c}' in -${c}`);
        break;
      }
      continue;
    }
    args.push(a);
    if (cmd.interspersed === false) {
      i++;
      break;
    }
  }
  args.push(...argv.slice(i));
  for (const [name, f] of Object.entries(specs)) if (flags[name] === undefined && f.default !== undefined) set(name, f.default);

  const { min, max, exact } = cmd.args ?? {};
  const prog = path.split(" ")[0];
  const countErr = (what: string) => new CliError(`${prog}: '${path}' ${what}\n\nUsage:  ${path} ${cmd.meta.usage}\n\nSee '${path} --help' for more information`, 1);
  const n = (k: number, word = "argument") => `${k} ${word}${k === 1 ? "" : "s"}`;
  if (exact !== undefined && args.length !== exact) throw countErr(`requires ${n(exact)}`);
  if (min !== undefined && args.length < min) throw countErr(`requires at least ${n(min)}`);
  if (max !== undefined && args.length > max) throw countErr(max === 0 ? "accepts no arguments" : `accepts at most ${n(max)}`);

  const global: GlobalFlags = {};
  for (const k of Object.keys(globalFlags)) if (flags[k] !== undefined) (global as any)[k] = flags[k];
  return { flags, args, global };
}

/** Renders `--help` in the docker CLI's layout. */
export function renderHelp(cmd: Command, path: string): string {
  const rows = Object.entries(cmd.flags)
    .filter(([, f]) => !f.hidden)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => {
      const short = [f.alias ?? []].flat()[0];
      const left = `${short ? `-${short}, ` : "    "}--${name}${f.type !== "boolean" ? ` ${f.valueHint ?? (f.multiple ? "list" : "string")}` : ""}`;
      const def = f.default !== undefined && f.default !== false && f.default !== "" ? ` (default ${JSON.stringify(f.default)})` : "";
      return [left, `${f.description ?? ""}${def}`] as const;
    });
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 3;
  const lines = [`Usage:  ${path} ${cmd.meta.usage}`, "", cmd.meta.description];
  if (cmd.meta.aliases?.length) lines.push("", "Aliases:", `  ${cmd.meta.aliases.join(", ")}`);
  if (rows.length) lines.push("", "Options:", ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`));
  return lines.join("\n");
}
