/**
 * Exec routes: create (POST /containers/{id}/exec), start (hijacked or detached), inspect, resize.
 * The execs themselves live in the engine (engine/execs.ts); here is their HTTP side. An attached start
 * records the exit code before the stream closes (the docker CLI reads it once, right after EOF); a start
 * failure is written in-band, as moby does.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { execsOf } from "../../engine/execs.ts";
import type { Attachment } from "../../engine/runtime/attach.ts";
import { hijack } from "../hijack.ts";
import { intParam } from "../query.ts";
import { empty, json, type Router } from "../router.ts";
import { frame, streamType } from "./attach.ts";
import { detachKeysParam, readJson } from "./containers.ts";
import { DetachScanner } from "../../engine/containers/detachkeys.ts";
import { eventsOf } from "../../engine/events.ts";

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
  const execs = execsOf(engine);

  r.post("/containers/{id}/exec", async (req, { params }) => {
    const body = (await readJson<ExecCreateBody>(req, true)) ?? {};
    detachKeysParam(body.DetachKeys ?? "", "escape"); // refused before anything is created, as moby's ContainerExecCreate
    const e = execs.create(params.id!, {
      cmd: strings(body.Cmd, "Cmd") ?? [],
      env: strings(body.Env, "Env"),
      workdir: body.WorkingDir || undefined,
      user: body.User ?? "",
      tty: !!body.Tty,
      privileged: !!body.Privileged,
      stdin: !!body.AttachStdin,
      stdout: !!body.AttachStdout,
      stderr: !!body.AttachStderr,
      detachKeys: body.DetachKeys ?? "",
      size: body.ConsoleSize?.[0] && body.ConsoleSize?.[1] ? [body.ConsoleSize[0], body.ConsoleSize[1]] : undefined,
    });
    return json({ Id: e.id }, 201);
  });

  r.post("/exec/{id}/start", async (req, { params, version }) => {
    const e = execs.get(params.id!);
    const body = (await readJson<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>(req, true)) ?? {};
    if (body.ConsoleSize?.[0] && body.ConsoleSize?.[1] && e.exitCode === undefined && !e.started) e.size = [body.ConsoleSize[0], body.ConsoleSize[1]];

    if (body.Detach) {
      await execs.start(e, { detach: true });
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
      if (settle) await Bun.sleep(20);
      let started: { attach?: Attachment; done: Promise<void> };
      try {
        started = await execs.start(e, { onStdout: out(1), onStderr: out(2) });
      } catch (err) {
        // moby writes the error to the (framed) stdout of the stream.
        const msg = new TextEncoder().encode(`${(err as Error).message}\r\n`);
        await conn.write(tty ? msg : frame(1, msg)).catch(() => {});
        return;
      }
      const att = started.attach!;
      // A client that goes away detaches: the process goes on, its exit is still recorded by the shim.
      void conn.closed.then(() => att.close());
      if (e.stdin) {
        // With a TTY the detach keys end the stream and leave the process running (moby: exec_detach).
        const scanner = e.tty ? new DetachScanner(detachKeysParam(e.detachKeys, "escape")) : undefined;
        void (async () => {
          const reader = conn.readable.getReader();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              const { pass, detached } = scanner ? scanner.scan(value) : { pass: value, detached: false };
              if (pass.length) att.write(pass);
              if (detached) {
                eventsOf(engine).publish("container", "exec_detach", e.containerId, { execID: e.id });
                conn.close();
                return;
              }
            }
            att.closeStdin();
          } catch {}
        })();
      }
      await started.done;
    });
  });

  r.get("/exec/{id}/json", async (_req, { params }) => {
    const e = execs.get(params.id!);
    const { running, exitCode } = await execs.state(e);
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
    const e = execs.get(params.id!);
    const h = intParam(q, "h", 0);
    const w = intParam(q, "w", 0);
    if (h < 0 || w < 0 || h > 65535 || w > 65535) throw invalidParameter(`invalid terminal size ${h}x${w}`);
    execs.resize(e, h, w);
    return empty(200);
  });
}
