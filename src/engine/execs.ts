/**
 * The engine's exec instances (moby's exec store): what each exec was asked to run, whether it started,
 * its exit once known; in memory and bounded, per engine. The process runs under the runtime's exec
 * supervisor (runtime/exec.ts), which records its exit in <containerDir>/execs/<execId>.json, the truth for
 * an exec nobody waits on. The engine publishes exec_create, exec_start and exec_die (with execID); a
 * start failure is recorded as moby does (126, or 127 for a missing executable).
 */
import type { Engine } from "./engine.ts";
import { conflict, EngineError, invalidParameter } from "./errors.ts";
import { eventsOf } from "./events.ts";
import { randomHex } from "./random.ts";
import type { Attachment } from "./runtime/attach.ts";
import { readContainerStatus } from "./runtime/status.ts";

/** What an exec runs and which streams it relays (moby's ExecConfig). */
export interface ExecConfig {
  cmd: string[];
  env?: string[];
  workdir?: string;
  user: string;
  tty: boolean;
  privileged: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys: string;
  /** Console size [height, width], applied once a TTY exec starts. */
  size?: [number, number];
}

/** One exec instance. */
export interface ExecRecord extends ExecConfig {
  id: string;
  containerId: string;
  dir: string;
  started: boolean;
  running: boolean;
  exitCode?: number;
  pid?: number;
  att?: Attachment;
  created: number;
}

const MAX_EXECS = 1000;
const stores = new WeakMap<Engine, ExecStore>();

/** The exec store of an engine. */
export function execsOf(engine: Engine): ExecStore {
  let s = stores.get(engine);
  if (!s) stores.set(engine, (s = new ExecStore(engine)));
  return s;
}

/** An engine's execs, by ID. */
export class ExecStore {
  private readonly reg = new Map<string, ExecRecord>();
  constructor(private readonly engine: Engine) {}

  private publish(e: ExecRecord, action: string, extra: Record<string, string> = {}) {
    const c = this.engine.containers.lookup(e.containerId);
    eventsOf(this.engine).publish("container", action, e.containerId, { ...(c?.config.Labels ?? {}), ...extra, execID: e.id, image: c?.imageRef ?? "", name: c?.name ?? "" });
  }

  /** Finished execs go first when the store is full (dockerd also forgets them after a while). */
  private trim() {
    if (this.reg.size < MAX_EXECS) return;
    for (const [id, e] of this.reg) {
      if (this.reg.size < MAX_EXECS * 0.9) break;
      if (!e.running) this.reg.delete(id);
    }
  }

  /** Nobody waits on a detached exec (or one whose client left): its record is polled for exec_die. */
  private watch(e: ExecRecord, read: typeof import("./runtime/exec.ts").readExecStatus) {
    const timer = setInterval(() => {
      const st = read(e.dir, e.id);
      if (st?.running) return;
      clearInterval(timer);
      e.running = false;
      e.exitCode = st?.exitCode ?? 0;
      this.publish(e, "exec_die", { exitCode: String(e.exitCode) });
    }, 200);
    timer.unref?.();
  }

  /** Creates an exec in a running container. */
  create(containerRef: string, config: ExecConfig): ExecRecord {
    const c = this.engine.containers.resolve(containerRef);
    if (!config.cmd.length) throw invalidParameter("No exec command specified");
    const st = readContainerStatus(c.dir);
    if (!st.running) throw conflict(`container ${c.id} is not running`);
    if (st.paused) throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    this.trim();
    const e: ExecRecord = { ...config, id: randomHex(), containerId: c.id, dir: c.dir, started: false, running: false, created: Date.now() };
    this.reg.set(e.id, e);
    this.publish(e, `exec_create: ${e.cmd.join(" ")}`);
    return e;
  }

  /** An exec by ID, or moby's 404. */
  get(id: string): ExecRecord {
    const e = this.reg.get(id);
    if (!e) throw new EngineError("notFound", `No such exec instance: ${id}`);
    return e;
  }

  /** IDs of a container's running execs (inspect's ExecIDs). */
  running(containerId: string): string[] {
    return [...this.reg.values()].filter((e) => e.containerId === containerId && e.running).map((e) => e.id);
  }

  /**
   * Starts an exec. Detached, it returns once the process runs; attached, output goes to the handlers of
   * the streams the exec relays, and `done` resolves once its exit is recorded (before a client is told).
   * A start failure is recorded (exec_die) and thrown.
   */
  async start(e: ExecRecord, opts: { detach?: boolean; onStdout?(b: Uint8Array): void; onStderr?(b: Uint8Array): void }): Promise<{ attach?: Attachment; done: Promise<void> }> {
    if (e.exitCode !== undefined) throw conflict(`Error: Exec command ${e.id} has already run`);
    if (e.started) throw conflict(`Error: Exec command ${e.id} is already running`);
    const c = this.engine.containers.resolve(e.containerId);
    const st = readContainerStatus(c.dir);
    if (!st.running) throw conflict(`container ${c.id} is not running`);
    if (st.paused) throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    const { execInContainer, ExecStartError, readExecStatus } = await import("./runtime/exec.ts");
    const base = { execId: e.id, args: e.cmd, env: e.env, cwd: e.workdir, user: e.user || undefined, tty: e.tty, privileged: e.privileged, dataRoot: this.engine.root.root };
    e.started = true;
    let res: Awaited<ReturnType<typeof execInContainer>>;
    try {
      res = await execInContainer(c.dir, opts.detach ? { ...base, detach: true } : { ...base, stdin: e.stdin, onStdout: e.stdout ? opts.onStdout : undefined, onStderr: e.stderr ? opts.onStderr : undefined });
    } catch (err) {
      e.running = false;
      e.exitCode = err instanceof ExecStartError ? err.exitCode : 126;
      this.publish(e, "exec_die", { exitCode: String(e.exitCode) });
      throw err;
    }
    e.pid = res.pid;
    e.running = true;
    this.publish(e, `exec_start: ${e.cmd.join(" ")}`);
    if (opts.detach) {
      this.watch(e, readExecStatus);
      return { done: Promise.resolve() };
    }
    const att = res.attach!;
    e.att = att;
    if (e.size && e.tty) att.resize(e.size[0], e.size[1]);
    const done = att.exited.then((code) => {
      e.att = undefined;
      if (code === undefined && readExecStatus(c.dir, e.id)?.running) return this.watch(e, readExecStatus); // the client left first
      e.running = false;
      e.exitCode = code ?? readExecStatus(c.dir, e.id)?.exitCode;
      this.publish(e, "exec_die", { exitCode: String(e.exitCode ?? "") });
    });
    return { attach: att, done };
  }

  /** Whether an exec runs and its exit code; for a detached exec, or one whose client went away, the shim's record is the truth. */
  async state(e: ExecRecord): Promise<{ running: boolean; exitCode?: number }> {
    if (e.started && e.exitCode === undefined) {
      const { readExecStatus } = await import("./runtime/exec.ts");
      const st = readExecStatus(e.dir, e.id);
      if (st) {
        if (!st.running) e.exitCode = st.exitCode;
        return { running: st.running, exitCode: e.exitCode };
      }
    }
    return { running: e.running, exitCode: e.exitCode };
  }

  /** Resizes an exec's TTY now, or when it starts. */
  resize(e: ExecRecord, height: number, width: number): void {
    e.size = [height, width];
    if (e.att && e.tty) e.att.resize(height, width);
  }
}
