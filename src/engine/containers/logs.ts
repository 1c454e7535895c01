/**
 * `docker logs` over json-file logs (moby's daemon/logger/jsonfilelog + loggerutils/logfile.go semantics).
 *
 * The shim writes `<containerDir>/<id>-json.log`, one JSON object a line:
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-28T05:00:00.123456789Z"}
 * and rotates it to `<file>.1`, `<file>.2` ... (the highest number is the oldest).
 *
 * Semantics, as moby:
 * - rotated files are read oldest first, then the current file (its size as it was when reading started);
 * - `tail` N > 0: the last N records across the files (all streams count), found by reading backwards
 *   in 64 KiB chunks and counting newlines: only the tail is parsed. 0: nothing (follow still follows).
 *   -1/undefined: everything;
 * - `since` drops records strictly before it, `until` ends the output at the first record strictly after
 *   it; both apply after `tail` (so `--tail 5 --since X` prints the ones of the last 5 that are after X);
 * - stdout/stderr selection applies last;
 * - `follow`: keeps reading the current file; when it is renamed (rotation) the old file is drained and
 *   the new one opened from 0; a file truncated in place (max-file 1) restarts at 0. Stops when
 *   `isRunning()` was false before a read that reached EOF, when `until` is passed, or on `signal`.
 *   It polls (`pollMs`, 50 ms) instead of inotify: one fstat + stat per poll.
 * - a line the writer is still writing (no trailing newline yet) is not read; follow picks it up later.
 * - a line that is not valid JSON is skipped (moby stops with a decode error).
 *
 * Times: `since`/`until` are epoch **milliseconds** when a number (fractions allowed, ~250 ns precision
 * at today's epoch) or epoch **nanoseconds** when a bigint (exact). `parseTimeArg` returns ms (number),
 * `parseTimeArgNs` the exact bigint; the API's "1700000000.123456789" form parses with `parseApiTimestamp`.
 *
 * Speed: lines are parsed on bytes, with an exact fast path for moby's layout (`{"log":"...",` ...
 * `"stream":"stdout","time":"..."}`): the content is copied as is when its only escape is the final
 * `\n`, unescaped byte-wise otherwise; anything else (e.g. "attrs") goes through JSON.parse.
 * `renderLogs` turns ~1 MiB of log into output chunks without building per-line objects.
 *
 * The parts, in logs/: types.ts (shapes), jsonfile.ts (the line format, read and written), files.ts
 * (rotation, tail, follow), reader.ts (the filter loop, readLogs), render.ts (renderLogs), frame.ts
 * (stdcopy), args.ts (--since/--until). This file is their one entry.
 */
export { parseApiTimestamp, parseTimeArg, parseTimeArgNs } from "./logs/args.ts";
export { stdcopyFrames } from "./logs/frame.ts";
export { encodeLogLine, fixedTime } from "./logs/jsonfile.ts";
export { formatLogRecord, readLogs } from "./logs/reader.ts";
export { outputSplit, renderLogs, type LogSplit } from "./logs/render.ts";
export type { LogChunk, LogRecord, ReadLogsOptions } from "./logs/types.ts";
export { rfc3339Nano } from "../../go/time.ts";
