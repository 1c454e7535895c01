/**
 * A small HTTP proxy on loopback in front of a real registry that injects faults by path pattern: 5xx a few
 * times, drop the connection after K body bytes, corrupt a byte, ignore Range, or redirect to a second
 * loopback host (127.0.0.2) the way registries redirect blobs to a CDN with a signed URL.
 */
import type { Server } from "bun";

/** One fault rule; the first matching rule with uses left applies. */
export interface Fault {
  /** Matched against the request path ("/v2/x/blobs/sha256:..."). */
  path: RegExp;
  method?: string;
  /** How many requests it applies to (default: all). */
  times?: number;
  /** Answer with this status (and an OCI error body) instead of forwarding. */
  status?: number;
  /** Forward, but cut the connection after this many body bytes. */
  dropAfter?: number;
  /** Forward, flipping the last byte of the body. */
  corrupt?: boolean;
  /** Forward without the Range header and without Accept-Ranges (a server that cannot resume). */
  noRange?: boolean;
  /** Answer 307 to the redirect host, which serves the same bytes under a one-time "signed" URL. */
  redirect?: boolean;
  /** Read the request, then drop the connection without an answer (a registry dying mid-upload). */
  hangup?: boolean;
}

/** A request the proxy (or its redirect host) saw. */
export interface SeenRequest {
  host: string;
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  /** Content-Range of an upload chunk (PATCH). */
  contentRange?: string;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** "127.0.0.1:PORT", to use as a registry domain in references. */
  host: string;
  /** "http://127.0.0.2:PORT": where redirected requests land. */
  redirectUrl: string;
  faults: Fault[];
  requests: SeenRequest[];
  stop(): void;
}

/** Starts a proxy forwarding to `upstream` ("http://127.0.0.1:5000"). */
export function startFaultProxy(upstream: string): FaultProxy {
  const faults: Fault[] = [];
  const requests: SeenRequest[] = [];
  // "Signed URLs": the redirect host forwards with the credentials the original request carried, so the
  // client does not need to (and must not) send its own Authorization there.
  const signed = new Map<string, { path: string; auth?: string; fault: Fault }>();

  const record = (req: Request, host: string) => {
    const u = new URL(req.url);
    requests.push({
      host,
      method: req.method,
      path: u.pathname + u.search,
      range: req.headers.get("range") ?? undefined,
      authorization: req.headers.get("authorization") ?? undefined,
      contentRange: req.headers.get("content-range") ?? undefined,
    });
  };

  const forward = async (req: Request, pathAndQuery: string, auth: string | undefined, f: Fault | undefined): Promise<Response> => {
    const headers = new Headers(req.headers);
    headers.delete("host");
    if (auth) headers.set("authorization", auth);
    else headers.delete("authorization");
    if (f?.noRange) headers.delete("range");
    // Uploads (PATCH, PUT, POST) carry bodies; upload Locations are rewritten to come back through the proxy.
    const reqBody = req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(await req.arrayBuffer());
    const res = await fetch(upstream + pathAndQuery, { method: req.method, headers, redirect: "manual", body: reqBody });
    const out = new Headers(res.headers);
    const loc = out.get("location");
    if (loc?.startsWith(upstream)) out.set("location", `${proxyOrigin}${loc.slice(upstream.length)}`);
    // The body is re-streamed, so lengths and encodings may change.
    out.delete("content-encoding");
    if (f?.noRange) out.delete("accept-ranges");
    if (!f || (!f.dropAfter && !f.corrupt) || !res.body || req.method === "HEAD") {
      return new Response(req.method === "HEAD" ? null : res.body, { status: res.status, headers: out });
    }
    out.delete("content-length");
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (f.corrupt && bytes.length > 0) bytes[bytes.length - 1]! ^= 0xff;
    if (f.dropAfter === undefined) return new Response(bytes, { status: res.status, headers: out });
    const cut = Math.min(f.dropAfter, bytes.length);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(bytes.subarray(0, cut));
          return;
        }
        // Give the first bytes time to reach the client, then kill the connection mid-body.
        await Bun.sleep(20);
        c.error(new Error("fault-proxy: connection dropped on purpose"));
      },
    });
    return new Response(body, { status: res.status, headers: out });
  };

  const take = (req: Request, path: string): Fault | undefined => {
    const f = faults.find((x) => x.path.test(path) && (!x.method || x.method === req.method) && (x.times === undefined || x.times > 0));
    if (f && f.times !== undefined) f.times--;
    return f;
  };

  let redirectServer: Server<undefined>;
  let proxyOrigin = "";
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // Dropped connections are intentional; keep them out of the test log.
    error: () => new Response(null, { status: 500 }),
    async fetch(req) {
      const u = new URL(req.url);
      record(req, "proxy");
      const f = take(req, u.pathname);
      if (f?.status) {
        const code = f.status >= 500 ? "UNAVAILABLE" : "UNKNOWN";
        return Response.json({ errors: [{ code, message: `fault-proxy: injected ${f.status}` }] }, { status: f.status });
      }
      if (f?.hangup) {
        await req.arrayBuffer().catch(() => {});
        return new Response(new ReadableStream({ start: (c) => c.error(new Error("fault-proxy: hung up on purpose")) }));
      }
      if (f?.redirect) {
        const id = crypto.randomUUID();
        signed.set(id, { path: u.pathname + u.search, auth: req.headers.get("authorization") ?? undefined, fault: { ...f, redirect: false } });
        return new Response(null, { status: 307, headers: { location: `${redirectServer.url.origin}/signed/${id}` } });
      }
      return forward(req, u.pathname + u.search, req.headers.get("authorization") ?? undefined, f);
    },
  });
  proxyOrigin = `http://127.0.0.1:${server.port}`;
  redirectServer = Bun.serve({
    hostname: "127.0.0.2",
    port: 0,
    error: () => new Response(null, { status: 500 }),
    async fetch(req) {
      record(req, "redirect");
      const id = new URL(req.url).pathname.replace(/^\/signed\//, "");
      const s = signed.get(id);
      if (!s) return new Response("unknown signature", { status: 403 });
      return forward(req, s.path, s.auth, undefined);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    host: `127.0.0.1:${server.port}`,
    redirectUrl: `http://127.0.0.2:${redirectServer.port}`,
    faults,
    requests,
    stop() {
      server.stop(true);
      redirectServer.stop(true);
    },
  };
}
