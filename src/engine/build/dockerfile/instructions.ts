/**
 * Typed instructions and build stages from the syntax tree, checked as BuildKit's instructions package checks
 * them (flags per instruction, argument counts, JSON-only SHELL, ONBUILD's forbidden triggers, stage names)
 * with its error texts. Variables are still unexpanded: the builder expands each instruction against its
 * stage's ARG and ENV state when it runs (shell.ts).
 */
import { goDuration } from "../../../go/time.ts";
import { DockerfileParseError, parseDockerfile, type Dockerfile, type Heredoc, type Node } from "./parser.ts";

/** Where an instruction came from. */
interface Source {
  /** 1-based first line. */
  line: number;
  /** The instruction as written, continuations joined. */
  original: string;
}

/** A `--mount` or other RUN option, as written (expanded and parsed when the step runs). */
export type RunInstruction = Source & { kind: "run"; cmd: string[]; json: boolean; heredocs: Heredoc[]; mounts: string[]; network?: string; security?: string };
/** CMD or ENTRYPOINT. */
export type CommandInstruction = Source & { kind: "cmd" | "entrypoint"; cmd: string[]; json: boolean };
/** COPY or ADD. */
export type CopyInstruction = Source & {
  kind: "copy" | "add";
  sources: string[];
  dest: string;
  heredocs: Heredoc[];
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD only. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
};
/** HEALTHCHECK (durations in ns; `test` is ["NONE"] for HEALTHCHECK NONE). */
export type HealthcheckInstruction = Source & { kind: "healthcheck"; test: string[]; interval?: number; timeout?: number; startPeriod?: number; startInterval?: number; retries?: number };

/** One Dockerfile instruction after FROM. */
export type Instruction =
  | RunInstruction
  | CommandInstruction
  | CopyInstruction
  | HealthcheckInstruction
  | (Source & { kind: "shell"; shell: string[] })
  | (Source & { kind: "env" | "label"; pairs: [string, string][] })
  | (Source & { kind: "arg"; args: ArgDeclaration[] })
  | (Source & { kind: "workdir"; path: string })
  | (Source & { kind: "user"; user: string })
  | (Source & { kind: "volume"; paths: string[] })
  | (Source & { kind: "expose"; ports: string[] })
  | (Source & { kind: "stopsignal"; signal: string })
  | (Source & { kind: "onbuild"; trigger: string })
  | (Source & { kind: "maintainer"; maintainer: string });

/** `ARG name[=default]`. */
export interface ArgDeclaration {
  key: string;
  /** The default as written (unexpanded), or undefined when none was given. */
  value?: string;
}

/** A FROM and the instructions up to the next FROM. */
export interface Stage {
  /** Position among the stages (what `--from=0` names). */
  index: number;
  /** `AS name`, lower case; "" when none. */
  name: string;
  /** The base as written (a stage name, an image reference, `scratch`), unexpanded. */
  base: string;
  platform?: string;
  line: number;
  original: string;
  instructions: Instruction[];
}

/** A Dockerfile ready to build: ARGs before the first FROM, then its stages. */
export interface BuildPlan {
  metaArgs: ArgDeclaration[];
  stages: Stage[];
  escapeToken: string;
  /** Warnings to print (BuildKit's parser warnings and directives it ignores here). */
  warnings: string[];
  /** The ARG instructions before the first FROM as written (one per instruction: the legacy builder's steps). */
  metaArgLines: string[];
}

/** A Dockerfile BuildKit would refuse: its message and line. */
export class DockerfileError extends DockerfileParseError {}

const INSTRUCTIONS = ["add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir"];
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Flags an instruction accepts: their kind. */
type FlagSpecs = Record<string, "string" | "bool" | "strings">;

/** The instruction's `--flags`, checked against what it accepts (BuildKit's BFlags). */
function flagsOf(node: Node, specs: FlagSpecs): Record<string, string | boolean | string[]> {
  const out: Record<string, string | boolean | string[]> = {};
  for (const f of node.flags) {
    if (!f.startsWith("--")) throw new Error(`arg should start with -- : ${f}`);
    const eq = f.indexOf("=");
    const name = f.slice(2, eq < 0 ? undefined : eq);
    const kind = specs[name];
    if (!kind) throw new Error(`unknown flag: ${name}`);
    if (kind === "strings") {
      if (eq < 0) throw new Error(`missing a value on flag: ${name}`);
      ((out[name] ??= []) as string[]).push(f.slice(eq + 1));
      continue;
    }
    if (name in out) throw new Error(`duplicate flag specified: ${name}`);
    if (kind === "bool") {
      const v = eq < 0 ? "true" : f.slice(eq + 1).toLowerCase();
      if (v !== "true" && v !== "false") throw new Error(`expecting boolean value for flag ${name}, not: ${f.slice(eq + 1)}`);
      out[name] = v === "true";
    } else {
      if (eq < 0) throw new Error(`missing a value on flag: ${name}`);
      out[name] = f.slice(eq + 1);
    }
  }
  return out;
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** One instruction node as a typed instruction (not FROM). */
function instruction(node: Node): Instruction {
  const src: Source = { line: node.startLine, original: node.original };
  const upper = node.cmd.toUpperCase();
  const atLeast = (n: number, what = "argument") => {
    if (node.args.length < n) throw new Error(`${upper} requires at least ${n === 1 ? "one" : "two"} ${what}${n === 1 ? "" : "s"}`);
  };
  const exactlyOne = () => {
    if (node.args.length !== 1) throw new Error(`${upper} requires exactly one argument`);
  };
  const noFlags = () => flagsOf(node, {});
  switch (node.cmd) {
    case "run": {
      const f = flagsOf(node, { mount: "strings", network: "string", security: "string" });
      if (!node.args.length && !node.heredocs.length) throw new Error("RUN requires at least one argument");
      return { ...src, kind: "run", cmd: node.args, json: node.json, heredocs: node.heredocs, mounts: (f.mount as string[]) ?? [], network: str(f.network), security: str(f.security) };
    }
    case "cmd":
    case "entrypoint":
      noFlags();
      return { ...src, kind: node.cmd, cmd: node.args, json: node.json };
    case "shell":
      noFlags();
      if (!node.json) throw new Error("SHELL requires the arguments to be in JSON form");
      if (!node.args.length) throw new Error("SHELL requires at least one argument");
      return { ...src, kind: "shell", shell: node.args };
    case "env":
    case "label": {
      noFlags();
      if (!node.args.length) throw new Error(`${upper} requires at least one argument`);
      const pairs: [string, string][] = [];
      for (let i = 0; i < node.args.length; i += 2) pairs.push([node.args[i]!, node.args[i + 1]!]);
      return { ...src, kind: node.cmd, pairs };
    }
    case "arg": {
      noFlags();
      if (!node.args.length) throw new Error("ARG requires at least one argument");
      return {
        ...src,
        kind: "arg",
        args: node.args.map((w) => {
          const eq = w.indexOf("=");
          return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
        }),
      };
    }
    case "copy":
    case "add": {
      const f = flagsOf(node, node.cmd === "copy" ? { from: "string", chown: "string", chmod: "string", link: "bool", parents: "bool", exclude: "strings" } : { chown: "string", chmod: "string", link: "bool", exclude: "strings", checksum: "string", "keep-git-dir": "bool", unpack: "bool" });
      const n = node.args.length + node.heredocs.length;
      if (node.args.length < 2 && !(node.heredocs.length && node.args.length >= 1)) {
        if (n === 0) throw new Error(`${upper} requires at least two arguments`);
        throw new Error(`${upper} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      }
      const heredocNames = new Set(node.heredocs.map((h) => h.name));
      const sources = node.args.slice(0, -1).filter((s) => !isHeredocWord(s, heredocNames));
      return {
        ...src,
        kind: node.cmd,
        sources,
        dest: node.args.at(-1)!,
        heredocs: node.heredocs,
        from: str(f.from),
        chown: str(f.chown),
        chmod: str(f.chmod),
        link: f.link === true,
        parents: f.parents === true,
        exclude: (f.exclude as string[]) ?? [],
        ...(node.cmd === "add" ? { checksum: str(f.checksum), keepGitDir: f["keep-git-dir"] === true, unpack: typeof f.unpack === "boolean" ? f.unpack : undefined } : {}),
      };
    }
    case "workdir":
      noFlags();
      exactlyOne();
      return { ...src, kind: "workdir", path: node.args[0]! };
    case "user":
      noFlags();
      exactlyOne();
      return { ...src, kind: "user", user: node.args[0]! };
    case "volume":
      noFlags();
      atLeast(1);
      if (node.args.some((p) => p.trim() === "")) throw new Error("VOLUME specified can not be an empty string");
      return { ...src, kind: "volume", paths: node.args };
    case "expose":
      noFlags();
      atLeast(1);
      return { ...src, kind: "expose", ports: node.args };
    case "stopsignal":
      noFlags();
      exactlyOne();
      return { ...src, kind: "stopsignal", signal: node.args[0]! };
    case "maintainer":
      noFlags();
      exactlyOne();
      return { ...src, kind: "maintainer", maintainer: node.args[0]! };
    case "onbuild": {
      noFlags();
      const t = node.trigger;
      if (!t) throw new Error("ONBUILD requires at least one argument");
      if (t.cmd === "onbuild") throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (t.cmd === "from" || t.cmd === "maintainer") throw new Error(`${t.cmd.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      instruction(t); // the trigger must itself be a valid instruction
      return { ...src, kind: "onbuild", trigger: node.original.trim().replace(/^onbuild\s+/i, "") };
    }
    case "healthcheck":
      return healthcheck(node, src);
    default:
      throw new Error(`unknown instruction: ${upper}${suggestion(node.cmd)}`);
  }
}

/** A COPY/ADD argument that names one of the instruction's heredocs (`<<EOF`). */
function isHeredocWord(word: string, names: Set<string>): boolean {
  const m = /^\d*<<-?(.+)$/.exec(word);
  return !!m && names.has(m[1]!.replace(/^["']|["']$/g, ""));
}

/** BuildKit's " (did you mean x?)" for a misspelled instruction (edit distance at most 2). */
function suggestion(cmd: string): string {
  let best = "";
  let bestD = 3;
  for (const name of INSTRUCTIONS) {
    const d = editDistance(cmd, name);
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best ? ` (did you mean ${best}?)` : "";
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function healthcheck(node: Node, src: Source): HealthcheckInstruction {
  if (!node.args.length) throw new Error("HEALTHCHECK requires an argument");
  const type = node.args[0]!.toUpperCase();
  if (type === "NONE") {
    if (node.args.length > 1) throw new Error("HEALTHCHECK NONE takes no arguments");
    flagsOf(node, {});
    return { ...src, kind: "healthcheck", test: ["NONE"] };
  }
  if (type !== "CMD") throw new Error(`Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  const f = flagsOf(node, { interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string" });
  const rest = node.args.slice(1);
  if (!rest.length) throw new Error("Missing command after HEALTHCHECK CMD");
  const duration = (name: string): number | undefined => {
    const v = str(f[name]);
    if (v === undefined || v === "") return undefined;
    const d = goDuration(v);
    if (d < 0) throw new Error(`--${name} cannot be negative`);
    if (d !== 0 && d < 1e6) throw new Error(`Interval "${name}" cannot be less than 1ms`);
    return d;
  };
  let retries: number | undefined;
  if (str(f.retries) !== undefined) {
    if (!/^-?\d+$/.test(str(f.retries)!)) throw new Error(`strconv.ParseInt: parsing "${f.retries}": invalid syntax`);
    retries = Number(f.retries);
    if (retries < 0) throw new Error("--retries cannot be negative");
  }
  return {
    ...src,
    kind: "healthcheck",
    test: node.json ? ["CMD", ...rest] : ["CMD-SHELL", rest[0]!],
    interval: duration("interval"),
    timeout: duration("timeout"),
    startPeriod: duration("start-period"),
    startInterval: duration("start-interval"),
    retries,
  };
}

/** FROM [--platform=p] image [AS name]. */
function stageOf(node: Node, index: number): Stage {
  const f = flagsOf(node, { platform: "string" });
  const a = node.args;
  if (a.length !== 1 && !(a.length === 3 && a[1]!.toLowerCase() === "as")) throw new Error("FROM requires either one or three arguments");
  const name = a.length === 3 ? a[2]!.toLowerCase() : "";
  if (name && !STAGE_NAME.test(name)) throw new Error(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
  return { index, name, base: a[0]!, platform: str(f.platform), line: node.startLine, original: node.original, instructions: [] };
}

/** A Dockerfile's text as a build plan. Throws DockerfileError (BuildKit's message and line). */
export function planDockerfile(text: string): BuildPlan {
  const df: Dockerfile = parseDockerfile(text);
  const warnings = [...df.warnings];
  const syntax = df.directives.syntax;
  if (syntax !== undefined && !/^(docker\.io\/)?docker\/dockerfile(-upstream)?:1([.-].*)?$/.test(syntax)) warnings.push(`[WARNING]: the syntax directive "${syntax}" is ignored: bunker's built-in Dockerfile frontend (docker/dockerfile:1) is used`);
  if (df.directives.check !== undefined) warnings.push(`[WARNING]: the check directive "${df.directives.check}" is ignored: bunker does not run BuildKit's build checks`);
  const metaArgs: ArgDeclaration[] = [];
  const metaArgLines: string[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const node of df.nodes) {
    try {
      if (node.cmd === "from") {
        const stage = stageOf(node, stages.length);
        if (stage.name) {
          if (names.has(stage.name)) throw new Error(`duplicate stage name "${stage.name}"`);
          names.add(stage.name);
        }
        stages.push(stage);
        continue;
      }
      const ins = instruction(node);
      if (!stages.length) {
        if (ins.kind !== "arg") throw new Error("no build stage in current context");
        metaArgs.push(...ins.args);
        metaArgLines.push(ins.original);
        continue;
      }
      stages.at(-1)!.instructions.push(ins);
    } catch (e) {
      if (e instanceof DockerfileParseError) throw e;
      throw new DockerfileError((e as Error).message, node.startLine, node.endLine);
    }
  }
  if (!stages.length) throw new DockerfileError("no build stage in current context", df.nodes.at(-1)!.endLine);
  return { metaArgs, stages, escapeToken: df.escapeToken, warnings, metaArgLines };
}

/** The instructions `commit --change` and `import --change` accept (moby's validCommitCommands). */
export const CHANGE_INSTRUCTIONS = new Set(["cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume", "workdir"]);

/**
 * `--change` lines (each a Dockerfile instruction, no FROM) as typed instructions; one outside
 * CHANGE_INSTRUCTIONS is refused with moby's "<name> is not a valid change command".
 */
export function parseChanges(lines: string[]): Instruction[] {
  const text = lines.join("\n");
  if (!text.trim()) return [];
  const df = parseDockerfile(text);
  return df.nodes.map((node) => {
    if (!CHANGE_INSTRUCTIONS.has(node.cmd)) throw new DockerfileError(`${node.cmd} is not a valid change command`, node.startLine);
    try {
      return instruction(node);
    } catch (e) {
      throw new DockerfileError((e as Error).message, node.startLine);
    }
  });
}
