/**
 * Engine errors carry the HTTP status moby would answer with, so the CLI (in-process) and the daemon
 * (over the API) report the same failure the same way: "Error response from daemon: <message>".
 */

/** Error classes, named after moby's errdefs; each maps to one HTTP status. */
export type ErrorKind = "notFound" | "invalidParameter" | "conflict" | "unauthorized" | "forbidden" | "notModified" | "notImplemented" | "unavailable" | "system";

const statusOf: Record<ErrorKind, number> = {
  notFound: 404,
  invalidParameter: 400,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  notModified: 304,
  notImplemented: 501,
  unavailable: 503,
  system: 500,
};

/** What exactly failed, where callers act on it (finer than a kind; the kinds are what the API's status carries). */
export type ErrorCode =
  | "noSuchImage"
  | "noSuchContainer"
  | "noSuchNetwork"
  | "imagePlatformMismatch"
  // A container's or an exec's process could not start (ContainerStartError, ExecStartError: they carry its status).
  | "startFailed"
  // A --since/--until value that is neither a time nor a duration (the docker CLI's own check, before any request).
  | "invalidTimestamp"
  // daemon.json or the daemon's flags refused, or its listeners could not start (dockerd's start-up failures).
  | "daemonConfig"
  | "daemonStart"
  // A store layer's blob is known by digest (from its pull) but not held here: materialize() it (push).
  | "blobNotLocal"
  // A layer unpacked by an older build has no tar-split record: its tar cannot be rebuilt (save, push).
  | "noTarSplit"
  // The daemon's socket refused this user (EACCES): the docker CLI's "permission denied while trying to connect".
  | "daemonDenied";

/** A failure the engine reports to its client, with moby's error class and message text. */
export class EngineError extends Error {
  /** Set where a caller must tell this failure from others of its kind. */
  readonly code?: ErrorCode;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown; code?: ErrorCode },
  ) {
    super(message, options);
    this.name = "EngineError";
    if (options?.code) this.code = options.code;
  }
  /** The HTTP status for the API (moby's api/server/httpstatus). */
  get status(): number {
    return statusOf[this.kind];
  }
}

/** `No such image: x` (404). */
export const noSuchImage = (ref: string) => new EngineError("notFound", `No such image: ${ref}`, { code: "noSuchImage" });
/** `No such container: x` (404). */
export const noSuchContainer = (ref: string) => new EngineError("notFound", `No such container: ${ref}`, { code: "noSuchContainer" });
/** `network x not found` (404). */
export const noSuchNetwork = (ref: string) => new EngineError("notFound", `network ${ref} not found`, { code: "noSuchNetwork" });
/** 400 with the given message. */
export const invalidParameter = (msg: string) => new EngineError("invalidParameter", msg);
/** 409 with the given message. */
export const conflict = (msg: string) => new EngineError("conflict", msg);
