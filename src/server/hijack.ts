/**
 * Connection hijacking for attach and exec start: a route returns `hijack(req, ...)` and, once the
 * server has written the status line, gets the raw socket as a duplex byte pipe. Docker's CLI asks with
 * `Upgrade: tcp` and requires `101 UPGRADED`; dockerode/testcontainers without it get `200 OK` and a raw
 * body that ends when the connection closes (docker-engine-api.md §3.3).
 */

/** Marks a Response as a hijack request for the server (a Response cannot have status 101). */
export const HIJACK = Symbol.for("bunker.api.hijack");

/** The raw connection a hijack handler gets after the response head was written. */
export interface RawConn {
  /** Client→server bytes (stdin): starts with any bytes that followed the request; ends at the client's half-close (FIN). */
  readonly readable: ReadableStream<Uint8Array>;
  /** Writes bytes; resolves when the kernel accepted them (backpressure), rejects once the connection is gone. */
  write(data: Uint8Array | string): Promise<void>;
  /** Half-close: sends FIN, the client may keep sending stdin. */
  closeWrite(): void;
  /** Closes both directions. */
  close(): void;
  /** Settles when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  /** Aborted when the connection closes; for handlers that only watch. */
  readonly signal: AbortSignal;
}

/** What the server needs to perform a hijack. */
export interface HijackSpec {
  status: 101 | 200;
  reason: string;
  headers: [string, string][];
  /** Runs after the head is flushed; the server closes the connection when it settles (if still open). */
  run(conn: RawConn): void | Promise<void>;
}

/**
 * Answers a hijackable request: `101 UPGRADED` (with Connection/Upgrade headers) when the request asked
 * for `Upgrade: tcp`, else `200 OK` with a raw, unframed body. `contentType` is the stream's media type
 * (application/vnd.docker.multiplexed-stream or application/vnd.docker.raw-stream).
 */
export function hijack(req: Request, contentType: string, run: HijackSpec["run"]): Response {
  const upgrade = req.headers.get("upgrade") !== null;
  const spec: HijackSpec = upgrade
    ? { status: 101, reason: "UPGRADED", headers: [["Content-Type", contentType], ["Connection", "Upgrade"], ["Upgrade", "tcp"]], run }
    : { status: 200, reason: "OK", headers: [["Content-Type", contentType]], run };
  // In-process callers (tests, the in-process client) see an empty 200; only the socket server hijacks.
  return Object.assign(new Response(null, { status: 200, headers: { "content-type": contentType } }), { [HIJACK]: spec });
}

/** The hijack spec a response carries, if any. */
export function hijackOf(res: Response): HijackSpec | undefined {
  return (res as unknown as Record<symbol, HijackSpec | undefined>)[HIJACK];
}
