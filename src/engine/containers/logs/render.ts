/**
 * `docker logs` output as byte chunks (no object per line), split between the streams as LogSplit says.
 */
import { fstatSync } from "node:fs";
import { fixedTime, lb, le, lesc, ls, lstream, lte, lts, unescapeInto } from "./jsonfile.ts";
import { drive } from "./reader.ts";
import { ERR, OUT, type LogChunk, type ReadLogsOptions } from "./types.ts";

const OUT_CAP = 1 << 20;

/** Writes the current record as `docker logs` prints it at out[pos] (room checked by the caller); returns the end. */
function writeRecord(out: Buffer, pos: number, ts: boolean): number {
  if (ts) {
    if (lte - lts === 30 && lb[lts + 19] === 46 && lb[lte - 1] === 90) pos += lb.copy(out, pos, lts, lte);
    else pos += out.write(fixedTime(lb.toString("latin1", lts, lte)), pos, "latin1");
    out[pos++] = 32;
  }
  if (lesc === -1) return pos + lb.copy(out, pos, ls, le);
  if (lesc === le - 2 && lb[lesc + 1] === 110) {
    pos += lb.copy(out, pos, ls, lesc);
    out[pos++] = 10;
    return pos;
  }
  return unescapeInto(lb, ls, le, out, pos);
}

/**
 * How renderLogs splits output between the streams:
 * - "ordered" (default): chunks in log order, a new chunk at each stream switch (exact interleaving;
 *   a log that alternates streams often yields many small chunks, i.e. many writes);
 * - "merged": everything as one "stdout" stream in log order: for when stdout and stderr are the same
 *   file (a terminal, `2>&1`), where it prints exactly what "ordered" would, in few writes;
 * - "grouped": per batch one stdout chunk then one stderr chunk: order kept within each stream only;
 *   fine when they go to different files.
 * `outputSplit()` picks "merged" or "grouped" from fds 1 and 2.
 */
export type LogSplit = "ordered" | "merged" | "grouped";

/** "merged" when fds `out` and `err` are the same file (a terminal, `2>&1`), else "grouped". */
export function outputSplit(out = 1, err = 2): LogSplit {
  try {
    const a = fstatSync(out);
    const b = fstatSync(err);
    return a.dev === b.dev && a.ino === b.ino && a.rdev === b.rdev ? "merged" : "grouped";
  } catch {
    return "ordered";
  }
}

/**
 * `docker logs` output as byte chunks, without a per-line object: each batch (about one MiB of log) is
 * a list of chunks, to write to their fds in order; see LogSplit for how streams are split.
 */
export async function* renderLogs(logFile: string, opts: ReadLogsOptions & { timestamps?: boolean; split?: LogSplit } = {}): AsyncGenerator<LogChunk[], void> {
  const ts = !!opts.timestamps;
  const split = opts.split ?? "ordered";
  let chunks: LogChunk[] = [];
  let line: () => void;
  let cutAll: () => void;
  if (split === "grouped") {
    const lanes = [OUT, ERR].map((stream) => ({ stream: stream === OUT ? ("stdout" as const) : ("stderr" as const), out: Buffer.allocUnsafe(OUT_CAP), pos: 0, start: 0, done: [] as LogChunk[] }));
    const cut = (l: (typeof lanes)[0]) => {
      if (l.pos > l.start) l.done.push({ stream: l.stream, data: l.out.subarray(l.start, l.pos) });
      l.start = l.pos;
    };
    line = () => {
      const l = lanes[lstream === OUT ? 0 : 1]!;
      const need = le - ls + 1 + (ts ? lte - lts + 12 : 0);
      if (l.pos + need > l.out.length) {
        cut(l);
        l.out = Buffer.allocUnsafe(Math.max(OUT_CAP, need));
        l.pos = l.start = 0;
      }
      l.pos = writeRecord(l.out, l.pos, ts);
    };
    cutAll = () => {
      for (const l of lanes) {
        cut(l);
        chunks.push(...l.done.splice(0));
      }
    };
  } else {
    const merged = split === "merged";
    let out = Buffer.allocUnsafe(OUT_CAP);
    let pos = 0;
    let start = 0;
    let cur = 0;
    let lastOut: Buffer | undefined; // where the last pushed chunk ends, to merge with it (an empty record in between)
    let lastEnd = 0;
    const cut = () => {
      if (pos > start) {
        const prev = chunks[chunks.length - 1];
        const stream = cur === OUT ? "stdout" : "stderr";
        if (prev && prev.stream === stream && lastOut === out && lastEnd === start) prev.data = out.subarray(start - prev.data.length, pos);
        else chunks.push({ stream, data: out.subarray(start, pos) });
        lastOut = out;
        lastEnd = pos;
      }
      start = pos;
    };
    line = () => {
      const stream = merged ? OUT : lstream;
      if (stream !== cur) {
        cut();
        cur = stream;
      }
      const need = le - ls + 1 + (ts ? lte - lts + 12 : 0);
      if (pos + need > out.length) {
        cut();
        out = Buffer.allocUnsafe(Math.max(OUT_CAP, need));
        pos = start = 0;
      }
      pos = writeRecord(out, pos, ts);
    };
    cutAll = cut;
  }
  const flush = () => {
    cutAll();
    if (!chunks.length) return undefined;
    const c = chunks;
    chunks = [];
    return c;
  };
  yield* drive(logFile, opts, line, flush);
}
