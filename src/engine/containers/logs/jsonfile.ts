/**
 * The json-file line format: records parsed on bytes into scratch fields (no object per line), with an exact
 * fast path for the shim's and moby's layout and JSON.parse for anything else; and the writer (tests, benches).
 */
import { daysFromCivil, rfc3339Nano } from "../../../go/time.ts";
import { ERR, OUT } from "./types.ts";

// results of parseTimeBytes (scratch: no allocation per line)
export let tSec = 0;
export let tNsec = 0;

const dig = (b: Uint8Array, i: number) => b[i]! - 48;

/** Parses an RFC 3339 time in b[s, e) into tSec/tNsec. False when it is not one. */
export function parseTimeBytes(b: Uint8Array, s: number, e: number): boolean {
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
export function splitTime(t: number | bigint): [number, number] {
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

const PREFIX = Buffer.from('{"log":"');
const TAIL_A = Buffer.from('","stream":"std'); // then "out"/"err"
const TAIL_B = Buffer.from('","time":"');

// The fields of the line parseLine last accepted (scratch).
export let lb: Buffer = Buffer.alloc(0); // buffer holding the log and time bytes
export let ls = 0; // log content start (escaped JSON string content, without quotes)
export let le = 0; // log content end
export let lesc = -1; // first backslash in [ls, le), or -1; lesc === le - 2 with "\n" = the common case
export let lstream = 0;
export let lts = 0; // time start
export let lte = 0; // time end
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
export function parseLine(b: Buffer, s: number, e: number): boolean {
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
export function parseShimLine(b: Buffer, s: number, end: number): number {
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
export function unescapeInto(src: Buffer, s: number, e: number, out: Buffer, o: number): number {
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
export function logString(): string {
  if (lesc === -1) return lb.toString("utf8", ls, le);
  if (lesc === le - 2 && lb[lesc + 1] === 110) return lb.toString("utf8", ls, lesc) + "\n";
  const tmp = Buffer.allocUnsafe(le - ls);
  return tmp.toString("utf8", 0, unescapeInto(lb, ls, le, tmp, 0));
}

/** Forgets the backslash position cached for the previous segment: a new one starts. */
export function newSegment(): void {
  nextBs = -1;
  nextBsFrom = Infinity;
}

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
