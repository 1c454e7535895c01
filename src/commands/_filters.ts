/** `--filter key=value` flags into the API's filter map, as the docker CLI builds it. */
import { flagError } from "./_cli.ts";

/** Parses repeated --filter values; "dangling=true" → { dangling: ["true"] }. */
export function parseFilters(values: string[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values ?? []) {
    const i = v.indexOf("=");
    if (i <= 0) throw flagError("filter", v, "bad format of filter (expected name=value)\n\nUsage:  see --help", "f");
    (out[v.slice(0, i).toLowerCase()] ??= []).push(v.slice(i + 1));
  }
  return out;
}
