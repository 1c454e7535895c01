/**
 * `exec` into a running container: policy here (which env, user, cwd and capabilities the process gets,
 * from the container's own plan), mechanism in the shim (`bunker-shim exec <plan>`, see shim/exec.c exec_main
 * and README.md "exec"). The shim records each exec in <containerDir>/execs/<execId>.json (write+rename),
 * which is what `readExecStatus` (and the API's GET /exec/<id>/json) reads.
 *
 * Attached execs speak the attach protocol's frames over the shim's stdin/stdout pipes (no socket: a path
 * under execs/ would overflow sun_path, and a pipe is reachable by nobody else), so the caller gets the
 * same `Attachment` as `attachContainer` gives.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { conflict, EngineError, invalidParameter, noSuchContainer } from "../errors.ts";
import type { AttachHandlers, Attachment } from "./attach.ts";
import { shimPath } from "./shim-binary.ts";
import { capabilityMask, decodePlan } from "./spec.ts";
import { processStartTime } from "./status.ts";
import { frame, frameReader, resizeFrame } from "./frames.ts";

/** What to run; unset fields default to the container's own (WorkingDir, User, Env), as dockerd does. */
export interface ExecOptions extends AttachHandlers {
  /** Names <containerDir>/execs/<execId>.json; letters, digits, `_`, `.`, `-` (Docker uses 64 hex digits). */
  execId: string;
  args: string[];
  /** KEY=value overrides the container's env; a bare KEY removes it (moby's ReplaceOrAppendEnvValues). */
  env?: string[];
  cwd?: string;
  /** user[:group], names or ids, resolved in the container's /etc/passwd and /etc/group. */
  user?: string;
  tty?: boolean;
  /** -i: relay stdin (attach.write / closeStdin). */
  stdin?: boolean;
  /** All capabilities (what the host has), whatever the container has. */
  privileged?: boolean;
  /** -d: start it and return; nothing is relayed, the exit code is only recorded. */
  detach?: boolean;
  /** The data root the shim is installed under (<dataRoot>/bin); default: two levels above containerDir. */
  dataRoot?: string;
}

/** An exec that could not start; exitCode as dockerd records it (126 setup failed / not executable, 127 not found). */
export class ExecStartError extends EngineError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super("system", message, { code: "startFailed" });
    this.name = "ExecStartError";
  }
}

/** One exec's state. `running` is trusted only while the recorded process (or its supervisor) lives. */
export interface ExecStatus {
  running: boolean;
  pid?: number;
  exitCode?: number;
  /** Why it did not start, or "supervisor died" when nothing was left to record the exit. */
  error?: string;
}

const ENV_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The exec's environment: the container's (as its plan recorded it, with PATH/HOSTNAME) with TERM following
 * the exec's tty rather than the container's, then the overrides (moby's CreateDaemonEnvironment +
 * ReplaceOrAppendEnvValues). HOME is added by the shim from passwd when absent.
 */
export function execEnv(containerEnv: readonly string[], containerTty: boolean, overrides: readonly string[], tty: boolean): string[] {
  const key = (e: string) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e);
  let env = [...containerEnv];
  // containerEnv() appends TERM=xterm last for a tty container; an exec gets it only with its own -t
  if (containerTty && env.at(-1) === "TERM=xterm") env.pop();
  if (!env.some((e) => key(e) === "PATH")) env.unshift(ENV_DEFAULT_PATH);
  if (tty && !env.some((e) => key(e) === "TERM")) env.push("TERM=xterm");
  for (const o of overrides) {
    const k = key(o);
    if (!k) throw invalidParameter(`invalid environment variable: ${o}`);
    const i = env.findIndex((e) => key(e) === k);
    if (!o.includes("=")) env = env.filter((e) => key(e) !== k);
    else if (i >= 0) env[i] = o;
    else env.push(o);
  }
  return env;
}

/** The container's side of an exec: its plan's id/env/cwd/user/caps/nnp/seccomp/rlimits/cgroups/groups, and its init's pid. */
function containerFacts(containerDir: string) {
  const recs = decodePlan(readFileSync(join(containerDir, "plan")));
  const one = (k: string) => recs.find((r) => r[0] === k)?.[1];
  const all = (k: string) => recs.filter((r) => r[0] === k).map((r) => r[1]!);
  return {
    id: one("id") ?? basename(containerDir),
    env: all("env"),
    cwd: one("cwd") ?? "/",
    user: one("user") ?? "",
    tty: one("tty") === "1",
    caps: one("caps") ?? "0",
    nnp: one("nnp") ?? "0",
    seccomp: one("seccomp"),
    rlimits: recs.filter((r) => r[0] === "rlimit").map((r) => r.slice(1) as string[]),
    cgroups: all("cgroup"),
    groups: all("group"),
    oomScore: one("oomscore"),
  };
}

/** The running container's init (pid + /proc start time), or a 409 `container <id> is not running`. */
function runningInit(containerDir: string, id: string): { pid: number; pidStart: number } {
  let raw: { running?: boolean; pid?: number; pidStart?: number } = {};
  try {
    raw = JSON.parse(readFileSync(join(containerDir, "status.json"), "utf8"));
  } catch {}
  if (!raw.running || !raw.pid || !raw.pidStart || processStartTime(raw.pid) !== raw.pidStart) throw conflict(`container ${id} is not running`);
  return { pid: raw.pid, pidStart: raw.pidStart };
}

function encode(values: (string | number)[]): Uint8Array {
  for (const v of values) if (String(v).includes("\0")) throw invalidParameter(`value contains a NUL byte: ${JSON.stringify(v)}`);
  return new TextEncoder().encode(`${values.join("\0")}\0`);
}

/** The largest stdin frame the shim accepts (shim/exec.c exec_relay's buffer). */
const MAX_FRAME = 65536;


/** dockerd's wording for a process that could not be started by the runtime. */
const ociExecError = (reason: string) => `OCI runtime exec failed: exec failed: unable to start container process: ${reason}: unknown`;

/**
 * Runs a process inside a running container (docker exec). Detached: returns once it runs. Attached:
 * returns once it runs, with `attach` relaying stdin/resizes and `attach.exited` giving the exit code;
 * output arrives on onStdout/onStderr (everything on onStdout with a tty) and is not logged.
 * Throws 409 `container <id> is not running`, or ExecStartError (126/127) when the process cannot start.
 */
export async function execInContainer(containerDir: string, opts: ExecOptions): Promise<{ pid: number; attach?: Attachment }> {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(opts.execId)) throw invalidParameter(`invalid exec id: ${JSON.stringify(opts.execId)}`);
  if (opts.args.length === 0) throw invalidParameter("No exec command specified");
  const c = containerFacts(containerDir);
  const init = runningInit(containerDir, c.id);
  const tty = !!opts.tty;
  const plan: (string | number)[] = ["id", c.id, "dir", containerDir, "exec", opts.execId, "pid", init.pid, "pidstart", init.pidStart];
  for (const a of opts.args) plan.push("arg", a);
  for (const e of execEnv(c.env, c.tty, opts.env ?? [], tty)) plan.push("env", e);
  plan.push("cwd", opts.cwd || c.cwd, "user", opts.user || c.user, "tty", tty ? 1 : 0, "stdin", opts.stdin ? 1 : 0);
  plan.push("caps", opts.privileged ? capabilityMask(["ALL"]).toString(16) : c.caps, "nnp", c.nnp, "detach", opts.detach ? 1 : 0);
  if (c.seccomp !== undefined) plan.push("seccomp", c.seccomp); // the container's profile, even with --privileged, as runc's exec
  for (const r of c.rlimits) plan.push("rlimit", ...r); // the container's --ulimit, as runc's exec
  for (const g of c.cgroups) plan.push("cgroup", g);
  for (const g of c.groups) plan.push("group", g); // --group-add holds for execs too, as in moby
  if (c.oomScore !== undefined) plan.push("oomscore", c.oomScore); // the container's --oom-score-adj, as runc's exec
  const execs = join(containerDir, "execs");
  try {
    // Not recursive: a removal that took the container's directory since the checks above must not see it
    // made again (a directory no row names).
    mkdirSync(execs, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw noSuchContainer(c.id);
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const planFile = join(execs, `${opts.execId}.plan`); // the shim unlinks it once read
  writeFileSync(planFile, encode(plan), { mode: 0o600 });
  const shim = await shimPath(opts.dataRoot ?? join(containerDir, "..", ".."));

  const fail = async (code: number, err: string): Promise<never> => {
    const reason = err.trim() || `shim exited with ${code}`;
    if (code === 126 || code === 127) throw new ExecStartError(ociExecError(reason), code);
    if (/is not running$/.test(reason)) throw conflict(reason);
    throw new ExecStartError(reason, 126);
  };

  if (opts.detach) {
    const proc = Bun.spawn([shim, "exec", planFile], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) return fail(code, err);
    return { pid: Number(out.trim()) };
  }

  const proc = Bun.spawn([shim, "exec", planFile], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const errReader = proc.stderr.getReader();
  const stderr = new Response(new ReadableStream({ pull: async (c) => {
    const { value, done } = await errReader.read().catch(() => ({ value: undefined, done: true }));
    if (done || !value) c.close();
    else c.enqueue(value);
  } })).text();
  const reader = proc.stdout.getReader();
  let pid: number | undefined;
  let code: number | undefined;
  let done!: (c: number | undefined) => void;
  const exited = new Promise<number | undefined>((r) => (done = r));
  let started!: (ok: boolean) => void;
  const startedP = new Promise<boolean>((r) => (started = r));
  const dec = new TextDecoder();
  void (async () => {
    try {
      const feed = frameReader((kind, payload) => {
        if (kind === 1) opts.onStdout?.(payload);
        else if (kind === 2) opts.onStderr?.(payload);
        else if (kind === 3) code = Number(dec.decode(payload));
        else if (kind === 4) (pid = Number(dec.decode(payload))), started(true);
      });
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        feed(value);
      }
    } catch {
      // cancelled by close(): the exec keeps running, its exit is recorded by the shim
    }
    started(false);
    done(code);
  })();
  if (!(await startedP)) return fail(await proc.exited, await stderr);
  let open = true;
  const gone = () => void (open = false); // the shim has exited: nothing more to send
  const send = (b: Uint8Array) => {
    if (!open) return;
    try {
      proc.stdin.write(b);
      const f = proc.stdin.flush();
      if (f instanceof Promise) f.catch(gone);
    } catch {
      gone();
    }
  };
  const attach: Attachment = {
    write(data) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      // the shim holds one stdin frame of at most 64 KiB while the process takes it
      for (let i = 0; i < bytes.length; i += MAX_FRAME) send(frame(0, bytes.subarray(i, i + MAX_FRAME)));
    },
    closeStdin: () => send(frame(1)),
    resize: (rows, cols) => send(resizeFrame(rows, cols)),
    exited,
    close() {
      if (open) {
        open = false;
        try {
          proc.stdin.end();
        } catch {}
      }
      void reader.cancel().catch(() => {});
      void errReader.cancel().catch(() => {});
      // Detached: the shim goes on supervising the process; this process need not wait for it to exit.
      proc.unref();
    },
  };
  void exited.then(() => attach.close());
  return { pid: pid!, attach };
}

interface RawExec {
  running: boolean;
  pid: number;
  pidStart: number;
  supervisorPid: number;
  supervisorStart: number;
  exitCode: number | null;
  error: string;
}

/** An exec's state from <containerDir>/execs/<execId>.json; undefined if no such exec was ever started. */
export function readExecStatus(containerDir: string, execId: string): ExecStatus | undefined {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(execId)) return undefined;
  const read = (): RawExec | undefined => {
    try {
      return JSON.parse(readFileSync(join(containerDir, "execs", `${execId}.json`), "utf8"));
    } catch {
      return undefined;
    }
  };
  // between the process's exit and the record of it, the supervisor is still alive: still running
  const running = (r: RawExec) => r.running && ((r.pid > 0 && processStartTime(r.pid) === r.pidStart) || (r.supervisorPid > 0 && processStartTime(r.supervisorPid) === r.supervisorStart));
  let raw = read();
  if (!raw) return undefined;
  let live = running(raw);
  // Both gone since the read: the supervisor records the exit before it exits, so a second read has it.
  if (raw.running && !live) live = running((raw = read() ?? raw));
  const st: ExecStatus = { running: false, pid: raw.pid || undefined, exitCode: raw.exitCode ?? undefined, error: raw.error || undefined };
  if (!raw.running) return st;
  if (live) return { ...st, running: true };
  return { running: false, pid: raw.pid || undefined, exitCode: 255, error: "supervisor died" };
}
