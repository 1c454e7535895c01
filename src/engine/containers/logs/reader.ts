/**
 * The reader loop: each segment's lines parsed, filtered by since/until and stream, handed on as records.
 */
import { EngineError } from "../../errors.ts";
import { segments } from "./files.ts";
import { fixedTime, lb, logString, lstream, lts, lte, newSegment, parseLine, parseShimLine, parseTimeBytes, splitTime, tNsec, tSec } from "./jsonfile.ts";
import { ERR, OUT, type LogRecord, type ReadLogsOptions } from "./types.ts";

interface Filter {
  streams: number; // bit 1 stdout, bit 2 stderr
  since?: [number, number];
  until?: [number, number];
  needTime: boolean;
}

function makeFilter(o: ReadLogsOptions): Filter {
  const any = o.stdout !== undefined || o.stderr !== undefined;
  const streams = any ? (o.stdout ? OUT : 0) | (o.stderr ? ERR : 0) : OUT | ERR;
  if (!streams) throw new EngineError("invalidParameter", "You must choose at least one stream");
  const since = o.since !== undefined ? splitTime(o.since) : undefined;
  const until = o.until !== undefined && o.until !== 0 && o.until !== 0n ? splitTime(o.until) : undefined;
  return { streams, since, until, needTime: !!(since || until) };
}

/**
 * Runs the filtered lines of every segment through `line` (scratch fields set), yielding `flush()`'s
 * batch after each segment. Returns early at `until`.
 */
export async function* drive<T>(logFile: string, o: ReadLogsOptions, line: () => void, flush: () => T | undefined): AsyncGenerator<T, void> {
  const f = makeFilter(o);
  for await (const [b, start, end] of segments(logFile, o)) {
    newSegment();
    let s = start;
    let stop = false;
    while (s < end) {
      const e = parseShimLine(b, s, end);
      if (e < 0) {
        const nl = b.indexOf(10, s);
        const ok = parseLine(b, s, nl);
        s = nl + 1;
        if (!ok) continue;
      } else s = e + 1;
      if (f.needTime) {
        if (!parseTimeBytes(lb, lts, lte)) continue;
        if (f.since && (tSec < f.since[0] || (tSec === f.since[0] && tNsec < f.since[1]))) continue;
        if (f.until && (tSec > f.until[0] || (tSec === f.until[0] && tNsec > f.until[1]))) {
          stop = true;
          break;
        }
      }
      if (!(f.streams & lstream)) continue;
      line();
    }
    const batch = flush();
    if (batch !== undefined) yield batch;
    if (stop) return;
  }
}

/** The records `docker logs` would print, oldest first. */
export async function* readLogs(logFile: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogRecord, void> {
  let batch: LogRecord[] = [];
  const line = () => {
    const time = lb.toString("latin1", lts, lte);
    let timeNs = 0n;
    if (parseTimeBytes(lb, lts, lte)) timeNs = BigInt(tSec) * 1_000_000_000n + BigInt(tNsec);
    batch.push({ stream: lstream === OUT ? "stdout" : "stderr", time, timeNs, log: logString() });
  };
  const flush = () => {
    if (!batch.length) return undefined;
    const b = batch;
    batch = [];
    return b;
  };
  for await (const b of drive(logFile, opts, line, flush)) yield* b;
}

/** One record as `docker logs` prints it (`-t`: RFC3339NanoFixed time and a space first). */
export function formatLogRecord(r: LogRecord, opts: { timestamps?: boolean } = {}): string {
  return opts.timestamps ? `${fixedTime(r.time)} ${r.log}` : r.log;
}
