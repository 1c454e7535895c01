/**
 * The API client: how the bunker CLI (later) reaches a daemon, with `fetch` over a unix socket (Bun's
 * `unix` option) or TCP with client-certificate TLS, or straight into an in-process handler (tests, the
 * in-process mode), so one client interface covers both transports. Errors come back as the EngineError
 * the daemon threw (errors.ts round trip), so the CLI prints "Error response from daemon: ..." either way.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { apiVersion } from "../version.ts";
import { fromErrorResponse } from "./errors.ts";
import { EngineError } from "../engine/errors.ts";

/** The default daemon socket (as dockerd's /var/run/docker.sock). */
export const DEFAULT_SOCKET = "/run/bunker.sock";

/** Where and how to connect. */
export interface ClientOptions {
  /** unix:///path, tcp://host:port (https when `tls` is set); ignored when `fetch` is given. */
  host?: string;
  /** PEM contents (not paths) for TLS: the CA to trust and the client certificate/key. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** An in-process handler instead of a socket (createApi(engine).fetch). */
  fetch?: (req: Request) => Promise<Response> | Response;
  /** API version prefix for requests; default the daemon's own (negotiated by ping()). */
  version?: string;
}

/** What `HEAD /_ping` tells (the headers the docker CLI reads). */
export interface PingInfo {
  apiVersion: string;
  osType: string;
  experimental: boolean;
  builderVersion: string;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  /** JSON-encoded unless a string, bytes or a stream. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A client for one daemon. */
export class ApiClient {
  /** The version used in request paths ("1.50"); lowered by ping() when the daemon is older. */
  version: string;
  private readonly base: string;
  private readonly init: Record<string, unknown>;

  constructor(readonly opts: ClientOptions = {}) {
    this.version = opts.version ?? apiVersion;
    const host = opts.host ?? `unix://${DEFAULT_SOCKET}`;
    if (opts.fetch) {
      this.base = "http://bunker";
      this.init = {};
    } else if (host.startsWith("unix://")) {
      // The Host header is irrelevant on a socket; the docker CLI sends api.moby.localhost too.
      this.base = "http://api.moby.localhost";
      this.init = { unix: host.slice(7) };
    } else if (host.startsWith("tcp://") || host.startsWith("http://") || host.startsWith("https://")) {
      const hostport = host.replace(/^(tcp|https?):\/\//, "").replace(/\/+$/, "");
      const secure = !!opts.tls || host.startsWith("https://");
      this.base = `${secure ? "https" : "http"}://${hostport}`;
      this.init = opts.tls ? { tls: { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } } : {};
    } else {
      throw new TypeError(`Cannot parse host ${JSON.stringify(host)}: unix://, tcp:// or https:// expected`);
    }
  }

  /** Sends a request to `/v<version><path>` and returns the raw Response (errors included). */
  async raw(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) qs.append(k, x);
      else qs.set(k, typeof v === "boolean" ? (v ? "1" : "0") : String(v));
    }
    const url = `${this.base}/v${this.version}${path}${qs.size ? `?${qs}` : ""}`;
    const headers: Record<string, string> = { ...o.headers };
    let body: RequestInit["body"];
    if (o.body !== undefined) {
      if (typeof o.body === "string" || o.body instanceof Uint8Array || o.body instanceof ReadableStream) body = o.body as RequestInit["body"];
      else {
        body = JSON.stringify(o.body);
        headers["content-type"] ??= "application/json";
      }
    }
    const init = { method, headers, body, signal: o.signal, ...this.init } as RequestInit;
    if (this.opts.fetch) return this.opts.fetch(new Request(url, init));
    return fetch(url, init);
  }

  /** Sends a request; a 4xx/5xx becomes the daemon's EngineError. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const res = await this.raw(method, path, o);
    if (res.status >= 400) throw await fromErrorResponse(res, `/v${this.version}${path}`);
    return res;
  }

  /** A request whose answer is JSON. */
  async json<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    return (await (await this.request(method, path, o)).json()) as T;
  }

  /** Newline-delimited JSON messages of a stream (pull progress, events), as they arrive. */
  async *messages<T = unknown>(res: Response): AsyncGenerator<T> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body ?? []) {
      buf += dec.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield JSON.parse(line) as T;
      }
    }
    if (buf.trim()) yield JSON.parse(buf) as T;
  }

  /** `HEAD /_ping` (unversioned, as the CLI does); adopts the daemon's version when it is older. */
  async ping(signal?: AbortSignal): Promise<PingInfo> {
    const url = `${this.base}/_ping`;
    const init = { method: "HEAD", signal, ...this.init } as RequestInit;
    const res = this.opts.fetch ? await this.opts.fetch(new Request(url, init)) : await fetch(url, init);
    if (res.status !== 200 && res.status !== 500) throw await fromErrorResponse(res, "/_ping");
    const info: PingInfo = {
      apiVersion: res.headers.get("api-version") ?? "1.24",
      osType: res.headers.get("ostype") ?? "",
      experimental: res.headers.get("docker-experimental") === "true",
      builderVersion: res.headers.get("builder-version") ?? "",
    };
    if (!this.opts.version && compare(info.apiVersion, this.version) < 0) this.version = info.apiVersion;
    return info;
  }
}

function compare(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 2; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
}

/**
 * The daemon the CLI should use, if any: `-H` first, then BUNKER_HOST, then the default socket when a
 * daemon answers there (a 500 ms ping); undefined means "run the engine in-process".
 * BUNKER_TLS_VERIFY / BUNKER_CERT_PATH (ca.pem, cert.pem, key.pem) add client TLS, as DOCKER_* do for docker.
 */
export async function resolveDaemon(opts: { host?: string; env?: Record<string, string | undefined> } = {}): Promise<ApiClient | undefined> {
  const env = opts.env ?? process.env;
  const host = opts.host || env.BUNKER_HOST;
  const tls = env.BUNKER_TLS_VERIFY && env.BUNKER_CERT_PATH ? readCerts(env.BUNKER_CERT_PATH) : undefined;
  if (host) {
    // Negotiate as the docker CLI does: an older daemon (dockerd 20.10 speaks 1.41) gets its own version.
    const client = new ApiClient({ host, tls });
    await client.ping(AbortSignal.timeout(5000)).catch((e) => {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EACCES" || /\bEACCES\b/.test(err.message)) {
        throw new EngineError("unavailable", `permission denied while trying to connect to the bunker daemon socket at ${host}: connect: permission denied`, { code: "daemonDenied" });
      }
      throw new EngineError("unavailable", `Cannot connect to the daemon at ${host}. Is the daemon running? (${(e as Error).message})`);
    });
    return client;
  }
  if (!existsSync(DEFAULT_SOCKET)) return undefined;
  const client = new ApiClient({ host: `unix://${DEFAULT_SOCKET}` });
  try {
    await client.ping(AbortSignal.timeout(500));
    return client;
  } catch {
    return undefined;
  }
}

function readCerts(dir: string) {
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : undefined);
  return { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
}
