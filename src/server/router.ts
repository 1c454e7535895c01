/**
 * Routing and the middleware every response goes through, as moby's api/server does it: each route
 * answers both unversioned and under /v<version>/; the version must lie in [1.24, 1.50] (moby's texts);
 * every response carries Api-Version, Ostype, Server and Docker-Experimental; unknown routes get 404
 * "page not found"; thrown errors become `{"message"}` responses via errors.ts. The result is a plain
 * fetch-style handler (hono style) that the socket server, tests and the in-process client all call.
 */
import { apiVersion, minApiVersion, version as bunkerVersion } from "../version.ts";
import { errorResponse, toErrorResponse } from "./errors.ts";
import type { BodyPolicy, HttpApp } from "./server.ts";

/** What a handler gets besides the Request. */
export interface Ctx {
  /** Path parameters: `{name}` (one segment) and `{name:.*}` (greedy, slashes and colons included). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the client asked for ("1.50"), or the daemon's own for unversioned paths. */
  version: string;
  /** The path without the version prefix. */
  path: string;
}

/** A route handler: Request in, Response out (throw an EngineError for failures). */
export type Handler = (req: Request, ctx: Ctx) => Response | Promise<Response>;

/** Per-route options. */
export interface RouteOptions {
  /** "stream" hands the handler a streaming body (image load, archive upload); default "buffer". */
  body?: "buffer" | "stream";
  /** Largest body for a buffered route (default: the server's maxBodyBytes). */
  maxBody?: number;
}

interface Route {
  method: string;
  pattern: string;
  regex?: RegExp;
  names: string[];
  handler: Handler;
  opts: RouteOptions;
}

/** Compares dotted versions numerically ("1.9" < "1.24"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Routes: literal paths in a map, patterns tried in declaration order after them. */
export class Router {
  private literal = new Map<string, Route>();
  private patterns: Route[] = [];

  /** Declares a route. `path` may hold `{id}` (one segment) and `{name:.*}` (greedy). */
  on(method: string, path: string, handler: Handler, opts: RouteOptions = {}): this {
    const names: string[] = [];
    if (!path.includes("{")) {
      this.literal.set(`${method} ${path}`, { method, pattern: path, names, handler, opts });
      return this;
    }
    const escape = (t: string) => t.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    let src = "";
    let last = 0;
    for (const m of path.matchAll(/\{([a-zA-Z]+)(?::([^}]+))?\}/g)) {
      src += escape(path.slice(last, m.index));
      names.push(m[1]!);
      src += m[2] === ".*" ? "(.+)" : m[2] ? `(${m[2]})` : "([^/]+)";
      last = m.index! + m[0].length;
    }
    const regex = new RegExp(`^${src}${escape(path.slice(last))}$`);
    this.patterns.push({ method, pattern: path, regex, names, handler, opts });
    return this;
  }
  get(path: string, h: Handler, o?: RouteOptions) {
    return this.on("GET", path, h, o);
  }
  head(path: string, h: Handler, o?: RouteOptions) {
    return this.on("HEAD", path, h, o);
  }
  post(path: string, h: Handler, o?: RouteOptions) {
    return this.on("POST", path, h, o);
  }
  put(path: string, h: Handler, o?: RouteOptions) {
    return this.on("PUT", path, h, o);
  }
  delete(path: string, h: Handler, o?: RouteOptions) {
    return this.on("DELETE", path, h, o);
  }

  /** The route for a method and (unversioned) path, with its parameters. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    const lit = this.literal.get(`${method} ${path}`);
    if (lit) return { route: lit, params: {} };
    for (const r of this.patterns) {
      if (r.method !== method) continue;
      const m = r.regex!.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = safeDecode(m[i + 1]!)));
      return { route: r, params };
    }
    return undefined;
  }

  /** Every declared route, for docs and tests. */
  routes(): { method: string; path: string }[] {
    return [...this.literal.values(), ...this.patterns].map((r) => ({ method: r.method, path: r.pattern }));
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const VERSION_PREFIX = /^\/v([0-9.]+)(\/.*)$/;

/** Headers on every response (moby's version and experimental middlewares). */
export const COMMON_HEADERS: [string, string][] = [
  ["Api-Version", apiVersion],
  ["Docker-Experimental", "false"],
  ["Ostype", "linux"],
  ["Server", `Bunker/${bunkerVersion} (linux)`],
];

/** Splits "/v1.50/images/json" into version "1.50" and "/images/json"; unversioned paths get the daemon's version. */
export function splitVersion(pathname: string): { version: string | undefined; path: string } {
  const m = VERSION_PREFIX.exec(pathname);
  return m ? { version: m[1]!, path: m[2]! } : { version: undefined, path: pathname };
}

/** moby's version middleware: 400 with its exact texts outside [min, max]. */
export function checkVersion(v: string): Response | undefined {
  if (compareVersions(v, minApiVersion) < 0) return errorResponse(400, `client version ${v} is too old. Minimum supported API version is ${minApiVersion}, please upgrade your client to a newer version`);
  if (compareVersions(v, apiVersion) > 0) return errorResponse(400, `client version ${v} is too new. Maximum supported API version is ${apiVersion}`);
  return undefined;
}

/** The application: router + middleware, as a fetch handler the server (and tests) call. */
export function createApp(router: Router, opts: { fallback?: Router; maxBodyBytes?: number; debug?: (msg: string) => void } = {}): HttpApp & { fetch(req: Request): Promise<Response> } {
  const finish = (res: Response, method: string): Response => {
    for (const [k, v] of COMMON_HEADERS) res.headers.set(k, v);
    if (method === "HEAD" && res.body !== null) {
      // No body on HEAD, errors included (a stray body confuses Go's client on the next request).
      const out = new Response(null, { status: res.status, headers: res.headers });
      res.body.cancel().catch(() => {});
      return out;
    }
    return res;
  };
  return {
    async fetch(req: Request): Promise<Response> {
      const url = new URL(req.url);
      const { version, path } = splitVersion(url.pathname);
      if (req.method === "OPTIONS") return finish(new Response(null, { status: 200, headers: { "content-length": "0" } }), req.method);
      const m = router.match(req.method, path) ?? opts.fallback?.match(req.method, path);
      if (!m) return finish(errorResponse(404, "page not found"), req.method);
      if (version !== undefined) {
        const bad = checkVersion(version);
        if (bad) return finish(bad, req.method);
      }
      let res: Response;
      try {
        res = await m.route.handler(req, { params: m.params, query: url.searchParams, version: version ?? apiVersion, path });
      } catch (e) {
        opts.debug?.(`${req.method} ${url.pathname}: ${(e as Error)?.stack ?? e}`);
        res = toErrorResponse(e);
      }
      return finish(res, req.method);
    },
    bodyPolicy(method: string, pathname: string): BodyPolicy {
      const p = splitVersion(pathname).path;
      const m = router.match(method, p) ?? opts.fallback?.match(method, p);
      const o = m?.route.opts ?? {};
      if (o.body === "stream") return { mode: "stream", max: Infinity };
      return { mode: "buffer", max: o.maxBody ?? opts.maxBodyBytes ?? 32 << 20 };
    },
  };
}

// ------------------------------------------------------------------ response helpers

const CT_JSON = "application/json";

/** A JSON response with Content-Length (one write on the wire) and Content-Type exactly application/json. */
export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const body = JSON.stringify(data) + "\n";
  return new Response(body, { status, headers: { "content-type": CT_JSON, "content-length": String(Buffer.byteLength(body)), ...headers } });
}

/** An empty response (201, 204...). */
export function empty(status = 204, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers });
}

/** Plain text ("OK" of /_ping). */
export function text(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)), ...headers } });
}

/**
 * A streaming response whose head goes out at once: `produce` gets `write` (each call is flushed as its own
 * chunk) and an AbortSignal that fires when the client goes away or the daemon stops; the stream ends
 * when `produce` settles. Errors thrown by `produce` after the head are logged and end the stream.
 */
export function stream(produce: (write: (chunk: Uint8Array | string) => void, signal: AbortSignal) => Promise<void>, opts: { contentType?: string; status?: number; signal?: AbortSignal } = {}): Response {
  const ac = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(ctl) {
      let open = true;
      const write = (c: Uint8Array | string) => {
        if (open) ctl.enqueue(typeof c === "string" ? enc.encode(c) : c);
      };
      produce(write, signal)
        .catch(() => {})
        .finally(() => {
          if (open) {
            open = false;
            try {
              ctl.close();
            } catch {}
          }
        });
      signal.addEventListener("abort", () => {
        open = false;
        try {
          ctl.close();
        } catch {}
      });
    },
    cancel() {
      ac.abort(new Error("client went away"));
    },
  });
  return new Response(body, { status: opts.status ?? 200, headers: { "content-type": opts.contentType ?? CT_JSON } });
}

/**
 * A job that reports Docker JSON messages (pull, later push and load): when it fails before its first
 * message the client gets a normal JSON error with moby's status (e.g. 404 for a missing repository);
 * after that the response is a 200 stream, one message per chunk, and a failure is reported in-band as
 * `{"errorDetail":{"message"},"error"}` (the CLI only treats errorDetail as an error, so both are sent).
 */
export function jsonMessageStream(run: (emit: (m: object) => void, signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<Response> {
  return new Promise((resolve, reject) => {
    const enc = new TextEncoder();
    const ac = new AbortController();
    const jobSignal = AbortSignal.any([signal, ac.signal]);
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    let started = false;
    let open = true;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c;
      },
      cancel: () => {
        open = false;
        ac.abort(new Error("client went away"));
      },
    });
    const start = () => {
      if (started) return;
      started = true;
      resolve(new Response(body, { status: 200, headers: { "content-type": CT_JSON } }));
    };
    const emit = (m: object) => {
      start();
      // moby's streamformatter ends each message with CRLF.
      if (open) ctl.enqueue(enc.encode(JSON.stringify(m) + "\r\n"));
    };
    run(emit, jobSignal).then(
      () => {
        start();
        if (open) ctl.close();
        open = false;
      },
      (e) => {
        if (!started) return reject(e);
        const message = (e as Error)?.message ?? String(e);
        emit({ errorDetail: { message }, error: message });
        if (open) ctl.close();
        open = false;
      },
    );
  });
}
