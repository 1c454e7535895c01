/**
 * Exec routes: create (POST /containers/{id}/exec), start (hijacked or detached), inspect, resize.
 * The process runs under the runtime's exec supervisor (runtime/exec.ts), which records its exit in
 * <containerDir>/execs/<execId>.json; the daemon keeps only what was asked (an in-memory registry, as
 * dockerd's exec store, bounded). An attached start records the exit code before the stream closes (the
 * docker CLI reads it once, right after EOF); a start failure is written in-band and recorded as moby
 * does (126, or 127 for a missing executable). Events: exec_create, exec_start, exec_die with execID.
 */
import { randomHex } from "../../engine/random.ts";
import type { Engine } from "../../engine/engine.ts";
import { conflict, EngineError, invalidParameter } from "../../engine/errors.ts";
import { eventsOf } from "../../engine/events.ts";
import type { Attachment } from "../../engine/runtime/attach.ts";
import { readContainerStatus } from "../../engine/runtime/status.ts";
import { hijack } from "../hijack.ts";
import { intParam } from "../query.ts";
import { empty, json, type Router } from "../router.ts";
import { frame, readJson, streamType } from "./containers.ts";

interface ExecRecord {
  id: string;
  containerId: string;
  dir: string;
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
  started: boolean;
  running: boolean;
  exitCode?: number;
  pid?: number;
  att?: Attachment;
  size?: [number, number];
  created: number;
}

const MAX_EXECS = 1000;
const registries = new WeakMap<Engine, Map<string, ExecRecord>>();
function registry(engine: Engine): Map<string, ExecRecord> {
  let m = registries.get(engine);
  if (!m) registries.set(engine, (m = new Map()));
  return m;
}

/** IDs of a container's execs that are running (inspect's ExecIDs). */
export function runningExecs(engine: Engine, containerId: string): string[] {
  return [...registry(engine).values()].filter((e) => e.containerId === containerId && e.running).map((e) => e.id);
}

/** Finished execs go first when the registry is full (dockerd also forgets them after a while). */
function trim(reg: Map<string, ExecRecord>) {
  if (reg.size < MAX_EXECS) return;
  for (const [id, e] of reg) {
    if (reg.size < MAX_EXECS * 0.9) break;
    if (!e.running) reg.delete(id);
  }
}

interface ExecCreateBody {
  Cmd?: unknown;
  Env?: unknown;
  WorkingDir?: string;
  User?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  Detach?: boolean;
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

const strings = (v: unknown, field: string): string[] | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw invalidParameter(`invalid JSON: json: cannot unmarshal ${typeof v} into Go struct field .${field} of type []string`);
};

/** Declares the exec routes on `r`. */
export function execRoutes(r: Router, engine: Engine): void {
  const bus = eventsOf(engine);
  const reg = registry(engine);
  const publish = (e: ExecRecord, action: string, extra: Record<string, string> = {}) => {
    const c = engine.containers.lookup(e.containerId);
    bus.publish("container", action, e.containerId, { ...(c?.config.Labels ?? {}), ...extra, execID: e.id, image: c?.imageRef ?? "", name: c?.name ?? "" });
  };
  /** Nobody waits on a detached exec (or one whose client left): its record is polled for exec_die. */
  const watch = (e: ExecRecord, read: typeof import("../../engine/runtime/exec.ts").readExecStatus) => {
    const timer = setInterval(() => {
      const st = read(e.dir, e.id);
      if (st?.running) return;
      clearInterval(timer);
      e.running = false;
      e.exitCode = st?.exitCode ?? 0;
      publish(e, "exec_die", { exitCode: String(e.exitCode) });
    }, 200);
    timer.unref?.();
  };
  const find = (id: string): ExecRecord => {
    const e = reg.get(id);
    if (!e) throw new EngineError("notFound", `No such exec instance: ${id}`);
    return e;
  };

  r.post("/containers/{id}/exec", async (req, { params }) => {
    const body = (await readJson<ExecCreateBody>(req, true)) ?? {};
    const c = engine.containers.resolve(params.id!);
    const cmd = strings(body.Cmd, "Cmd") ?? [];
    if (!cmd.length) throw invalidParameter("No exec command specified");
    if (!readContainerStatus(c.dir).running) throw conflict(`container ${c.id} is not running`);
    trim(reg);
    const e: ExecRecord = {
      id: randomHex(),
      containerId: c.id,
      dir: c.dir,
      cmd,
      env: strings(body.Env, "Env"),
      workdir: body.WorkingDir || undefined,
      user: body.User ?? "",
      tty: !!body.Tty,
      privileged: !!body.Privileged,
      stdin: !!body.AttachStdin,
      stdout: !!body.AttachStdout,
      stderr: !!body.AttachStderr,
      detachKeys: body.DetachKeys ?? "",
      started: false,
      running: false,
      size: body.ConsoleSize?.[0] && body.ConsoleSize?.[1] ? [body.ConsoleSize[0], body.ConsoleSize[1]] : undefined,
      created: Date.now(),
    };
    reg.set(e.id, e);
    publish(e, `exec_create: ${cmd.join(" ")}`);
    return json({ Id: e.id }, 201);
  });

  r.post("/exec/{id}/start", async (req, { params, version }) => {
    const e = find(params.id!);
    const body = (await readJson<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>(req, true)) ?? {};
    if (e.exitCode !== undefined) throw conflict(`Error: Exec command ${e.id} has already run`);
    if (e.started) throw conflict(`Error: Exec command ${e.id} is already running`);
    const c = engine.containers.resolve(e.containerId);
    if (!readContainerStatus(c.dir).running) throw conflict(`container ${c.id} is not running`);
    if (body.ConsoleSize?.[0] && body.ConsoleSize?.[1]) e.size = [body.ConsoleSize[0], body.ConsoleSize[1]];
    const { execInContainer, ExecStartError, readExecStatus } = await import("../../engine/runtime/exec.ts");
    const base = { execId: e.id, args: e.cmd, env: e.env, cwd: e.workdir, user: e.user || undefined, tty: e.tty, privileged: e.privileged, dataRoot: engine.root.root };
    const failed = (err: unknown) => {
      e.running = false;
      e.exitCode = err instanceof ExecStartError ? err.exitCode : 126;
      publish(e, "exec_die", { exitCode: String(e.exitCode) });
    };
    e.started = true;

    if (body.Detach) {
      try {
        const res = await execInContainer(c.dir, { ...base, detach: true });
        e.pid = res.pid;
        e.running = true;
      } catch (err) {
        failed(err);
        throw err;
      }
      publish(e, `exec_start: ${e.cmd.join(" ")}`);
      watch(e, readExecStatus);
      return empty(200);
    }

    // moby frames by the start request's Tty; the CLI sends the exec's own.
    const tty = body.Tty ?? e.tty;
    // docker-py reads the upgraded stream from under http.client's buffered reader, so output that arrives
    // together with the 101 is lost (docker-api reference, finding 9). moby's exec starts after runc's
    // ~50 ms; ours starts in ~5 ms, so give such clients a moment to finish reading the header first. The
    // docker CLI reads the stream correctly and dockerode/testcontainers use the 200 form: no wait for them.
    const settle = req.headers.get("upgrade") !== null && !/^Docker-Client\//.test(req.headers.get("user-agent") ?? "");
    return hijack(req, streamType(tty, version), async (conn) => {
      const out = (stream: 1 | 2) => (b: Uint8Array) => void conn.write(tty ? b : frame(stream, b)).catch(() => {});
      let att: Attachment;
      if (settle) await Bun.sleep(20);
      try {
        const res = await execInContainer(c.dir, { ...base, stdin: e.stdin, onStdout: e.stdout ? out(1) : undefined, onStderr: e.stderr ? out(2) : undefined });
        att = res.attach!;
        e.pid = res.pid;
        e.running = true;
      } catch (err) {
        failed(err);
        // moby writes the error to the (framed) stdout of the stream.
        const msg = new TextEncoder().encode(`${(err as Error).message}\r\n`);
        await conn.write(tty ? msg : frame(1, msg)).catch(() => {});
        return;
      }
      publish(e, `exec_start: ${e.cmd.join(" ")}`);
      e.att = att;
      if (e.size && e.tty) att.resize(e.size[0], e.size[1]);
      // A client that goes away detaches: the process goes on, its exit is still recorded by the shim.
      void conn.closed.then(() => att.close());
      if (e.stdin) {
        void (async () => {
          const reader = conn.readable.getReader();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              att.write(value);
            }
            att.closeStdin();
          } catch {}
        })();
      }
      const code = await att.exited;
      e.att = undefined;
      if (code === undefined && readExecStatus(c.dir, e.id)?.running) return watch(e, readExecStatus); // the client left first
      e.running = false;
      e.exitCode = code ?? readExecStatus(c.dir, e.id)?.exitCode;
      publish(e, "exec_die", { exitCode: String(e.exitCode ?? "") });
    });
  });

  r.get("/exec/{id}/json", async (_req, { params }) => {
    const e = find(params.id!);
    let running = e.running;
    let exitCode = e.exitCode;
    if (e.started && exitCode === undefined) {
      // A detached exec, or one whose client went away: the shim's record is the truth.
      const { readExecStatus } = await import("../../engine/runtime/exec.ts");
      const st = readExecStatus(e.dir, e.id);
      if (st) {
        running = st.running;
        if (!st.running) exitCode = e.exitCode = st.exitCode;
      }
    }
    return json({
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.detachKeys,
      ExitCode: exitCode ?? null,
      ID: e.id,
      OpenStderr: e.stderr,
      OpenStdin: e.stdin,
      OpenStdout: e.stdout,
      ProcessConfig: { arguments: e.cmd.slice(1), entrypoint: e.cmd[0], privileged: e.privileged, tty: e.tty, user: e.user },
      Running: running,
      Pid: e.pid ?? 0,
    });
  });

  r.post("/exec/{id}/resize", async (_req, { params, query: q }) => {
    const e = find(params.id!);
    const h = intParam(q, "h", 0);
    const w = intParam(q, "w", 0);
    if (h < 0 || w < 0 || h > 65535 || w > 65535) throw invalidParameter(`invalid terminal size ${h}x${w}`);
    e.size = [h, w];
    if (e.att && e.tty) e.att.resize(h, w);
    return empty(200);
  });
}
