/**
 * Go's time as Docker's texts use it: ParseDuration ("1h30m"), Parse for the layouts the docker CLI tries
 * (with Go's error messages), and the RFC3339Nano format moby stores log times in.
 */
import { goQuote } from "./strconv.ts";

/** Go's time.ParseDuration in ns, or undefined when the value is not a duration. */
export function parseGoDuration(value: string): number | undefined {
  try {
    return goDuration(value);
  } catch {
    return undefined;
  }
}

/** Go's time.ParseDuration in ns; a value it refuses throws with Go's own message (`time: invalid duration "x"`). */
export function goDuration(value: string): number {
  const invalid = () => new Error(`time: invalid duration ${goQuote(value)}`);
  let s = value;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  const units: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  // Go's grammar: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, checked in its order so each error reads as Go's.
  const re = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (s) {
    const m = re.exec(s)!;
    if (!m[1] && !m[2]) throw invalid();
    if (!m[3]) throw new Error(`time: missing unit in duration ${goQuote(value)}`);
    const unit = units[m[3]];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(m[3])} in duration ${goQuote(value)}`);
    total += Number(m[1] || "0") * unit + (m[2] ? Number(`0.${m[2]}`) * unit : 0);
    if (total > 2 ** 63 - 1) throw invalid();
    s = s.slice(m[0].length);
  }
  return neg ? -total : total;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** A time.Parse failure, with Go's message ("parsing time "x" as "2006-01-02": cannot parse ..."). */
export class GoTimeParseError extends Error {}

type LayoutElem = "2006" | "01" | "02" | "15" | "04" | "05" | ".999999999" | "Z07:00";

/** The subset of Go's time.Parse the CLI's layouts use, with Go's error texts. Returns [epoch s, ns]. */
export function goParse(layout: string, value: string, localOffset: number | null): [number, number] {
  const elems: (LayoutElem | { lit: string })[] = [];
  const std = ["2006", "01", "02", "15", "04", "05", ".999999999", "Z07:00"] as const;
  for (let l = layout; l; ) {
    const e = std.find((x) => l.startsWith(x));
    if (e) {
      elems.push(e);
      l = l.slice(e.length);
    } else {
      const last = elems[elems.length - 1];
      if (last && typeof last === "object") last.lit += l[0];
      else elems.push({ lit: l[0]! });
      l = l.slice(1);
    }
  }
  const fail = (elem: string, rest: string, msg = ""): never => {
    throw new GoTimeParseError(msg ? `parsing time ${goQuote(value)}${msg}` : `parsing time ${goQuote(value)} as ${goQuote(layout)}: cannot parse ${goQuote(rest)} as ${goQuote(elem)}`);
  };
  const isD = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;
  const getnum = (s: string, fixed: boolean): [number, string] | undefined => {
    if (!isD(s, 0)) return undefined;
    if (!isD(s, 1)) return fixed ? undefined : [Number(s[0]), s.slice(1)];
    return [Number(s.slice(0, 2)), s.slice(2)];
  };
  let v = value;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let zone: number | null = null;
  const fracDigits = (digits: string): number => Number(digits.slice(0, 9).padEnd(9, "0"));
  for (let k = 0; k < elems.length; k++) {
    const el = elems[k]!;
    if (typeof el === "object") {
      if (!v.startsWith(el.lit)) fail(el.lit, v);
      v = v.slice(el.lit.length);
      continue;
    }
    const hold = v;
    let r: [number, string] | undefined;
    let range = "";
    switch (el) {
      case "2006":
        if (v.length < 4 || !/^\d{4}/.test(v)) fail(el, hold);
        year = Number(v.slice(0, 4));
        v = v.slice(4);
        break;
      case "01":
        r = getnum(v, true);
        if (!r) fail(el, hold);
        [month, v] = r!;
        if (month <= 0 || month > 12) range = "month";
        break;
      case "02":
        r = getnum(v, true);
        if (!r) fail(el, hold);
        [day, v] = r!;
        break;
      case "15":
        r = getnum(v, false);
        if (!r) fail(el, hold);
        [hour, v] = r!;
        if (hour >= 24) range = "hour";
        break;
      case "04":
        r = getnum(v, true);
        if (!r) fail(el, hold);
        [min, v] = r!;
        if (min >= 60) range = "minute";
        break;
      case "05": {
        r = getnum(v, true);
        if (!r) fail(el, hold);
        [sec, v] = r!;
        if (sec >= 60) {
          range = "second";
          break;
        }
        const m = /^[.,](\d+)/.exec(v);
        if (m && elems[k + 1] !== ".999999999") {
          nsec = fracDigits(m[1]!);
          v = v.slice(m[0].length);
        }
        break;
      }
      case ".999999999": {
        const m = /^[.,](\d+)/.exec(v);
        if (m) {
          nsec = fracDigits(m[1]!);
          v = v.slice(m[0].length);
        }
        break;
      }
      case "Z07:00": {
        if (v[0] === "Z") {
          zone = 0;
          v = v.slice(1);
          break;
        }
        if (v.length < 6 || v[3] !== ":" || !/^[+-]\d\d:\d\d/.test(v)) fail(el, hold);
        const hr = Number(v.slice(1, 3));
        const mm = Number(v.slice(4, 6));
        if (hr > 24) range = "time zone offset hour";
        if (mm > 60) range = "time zone offset minute";
        zone = (v[0] === "-" ? -1 : 1) * (hr * 60 + mm) * 60;
        v = v.slice(6);
        break;
      }
    }
    if (range) fail(el, v, `: ${range} out of range`);
  }
  if (v) fail("", v, `: extra text: ${goQuote(v)}`);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  if (day < 1 || day > dim) fail("", v, ": day out of range");
  const offset = zone ?? localOffset ?? 0;
  return [daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset, nsec];
}

/** Go's time.RFC3339Nano of epoch ns in UTC (trailing fraction zeros trimmed), as moby stores "time". */
export function rfc3339Nano(ns: bigint): string {
  let sec = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  if (frac < 0n) {
    frac += 1_000_000_000n;
    sec -= 1n;
  }
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  const f = frac ? `.${frac.toString().padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${base}${f}Z`;
}

/** Go's time.Duration.String ("1h2m3.5s", "1.5ms", "0s") of a duration in ns. */
export function goDurationString(ns: number): string {
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  let u = Math.abs(Math.trunc(ns));
  /** `v / div` with the fraction's trailing zeros cut, as Go's fmtFrac. */
  const frac = (v: number, div: number) => {
    const int = Math.floor(v / div);
    const rest = String(v % div).padStart(String(div).length - 1, "0").replace(/0+$/, "");
    return rest ? `${int}.${rest}` : String(int);
  };
  if (u < 1e3) return `${sign}${u}ns`;
  if (u < 1e6) return `${sign}${frac(u, 1e3)}µs`;
  if (u < 1e9) return `${sign}${frac(u, 1e6)}ms`;
  const h = Math.floor(u / 3600e9);
  u -= h * 3600e9;
  const m = Math.floor(u / 60e9);
  u -= m * 60e9;
  const s = `${frac(u, 1e9)}s`;
  return h ? `${sign}${h}h${m}m${s}` : m ? `${sign}${m}m${s}` : `${sign}${s}`;
}
