/** go-units formatting and parsing, as Docker prints and reads sizes and durations (Go's own in src/go). */
import { goG } from "../go/fmt.ts";
import { parseGoDuration } from "../go/time.ts";
import { invalidParameter } from "./errors.ts";

/** Scales a byte count by `base` until it is below it; returns the value and its unit. */
function scale(bytes: number, base: number, units: readonly string[]): [number, string] {
  let i = 0;
  let n = bytes;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  return [n, units[i]!];
}

/** go-units HumanSizeWithPrecision: decimal units, "%.<precision>g" ("77.9MB"); precision 4 is HumanSize (system df). */
export function humanSize(bytes: number, precision = 3): string {
  const [n, unit] = scale(bytes, 1000, ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]);
  return `${goG(n, precision)}${unit}`;
}

/** go-units BytesSize: binary units, "%.4g" ("1.5MiB"), as `info` prints memory. */
export function binarySize(bytes: number): string {
  const [n, unit] = scale(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]);
  return `${goG(n, 4)}${unit}`;
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 weeks"... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3600000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3600000 / 24 / 365)} years`;
}

/** `1k`, `10m`, `1g` as go-units' RAMInBytes (binary multiples). */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalidParameter(`invalid size: '${v}'`);
  return Math.floor(Number(m[1]) * 1024 ** " kmgtp".indexOf(m[2]!.toLowerCase() || " "));
}

/** A prune `until` filter as moby's GetTimestamp reads it (unix time, a Go duration back from now, or a date), in epoch ms. */
export function pruneUntilMs(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = parseGoDuration(v);
  if (d !== undefined) return Date.now() - d / 1e6;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidParameter(`failed to parse value as time or duration: "${v}"`);
  return t;
}
