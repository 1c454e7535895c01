/**
 * --since/--until as the docker CLI and the API take them (moby's api/types/time GetTimestamp and ParseTimestamps).
 */
import { EngineError } from "../../errors.ts";
import { goQuote, strconvError } from "../../../go/strconv.ts";
import { goParse, GoTimeParseError, parseGoDuration } from "../../../go/time.ts";

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

const invalidTimestamp = (msg: string) => new EngineError("invalidParameter", msg, { code: "invalidTimestamp" });

/**
 * A --since/--until value as the docker CLI takes it (api/types/time GetTimestamp): a Go duration
 * ("10m", "1h30m", "-5s") counted back from `now` (whole seconds, as Docker truncates), an RFC 3339
 * time with or without fraction and zone (no zone = local time), a date ("2026-11-28"), or a Unix
 * timestamp with optional fraction. Returns epoch **nanoseconds** (exact). Throws an invalidTimestamp
 * EngineError with the docker CLI's text.
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
    if (value.includes("-")) throw invalidTimestamp(e.message);
    const ts = parseUnixTimestamp(value);
    if (!ts) throw invalidTimestamp(`failed to parse value as time or duration: ${goQuote(value)}`);
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
