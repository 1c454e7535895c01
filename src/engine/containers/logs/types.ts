/**
 * The shapes `docker logs` reads and yields (see ../logs.ts for moby's semantics).
 */

/** One json-file record. */
export interface LogRecord {
  stream: "stdout" | "stderr";
  /** The time as stored (RFC 3339, nanoseconds). */
  time: string;
  /** Epoch nanoseconds. */
  timeNs: bigint;
  /** The text; lacks the trailing "\n" for a partial record (a line cut at 16 KiB, or the last output). */
  log: string;
}

export interface ReadLogsOptions {
  /** Select streams. Neither given: both. One given: the other counts as false. Both false: an error. */
  stdout?: boolean;
  stderr?: boolean;
  /** Last N records; -1 or undefined = all; 0 = none. */
  tail?: number;
  /** Epoch ms (number) or epoch ns (bigint). Records before it are dropped. */
  since?: number | bigint;
  /** Epoch ms (number) or epoch ns (bigint). Output ends at the first record after it. 0 = unset. */
  until?: number | bigint;
  follow?: boolean;
  /** While following: false ends the output once the file is drained. Absent: follow until `signal`. */
  isRunning?: () => boolean;
  signal?: AbortSignal;
  /** max-file: rotated files `<file>.1 .. <file>.(maxFiles-1)` are read. Absent: probed (.1, .2 ... until one is missing). */
  maxFiles?: number;
  /** Follow poll interval in ms (default 50). */
  pollMs?: number;
}

/** A run of output for one stream. Consecutive chunks of a batch alternate streams; order is the log's. */
export interface LogChunk {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

/** The streams as bits, as a record's `lstream` holds them. */
export const OUT = 1;
export const ERR = 2;
