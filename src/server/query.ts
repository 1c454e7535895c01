/**
 * Query-string conventions shared by every route, as moby's httputils reads them: booleans in any
 * client's spelling (1/true from the CLI and dockerode, True/False from docker-py) and `filters` as JSON
 * in both encodings (map of bool from the CLI, legacy map of arrays from dockerode).
 */
import { invalidParameter } from "../engine/errors.ts";
import { strconvError } from "../go/strconv.ts";

/** Filters in their normalised form: key → values. */
export type Filters = Record<string, string[]>;

/** httputils.BoolValue: false iff absent or one of "", "0", "no", "false", "none" (any case). */
export function boolParam(q: URLSearchParams, name: string, absent = false): boolean {
  const v = q.get(name);
  if (v === null) return absent;
  return !["", "0", "no", "false", "none"].includes(v.trim().toLowerCase());
}

/** httputils.BoolValueOrDefault: the default when absent or empty. */
export function boolParamOr(q: URLSearchParams, name: string, def: boolean): boolean {
  const v = q.get(name);
  return v === null || v === "" ? def : boolParam(q, name);
}

/** An integer parameter; absent/empty → `def`; anything else that is not an integer → 400. */
export function intParam(q: URLSearchParams, name: string, def: number): number {
  const v = q.get(name);
  if (v === null || v === "") return def;
  if (!/^-?[0-9]+$/.test(v.trim())) throw invalidParameter(`invalid value for ${name}: ${strconvError("Atoi", v)}`);
  return Number(v);
}

/**
 * filters.FromJSON: `{"label":{"a=b":true}}` (map of bool, current) or `{"label":["a=b"]}` (legacy map of
 * arrays); empty or absent → {}. Values keep their insertion order; booleans in the map form are ignored
 * (moby reads only the keys).
 */
export function parseFilters(raw: string | null): Filters {
  if (raw === null || raw.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw invalidParameter(`invalid filter: ${(e as Error).message}`);
  }
  if (parsed === null) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw invalidParameter("invalid filter: filters must be a JSON object");
  const out: Filters = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) {
      if (v.some((x) => typeof x !== "string")) throw invalidParameter(`invalid filter: values of '${k}' must be strings`);
      out[k] = [...new Set(v as string[])];
    } else if (v && typeof v === "object") {
      out[k] = Object.keys(v as object);
    } else if (v === null) {
      out[k] = [];
    } else {
      throw invalidParameter(`invalid filter: values of '${k}' must be a list or a map`);
    }
  }
  return out;
}

/** Rejects filter keys outside `accepted`, with moby's text. */
export function checkFilterKeys(f: Filters, accepted: readonly string[]): void {
  for (const k of Object.keys(f)) if (!accepted.includes(k)) throw invalidParameter(`invalid filter '${k}'`);
}

/** The one value of a boolean filter (`dangling=true`), or undefined; moby's error for anything else. */
export function boolFilter(f: Filters, key: string): boolean | undefined {
  const vs = f[key];
  if (!vs?.length) return undefined;
  const v = vs[0]!.toLowerCase();
  if (vs.length === 1 && (v === "true" || v === "1")) return true;
  if (vs.length === 1 && (v === "false" || v === "0")) return false;
  throw invalidParameter(`Invalid filter '${key}=${vs.join(",")}'`);
}

/**
 * A time parameter as the CLI sends it (`since`, `until` of events and logs): unix seconds with an optional
 * fraction ("1700000000", "1700000000.123456789"), in nanoseconds since the epoch (bigint: nanos do not fit
 * a double). Absent/empty → undefined.
 */
export function timeParam(q: URLSearchParams, name: string): bigint | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const m = /^(-?[0-9]+)(?:\.([0-9]{1,9}))?$/.exec(v.trim());
  if (!m) throw invalidParameter(`invalid value for ${name}: ${JSON.stringify(v)} is not a unix timestamp`);
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0") || "0");
}
