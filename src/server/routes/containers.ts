/**
 * Container routes: create, list, inspect, start, stop, restart, kill, wait, attach, logs, delete,
 * rename, resize, top, changes, prune, over the same manager functions the CLI calls in-process, with
 * moby's status codes and texts (docker-engine-api.md §3-4):
 * - create maps Config + HostConfig onto CreateOptions; a missing image is a 404 "No such image" (the
 *   CLI then pulls and retries);
 * - wait sends its head at once (`docker run` starts the container only after it) and its body when the
 *   condition holds, woken by the daemon's exit monitor (engine/monitor.ts);
 * - attach hijacks the connection (101 UPGRADED, or 200 and a raw body): frames without a TTY, raw with
 *   one. An attach that arrives before the container runs (docker run, start -a) waits for the start,
 *   which then starts the container at its start barrier ("attached"; engine/containers/attachments.ts), so no output is lost. A client
 *   that goes away detaches; it never stops the container. Its half-close closes the container's stdin
 *   (StdinOnce without TTY) or ends the attach, as moby's stream copier does.
 * - logs are multiplexed unless the container has a TTY, read with backpressure.
 */
import { join } from "node:path";
import type { Engine } from "../../engine/engine.ts";
import { conflict, EngineError, invalidParameter } from "../../engine/errors.ts";
import { pruneUntilMs } from "../../engine/units.ts";
import { eventsOf } from "../../engine/events.ts";
import { monitorOf } from "../../engine/monitor.ts";
import { execsOf } from "../../engine/execs.ts";
import { attachmentsOf } from "../../engine/containers/attachments.ts";
import { AttachSession, streamType } from "./attach.ts";
import type { StoredContainer as Stored } from "../../engine/containers/types.ts";
import { type CreateBody, createOptionsOf, updateOptionsOf } from "../../api/wire.ts";
import { strconvError } from "../../go/strconv.ts";
import { readContainerStatus, signalNumber } from "../../engine/runtime/status.ts";
import { hijack } from "../hijack.ts";
import { boolParam, boolParamOr, checkFilterKeys, intParam, parseFilters } from "../query.ts";
import { compareVersions, empty, json, type Router, stream } from "../router.ts";
import { createContainer, stopContainer, restartContainer, killContainer, removeContainer, renameContainer, pauseContainer, unpauseContainer, updateContainer } from "../../engine/containers/manager.ts";
import { containerStats } from "../../engine/containers/stats.ts";
import { listContainers, inspectContainer, containerTopOf, containerDiff } from "../../engine/containers/query.ts";
import { renderLogs, stdcopyFrames, parseApiTimestamp } from "../../engine/containers/logs.ts";
import { noLogReading } from "../../engine/containers/logs/drivers.ts";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../../engine/containers/detachkeys.ts";

/** The detachKeys of attach and exec ("" = ctrl-p,ctrl-q), refused in moby's words ("detach" for attach, "escape" for exec). */
export function detachKeysParam(keys: string, what: "detach" | "escape"): Uint8Array {
  if (!keys) return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(keys);
  } catch {
    throw invalidParameter(`Invalid ${what} keys (${keys}) provided`);
  }
}
import { matchLabels, dirSize, statusOf } from "../../engine/containers/state.ts";

/** A request body as moby's loadJSON reads it: an object, or 400 "invalid JSON: ..."; empty → undefined when optional. */
export async function readJson<T extends object>(req: Request, optional = false): Promise<T | undefined> {
  const text = await req.text();
  if (!text.trim()) {
    if (optional) return undefined;
    throw invalidParameter("invalid JSON: got EOF while reading request body");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidParameter(`invalid JSON: ${(e as Error).message}`);
  }
  if (v === null && optional) return undefined;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalidParameter(`invalid JSON: json: cannot unmarshal ${Array.isArray(v) ? "array" : v === null ? "null" : typeof v} into Go value of type object`);
  return v as T;
}

// ------------------------------------------------------------------ routes

/** Declares the container routes on `r`. */
export function containerRoutes(r: Router, engine: Engine): void {
  const bus = eventsOf(engine);
  const mon = monitorOf(engine);
  const hub = attachmentsOf(engine);
  const resolve = (ref: string) => engine.containers.resolve(ref);
  const publish = (c: Stored, action: string, extra: Record<string, string> = {}) => bus.publish("container", action, c.id, { ...(c.config.Labels ?? {}), ...extra, image: c.imageRef, name: c.name });

  r.post("/containers/create", async (req, { query: q, version }) => {
    const body = (await readJson<CreateBody>(req))!;
    const name = q.get("name") || undefined;
    const { opts, warnings } = createOptionsOf(body, name);
    // Before API 1.44 read-only binds were read-only on their top mount only: moby keeps that for old clients.
    if (compareVersions(version, "1.44") < 0) {
      if (opts.mounts?.some((m) => m?.BindOptions?.ReadOnlyForceRecursive)) throw invalidParameter("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer");
      opts.readonlyNonRecursive = true;
      if (opts.healthcheck?.StartInterval) opts.healthcheck.StartInterval = 0; // added in 1.44: moby drops it for older clients
    }
    opts.platform = q.get("platform") || undefined;
    const c = await createContainer(engine, opts).catch((e) => {
      // A 404 makes the docker CLI pull the image and retry, so an unknown network (or container: target),
      // which moby reports only at start, must not be one here.
      if (e instanceof EngineError && (e.code === "noSuchNetwork" || e.code === "noSuchContainer")) throw invalidParameter(e.message);
      throw e;
    });
    return json({ Id: c.id, Warnings: warnings }, 201);
  });

  r.get("/containers/json", async (_req, { query: q }) => {
    const filters = parseFilters(q.get("filters"));
    // API < 1.?: before/since as parameters.
    for (const k of ["before", "since"]) if (q.get(k)) (filters[k] ??= []).push(q.get(k)!);
    const limit = intParam(q, "limit", -1);
    return json(await listContainers(engine, { all: boolParam(q, "all"), limit, size: boolParam(q, "size"), filters }));
  });

  r.get("/containers/{id}/json", async (_req, { params, query: q }) => {
    const info = await inspectContainer(engine, params.id!, { size: boolParam(q, "size") });
    const execs = execsOf(engine).running(info.Id);
    return json({ ...info, ExecIDs: execs.length ? execs : null });
  });

  r.post("/containers/{id}/start", async (_req, { params }) => {
    const res = await hub.start(resolve(params.id!));
    return empty(res.alreadyRunning ? 304 : 204);
  });

  r.post("/containers/{id}/attach", async (req, { params, query: q, version }) => {
    const c = resolve(params.id!);
    const want = { stdin: boolParam(q, "stdin"), stdout: boolParam(q, "stdout"), stderr: boolParam(q, "stderr") };
    const logs = boolParam(q, "logs");
    const streaming = boolParam(q, "stream");
    if (!logs && !streaming) throw invalidParameter("Bad parameters: you must choose at least one stream");
    const status = readContainerStatus(c.dir);
    if (status.paused) throw conflict("You cannot attach to a paused container, unpause it first");
    const session = new AttachSession(c, want, (s) => hub.forget(s), detachKeysParam(q.get("detachKeys") ?? "", "detach"), () => publish(c, "detach"));
    const running = status.running;
    // Registered before the head goes out: the client sends /start only after it, so the start sees it.
    if (streaming && !running) hub.wait(session);
    publish(c, "attach");
    return hijack(req, streamType(c.config.Tty, version), async (conn) => {
      session.connected(conn);
      if (logs) {
        for await (const batch of renderLogs(join(c.dir, `${c.id}-json.log`), { stdout: want.stdout, stderr: want.stderr })) {
          for (const ch of batch) session.output(ch.stream === "stdout" ? 1 : 2, ch.data);
        }
      }
      if (!streaming) return session.end();
      if (running) void hub.attachRunning(session);
      await session.finished;
    });
  });

  r.post("/containers/{id}/wait", async (req, { params, query: q }) => {
    const condition = q.get("condition") || "not-running";
    if (!["not-running", "next-exit", "removed"].includes(condition)) throw invalidParameter(`invalid condition: "${condition}"`);
    const c = resolve(params.id!);
    const base = { st: readContainerStatus(c.dir), dies: mon.dies(c.id) };
    return stream(
      async (write, signal) => {
        const code = await waitFor(c, condition, base, signal);
        write(`{"StatusCode":${code},"Error":null}\n`);
      },
      { signal: req.signal },
    );
  });

  /** Resolves with the exit code once the condition holds; woken by the monitor, re-checked every second. */
  async function waitFor(c: Stored, condition: string, base: { st: ReturnType<typeof readContainerStatus>; dies: number }, signal: AbortSignal): Promise<number> {
    let wake = () => {};
    const off = mon.onChange(c.id, () => wake());
    const onAbort = () => wake();
    signal.addEventListener("abort", onAbort);
    let lastCode = base.st.exitCode;
    try {
      for (;;) {
        signal.throwIfAborted();
        if (!engine.containers.lookup(c.id)) return mon.lastExit(c.id) ?? lastCode ?? 0;
        const st = readContainerStatus(c.dir);
        if (!st.running && st.exitCode !== undefined) lastCode = st.exitCode;
        const exited = !st.running && !st.restarting;
        if (condition === "not-running" && exited) return st.exitCode ?? 0;
        if (condition === "next-exit") {
          if (mon.dies(c.id) > base.dies) return mon.lastExit(c.id) ?? st.exitCode ?? 0;
          if (exited && (base.st.running || (st.startedAt !== undefined && st.startedAt !== base.st.startedAt))) return st.exitCode ?? 0;
        }
        await new Promise<void>((r) => {
          const t = setTimeout(r, 1000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    } finally {
      off();
      signal.removeEventListener("abort", onAbort);
    }
  }

  r.get("/containers/{id}/logs", async (req, { params, query: q, version }) => {
    const c = resolve(params.id!);
    if (c.hostConfig.LogConfig.Type === "none") throw noLogReading();
    const stdout = boolParam(q, "stdout");
    const stderr = boolParam(q, "stderr");
    if (!stdout && !stderr) throw invalidParameter("Bad parameters: you must choose at least one stream");
    const tailArg = q.get("tail") ?? "all";
    const tail = tailArg === "all" || tailArg === "" ? -1 : /^-?\d+$/.test(tailArg) ? Number(tailArg) : NaN;
    if (Number.isNaN(tail)) throw invalidParameter(`invalid value for "tail": ${strconvError("Atoi", tailArg)}`);
    const since = parseApiTimestamp(q.get("since") ?? "");
    const until = parseApiTimestamp(q.get("until") ?? "");
    const tty = c.config.Tty;
    const ac = new AbortController();
    const signal = AbortSignal.any([req.signal, ac.signal]);
    const it = renderLogs(join(c.dir, `${c.id}-json.log`), {
      stdout,
      stderr,
      tail: tail < 0 ? -1 : tail,
      since: since || undefined,
      until: until || undefined,
      follow: boolParam(q, "follow"),
      timestamps: boolParam(q, "timestamps"),
      split: "ordered",
      isRunning: () => readContainerStatus(c.dir).running,
      signal,
    });
    // Pulled as the socket drains: a 100k-line log never sits in memory whole.
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        try {
          const { value, done } = await it.next();
          if (done) return ctl.close();
          ctl.enqueue(tty ? Buffer.concat(value.map((ch) => ch.data)) : stdcopyFrames(value));
        } catch (e) {
          if (signal.aborted) return ctl.close();
          ctl.error(e);
        }
      },
      cancel() {
        ac.abort();
        void it.return(undefined);
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": streamType(tty, version) } });
  });

  r.post("/containers/{id}/stop", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    const t = q.get("t") ?? q.get("timeout");
    const timeout = t === null || t === "" ? undefined : intParam(q, q.get("t") !== null ? "t" : "timeout", 0);
    const signal = q.get("signal") || undefined;
    const st = readContainerStatus(c.dir);
    if (st.running) {
      publish(c, "kill", { signal: String(signalNumber(signal ?? c.config.StopSignal ?? "SIGTERM")) });
    }
    const res = await stopContainer(engine, c.id, { timeout, signal });
    return empty(res.wasRunning ? 204 : 304);
  });

  r.post("/containers/{id}/restart", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    const t = q.get("t");
    const timeout = t === null || t === "" ? undefined : intParam(q, "t", 0);
    if (readContainerStatus(c.dir).running) {
      publish(c, "kill", { signal: String(signalNumber(c.config.StopSignal ?? "SIGTERM")) });
    }
    await restartContainer(engine, c.id, { timeout });
    return empty(204);
  });

  r.post("/containers/{id}/kill", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    await killContainer(engine, params.id!, q.get("signal") || "SIGKILL");
    return empty(204);
  });

  r.delete("/containers/{id}", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    const force = boolParam(q, "force");
    if (force && readContainerStatus(c.dir).running) {
      // moby's order: kill, die, destroy.
      await killContainer(engine, c.id, "SIGKILL").catch(() => {});
      mon.check(c.id);
    }
    await removeContainer(engine, c.id, { force, volumes: boolParam(q, "v") });
    return empty(204);
  });

  r.post("/containers/{id}/rename", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    const name = q.get("name") ?? "";
    if (!name) throw invalidParameter("Neither old nor new names may be empty");
    renameContainer(engine, c.id, name);
    return empty(204);
  });

  r.post("/containers/{id}/resize", async (_req, { params, query: q }) => {
    const c = resolve(params.id!);
    const h = intParam(q, "h", 0);
    const w = intParam(q, "w", 0);
    if (h < 0 || w < 0 || h > 65535 || w > 65535) throw invalidParameter(`invalid terminal size ${h}x${w}`);
    if (!readContainerStatus(c.dir).running) throw conflict(`container ${c.id} is not running`);
    if (!c.config.Tty) return empty(200);
    await hub.resize(c, h, w);
    return empty(200);
  });

  r.get("/containers/{id}/top", async (_req, { params, query: q }) => {
    return json(await containerTopOf(engine, params.id!, q.get("ps_args") || undefined));
  });

  r.get("/containers/{id}/changes", async (_req, { params }) => {
    const changes = await containerDiff(engine, params.id!);
    return json(changes.length ? changes : null);
  });

  // stats: one JSON object a second (stream, the default), or one (stream=false: over the supervisor's last CPU sample, or a short primed one; one-shot: no previous one).
  r.get("/containers/{id}/stats", async (req, { params, query: q }) => {
    const c = resolve(params.id!);
    const streaming = boolParamOr(q, "stream", true);
    const oneShot = boolParam(q, "one-shot");
    if (oneShot && streaming) throw invalidParameter("cannot have stream=true and one-shot=true");
    const ac = new AbortController();
    const it = containerStats(engine, c.id, { stream: streaming, oneShot, signal: AbortSignal.any([req.signal, ac.signal]) });
    // one sample: a plain body, as moby writes it (no stream to set up for 20 requests of `stats --no-stream`)
    if (!streaming) return new Response(`${JSON.stringify((await it.next()).value)}\n`, { status: 200, headers: { "content-type": "application/json" } });
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        try {
          const { value, done } = await it.next();
          if (done) return ctl.close();
          ctl.enqueue(enc.encode(`${JSON.stringify(value)}\n`));
        } catch (e) {
          if (req.signal.aborted) return ctl.close();
          ctl.error(e);
        }
      },
      cancel() {
        ac.abort();
        void it.return(undefined);
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  });

  r.post("/containers/{id}/pause", async (_req, { params }) => {
    await pauseContainer(engine, params.id!);
    return empty(204);
  });

  r.post("/containers/{id}/unpause", async (_req, { params }) => {
    await unpauseContainer(engine, params.id!);
    return empty(204);
  });

  r.post("/containers/{id}/update", async (req, { params }) => {
    const body = (await readJson<Record<string, unknown>>(req, true)) ?? {};
    return json(await updateContainer(engine, params.id!, updateOptionsOf(body)));
  });

  r.post("/containers/prune", async (_req, { query: q }) => {
    const filters = parseFilters(q.get("filters"));
    checkFilterKeys(filters, ["label", "label!", "until"]);
    const until = filters.until?.length ? pruneUntilMs(filters.until[0]!) : undefined;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of engine.containers.all()) {
      const st = statusOf(c);
      if (st.running || st.restarting) continue;
      if (filters.label && !matchLabels(c.config.Labels, filters.label)) continue;
      if (filters["label!"]?.some((l) => matchLabels(c.config.Labels, [l]))) continue;
      if (until !== undefined && c.created >= until) continue;
      const size = dirSize(join(engine.root.layerDir(c.cacheId), "diff"));
      try {
        await removeContainer(engine, c.id);
      } catch (e) {
        if (e instanceof EngineError && (e.kind === "conflict" || e.kind === "notFound")) continue;
        throw e;
      }
      reclaimed += size;
      deleted.push(c.id);
    }
    bus.publish("container", "prune", "", { reclaimed: String(reclaimed) });
    return json({ ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });
}

