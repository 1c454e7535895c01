/**
 * The log's files as `docker logs` reads them: rotated ones oldest first, the tail found backwards, then
 * follow (polling; a renamed file drained, then the new one read from 0) as byte segments of whole lines.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import type { ReadLogsOptions } from "./types.ts";

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

export type Segment = [buf: Buffer, start: number, end: number];

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
export async function* segments(logFile: string, o: ReadLogsOptions): AsyncGenerator<Segment, void> {
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
