/**
 * The HTTP/1.1 server: Bun.listen sockets (unix or TCP, optionally TLS) driving the parser in http1.ts
 * and a fetch-style app. Keep-alive and pipelining (one request at a time per connection, later ones wait
 * in the buffer), Content-Length and chunked request bodies, responses written with Content-Length or
 * chunked and flushed per chunk, HEAD without body, hijack, and limits: head size (431), body size (413),
 * a deadline for the head and an idle limit for bodies (408, then close), so bad input never reaches the
 * app and never takes the daemon down. This file listens and stops; each connection is a Conn (conn.ts).
 */
import type { Socket, SocketListener, TLSOptions } from "bun";
import { Conn, type ConnHost } from "./conn.ts";

/** How a route wants its request body. */
export interface BodyPolicy {
  /** "buffer": read it all (up to `max`) before calling the app; "stream": call the app at once with a streaming body. */
  mode: "buffer" | "stream";
  /** Largest accepted body in bytes (413 beyond); Infinity for streams. */
  max: number;
}

/** A fetch-style application, plus the body policy the server asks for before reading a body. */
export interface HttpApp {
  fetch(req: Request): Response | Promise<Response>;
  bodyPolicy?(method: string, path: string): BodyPolicy;
}

/** Server limits; every field has a default. */
export interface ServerLimits {
  /** Largest request head (request line + headers); Go's DefaultMaxHeaderBytes. */
  maxHeaderBytes: number;
  /** Default largest buffered body. */
  maxBodyBytes: number;
  /** Time from a request's first byte until its head is complete (slowloris). */
  headerTimeoutMs: number;
  /** Longest pause between body bytes. */
  bodyIdleTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxHeaderBytes: 1 << 20,
  maxBodyBytes: 32 << 20,
  headerTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 300_000,
};

/** Where to listen. */
export type ListenAddress = { unix: string } | { hostname: string; port: number; tls?: TLSOptions };

/** A running server. */
export interface HttpServer {
  /** Bound addresses ("unix:///run/bunker.sock", "tcp://127.0.0.1:2376"), in listen order. */
  readonly addresses: string[];
  /** Number of open connections. */
  readonly connections: number;
  /** Requests dispatched so far. */
  readonly requests: number;
  /** Requests being answered now. */
  readonly inflight: number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (idle keep-alive connections close
   * at once), then aborts what is left (streams end, hijacked connections close).
   */
  close(graceMs?: number): Promise<void>;
}

/** The listeners and their connections; what a Conn reports to. */
class Server implements HttpServer, ConnHost {
  conns = new Set<Conn>();
  inflight = 0;
  requests = 0;
  listeners: SocketListener<any>[] = [];
  addresses: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly app: HttpApp,
    readonly limits: ServerLimits,
    readonly log: (level: "info" | "warn" | "error", msg: string) => void,
  ) {}

  get connections() {
    return this.conns.size;
  }

  settled() {
    if (this.inflight === 0 || this.conns.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  async close(graceMs = 5000): Promise<void> {
    for (const l of this.listeners) l.stop(false);
    this.listeners = [];
    for (const c of this.conns) {
      c.closing = true;
      if ((c.phase === "head" && c.buf.length === 0) || c.phase === "body") c.destroy();
      // Open-ended streams (events, logs -f, wait, pull progress) and hijacked connections end now: waiting
      // for them would only delay the stop by the whole grace period.
      else if (c.streaming || c.phase === "hijacked") c.abort?.abort(new Error("daemon shutting down"));
    }
    await this.idle(graceMs);
    // What is left did not finish in time: abort it; streams end on their own, then sockets are closed.
    for (const c of this.conns) c.abort?.abort(new Error("daemon shutting down"));
    await this.idle(500);
    for (const c of [...this.conns]) c.destroy();
  }

  /** Resolves when no request is in flight (or no connection is left), or after `ms`. */
  private idle(ms: number): Promise<void> {
    if (this.inflight === 0 || this.conns.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}

/** Starts serving `app` on every address; throws (after closing what it opened) if one cannot be bound. */
export function serve(app: HttpApp, addresses: ListenAddress[], opts: { limits?: Partial<ServerLimits>; log?: (level: "info" | "warn" | "error", msg: string) => void } = {}): HttpServer {
  const server = new Server(app, { ...DEFAULT_LIMITS, ...opts.limits }, opts.log ?? (() => {}));
  const handler = {
    binaryType: "uint8array" as const,
    open(socket: Socket<Conn | undefined>) {
      const c = new Conn(socket, server);
      socket.data = c;
      server.conns.add(c);
    },
    data(socket: Socket<Conn | undefined>, chunk: Uint8Array) {
      socket.data?.data(chunk);
    },
    drain(socket: Socket<Conn | undefined>) {
      socket.data?.drain();
    },
    end(socket: Socket<Conn | undefined>) {
      socket.data?.end();
    },
    close(socket: Socket<Conn | undefined>) {
      socket.data?.closed();
    },
    error(socket: Socket<Conn | undefined>, error: Error) {
      server.log("warn", `connection error: ${error.message}`);
      socket.data?.destroy();
    },
  };
  try {
    for (const a of addresses) {
      if ("unix" in a) {
        server.listeners.push(Bun.listen<Conn | undefined>({ unix: a.unix, allowHalfOpen: true, socket: handler, data: undefined }));
        server.addresses.push(`unix://${a.unix}`);
      } else {
        const l = Bun.listen<Conn | undefined>({ hostname: a.hostname, port: a.port, tls: a.tls, allowHalfOpen: true, socket: handler, data: undefined });
        server.listeners.push(l);
        server.addresses.push(`tcp://${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${(l as unknown as { port: number }).port}`);
      }
    }
  } catch (e) {
    for (const l of server.listeners) l.stop(true);
    throw e;
  }
  return server;
}
