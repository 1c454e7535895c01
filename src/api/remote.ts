/**
 * The remote transport: the Backend operations as Docker Engine API requests to a daemon (`bunker serve`,
 * or dockerd for the commands both support), as the docker CLI makes them. Attach and exec use a hijacked
 * connection (`Upgrade: tcp`, then raw stdin one way and stdcopy frames, or raw TTY bytes, the other).
 */
import { EngineError } from "../engine/errors.ts";
import { parseEventLine } from "../engine/events.ts";
import { frameReader } from "../engine/runtime/frames.ts";
import type { CreateOptions } from "../engine/containers/manager.ts";
import type { Attachment } from "../engine/runtime/index.ts";
import type { ApiClient } from "./client.ts";
import { createBody } from "./wire.ts";
import type { Backend, EventMessage, OutputHandlers } from "./backend.ts";
import type { PathStat } from "../engine/containers/archive.ts";
import type { ContainerStats } from "../engine/containers/stats.ts";

const enc = encodeURIComponent;

/** Reads one response head from a byte queue; returns status, headers and the bytes after it. */
function parseHead(buf: Uint8Array): { status: number; headers: Map<string, string>; rest: Uint8Array } | undefined {
  const text = new TextDecoder("latin1").decode(buf);
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = text.slice(0, end).split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as [string, string]));
  return { status, headers, rest: buf.subarray(end + 4) };
}

/** A hijacked connection: raw bytes out of the daemon, stdin into it, half-close at stdin EOF. */
interface Hijacked {
  write(data: Uint8Array): void;
  closeWrite(): void;
  close(): void;
  /** Resolves when the daemon closed its side. */
  ended: Promise<void>;
}

/**
 * Sends `method path` with `Upgrade: tcp` over a fresh connection to the client's daemon and hands the
 * socket over after the 101 (or 200) head; `onData` gets every byte after the head.
 */
async function hijackRequest(client: ApiClient, method: string, path: string, body: unknown, onData: (b: Uint8Array) => void): Promise<Hijacked> {
  const host = client.opts.host ?? "unix:///run/bunker.sock";
  const payload = body === undefined ? "" : JSON.stringify(body);
  const head =
    `${method} /v${client.version}${path} HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
    `Content-Type: ${body === undefined ? "text/plain" : "application/json"}\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
  let pending: Uint8Array = new Uint8Array(0);
  let upgraded = false;
  let settle!: (v: void) => void;
  let fail!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => ((settle = res), (fail = rej)));
  let endedResolve!: () => void;
  const ended = new Promise<void>((r) => (endedResolve = r));
  const handlers = {
    data(_s: unknown, chunk: Uint8Array) {
      if (upgraded) return onData(chunk);
      const merged = new Uint8Array(pending.length + chunk.length);
      merged.set(pending);
      merged.set(chunk, pending.length);
      pending = merged;
      const parsed = parseHead(pending);
      if (!parsed) return;
      if (parsed.status !== 101 && parsed.status !== 200) {
        const text = new TextDecoder().decode(parsed.rest);
        let message = text;
        try {
          message = JSON.parse(text).message;
        } catch {}
        return fail(new EngineError(parsed.status === 404 ? "notFound" : parsed.status === 409 ? "conflict" : parsed.status === 400 ? "invalidParameter" : "system", message || `status ${parsed.status}`));
      }
      upgraded = true;
      settle();
      if (parsed.rest.length) onData(parsed.rest);
    },
    close() {
      endedResolve();
      fail(new EngineError("system", "the daemon closed the connection"));
    },
    end() {
      endedResolve();
    },
    error(_s: unknown, e: Error) {
      fail(e);
    },
  };
  const socket = host.startsWith("unix://")
    ? await Bun.connect({ unix: host.slice(7), socket: handlers, allowHalfOpen: true } as any)
    : await Bun.connect({ hostname: host.replace(/^(tcp|https?):\/\//, "").split(":")[0]!, port: Number(host.split(":").at(-1)), tls: client.opts.tls as any, socket: handlers, allowHalfOpen: true } as any);
  socket.write(head);
  await ready;
  return {
    write: (d) => void socket.write(d),
    closeWrite: () => void (socket as any).shutdown?.(),
    close: () => socket.end(),
    ended,
  };
}

/** Splits a stdcopy stream (stream 1 stdout, 2 stderr) into the handlers. */
function demuxer(out: OutputHandlers): (b: Uint8Array) => void {
  return frameReader((kind, payload) => (kind === 2 ? out.onStderr?.(payload) : out.onStdout?.(payload)));
}

/** Epoch ns as the API's since/until ("seconds.nanoseconds"). */
const nanoParam = (ns: bigint | undefined) => (ns === undefined ? undefined : `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}`);

/**
 * A --platform ("linux/arm64") as push (API 1.46+), history (1.48+) and image inspect (1.49+) carry it, as the
 * docker CLI sends it: an OCI platform in JSON.
 */
async function platformQuery(value: string | undefined): Promise<string | undefined> {
  if (!value) return undefined;
  const { parsePlatform } = await import("../engine/image/types.ts");
  return JSON.stringify(parsePlatform(value));
}

/** A Backend that talks to a daemon through `client`. */
export function remoteBackend(client: ApiClient): Backend {
  const get = <T>(path: string, query?: Record<string, any>) => client.json<T>("GET", path, { query });
  const post = async (path: string, query?: Record<string, any>, body?: unknown) => {
    const res = await client.request("POST", path, { query, body });
    await res.arrayBuffer();
  };
  const filters = (f?: Record<string, string[]>) => (f && Object.keys(f).length ? JSON.stringify(f) : undefined);

  /** Attaches (hijacked), then the caller starts; exit code from a wait issued before the start, as the docker CLI does. */
  async function attachAndStart(id: string, io: OutputHandlers & { stdin?: boolean; tty?: boolean }, start: () => Promise<void>): Promise<Attachment> {
    const tty = io.tty ?? (await get<any>(`/containers/${enc(id)}/json`)).Config.Tty;
    const onData = tty ? (b: Uint8Array) => io.onStdout?.(b) : demuxer(io);
    const conn = await hijackRequest(client, "POST", `/containers/${enc(id)}/attach?stream=1&stdout=1&stderr=1${io.stdin ? "&stdin=1" : ""}`, undefined, onData);
    const abortWait = new AbortController();
    const waitRes = await client.request("POST", `/containers/${enc(id)}/wait`, { query: { condition: "next-exit" }, signal: abortWait.signal });
    try {
      await start();
    } catch (e) {
      // Nothing will run: let go of the hijacked connection and the pending wait, or they keep the CLI alive.
      conn.close();
      abortWait.abort();
      throw e;
    }
    return attachment(id, conn, waitRes, abortWait);
  }

  /** A hijacked attach and its pending wait as an Attachment: the exit code once the last output arrived. */
  function attachment(id: string, conn: Awaited<ReturnType<typeof hijackRequest>>, waitRes: Response, abortWait: AbortController): Attachment {
    const exited = (async () => {
      const body = (await waitRes.json()) as { StatusCode: number };
      await Promise.race([conn.ended, Bun.sleep(200)]); // let the last output arrive
      return body.StatusCode;
    })().catch(() => undefined); // the wait aborted by a detach
    return {
      write: (d: Uint8Array) => conn.write(d),
      closeStdin: () => conn.closeWrite(),
      resize: (rows: number, cols: number) => void post(`/containers/${enc(id)}/resize`, { h: rows, w: cols }).catch(() => {}),
      exited,
      // Detached: the pending wait goes too, or it keeps this process alive.
      close: () => {
        conn.close();
        abortWait.abort();
      },
    } as Attachment;
  }

  return {
    where: client.opts.host ?? "unix:///run/bunker.sock",
    async attachContainer(id, io) {
      const onData = io.tty ? (b: Uint8Array) => io.onStdout?.(b) : demuxer(io);
      const conn = await hijackRequest(client, "POST", `/containers/${enc(id)}/attach?stream=1&stdout=1&stderr=1${io.stdin ? "&stdin=1" : ""}`, undefined, onData);
      // As `docker attach`: the exit code from a wait issued once attached.
      const abortWait = new AbortController();
      const waitRes = await client.request("POST", `/containers/${enc(id)}/wait`, { query: { condition: "not-running" }, signal: abortWait.signal });
      return attachment(id, conn, waitRes, abortWait);
    },
    async *events(o) {
      const res = await client.request("GET", "/events", { query: { since: nanoParam(o.since), until: nanoParam(o.until), filters: filters(o.filters) } });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) yield parseEventLine(line) as EventMessage;
        }
      }
    },
    listImages: (o) => get("/images/json", { all: o.all, filters: filters(o.filters) }),
    inspectImage: async (name, o) => get(`/images/${name}/json`, { platform: await platformQuery(o?.platform) }),
    imageHistory: async (name, o) => get(`/images/${name}/history`, { platform: await platformQuery(o?.platform) }),
    tagImage: async (source, target) => {
      const at = target.lastIndexOf(":");
      const hasTag = at > target.lastIndexOf("/");
      await post(`/images/${source}/tag`, { repo: hasTag ? target.slice(0, at) : target, tag: hasTag ? target.slice(at + 1) : "latest" });
    },
    removeImage: (name, o) => client.json("DELETE", `/images/${name}`, { query: { force: o.force, noprune: o.noPrune } }),
    pruneImages: (o) => client.json("POST", "/images/prune", { query: { filters: filters({ ...(o.filters ?? {}), ...(o.all ? { dangling: ["false"] } : {}) }) } }),
    async pull(ref, o, onMessage) {
      const at = ref.indexOf("@");
      const colon = ref.lastIndexOf(":");
      const tagged = at < 0 && colon > ref.lastIndexOf("/");
      const res = await client.request("POST", "/images/create", {
        query: { fromImage: at >= 0 ? ref : tagged ? ref.slice(0, colon) : ref, tag: tagged ? ref.slice(colon + 1) : at >= 0 ? undefined : "latest", platform: o.platform },
        headers: { "X-Registry-Auth": "e30=" },
      });
      for await (const m of client.messages<any>(res)) {
        if (m.errorDetail || m.error) throw new EngineError("system", m.errorDetail?.message ?? m.error);
        onMessage(m);
      }
    },
    async saveImages(names) {
      const res = await client.request("GET", "/images/get", { query: { names } });
      return res.body ?? new ReadableStream({ start: (c) => c.close() });
    },
    // The daemon's stream, written at the fd's offset: nothing is read back here (the daemon checked it).
    async saveImagesInto(names, fd) {
      const { writeSync } = await import("node:fs");
      const res = await client.request("GET", "/images/get", { query: { names } });
      for await (const chunk of res.body ?? []) for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    },
    async loadImages(input, o, onMessage) {
      const res = await client.request("POST", "/images/load", { query: { quiet: !!o.quiet }, body: input, headers: { "Content-Type": "application/x-tar" } });
      for await (const m of client.messages<any>(res)) {
        if (m.errorDetail || m.error) throw new EngineError("system", m.errorDetail?.message ?? m.error);
        onMessage(m);
      }
    },
    async push(ref, o, onMessage) {
      const { parseReference, familiarName, familiarString } = await import("../engine/registry/reference.ts");
      const { readCredentials } = await import("../engine/registry/credentials.ts");
      const r = parseReference(ref);
      // As the docker CLI: the user's stored credentials for the target registry travel in X-Registry-Auth.
      const creds = readCredentials(r.domain);
      const auth = Buffer.from(JSON.stringify(creds ? { username: creds.username, password: creds.password, serveraddress: r.domain } : {})).toString("base64url");
      const res = await client.request("POST", `/images/${r.digest ? familiarString(r) : familiarName(r)}/push`, { query: { tag: r.tag ?? "", platform: await platformQuery(o.platform) }, headers: { "X-Registry-Auth": auth } });
      for await (const m of client.messages<any>(res)) {
        if (m.errorDetail || m.error) throw new EngineError("system", m.errorDetail?.message ?? m.error);
        onMessage(m);
      }
    },
    info: () => get("/info"),
    version: () => get("/version"),
    df: () => get("/system/df"),
    createContainer: (o) => client.json("POST", "/containers/create", { query: { name: o.name, platform: o.platform }, body: createBody(o) }),
    async startContainer(id, attach) {
      if (!attach) {
        await post(`/containers/${enc(id)}/start`);
        return {};
      }
      return { attach: await attachAndStart(id, attach, () => post(`/containers/${enc(id)}/start`)) };
    },
    stopContainer: (id, o) => post(`/containers/${enc(id)}/stop`, { t: o.timeout, signal: o.signal }),
    restartContainer: (id, o) => post(`/containers/${enc(id)}/restart`, { t: o.timeout, signal: o.signal }),
    killContainer: (id, signal) => post(`/containers/${enc(id)}/kill`, { signal }),
    removeContainer: async (id, o) => {
      const res = await client.request("DELETE", `/containers/${enc(id)}`, { query: { force: o.force, v: o.volumes } });
      await res.arrayBuffer();
    },
    waitContainer: async (id, condition) => (await client.json<{ StatusCode: number }>("POST", `/containers/${enc(id)}/wait`, { query: { condition } })).StatusCode,
    renameContainer: (id, name) => post(`/containers/${enc(id)}/rename`, { name }),
    pruneContainers: (o) => client.json("POST", "/containers/prune", { query: { filters: filters(o.filters) } }),
    listContainers: (o) => get("/containers/json", { all: o.all, limit: o.limit && o.limit > 0 ? o.limit : undefined, size: o.size, filters: filters(o.filters) }),
    inspectContainer: (id, o) => get(`/containers/${enc(id)}/json`, { size: o?.size }),
    signalContainer: (id, signal) => post(`/containers/${enc(id)}/kill`, { signal }),
    async *logs(id, o) {
      const tty = (await get<any>(`/containers/${enc(id)}/json`)).Config.Tty;
      const res = await client.request("GET", `/containers/${enc(id)}/logs`, {
        query: { stdout: true, stderr: true, follow: o.follow, tail: o.tail === undefined || o.tail < 0 ? "all" : o.tail, since: o.since !== undefined ? nsToApi(o.since) : undefined, until: o.until !== undefined ? nsToApi(o.until) : undefined, timestamps: o.timestamps },
      });
      const batch: { stream: "stdout" | "stderr"; data: Uint8Array }[] = [];
      const split = tty ? (b: Uint8Array) => batch.push({ stream: "stdout", data: b }) : demuxer({ onStdout: (b) => batch.push({ stream: "stdout", data: b }), onStderr: (b) => batch.push({ stream: "stderr", data: b }) });
      for await (const chunk of res.body ?? []) {
        split(chunk as Uint8Array);
        if (batch.length) yield batch.splice(0);
      }
    },
    top: (id, ps) => get(`/containers/${enc(id)}/top`, { ps_args: ps }),
    changes: async (id) => (await get<{ Path: string; Kind: 0 | 1 | 2 }[] | null>(`/containers/${enc(id)}/changes`)) ?? [],
    async exec(id, req, out) {
      const { Id } = await client.json<{ Id: string }>("POST", `/containers/${enc(id)}/exec`, {
        body: { AttachStdin: !!req.stdin, AttachStdout: !req.detach, AttachStderr: !req.detach, Tty: !!req.tty, Cmd: req.args, Env: req.env ?? [], WorkingDir: req.cwd ?? "", User: req.user ?? "", Privileged: !!req.privileged },
      });
      if (req.detach) {
        await post(`/exec/${Id}/start`, undefined, { Detach: true, Tty: !!req.tty });
        return {};
      }
      const conn = await hijackRequest(client, "POST", `/exec/${Id}/start`, { Detach: false, Tty: !!req.tty }, req.tty ? (b) => out.onStdout?.(b) : demuxer(out));
      const exited = (async () => {
        await conn.ended;
        return (await get<{ ExitCode: number }>(`/exec/${Id}/json`)).ExitCode;
      })();
      return {
        attach: { write: (d: Uint8Array) => conn.write(d), closeStdin: () => conn.closeWrite(), resize: (h: number, w: number) => void post(`/exec/${Id}/resize`, { h, w }).catch(() => {}), exited, close: () => conn.close() } as Attachment,
      };
    },
    async statPath(id, path) {
      const res = await client.raw("HEAD", `/containers/${enc(id)}/archive`, { query: { path } });
      // A HEAD answer has no body, so no message: moby's client words a 404 as docker 20.10 printed it.
      if (res.status === 404) throw new EngineError("notFound", `No such container:path: ${id}:${path}`);
      if (res.status >= 400) throw new EngineError(res.status === 400 ? "invalidParameter" : "system", `status ${res.status}`);
      return pathStatOf(res);
    },
    async getArchive(id, path) {
      const res = await client.request("GET", `/containers/${enc(id)}/archive`, { query: { path } });
      return { stat: pathStatOf(res), content: res.body ?? new ReadableStream({ start: (c) => c.close() }) };
    },
    async putArchive(id, path, content, o) {
      const res = await client.request("PUT", `/containers/${enc(id)}/archive`, {
        query: { path, noOverwriteDirNonDir: o.noOverwriteDirNonDir ? "true" : undefined, copyUIDGID: o.copyUIDGID ? "true" : undefined },
        body: content,
        headers: { "content-type": "application/x-tar" },
      });
      await res.arrayBuffer();
    },
    async *stats(id, o, signal) {
      const res = await client.request("GET", `/containers/${enc(id)}/stats`, { query: { stream: o.stream ? "1" : "0", "one-shot": o.oneShot ? "1" : undefined }, signal });
      // one sample is one JSON body: parsed whole, without a stream reader (20 of them for `stats --no-stream`)
      if (!o.stream) yield await res.json();
      else yield* client.messages<any>(res);
    },
    // A daemon has no such endpoint: the listing, then one sample request per container, all at once.
    async statsSnapshot(o) {
      const listed = await get<{ Id: string }[]>("/containers/json", { all: o.all });
      return Promise.all(
        listed.map(async (c) => {
          try {
            const res = await client.request("GET", `/containers/${enc(c.Id)}/stats`, { query: { stream: "0" } });
            return { id: c.Id, sample: (await res.json()) as ContainerStats };
          } catch (e) {
            return { id: c.Id, sample: e as Error };
          }
        }),
      );
    },
    pauseContainer: (id) => post(`/containers/${enc(id)}/pause`),
    unpauseContainer: (id) => post(`/containers/${enc(id)}/unpause`),
    updateContainer: (id, u) => client.json("POST", `/containers/${enc(id)}/update`, { body: u }),
    createVolume: (req) => client.json("POST", "/volumes/create", { body: req }),
    listVolumes: (f) => get("/volumes", { filters: filters(f) }),
    inspectVolume: (name) => get(`/volumes/${enc(name)}`),
    removeVolume: async (name, o) => {
      const res = await client.request("DELETE", `/volumes/${enc(name)}`, { query: { force: o.force ? 1 : undefined } });
      await res.arrayBuffer();
    },
    pruneVolumes: (f) => client.json("POST", "/volumes/prune", { query: { filters: filters(f) } }),
    listNetworks: (o) => get("/networks", { filters: filters(o.filters) }),
    inspectNetwork: (ref, o) => get(`/networks/${enc(ref)}`, { verbose: o?.verbose ? "true" : undefined }),
    // The docker CLI's body: IPAM with the default driver, IPv6 only when asked for.
    createNetwork: (req) => client.json("POST", "/networks/create", { body: { Driver: "bridge", Internal: false, Attachable: false, Ingress: false, ConfigOnly: false, Options: {}, Labels: {}, ...req } }),
    removeNetwork: async (ref) => {
      const res = await client.request("DELETE", `/networks/${enc(ref)}`);
      await res.arrayBuffer();
    },
    connectNetwork: (net, container, ep) =>
      post(`/networks/${enc(net)}/connect`, undefined, { Container: container, EndpointConfig: { IPAMConfig: { IPv4Address: ep.IPAddress ?? "", IPv6Address: "" }, Links: null, Aliases: ep.Aliases ?? null } }),
    disconnectNetwork: (net, container, force) => post(`/networks/${enc(net)}/disconnect`, undefined, { Container: container, Force: !!force }),
    pruneNetworks: (o) => client.json("POST", "/networks/prune", { query: { filters: filters(o.filters) } }),
    // The docker CLI's requests: a null body without a Config, pause=0 only when not pausing.
    commit: (id, o) =>
      client.json("POST", "/commit", { query: { container: id, repo: o.repo, tag: o.tag, comment: o.comment, author: o.author, changes: o.changes, pause: o.pause === false ? false : undefined }, body: o.config ?? null }),
    exportContainer: async (id) => (await client.request("GET", `/containers/${enc(id)}/export`)).body ?? new ReadableStream({ start: (c) => c.close() }),
    async importImage(source, o, onMessage) {
      const url = source instanceof ReadableStream ? undefined : source.url;
      const res = await client.request("POST", "/images/create", {
        query: { fromSrc: url ?? "-", repo: o.repo, message: o.message, changes: o.changes, platform: o.platform },
        body: url === undefined ? source : undefined,
        headers: { "content-type": "application/x-tar" },
      });
      for await (const m of client.messages<any>(res)) {
        if (m.errorDetail || m.error) throw new EngineError("system", m.errorDetail?.message ?? m.error);
        onMessage(m);
      }
    },
    // POST /build as the docker CLI's legacy path calls it: the context as a tar (.dockerignore applied here),
    // the options in the query; the legacy JSON stream is read back into BuildEvents.
    async build(req, onEvent) {
      const { LegacyStreamReader } = await import("../engine/build/legacy-stream.ts");
      if (req.secrets.size) throw new EngineError("invalidParameter", "--secret is not supported through a daemon: POST /build (the legacy builder API) carries no secrets");
      const { body, dockerfile } = await buildContextBody(req);
      const json = (v: unknown) => JSON.stringify(v);
      const res = await client.request("POST", "/build", {
        query: {
          t: req.tags,
          dockerfile,
          nocache: req.noCache || undefined,
          pull: req.pull || undefined,
          rm: true,
          cachefrom: req.cacheFrom.length ? json(req.cacheFrom) : undefined,
          buildargs: req.buildArgs.size ? json(Object.fromEntries(req.buildArgs)) : undefined,
          labels: Object.keys(req.labels).length ? json(req.labels) : undefined,
          target: req.target,
          networkmode: req.network === "default" ? undefined : req.network,
          extrahosts: req.extraHosts.length ? req.extraHosts.map((h) => `${h.name}:${h.address}`) : undefined,
          shmsize: req.shmSize || undefined,
          ulimits: req.ulimits.length ? json(req.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }))) : undefined,
          platform: req.platform,
        },
        body,
        headers: { "content-type": "application/x-tar" },
        signal: req.signal,
      });
      const reader = new LegacyStreamReader(onEvent);
      try {
        for await (const m of client.messages<any>(res)) reader.message(m);
      } catch (e) {
        reader.fail((e as Error).message);
        if (e instanceof SyntaxError) throw e;
        throw new EngineError("system", (e as Error).message);
      }
      reader.close();
      if (!reader.imageId) throw new EngineError("system", "the daemon's build stream ended without an image ID");
      return { id: reader.imageId, tags: req.tags };
    },
    pruneBuildCache: (o) => client.json("POST", "/build/prune", { query: { all: o.all || undefined, "keep-storage": o.keepStorage || undefined, filters: filters(o.filters) } }),
  };
}

/**
 * The build context as the docker CLI sends it: a directory as a tar with .dockerignore applied (the ignore
 * files and the Dockerfile always kept), a Dockerfile given as text added as `.dockerfile.<random>`; a tar
 * context (`bunker build -`) as it came.
 */
async function buildContextBody(req: import("./backend.ts").BuildRequest): Promise<{ body: ReadableStream<Uint8Array>; dockerfile: string }> {
  if ("tar" in req.context) {
    if ("text" in req.dockerfile) throw new EngineError("invalidParameter", "a Dockerfile outside a tar context cannot be sent with it");
    return { body: req.context.tar, dockerfile: req.dockerfile.path };
  }
  const root = req.context.dir;
  const { existsSync, lstatSync, readFileSync } = await import("node:fs");
  const { Dockerignore, readDockerignore } = await import("../engine/build/dockerignore.ts");
  const { packMembers } = await import("../fs/pack.ts");
  const { tarStream } = await import("../fs/tar-write.ts");
  const dockerfilePath = "path" in req.dockerfile ? req.dockerfile.path.replace(/^\.\//, "") : undefined;
  // BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile first, then the context's .dockerignore.
  const ignoreFiles = [...(dockerfilePath ? [`${dockerfilePath}.dockerignore`] : []), ".dockerignore"];
  const ignoreFile = ignoreFiles.find((f) => existsSync(`${root}/${f}`));
  const ignore = new Dockerignore(ignoreFile ? readDockerignore(readFileSync(`${root}/${ignoreFile}`, "utf8")) : []);
  const keep = new Set([...ignoreFiles, ...(dockerfilePath ? [dockerfilePath] : [])]);
  const skip = (rel: string) => {
    if (keep.has(rel) || !ignore.excludes(rel)) return false;
    // An excluded directory is entered only when an exception may include something below it.
    return ignore.skipsDirectory(rel) || !lstatSync(`${root}/${rel}`, { throwIfNoEntry: false })?.isDirectory();
  };
  let dockerfile = dockerfilePath ?? "";
  const extra: import("../fs/tar-write.ts").TarMember[] = [];
  if ("text" in req.dockerfile) {
    dockerfile = `.dockerfile.${Buffer.from(crypto.getRandomValues(new Uint8Array(10))).toString("hex")}`;
    const bytes = new TextEncoder().encode(req.dockerfile.text);
    extra.push({ header: { name: dockerfile, type: "file", mode: 0o600, size: bytes.length, mtime: Math.floor(Date.now() / 1000) }, body: bytes });
  }
  function* members() {
    yield* packMembers(root, { skip });
    yield* extra;
  }
  return { body: tarStream(members()), dockerfile };
}

/** The X-Docker-Container-Path-Stat header: base64 of the stat's JSON. */
function pathStatOf(res: Response): PathStat {
  const h = res.headers.get("x-docker-container-path-stat");
  if (!h) throw new EngineError("system", "unable to get resource stat from response: no X-Docker-Container-Path-Stat header");
  return JSON.parse(Buffer.from(h, "base64").toString("utf8")) as PathStat;
}

/** Epoch ns as the API's "seconds.nanoseconds". */
function nsToApi(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
}
