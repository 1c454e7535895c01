/**
 * A build stage's state, as BuildKit's Dockerfile dispatcher keeps it: the image config its instructions
 * change, its history (with BuildKit's `created_by` texts and `empty_layer` marks), and the ARG scope that
 * variable expansion and RUN's environment see. Instructions that only change the config are applied here;
 * those that need the file system (RUN, COPY, ADD, WORKDIR's directory) come back as steps for the builder
 * to run, which then records their layer with `addLayer`. Pure: no file system, no process.
 *
 * Checked field by field against what dockerd's BuildKit made of a Dockerfile using every instruction
 * (tests/fixtures/buildkit-reference).
 */
import { posix } from "node:path";
import { goQuote, goQuoteRune } from "../../go/strconv.ts";
import { goDurationString } from "../../go/time.ts";
import type { ContainerConfigSpec, HistoryEntry, ImageConfig } from "../image/types.ts";
import { DockerfileError, type ArgDeclaration, type CopyInstruction, type Instruction, type RunInstruction } from "./dockerfile/instructions.ts";
import { ShellLex } from "./dockerfile/shell.ts";

/** The comment BuildKit puts on every history entry it writes. */
export const BUILDKIT_COMMENT = "buildkit.dockerfile.v0";
/** The shell of shell-form RUN, CMD and ENTRYPOINT until SHELL changes it. */
export const DEFAULT_SHELL = ["/bin/sh", "-c"];
/** What a `FROM scratch` stage starts with (BuildKit's empty image). */
export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Build args any Dockerfile may use without declaring them; never written to history (BuildKit's). */
export const PROXY_ARGS = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);

/** What the builder must do on the file system for an instruction; the config part is already applied. */
export type Step =
  | { kind: "run"; ins: RunInstruction; argv: string[]; env: string[]; user: string; workdir: string; network?: string; mounts: string[]; createdBy: string }
  | { kind: "copy"; ins: CopyInstruction; sources: string[]; dest: string; from?: string; chown?: string; chmod?: string; exclude: string[]; createdBy: string; contents?: { name: string; data: string }[]; checksum?: string }
  | { kind: "workdir"; path: string; user: string; createdBy: string };

/** Go's %q of a []string: ["a" "b"]. */
const quoteList = (xs: readonly string[]) => `[${xs.map(goQuote).join(" ")}]`;
/** Go's %v of a []string: [a b]. */
const plainList = (xs: readonly string[]) => `[${xs.join(" ")}]`;

/** Ports of an EXPOSE word ("80", "443/udp", "8000-8001/tcp") as "port/proto" keys (moby's nat.ParsePortSpecs). */
export function exposedPorts(spec: string): string[] {
  const [range, proto = "tcp", ...extra] = spec.split("/");
  const m = /^(\d+)(?:-(\d+))?$/.exec(range ?? "");
  if (!m || extra.length || !/^(tcp|udp|sctp)$/i.test(proto)) throw new Error(`Invalid containerPort: ${spec}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535) throw new Error(`Invalid containerPort: ${spec}`);
  if (end < start) throw new Error(`Invalid range specified for container port: ${spec}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

/** The state of one stage while its instructions are dispatched. */
export class StageState {
  /** The image config being built (a copy of the base's). */
  readonly config: ContainerConfigSpec;
  /** The base's history, then one entry per instruction that writes one. */
  readonly history: HistoryEntry[];
  /** Diff IDs: the base's, then one per layer a step added. */
  readonly diffIds: string[];
  /** MAINTAINER's value, the image's `author`. */
  author?: string;
  /** The base's ONBUILD triggers, run before the stage's own instructions (then cleared, as BuildKit). */
  readonly triggers: string[];
  /** Stage-scope ARGs in declaration order, with their values (undefined: declared without a value). */
  private readonly args = new Map<string, string | undefined>();
  private cmdSet = false;
  private readonly lex: ShellLex;

  /**
   * @param base the base image's config, or null for `scratch`
   * @param buildArgs `--build-arg` values
   * @param globals the meta ARGs (before the first FROM) with their resolved values
   */
  constructor(
    base: ImageConfig | null,
    private readonly buildArgs: ReadonlyMap<string, string>,
    private readonly globals: ReadonlyMap<string, string | undefined>,
    escapeToken = "\\",
    private readonly now: () => string = () => new Date().toISOString(),
  ) {
    this.lex = new ShellLex(escapeToken);
    this.config = base ? structuredClone(base.config ?? {}) : { Env: [DEFAULT_PATH], WorkingDir: "/" };
    this.history = base ? structuredClone(base.history ?? []) : [];
    this.diffIds = base ? [...base.rootfs.diff_ids] : [];
    this.author = undefined;
    this.triggers = [...(this.config.OnBuild ?? [])];
    if (this.config.OnBuild?.length) this.config.OnBuild = [];
  }

  /** Variables an instruction's words see: the stage's ARGs with values, then ENV (which wins). */
  expansionEnv(): Map<string, string> {
    const env = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined) env.set(k, v);
    for (const e of this.config.Env ?? []) {
      const eq = e.indexOf("=");
      env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
    }
    return env;
  }

  private word(w: string, line: number, env = this.expansionEnv()): string {
    try {
      return this.lex.processWord(w, env);
    } catch (e) {
      throw new DockerfileError((e as Error).message, line);
    }
  }

  /** A heredoc's content expanded as BuildKit's ExpandRaw does: variables only, quotes left as written. */
  private rawWord(w: string, line: number, env: ReadonlyMap<string, string>): string {
    try {
      return new ShellLex("\\", { rawQuotes: true }).processWord(w, env);
    } catch (e) {
      throw new DockerfileError((e as Error).message, line);
    }
  }

  private commit(createdBy: string, emptyLayer: boolean): void {
    this.history.push({ created: this.now(), created_by: createdBy, comment: BUILDKIT_COMMENT, ...(emptyLayer ? { empty_layer: true } : {}) });
  }

  /** Records the layer a step produced (the history entry was written when the step was made). */
  addLayer(diffId: string): void {
    this.diffIds.push(diffId);
  }

  /** The argv of a shell-form or JSON-form command. */
  private argv(cmd: string[], json: boolean): string[] {
    return json ? cmd : [...(this.config.Shell?.length ? this.config.Shell : DEFAULT_SHELL), cmd[0] ?? ""];
  }

  /** ARGs in scope with values, sorted, without proxy args: RUN's "|N K=V" history prefix and environment. */
  private runArgs(): [string, string][] {
    return [...this.args].filter((a): a is [string, string] => a[1] !== undefined && !PROXY_ARGS.has(a[0])).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Applies one instruction: config changes happen here; a Step comes back for file-system work. */
  dispatch(ins: Instruction): Step | null {
    const line = ins.line;
    switch (ins.kind) {
      case "arg":
        for (const a of ins.args) this.declare(a, line);
        this.commit(`ARG ${ins.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${this.word(a.value, line)}`)).join(" ")}`, true);
        return null;
      case "env": {
        const env = this.expansionEnv();
        const pairs = ins.pairs.map(([k, v]) => [this.word(k, line, env), this.word(v, line, env)] as const);
        for (const [k, v] of pairs) this.setEnv(k, v);
        this.commit(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`, true);
        return null;
      }
      case "label": {
        const env = this.expansionEnv();
        const pairs = ins.pairs.map(([k, v]) => [this.word(k, line, env), this.word(v, line, env)] as const);
        this.config.Labels = { ...(this.config.Labels ?? {}) };
        for (const [k, v] of pairs) this.config.Labels[k] = v;
        this.commit(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`, true);
        return null;
      }
      case "user":
        this.config.User = this.word(ins.user, line);
        this.commit(`USER ${this.config.User}`, true);
        return null;
      case "expose": {
        const env = this.expansionEnv();
        const ports: Record<string, object> = {};
        for (const p of ins.ports) {
          try {
            for (const k of exposedPorts(this.word(p, line, env))) ports[k] = {};
          } catch (e) {
            throw new DockerfileError((e as Error).message, line);
          }
        }
        this.config.ExposedPorts = { ...(this.config.ExposedPorts ?? {}), ...ports };
        this.commit(`EXPOSE map[${Object.keys(ports).sort().map((k) => `${k}:{}`).join(" ")}]`, true);
        return null;
      }
      case "volume": {
        const env = this.expansionEnv();
        const paths = ins.paths.map((p) => this.word(p, line, env));
        if (paths.some((p) => p === "")) throw new DockerfileError("VOLUME specified can not be an empty string", line);
        this.config.Volumes = { ...(this.config.Volumes ?? {}) };
        for (const p of paths) this.config.Volumes[p] = {};
        this.commit(`VOLUME ${plainList(paths)}`, true);
        return null;
      }
      case "stopsignal":
        this.config.StopSignal = this.word(ins.signal, line);
        this.commit(`STOPSIGNAL ${this.config.StopSignal}`, true);
        return null;
      case "healthcheck": {
        const hc = ins.test[0] === "NONE" ? { Test: ["NONE"] } : { Test: ins.test, ...(ins.interval ? { Interval: ins.interval } : {}), ...(ins.timeout ? { Timeout: ins.timeout } : {}), ...(ins.startPeriod ? { StartPeriod: ins.startPeriod } : {}), ...(ins.startInterval ? { StartInterval: ins.startInterval } : {}), ...(ins.retries ? { Retries: ins.retries } : {}) };
        this.config.Healthcheck = hc;
        // Go's %q of moby's *HealthConfig, as BuildKit writes it: durations quoted, Retries as a quoted rune.
        const d = (ns?: number) => goQuote(goDurationString(ns ?? 0));
        const fields = [quoteList(hc.Test), d(ins.interval), d(ins.timeout), d(ins.startPeriod), ...(ins.startInterval ? [d(ins.startInterval)] : []), goQuoteRune(ins.retries ?? 0)];
        this.commit(`HEALTHCHECK &{${fields.join(" ")}}`, true);
        return null;
      }
      case "shell":
        this.config.Shell = [...ins.shell];
        this.commit(`SHELL ${plainList(ins.shell)}`, true);
        return null;
      case "cmd": {
        const argv = this.argv(ins.cmd, ins.json);
        this.config.Cmd = argv;
        if (!ins.json) this.config.ArgsEscaped = true;
        this.cmdSet = true;
        this.commit(`CMD ${quoteList(argv)}`, true);
        return null;
      }
      case "entrypoint": {
        const argv = this.argv(ins.cmd, ins.json);
        this.config.Entrypoint = argv;
        if (!ins.json) this.config.ArgsEscaped = true;
        // An ENTRYPOINT resets the base's CMD, unless this stage set one itself (Docker's documented rule).
        if (!this.cmdSet) this.config.Cmd = null;
        this.commit(`ENTRYPOINT ${quoteList(argv)}`, true);
        return null;
      }
      case "onbuild":
        this.config.OnBuild = [...(this.config.OnBuild ?? []), ins.trigger];
        return null; // BuildKit writes no history entry for ONBUILD
      case "maintainer":
        this.author = ins.maintainer;
        this.commit(`MAINTAINER ${ins.maintainer}`, true);
        return null;
      case "workdir": {
        const path = this.word(ins.path, line);
        this.config.WorkingDir = posix.resolve(this.config.WorkingDir || "/", path);
        const createdBy = `WORKDIR ${this.config.WorkingDir}`;
        this.commit(createdBy, false);
        return { kind: "workdir", path: this.config.WorkingDir, user: this.config.User ?? "", createdBy };
      }
      case "run": {
        const argv = this.argv(ins.cmd, ins.json);
        const args = this.runArgs();
        const prefix = args.length ? `|${args.length} ${args.map(([k, v]) => `${k}=${v}`).join(" ")} ` : "";
        const createdBy = `RUN ${prefix}${argv.join(" ")} # buildkit`;
        const env = [...(this.config.Env ?? [])];
        const envKeys = new Set(env.map((e) => e.split("=")[0]));
        for (const [k, v] of args) if (!envKeys.has(k)) env.push(`${k}=${v}`);
        for (const k of PROXY_ARGS) if (this.buildArgs.has(k) && !envKeys.has(k)) env.push(`${k}=${this.buildArgs.get(k)}`);
        const scope = this.expansionEnv();
        this.commit(createdBy, false);
        return {
          kind: "run",
          ins,
          argv,
          env,
          user: this.config.User ?? "",
          workdir: this.config.WorkingDir || "/",
          network: ins.network === undefined ? undefined : this.word(ins.network, line, scope),
          mounts: ins.mounts.map((m) => this.word(m, line, scope)),
          createdBy,
        };
      }
      case "copy":
      case "add": {
        const env = this.expansionEnv();
        const sources = ins.sources.map((s) => this.word(s, line, env));
        const rawDest = this.word(ins.dest, line, env);
        // A relative destination is under WORKDIR; a trailing "/" (a directory) is kept.
        const dest = rawDest.startsWith("/") ? rawDest : `${posix.resolve(this.config.WorkingDir || "/", rawDest)}${rawDest.endsWith("/") && rawDest !== "/" ? "/" : ""}`;
        const shown = [...sources, ...ins.heredocs.map((h) => `<<${h.name}`)];
        const createdBy = `${ins.kind.toUpperCase()} ${[...shown, rawDest].join(" ")} # buildkit`;
        this.commit(createdBy, false);
        return {
          kind: "copy",
          ins,
          sources,
          dest,
          from: ins.from === undefined ? undefined : this.word(ins.from, line, env),
          chown: ins.chown === undefined ? undefined : this.word(ins.chown, line, env),
          chmod: ins.chmod === undefined ? undefined : this.word(ins.chmod, line, env),
          exclude: ins.exclude.map((x) => this.word(x, line, env)),
          createdBy,
          // Heredoc files: `<<-` drops leading tabs; unquoted delimiters expand variables, quotes kept (BuildKit's ExpandRaw).
          contents: ins.heredocs.map((h) => {
            const data = h.chomp ? h.content.replace(/^\t+/gm, "") : h.content;
            return { name: h.name, data: h.expand ? this.rawWord(data, line, env) : data };
          }),
          checksum: ins.checksum === undefined ? undefined : this.word(ins.checksum, line, env),
        };
      }
    }
  }

  /** `ARG k[=v]` in a stage: the build arg's value wins, then the default, then a redeclared global's value. */
  private declare(a: ArgDeclaration, line: number): void {
    const value = this.buildArgs.get(a.key) ?? (a.value !== undefined ? this.word(a.value, line) : this.globals.get(a.key));
    this.args.set(a.key, value);
  }

  private setEnv(key: string, value: string): void {
    const env = [...(this.config.Env ?? [])];
    const i = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
    if (i >= 0) env[i] = `${key}=${value}`;
    else env.push(`${key}=${value}`);
    this.config.Env = env;
  }
}

/** The meta ARGs' values: a build arg wins over the default; defaults may use earlier meta ARGs. */
export function resolveMetaArgs(metaArgs: ArgDeclaration[], buildArgs: ReadonlyMap<string, string>, predefined: ReadonlyMap<string, string>, escapeToken = "\\"): Map<string, string | undefined> {
  const lex = new ShellLex(escapeToken);
  const out = new Map<string, string | undefined>(predefined);
  for (const a of metaArgs) {
    const scope = new Map([...out].filter((e): e is [string, string] => e[1] !== undefined));
    out.set(a.key, buildArgs.get(a.key) ?? (a.value !== undefined ? lex.processWord(a.value, scope) : undefined));
  }
  return out;
}
