/**
 * Docker's output conventions: tabwriter tables, go-units sizes and durations, and the subset of Go
 * templates that users type in --format (`{{.ID}}`, `table ...`, `json`, `{{json .}}`, upper/lower/join...).
 */
import { humanDuration } from "../engine/units.ts";
export { humanSize, binarySize, goG, humanDuration } from "../engine/units.ts";

/** "2 weeks ago" from an RFC 3339 time or epoch ms; "N/A" when unknown, as docker prints. */
export function since(time: string | number | undefined, now = Date.now()): string {
  const t = typeof time === "string" ? Date.parse(time) : time;
  if (t === undefined || Number.isNaN(t) || t <= 0) return "N/A";
  return `${humanDuration(now - t)} ago`;
}

/** text/tabwriter with docker's settings (minwidth 10, or 20 for `top`; padding 3): cells padded, the last column not. */
export function table(rows: string[][], minWidth = 10): string {
  // Plain loops: a listing is interpreted code run once (src/jit.ts), where each callback is a call.
  const widths: number[] = [];
  for (const r of rows) for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] ?? minWidth, r[i]!.length + 3);
  // Like tabwriter, a padded cell keeps its padding even when the last cell after it is empty.
  const lines: string[] = [];
  for (const r of rows) {
    let line = "";
    for (let i = 0; i < r.length - 1; i++) line += r[i]!.padEnd(widths[i]!);
    lines.push(line + (r[r.length - 1] ?? ""));
  }
  return lines.join("\n");
}

type Value = unknown;
type Fn = (...args: Value[]) => Value;

const funcs: Record<string, Fn> = {
  json: (v) => goJson(v),
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  title: (v) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (v, sep) => (Array.isArray(v) ? v.join(String(sep)) : String(v ?? "")),
  split: (v, sep) => String(v).split(String(sep)),
  truncate: (v, n) => String(v).slice(0, Number(n)),
  pad: (v, l, r) => `${" ".repeat(Number(l))}${v}${" ".repeat(Number(r))}`,
  index: (v, k) => (v == null ? undefined : (v as any)[k as string]),
  len: (v) => (Array.isArray(v) || typeof v === "string" ? v.length : v && typeof v === "object" ? Object.keys(v).length : 0),
  println: (...a) => `${a.map(goString).join(" ")}\n`,
  print: (...a) => a.map(goString).join(""),
  printf: (f, ...a) => {
    let k = 0;
    return String(f).replace(/%([-+# 0]*\d*(?:\.\d+)?)([svdqf%])/g, (_m, _w, verb) => (verb === "%" ? "%" : verb === "q" ? JSON.stringify(goString(a[k++])) : goString(a[k++])));
  },
};

/** Go's %v for template output: maps as map[k:v], arrays as [a b], null as <no value>. */
function goString(v: Value): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
  if (typeof v === "object") {
    return `map[${Object.keys(v as object)
      .sort()
      .map((k) => `${k}:${goString((v as any)[k])}`)
      .join(" ")}]`;
  }
  return String(v);
}

/** encoding/json as Go templates emit it: no spaces, HTML-safe escapes. */
function goJson(v: Value): string {
  return JSON.stringify(v ?? null).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Splits "a b" args respecting "quoted strings". */
function words(s: string): string[] {
  return s.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g) ?? [];
}

function evalWord(w: string, dot: Value): Value {
  if (w.startsWith('"')) return JSON.parse(w);
  if (w.startsWith("`")) return w.slice(1, -1);
  if (/^-?\d+(\.\d+)?$/.test(w)) return Number(w);
  if (w === ".") return dot;
  if (w.startsWith(".")) {
    let v: any = dot;
    for (const part of w.slice(1).split(".")) {
      if (v == null) return undefined;
      if (typeof v === "object" && !(part in v)) throw new TemplateError(`can't evaluate field ${part}`);
      v = typeof v[part] === "function" ? v[part]() : v[part];
    }
    return v;
  }
  throw new TemplateError(`function "${w}" not defined`);
}

function evalCommand(cmd: string, dot: Value, piped?: { value: Value }): Value {
  const ws = words(cmd.trim());
  if (!ws.length) throw new TemplateError("missing value for command");
  const [head, ...rest] = ws;
  const fn = funcs[head!];
  if (fn) {
    const args = rest.map((w) => evalWord(w, dot));
    if (piped) args.push(piped.value);
    return fn(...args);
  }
  if (rest.length || piped) throw new TemplateError(`can't give argument to non-function ${head}`);
  return evalWord(head!, dot);
}

/** A template that failed to parse or run; docker prints it as "template parsing error: ...". */
export class TemplateError extends Error {}

/** A compiled --format template. */
export interface Template {
  /** The header row for `table` templates, else undefined. */
  header?: string;
  render(dot: Value): string;
}

/** Compiles a Go-template subset. `headers` maps field names to column titles ("ID" → "IMAGE ID"). */
export function compileTemplate(source: string, headers: Record<string, string> = {}): Template {
  let src = source;
  let isTable = false;
  if (src.startsWith("table")) {
    isTable = true;
    src = src.slice(5).replace(/^\s+/, "");
  }
  src = src.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const parts: (string | { pipeline: string[] })[] = [];
  const re = /\{\{-?\s*(.*?)\s*-?\}\}/gs;
  let last = 0;
  for (let m; (m = re.exec(src)); ) {
    parts.push(src.slice(last, m.index));
    parts.push({ pipeline: m[1]!.split(/\|(?=(?:[^"]*"[^"]*")*[^"]*$)/) });
    last = m.index + m[0].length;
  }
  parts.push(src.slice(last));
  const render = (dot: Value) =>
    parts
      .map((p) => {
        if (typeof p === "string") return p;
        let out: { value: Value } | undefined;
        for (const c of p.pipeline) out = { value: evalCommand(c, dot, out) };
        const v = out!.value;
        return typeof v === "string" ? v : goString(v);
      })
      .join("");
  let header: string | undefined;
  if (isTable) {
    header = parts
      .map((p) => {
        if (typeof p === "string") return p;
        const field = p.pipeline[0]!.trim().split(/\s+/).find((w) => w.startsWith("."));
        const name = field?.slice(1) ?? "";
        return headers[name] ?? name.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
      })
      .join("");
  }
  return { header, render };
}

/** Renders rows with --format as docker does: "table ..." aligns with a header; "json" prints one object a line. */
export function renderFormatted(format: string, rows: Value[], headers: Record<string, string> = {}): string {
  if (format === "json") return rows.map((r) => goJson(r)).join("\n");
  const t = compileTemplate(format, headers);
  const lines = rows.map((r) => t.render(r));
  if (t.header === undefined) return lines.join("\n");
  const cells = [t.header, ...lines].map((l) => l.split("\t"));
  return table(cells);
}

/** The docker CLI's prune confirmation: prints the warning, reads a line, true for y/yes. */
export async function confirm(warning: string): Promise<boolean> {
  process.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  for await (const line of console) return /^y(es)?$/i.test(line.trim());
  return false;
}

/** Go's sortorder.NaturalLess as a comparator (the docker CLI's order of names and port lines): digit runs compare as numbers, digits before other bytes. */
export function naturalCompare(a: string, b: string): number {
  const digit = (c: number) => c >= 48 && c <= 57;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c1 = a.charCodeAt(i);
    const c2 = b.charCodeAt(j);
    if (digit(c1) !== digit(c2)) return digit(c1) ? -1 : 1;
    if (!digit(c1)) {
      if (c1 !== c2) return c1 < c2 ? -1 : 1;
      i++;
      j++;
      continue;
    }
    while (i < a.length && a[i] === "0") i++;
    while (j < b.length && b[j] === "0") j++;
    const s1 = i;
    const s2 = j;
    while (i < a.length && digit(a.charCodeAt(i))) i++;
    while (j < b.length && digit(b.charCodeAt(j))) j++;
    if (i - s1 !== j - s2) return i - s1 < j - s2 ? -1 : 1;
    const n1 = a.slice(s1, i);
    const n2 = b.slice(s2, j);
    if (n1 !== n2) return n1 < n2 ? -1 : 1;
    if (s1 !== s2) return s1 < s2 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
