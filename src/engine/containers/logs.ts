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
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { CliError, EngineError } from "../errors.ts";
import { goQuote, strconvError } from "../../go/strconv.ts";
import { daysFromCivil, goParse, GoTimeParseError, parseGoDuration, rfc3339Nano } from "../../go/time.ts";
export { rfc3339Nano };

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

const OUT = 1;
const ERR = 2;

// ---------------------------------------------------------------- time helpers

// results of parseTimeBytes (scratch: no allocation per line)
let tSec = 0;
let tNsec = 0;

const dig = (b: Uint8Array, i: number) => b[i]! - 48;

/** Parses an RFC 3339 time in b[s, e) into tSec/tNsec. False when it is not one. */
function parseTimeBytes(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 20 || b[s + 4] !== 45 || b[s + 7] !== 45 || (b[s + 10] !== 84 && b[s + 10] !== 116) || b[s + 13] !== 58 || b[s + 16] !== 58) return false;
  const y = dig(b, s) * 1000 + dig(b, s + 1) * 100 + dig(b, s + 2) * 10 + dig(b, s + 3);
  const mo = dig(b, s + 5) * 10 + dig(b, s + 6);
  const d = dig(b, s + 8) * 10 + dig(b, s + 9);
  const h = dig(b, s + 11) * 10 + dig(b, s + 12);
  const mi = dig(b, s + 14) * 10 + dig(b, s + 15);
  const se = dig(b, s + 17) * 10 + dig(b, s + 18);
  let i = s + 19;
  let ns = 0;
  if (b[i] === 46) {
    i++;
    let k = 0;
    while (i < e && b[i]! >= 48 && b[i]! <= 57) {
      if (k < 9) ns = ns * 10 + (b[i]! - 48);
      k++;
      i++;
    }
    for (; k < 9; k++) ns *= 10;
  }
  let off = 0;
  if (b[i] === 90 || b[i] === 122) i++;
  else if ((b[i] === 43 || b[i] === 45) && e - i >= 6) {
    off = ((dig(b, i + 1) * 10 + dig(b, i + 2)) * 60 + dig(b, i + 4) * 10 + dig(b, i + 5)) * 60;
    if (b[i] === 45) off = -off;
    i += 6;
  } else return false;
  if (i !== e || Number.isNaN(y + mo + d + h + mi + se)) return false;
  tSec = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
  tNsec = ns;
  return true;
}

/** `-t`'s prefix: moby's RFC3339NanoFixed ("2006-01-02T15:04:05.000000000Z07:00") of a stored RFC 3339 time. */
export function fixedTime(time: string): string {
  if (time.length === 30 && time.charCodeAt(19) === 46 && time.charCodeAt(29) === 90) return time;
  const m = /^(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  if (!m) return time;
  const zone = m[3] === "z" || m[3] === "Z" ? "Z" : m[3];
  return `${m[1]!.replace("t", "T")}.${(m[2] ?? "").slice(0, 9).padEnd(9, "0")}${zone}`;
}

/** since/until as [seconds, nanoseconds]. */
function splitTime(t: number | bigint): [number, number] {
  if (typeof t === "bigint") {
    const sec = t / 1_000_000_000n;
    let ns = t % 1_000_000_000n;
    let s = sec;
    if (ns < 0n) {
      ns += 1_000_000_000n;
      s -= 1n;
    }
    return [Number(s), Number(ns)];
  }
  const sec = Math.floor(t / 1000);
  return [sec, Math.round((t - sec * 1000) * 1e6)];
}

// ---------------------------------------------------------------- line parsing (bytes)

const PREFIX = Buffer.from('{"log":"');
const TAIL_A = Buffer.from('","stream":"std'); // then "out"/"err"
const TAIL_B = Buffer.from('","time":"');

// The fields of the line parseLine last accepted (scratch).
let lb: Buffer = Buffer.alloc(0); // buffer holding the log and time bytes
let ls = 0; // log content start (escaped JSON string content, without quotes)
let le = 0; // log content end
let lesc = -1; // first backslash in [ls, le), or -1; lesc === le - 2 with "\n" = the common case
let lstream = 0;
let lts = 0; // time start
let lte = 0; // time end
let nextBs = -1; // cached position of the next backslash in the segment (per segment)
let nextBsFrom = Infinity;

function firstBackslash(b: Buffer, s: number, e: number): number {
  if (nextBsFrom > s || (nextBs !== -1 && nextBs < s)) {
    nextBs = b.indexOf(92, s);
    nextBsFrom = s;
  }
  return nextBs !== -1 && nextBs < e ? nextBs : -1;
}

/** Parses the line b[s, e) (e = its "\n"). Sets the scratch fields; false when the line is not a record. */
function parseLine(b: Buffer, s: number, e: number): boolean {
  fast: {
    if (e - s < 58 || b[e - 1] !== 125 || b[e - 2] !== 34) break fast;
    for (let k = 0; k < 8; k++) if (b[s + k] !== PREFIX[k]) break fast;
    let q = e - 33; // the quote before a 30-byte time (RFC3339NanoFixed, what the shim writes)
    if (b[q] !== 34 || b[q - 1] !== 58) {
      q = e - 3;
      const lim = e - 48;
      while (q > lim && b[q] !== 34) q--;
    }
    if (b[q] !== 34) break fast;
    const t0 = q - 27; // start of '","stream":"stdout","time":"'
    if (t0 < s + 8) break fast;
    for (let k = 0; k < 15; k++) if (b[t0 + k] !== TAIL_A[k]) break fast;
    for (let k = 0; k < 10; k++) if (b[t0 + 18 + k] !== TAIL_B[k]) break fast;
    const c1 = b[t0 + 15];
    if (c1 === 111 && b[t0 + 16] === 117 && b[t0 + 17] === 116) lstream = OUT;
    else if (c1 === 101 && b[t0 + 16] === 114 && b[t0 + 17] === 114) lstream = ERR;
    else break fast;
    lb = b;
    ls = s + 8;
    le = t0;
    lesc = firstBackslash(b, ls, le);
    lts = q + 1;
    lte = e - 2;
    return true;
  }
  return parseLineSlow(b.toString("utf8", s, e));
}

/**
 * The shim's exact line, parsed from its start without searching for the line end: content whose first
 * escape is its final "\n", then '","stream":"stdout","time":"' and a 30-byte RFC3339NanoFixed time.
 * (In valid JSON the content cannot contain that unescaped tail, so the first match is the end.)
 * Returns the index of the line's "\n", or -1 to take the general path.
 */
function parseShimLine(b: Buffer, s: number, end: number): number {
  if (b[s] !== 123) return -1;
  for (let k = 1; k < 8; k++) if (b[s + k] !== PREFIX[k]) return -1;
  const bs = firstBackslash(b, s + 8, end);
  if (bs < 0 || b[bs + 1] !== 110) return -1;
  const t0 = bs + 2;
  const e = t0 + 60;
  if (e >= end || b[e] !== 10 || b[e - 1] !== 125 || b[e - 2] !== 34 || b[e - 3] !== 90 || b[e - 13] !== 46) return -1;
  for (let k = 0; k < 15; k++) if (b[t0 + k] !== TAIL_A[k]) return -1;
  for (let k = 0; k < 10; k++) if (b[t0 + 18 + k] !== TAIL_B[k]) return -1;
  const c1 = b[t0 + 15];
  if (c1 === 111 && b[t0 + 16] === 117 && b[t0 + 17] === 116) lstream = OUT;
  else if (c1 === 101 && b[t0 + 16] === 114 && b[t0 + 17] === 114) lstream = ERR;
  else return -1;
  lb = b;
  ls = s + 8;
  le = t0;
  lesc = bs;
  lts = t0 + 28;
  lte = e - 2;
  return e;
}

function parseLineSlow(text: string): boolean {
  let v: { log?: unknown; stream?: unknown; time?: unknown };
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  if (!v || typeof v !== "object" || typeof v.time !== "string") return false;
  const stream = v.stream === "stderr" ? ERR : v.stream === "stdout" ? OUT : 0;
  if (!stream) return false;
  const log = typeof v.log === "string" ? v.log : "";
  const n = Buffer.byteLength(log);
  lb = Buffer.from(log + v.time);
  ls = 0;
  le = n;
  lesc = -1;
  lstream = stream;
  lts = n;
  lte = lb.length;
  return true;
}

function hex4(b: Uint8Array, i: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const c = b[i + k]!;
    v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}

function putUtf8(out: Uint8Array, o: number, cp: number): number {
  if (cp < 0x80) out[o++] = cp;
  else if (cp < 0x800) {
    out[o++] = 0xc0 | (cp >> 6);
    out[o++] = 0x80 | (cp & 63);
  } else if (cp < 0x10000) {
    out[o++] = 0xe0 | (cp >> 12);
    out[o++] = 0x80 | ((cp >> 6) & 63);
    out[o++] = 0x80 | (cp & 63);
  } else {
    out[o++] = 0xf0 | (cp >> 18);
    out[o++] = 0x80 | ((cp >> 12) & 63);
    out[o++] = 0x80 | ((cp >> 6) & 63);
    out[o++] = 0x80 | (cp & 63);
  }
  return o;
}

/** Decodes the JSON string content src[s, e) into out at o (never longer than the input); returns the new end. */
function unescapeInto(src: Buffer, s: number, e: number, out: Buffer, o: number): number {
  let i = s;
  while (i < e) {
    let bs = src.indexOf(92, i);
    if (bs === -1 || bs >= e) bs = e;
    if (bs > i) {
      src.copy(out, o, i, bs);
      o += bs - i;
    }
    if (bs >= e - 1) break;
    const c = src[bs + 1]!;
    i = bs + 2;
    switch (c) {
      case 110:
        out[o++] = 10;
        break;
      case 116:
        out[o++] = 9;
        break;
      case 114:
        out[o++] = 13;
        break;
      case 98:
        out[o++] = 8;
        break;
      case 102:
        out[o++] = 12;
        break;
      case 117: {
        if (i + 4 > e) {
          i = e;
          break;
        }
        let cp = hex4(src, i);
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {
          const lo = i + 6 <= e && src[i] === 92 && src[i + 1] === 117 ? hex4(src, i + 2) : -1;
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          } else cp = 0xfffd;
        } else if (cp >= 0xdc00 && cp < 0xe000) cp = 0xfffd;
        o = putUtf8(out, o, Number.isNaN(cp) ? 0xfffd : cp);
        break;
      }
      default: // \" \\ \/ (and anything else: the character itself)
        out[o++] = c;
    }
  }
  return o;
}

/** The current record's log text. */
function logString(): string {
  if (lesc === -1) return lb.toString("utf8", ls, le);
  if (lesc === le - 2 && lb[lesc + 1] === 110) return lb.toString("utf8", ls, lesc) + "\n";
  const tmp = Buffer.allocUnsafe(le - ls);
  return tmp.toString("utf8", 0, unescapeInto(lb, ls, le, tmp, 0));
}

// ---------------------------------------------------------------- files

const READ_CHUNK = 1 << 20;
const TAIL_CHUNK = 64 << 10;

interface OpenLog {
  fd: number;
  size: number;
  ino: number;
}

function openLog(path: string): OpenLog | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e: any) {
    if (e?.code === "ENOENT") return undefined;
    throw e;
  }
  const st = fstatSync(fd);
  return { fd, size: st.size, ino: st.ino };
}

/** Opens the rotated files (oldest first) and the current file, consistently (retries if a rotation raced). */
function openAll(logFile: string, maxFiles: number | undefined): { rotated: OpenLog[]; current?: OpenLog } {
  for (let attempt = 0; ; attempt++) {
    const current = openLog(logFile);
    const rotated: OpenLog[] = [];
    const n = maxFiles ?? Infinity;
    for (let i = 1; i < n; i++) {
      const f = openLog(`${logFile}.${i}`);
      if (!f) {
        if (maxFiles === undefined) break;
        continue;
      }
      rotated.unshift(f);
    }
    const raced = current && rotated.some((f) => f.ino === current.ino);
    if (!raced || attempt >= 3) return { rotated, current };
    for (const f of [...rotated, current!]) closeSync(f.fd);
  }
}

/** Where the last `n` complete lines of a file start, and how many lines that is (≤ n). */
function tailStart(fd: number, size: number, n: number, buf: Buffer): { pos: number; count: number } {
  let p = size;
  let found = 0;
  let sawEnd = false;
  while (p > 0) {
    const len = Math.min(TAIL_CHUNK, p);
    p -= len;
    readFully(fd, buf, len, p);
    let i = len - 1;
    if (!sawEnd) {
      const j = buf.lastIndexOf(10, i);
      if (j < 0) continue;
      sawEnd = true;
      i = j - 1;
    }
    while (i >= 0) {
      const j = buf.lastIndexOf(10, i);
      if (j < 0) break;
      if (++found === n) return { pos: p + j + 1, count: n };
      i = j - 1;
    }
  }
  return { pos: 0, count: sawEnd ? found + 1 : 0 };
}

function readFully(fd: number, buf: Buffer, len: number, pos: number) {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n <= 0) {
      buf.fill(0, got, len);
      return;
    }
    got += n;
  }
}

/** End of the last complete line of a file (0 when none). */
function completeEnd(fd: number, size: number, buf: Buffer): number {
  let p = size;
  while (p > 0) {
    const len = Math.min(TAIL_CHUNK, p);
    p -= len;
    readFully(fd, buf, len, p);
    const j = buf.lastIndexOf(10, len - 1);
    if (j >= 0) return p + j + 1;
  }
  return 0;
}

type Segment = [buf: Buffer, start: number, end: number];

/**
 * Yields runs of complete lines of fd from `from` to `to`; the consumer must be done with a segment
 * before asking for the next (the buffer is reused). Returns the offset after the last yielded line.
 */
function* readSpan(fd: number, from: number, to: number, st: { buf: Buffer }): Generator<Segment, number> {
  let base = from;
  let have = 0;
  while (base + have < to) {
    if (have === st.buf.length) {
      const bigger = Buffer.allocUnsafe(st.buf.length * 2);
      st.buf.copy(bigger, 0, 0, have);
      st.buf = bigger;
    }
    const n = readSync(fd, st.buf, have, Math.min(st.buf.length - have, to - base - have), base + have);
    if (n <= 0) break;
    have += n;
    const nl = st.buf.lastIndexOf(10, have - 1);
    if (nl < 0) continue;
    yield [st.buf, 0, nl + 1];
    st.buf.copy(st.buf, 0, nl + 1, have);
    base += nl + 1;
    have -= nl + 1;
  }
  return base;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** All the segments `docker logs` reads, in order: tail across files, then follow. */
async function* segments(logFile: string, o: ReadLogsOptions): AsyncGenerator<Segment, void> {
  const tail = o.tail === undefined || o.tail < 0 ? -1 : Math.floor(o.tail);
  const st = { buf: Buffer.allocUnsafe(READ_CHUNK) };
  const { rotated, current } = openAll(logFile, o.maxFiles);
  const files = current ? [...rotated, current] : rotated;
  let fd = current ? current.fd : -1; // the current file, kept open to follow it
  let ino = current ? current.ino : -1;
  let pos = 0; // where following the current file goes on
  try {
    if (tail !== 0) {
      const starts = files.map(() => 0);
      let first = 0;
      if (tail > 0) {
        const tb = Buffer.allocUnsafe(TAIL_CHUNK);
        let left = tail;
        first = files.length;
        while (first > 0 && left > 0) {
          first--;
          const f = files[first]!;
          const r = tailStart(f.fd, f.size, left, tb);
          starts[first] = r.pos;
          left -= r.count;
        }
      }
      for (let i = first; i < files.length; i++) {
        const f = files[i]!;
        const end = yield* readSpan(f.fd, starts[i]!, f.size, st);
        if (f === current) pos = end;
        if (o.signal?.aborted) return;
      }
    } else if (current) pos = completeEnd(current.fd, current.size, st.buf);
    for (const f of rotated.splice(0)) closeSync(f.fd);
    if (!o.follow) return;

    const poll = o.pollMs ?? 50;
    for (;;) {
      if (o.signal?.aborted) return;
      const running = o.isRunning ? o.isRunning() : true;
      if (fd < 0) {
        const f = openLog(logFile);
        if (f) {
          fd = f.fd;
          ino = f.ino;
          pos = 0;
        }
      }
      if (fd >= 0) {
        let size = fstatSync(fd).size;
        if (size < pos) pos = 0; // truncated in place (max-file 1)
        pos = yield* readSpan(fd, pos, size, st);
        const now = statSync(logFile, { throwIfNoEntry: false });
        if (!now || now.ino !== ino) {
          // rotated: a renamed file gets no more writes; drain it, then take the new one from 0
          size = fstatSync(fd).size;
          pos = yield* readSpan(fd, pos, size, st);
          if (now) {
            closeSync(fd);
            fd = -1;
            continue;
          }
        }
      }
      if (!running) return;
      await sleep(poll, o.signal);
    }
  } finally {
    for (const f of rotated) closeSync(f.fd);
    if (fd >= 0) closeSync(fd);
  }
}

// ---------------------------------------------------------------- the reader

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
async function* drive<T>(logFile: string, o: ReadLogsOptions, line: () => void, flush: () => T | undefined): AsyncGenerator<T, void> {
  const f = makeFilter(o);
  for await (const [b, start, end] of segments(logFile, o)) {
    nextBs = -1;
    nextBsFrom = Infinity;
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

/** Docker's stdcopy framing of chunks (for the API when the container has no TTY): 8-byte header per chunk. */
export function stdcopyFrames(chunks: LogChunk[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += 8 + c.data.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const c of chunks) {
    out[o] = c.stream === "stdout" ? 1 : 2;
    out[o + 1] = out[o + 2] = out[o + 3] = 0;
    out.writeUInt32BE(c.data.length, o + 4);
    out.set(c.data, o + 8);
    o += 8 + c.data.length;
  }
  return out;
}

// ---------------------------------------------------------------- --since / --until

/** moby's parseTimestamp: "seconds[.fraction]" → [s, ns], or undefined. */
function parseUnixTimestamp(value: string): [number, number] | undefined {
  const m = /^([+-]?\d+)(?:\.([+-]?\d+))?$/.exec(value);
  if (!m) return undefined;
  const sec = Number(m[1]);
  if (!Number.isSafeInteger(sec)) return undefined;
  if (m[2] === undefined) return [sec, 0];
  const n = m[2].replace(/^[+-]/, "");
  return [sec, Math.trunc(Number(n) * 10 ** (9 - n.length))];
}

/**
 * A --since/--until value as the docker CLI takes it (api/types/time GetTimestamp): a Go duration
 * ("10m", "1h30m", "-5s") counted back from `now` (whole seconds, as Docker truncates), an RFC 3339
 * time with or without fraction and zone (no zone = local time), a date ("2026-11-28"), or a Unix
 * timestamp with optional fraction. Returns epoch **nanoseconds** (exact). Throws CliError with the
 * docker CLI's text (printed as is, exit 1).
 */
export function parseTimeArgNs(value: string, now: number = Date.now()): bigint {
  const d = value !== "0" ? parseGoDuration(value) : undefined;
  if (d !== undefined) return BigInt(Math.floor((now - d / 1e6) / 1000)) * 1_000_000_000n;
  const parseInLocation = !/[zZ+]/.test(value) && (value.match(/-/g)?.length ?? 0) !== 3;
  let format: string;
  if (value.includes(".")) format = parseInLocation ? "2006-01-02T15:04:05.999999999" : "2006-01-02T15:04:05.999999999Z07:00";
  else if (value.includes("T")) {
    let tcolons = value.match(/:/g)?.length ?? 0;
    if (!parseInLocation && !/[zZ]/.test(value) && tcolons > 0) tcolons--;
    if (parseInLocation) format = tcolons === 0 ? "2006-01-02T15" : tcolons === 1 ? "2006-01-02T15:04" : "2006-01-02T15:04:05";
    else format = tcolons === 0 ? "2006-01-02T15Z07:00" : tcolons === 1 ? "2006-01-02T15:04Z07:00" : "2006-01-02T15:04:05Z07:00";
  } else format = parseInLocation ? "2006-01-02" : "2006-01-02Z07:00";
  try {
    const localOffset = parseInLocation ? -new Date(now).getTimezoneOffset() * 60 : null;
    const [s, ns] = goParse(format, value, localOffset);
    return BigInt(s) * 1_000_000_000n + BigInt(ns);
  } catch (e) {
    if (!(e instanceof GoTimeParseError)) throw e;
    if (value.includes("-")) throw new CliError(e.message, 1);
    const ts = parseUnixTimestamp(value);
    if (!ts) throw new CliError(`failed to parse value as time or duration: ${goQuote(value)}`, 1);
    return BigInt(ts[0]) * 1_000_000_000n + BigInt(ts[1]);
  }
}

/** parseTimeArgNs in epoch milliseconds (fractional; exact to ~250 ns). */
export function parseTimeArg(value: string, now: number = Date.now()): number {
  return Number(parseTimeArgNs(value, now)) / 1e6;
}

/**
 * The API's since/until query value ("1700000000.123456789", what the CLI sends; moby's
 * ParseTimestamps) → epoch ns; "" → undefined. Throws invalidParameter for anything else.
 */
export function parseApiTimestamp(value: string): bigint | undefined {
  if (value === "") return undefined;
  const ts = parseUnixTimestamp(value);
  if (!ts) throw new EngineError("invalidParameter", strconvError("ParseInt", value.split(".")[0]!));
  return BigInt(ts[0]) * 1_000_000_000n + BigInt(ts[1]);
}

// ---------------------------------------------------------------- writing (tests, benches, tools)

/**
 * One json-file line exactly as moby's jsonlog writes it (HTML-safe escapes, U+2028/9 escaped, invalid
 * UTF-8 as U+FFFD), "\n" included. `log` is raw bytes or text.
 */
export function encodeLogLine(stream: "stdout" | "stderr", log: string | Uint8Array, timeNs: bigint): string {
  const text = typeof log === "string" ? log : new TextDecoder().decode(log); // invalid UTF-8 -> U+FFFD, as Go
  let esc = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") esc += `\\${ch}`;
    else if (ch === "\n") esc += "\\n";
    else if (ch === "\r") esc += "\\r";
    else if (ch === "\t") esc += "\\t";
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) esc += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c < 0xe000) esc += "\\ufffd"; // lone surrogate
    else esc += ch;
  }
  return `{"log":"${esc}","stream":"${stream}","time":"${rfc3339Nano(timeNs)}"}\n`;
}
