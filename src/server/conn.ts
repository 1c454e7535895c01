/**
 * One client connection of the HTTP/1.1 server (server.ts): its phases (head, body, busy, hijacked),
 * request parsing through http1.ts, the app call under the body policy, response writing with
 * backpressure, the per-connection limits and timers, and hijacking.
 */
import type { Socket } from "bun";
import { bodyless, ChunkedDecoder, encodeChunk, findHeadEnd, HttpError, LAST_CHUNK, parseHead, responseHead, type RequestHead, STATUS_TEXT } from "./http1.ts";
import { hijackOf, type HijackSpec, type RawConn } from "./hijack.ts";
import type { BodyPolicy, HttpApp, ServerLimits } from "./server.ts";

/** What a connection needs of its server: the app, the limits, the log, and the counters it keeps. */
export interface ConnHost {
  readonly app: HttpApp;
  readonly limits: ServerLimits;
  readonly log: (level: "info" | "warn" | "error", msg: string) => void;
  readonly conns: Set<Conn>;
  inflight: number;
  requests: number;
  settled(): void;
}

const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);
let dateCache = "";
let dateSecond = 0;
function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateCache = new Date(s * 1000).toUTCString();
  }
  return dateCache;
}

/** Go's CanonicalMIMEHeaderKey: "api-version" → "Api-Version" (clients are case-insensitive; this reads like dockerd). */
function canonical(k: string): string {
  return k.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase());
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The JSON error body every failure before the app gets. */
function errorHead(status: number, message: string, close: boolean, isHead: boolean): Uint8Array {
  const body = JSON.stringify({ message }) + "\n";
  const headers: [string, string][] = [
    ["Content-Type", "application/json"],
    ["Content-Length", String(enc.encode(body).length)],
    ["Date", httpDate()],
  ];
  if (close) headers.push(["Connection", "close"]);
  return enc.encode(responseHead(status, headers) + (isHead ? "" : body));
}

type Phase = "head" | "body" | "busy" | "hijacked" | "closed";

/** One client connection. */
export class Conn {
  phase: Phase = "head";
  buf: Uint8Array = EMPTY;
  scanFrom = 0;
  head?: RequestHead;
  policy?: BodyPolicy;
  /** CL-framed body: bytes left to read. */
  remaining = 0;
  decoder?: ChunkedDecoder;
  bodyParts: Uint8Array[] = [];
  bodyLen = 0;
  bodyCtl?: ReadableStreamDefaultController<Uint8Array>;
  bodyDone = true;
  abort?: AbortController;
  timer?: ReturnType<typeof setTimeout>;
  pending: Uint8Array[] = [];
  drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  peerEnded = false;
  /** Set by the server's close(): answer with Connection: close and stop after the current response. */
  closing = false;
  onClose: (() => void)[] = [];
  /** Our FIN went out (gracefulClose); the peer's FIN then completes the close. */
  finSent = false;
  /** Writing an open-ended (chunked or close-delimited) response. */
  streaming = false;
  raw?: { ctl?: ReadableStreamDefaultController<Uint8Array>; ended: boolean };

  constructor(
    readonly socket: Socket<Conn | undefined>,
    readonly server: ConnHost,
  ) {
    this.idle();
  }

  /** Phase checks after an await (TypeScript would keep the narrowing from before it). */
  isClosed(): boolean {
    return this.phase === "closed";
  }

  // ---------------------------------------------------------------- input

  data(chunk: Uint8Array) {
    if (this.phase === "closed") return;
    if (this.phase === "hijacked") {
      if (this.raw?.ctl) {
        this.raw.ctl.enqueue(chunk.slice());
        if ((this.raw.ctl.desiredSize ?? 1) <= 0) this.socket.pause();
      } else {
        this.buf = concat(this.buf, chunk);
      }
      return;
    }
    const wasEmpty = this.buf.length === 0;
    this.buf = concat(this.buf, chunk);
    // Pipelined requests wait while one is being answered; a client that floods meanwhile is paused.
    if (this.phase === "busy" && this.bodyDone && this.buf.length > this.server.limits.maxHeaderBytes) this.socket.pause();
    if (this.phase === "head" && wasEmpty) this.setTimer(this.server.limits.headerTimeoutMs, () => this.fail(new HttpError(408, "timeout reading request headers")));
    if (this.phase === "body" && this.policy?.mode === "buffer") this.setTimer(this.server.limits.bodyIdleTimeoutMs, () => this.fail(new HttpError(408, "timeout reading request body")));
    this.process();
  }

  /** The peer sent FIN. */
  end() {
    this.peerEnded = true;
    if (this.finSent) return this.destroy();
    if (this.phase === "hijacked") {
      if (this.raw?.ctl && !this.raw.ended) {
        this.raw.ended = true;
        this.raw.ctl.close();
      } else if (this.raw) this.raw.ended = true;
      return;
    }
    if (this.phase === "head" && this.buf.length === 0) return this.destroy();
    // A client that went away while its answer is still being made (a build step without output, a wait):
    // its handler learns it now, not at the next write, as Go's server cancels the request's context when
    // its background read sees EOF.
    if (this.phase === "busy" && this.bodyDone) this.abort?.abort(new Error("client disconnected"));
    if (this.phase === "head" || (this.phase === "body" && !this.bodyDone)) {
      // A request cut short: nothing sensible to answer; a streaming body learns it was truncated.
      this.bodyCtl?.error(new Error("client closed the connection before the request body ended"));
      if (this.phase === "head" || this.policy?.mode === "buffer") return this.destroy();
    }
  }

  /** Parses what the buffer holds, as far as the current phase allows. */
  process() {
    try {
      while (this.phase === "head" || this.phase === "body" || (this.phase === "busy" && !this.bodyDone)) {
        if (this.phase === "head") {
          if (this.buf.length === 0) return;
          const found = findHeadEnd(this.buf, this.scanFrom);
          if (!found) {
            if (this.buf.length > this.server.limits.maxHeaderBytes) throw new HttpError(431, "request header too large");
            this.scanFrom = Math.max(0, this.buf.length - 3);
            return;
          }
          const [headEnd, bodyStart] = found;
          if (headEnd > this.server.limits.maxHeaderBytes) throw new HttpError(431, "request header too large");
          const head = parseHead(this.buf.subarray(0, headEnd));
          this.buf = this.buf.subarray(bodyStart);
          this.scanFrom = 0;
          this.clearTimer();
          this.startRequest(head);
          continue;
        }
        // Body bytes (phase "body", or "busy" while a streaming body is still arriving).
        if (this.buf.length === 0) return;
        let used: number;
        if (this.decoder) {
          used = this.decoder.push(this.buf);
          if (this.decoder.total > this.policy!.max) throw new HttpError(413, "request body too large");
          if (this.decoder.done) this.bodyDone = true;
        } else {
          used = Math.min(this.remaining, this.buf.length);
          this.bodyChunk(this.buf.subarray(0, used));
          this.remaining -= used;
          if (this.remaining === 0) this.bodyDone = true;
        }
        this.buf = this.buf.subarray(used);
        if (this.bodyDone) this.finishBody();
        else return;
      }
    } catch (e) {
      this.fail(e instanceof HttpError ? e : new HttpError(400, (e as Error).message));
    }
  }

  startRequest(head: RequestHead) {
    this.head = head;
    const path = head.target.split("?")[0]!;
    const policy = this.server.app.bodyPolicy?.(head.method, path) ?? { mode: "buffer", max: this.server.limits.maxBodyBytes };
    this.policy = policy;
    const hasBody = head.chunked || (head.contentLength ?? 0) > 0;
    if (head.contentLength !== null && head.contentLength > policy.max) throw new HttpError(413, "request body too large");
    if (hasBody && head.expectContinue) this.write(enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    this.bodyParts = [];
    this.bodyLen = 0;
    this.decoder = head.chunked ? new ChunkedDecoder((c) => this.bodyChunk(c)) : undefined;
    this.remaining = head.chunked ? 0 : (head.contentLength ?? 0);
    this.bodyDone = !hasBody;
    this.abort = new AbortController();
    if (policy.mode === "stream" && hasBody) {
      const stream = new ReadableStream<Uint8Array>({
        start: (ctl) => {
          this.bodyCtl = ctl;
        },
        pull: () => {
          if (this.phase !== "closed") this.socket.resume();
        },
        cancel: () => {
          this.bodyCtl = undefined;
        },
      });
      this.phase = "busy";
      this.dispatch(head, stream);
      return;
    }
    if (!hasBody) return this.finishBody();
    this.phase = "body";
    this.setTimer(this.server.limits.bodyIdleTimeoutMs, () => this.fail(new HttpError(408, "timeout reading request body")));
  }

  bodyChunk(c: Uint8Array) {
    if (c.length === 0) return;
    if (this.bodyCtl) {
      this.bodyCtl.enqueue(c.slice());
      if ((this.bodyCtl.desiredSize ?? 1) <= 0) this.socket.pause();
      return;
    }
    if (this.policy?.mode === "stream") return; // the app cancelled the body: drop the rest
    this.bodyLen += c.length;
    if (this.bodyLen > this.policy!.max) throw new HttpError(413, "request body too large");
    this.bodyParts.push(c.slice());
  }

  finishBody() {
    if (this.policy?.mode === "stream" && this.phase === "busy") {
      try {
        this.bodyCtl?.close();
      } catch {}
      this.bodyCtl = undefined;
      // Read on (a full body paused the socket): a client that goes away mid-answer is only seen by reading,
      // as Go's server keeps a background read on the connection. Pipelined bytes are buffered, then paused.
      if (this.phase === "busy") this.socket.resume();
      return;
    }
    this.clearTimer();
    this.phase = "busy";
    let body: Uint8Array | null = null;
    if (this.bodyLen > 0) body = this.bodyParts.length === 1 ? this.bodyParts[0]! : Buffer.concat(this.bodyParts);
    this.bodyParts = [];
    this.dispatch(this.head!, body);
  }

  dispatch(head: RequestHead, body: Uint8Array | ReadableStream<Uint8Array> | null) {
    let req: Request;
    try {
      const withBody = body !== null && head.method !== "GET" && head.method !== "HEAD";
      req = new Request(`http://localhost${head.target === "*" ? "/*" : head.target}`, {
        method: head.method,
        headers: head.headers,
        body: withBody ? body : undefined,
        signal: this.abort!.signal,
        ...(withBody && body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (e) {
      return this.fail(new HttpError(400, (e as Error).message));
    }
    this.server.inflight++;
    this.server.requests++;
    const done = () => {
      this.server.inflight--;
      this.server.settled();
    };
    Promise.resolve()
      .then(() => this.server.app.fetch(req))
      .then((res) => this.respond(res, head))
      .catch((e) => {
        this.server.log("error", `request ${head.method} ${head.target}: ${(e as Error)?.stack ?? e}`);
        if (this.phase !== "closed" && this.phase !== "hijacked") this.destroy();
      })
      .finally(done);
  }

  // ---------------------------------------------------------------- output

  async respond(res: Response, head: RequestHead) {
    if (this.phase === "closed") {
      await res.body?.cancel().catch(() => {});
      return;
    }
    const hj = hijackOf(res);
    if (hj) return this.startHijack(hj);
    const isHead = head.method === "HEAD";
    const status = res.status;
    const cl = res.headers.get("content-length");
    const chunkable = head.minor === 1;
    let keepAlive = head.keepAlive && !this.closing && !this.peerEnded;
    const headers: [string, string][] = [];
    res.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection" && k !== "date") headers.push([canonical(k), v]);
    });
    headers.push(["Date", httpDate()]);
    const streamBody = !isHead && !bodyless(status) && res.body !== null;
    if (streamBody && cl === null && !chunkable) keepAlive = false; // HTTP/1.0: the body ends at close
    // A streaming request body the app did not read to the end: the connection cannot be reused.
    const unreadBody = () => !this.bodyDone;
    const finishHeaders = () => {
      if (!keepAlive || unreadBody()) headers.push(["Connection", "close"]);
      else if (head.minor === 0) headers.push(["Connection", "keep-alive"]);
    };

    if (!streamBody) {
      if (!bodyless(status)) headers.push(["Content-Length", cl ?? "0"]);
      await res.body?.cancel().catch(() => {});
      finishHeaders();
      await this.write(enc.encode(responseHead(status, headers)));
      return this.afterResponse(keepAlive);
    }
    const reader = res.body!.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    this.onClose.push(cancel);
    try {
      if (cl !== null) {
        // Known length: head and the first chunk in one write (a static body is one chunk: one packet).
        headers.push(["Content-Length", cl]);
        finishHeaders();
        const first = await reader.read();
        const headBytes = enc.encode(responseHead(status, headers));
        await this.write(first.done ? headBytes : concat(headBytes, first.value));
        if (!first.done) {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            await this.write(value);
          }
        }
      } else {
        // Streams (pull progress, events, wait): the head goes out at once, each chunk as it comes.
        if (chunkable) headers.push(["Transfer-Encoding", "chunked"]);
        finishHeaders();
        this.streaming = true;
        await this.write(enc.encode(responseHead(status, headers)));
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (value.length === 0) continue;
          await this.write(chunkable ? encodeChunk(value) : value);
        }
        if (chunkable) await this.write(LAST_CHUNK);
      }
    } catch (e) {
      // The app's stream failed, or the client went away: without the terminating chunk the client sees
      // an unexpected EOF, which is the truth.
      if (!this.isClosed()) this.server.log("error", `response stream for ${head.method} ${head.target}: ${(e as Error)?.message ?? e}`);
      cancel();
      return this.destroy();
    } finally {
      this.streaming = false;
      const i = this.onClose.indexOf(cancel);
      if (i >= 0) this.onClose.splice(i, 1);
    }
    this.afterResponse(keepAlive);
  }

  afterResponse(keepAlive: boolean) {
    if (this.phase === "closed") return;
    if (!keepAlive || !this.bodyDone || this.closing || (this.peerEnded && this.buf.length === 0)) return this.gracefulClose();
    this.phase = "head";
    this.head = undefined;
    this.policy = undefined;
    this.decoder = undefined;
    this.abort = undefined;
    this.idle();
    this.socket.resume();
    if (this.buf.length) {
      // Pipelined request already here: its head deadline runs from now.
      this.setTimer(this.server.limits.headerTimeoutMs, () => this.fail(new HttpError(408, "timeout reading request headers")));
      this.process();
    }
  }

  startHijack(spec: HijackSpec) {
    this.phase = "hijacked";
    this.clearTimer();
    const conn = this;
    const leftover = this.buf;
    this.buf = EMPTY;
    this.raw = { ended: this.peerEnded };
    const readable = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        conn.raw!.ctl = ctl;
        if (leftover.length) ctl.enqueue(leftover.slice());
        if (conn.raw!.ended) ctl.close();
      },
      pull: () => {
        if (conn.phase !== "closed") conn.socket.resume();
      },
      cancel: () => {
        conn.raw!.ctl = undefined;
      },
    });
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => (closedResolve = r));
    this.onClose.push(() => closedResolve());
    const raw: RawConn = {
      readable,
      write: (d) => conn.write(typeof d === "string" ? enc.encode(d) : d),
      closeWrite: () => {
        if (conn.phase !== "closed") conn.flushThen(() => conn.socket.shutdown());
      },
      close: () => conn.gracefulClose(),
      closed,
      signal: this.abort?.signal ?? new AbortController().signal,
    };
    this.write(enc.encode(responseHead(spec.status, spec.headers, spec.reason)))
      .then(() => spec.run(raw))
      .catch((e) => this.server.log("error", `hijacked connection: ${(e as Error)?.message ?? e}`))
      .finally(() => this.gracefulClose());
  }

  /** Writes bytes; resolves when the kernel took them all. Rejects when the connection is closed. */
  write(data: Uint8Array): Promise<void> {
    if (this.phase === "closed") return Promise.reject(new Error("connection closed"));
    if (this.pending.length === 0) {
      const n = this.socket.write(data);
      if (n === data.length) return Promise.resolve();
      if (n < 0) {
        this.destroy();
        return Promise.reject(new Error("connection closed"));
      }
      this.pending.push(data.subarray(n));
    } else {
      this.pending.push(data);
    }
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  drain() {
    while (this.pending.length) {
      const d = this.pending[0]!;
      const n = this.socket.write(d);
      if (n < 0) return this.destroy();
      if (n < d.length) {
        this.pending[0] = d.subarray(n);
        return;
      }
      this.pending.shift();
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  flushThen(fn: () => void) {
    if (this.pending.length === 0) return fn();
    new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject })).then(fn, () => {});
  }

  // ---------------------------------------------------------------- errors, timers, close

  /** Answers a protocol error (if nothing was sent yet) and closes. */
  fail(e: HttpError) {
    if (this.phase === "closed") return;
    const canAnswer = this.phase === "head" || this.phase === "body";
    this.phase = "busy";
    this.clearTimer();
    this.bodyCtl?.error(e);
    if (canAnswer) {
      this.write(errorHead(e.status, e.message || STATUS_TEXT[e.status] || "error", true, this.head?.method === "HEAD")).catch(() => {});
    }
    this.gracefulClose();
  }

  idle() {
    this.setTimer(this.server.limits.keepAliveTimeoutMs, () => {
      if (this.phase === "head" && this.buf.length === 0) this.destroy();
    });
  }

  setTimer(ms: number, fn: () => void) {
    this.clearTimer();
    this.timer = setTimeout(fn, ms);
  }

  clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Flushes what is queued, then FIN; the socket closes when the peer closes or shortly after. */
  gracefulClose() {
    if (this.phase === "closed") return;
    this.flushThen(() => {
      if (this.phase === "closed" || this.finSent) return;
      this.finSent = true;
      // A peer that never closes its side does not keep the connection (and the daemon's shutdown) waiting.
      // Armed before end(): end() may run the close handler synchronously, which clears it.
      this.setTimer(2000, () => this.destroy());
      this.socket.end();
    });
  }

  destroy() {
    if (this.phase !== "closed") this.socket.end();
    this.closed();
  }

  /** Bookkeeping once the socket is gone (called from the close handler, or by destroy). */
  closed() {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.clearTimer();
    this.abort?.abort(new Error("client disconnected"));
    try {
      this.bodyCtl?.error(new Error("client disconnected"));
    } catch {}
    if (this.raw?.ctl && !this.raw.ended) {
      this.raw.ended = true;
      try {
        this.raw.ctl.close();
      } catch {}
    }
    for (const w of this.drainWaiters) w.reject(new Error("connection closed"));
    this.drainWaiters = [];
    this.pending = [];
    for (const f of this.onClose.splice(0)) f();
    this.server.conns.delete(this);
    this.server.settled();
  }
}

