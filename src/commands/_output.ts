/**
 * Docker's output conventions: tabwriter tables, go-units sizes and durations, and --format: Go templates
 * (`{{.ID}}`, `{{range ...}}`, `{{json .}}`: src/go/template), `table ...` with a header row, and `json`.
 */
import { humanDuration } from "../engine/units.ts";
import type { Node } from "../go/template/index.ts";
export { humanSize, binarySize, humanDuration } from "../engine/units.ts";
export { goG } from "../go/fmt.ts";

/** The template engine, loaded by the first --format: a plain listing does not pay for it. */
const templates = () => require("../go/template/index.ts") as typeof import("../go/template/index.ts");

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

/** A compiled --format template. */
export interface Template {
  /** The header row for `table` templates, else undefined. */
  header?: string;
  /** `typed`: the rows are docker's structs (GO_TYPED), read as the docker CLI's typed pass does. */
  render(dot: Value, typed?: boolean): string;
}

/**
 * Compiles a --format template (Go's text/template, parsed once: see src/go/template); "table ..." also gets a
 * header row, each action titled by its first field: `headers` maps field names to titles ("ID" → "IMAGE ID").
 * Throws TemplateError (Go's message) for a template that does not parse.
 */
export function compileTemplate(source: string, headers: Record<string, string> = {}): Template {
  let src = source;
  let isTable = false;
  if (src.startsWith("table")) {
    isTable = true;
    src = src.slice(5).replace(/^\s+/, "");
  }
  src = src.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const { parseTemplate, execute } = templates();
  const tree = parseTemplate(src);
  return { header: isTable ? headerOf(tree.root.nodes, headers) : undefined, render: (dot, typed) => execute(tree, dot, { typed }) };
}

/** The header row of a table template: its text, and for each action the title of its first field. */
function headerOf(nodes: Node[], headers: Record<string, string>): string {
  let out = "";
  for (const n of nodes) {
    if (n.k === "text") out += n.text;
    else if (n.k === "if" || n.k === "with" || n.k === "range") out += headerOf(n.list.nodes, headers);
    else if (n.k === "action" && !n.pipe.decl.length) {
      const field = n.pipe.cmds[0]!.args.find((a) => a.k === "field");
      const name = field?.k === "field" ? field.ident.join(".") : "";
      out += headers[name] ?? name.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
    }
  }
  return out;
}

/** Renders rows with --format as docker does: "table ..." aligns with a header; "json" prints one object a line. */
export function renderFormatted(format: string, rows: Value[], headers: Record<string, string> = {}): string {
  if (format === "json") return rows.map((r) => templates().goJson(r)).join("\n");
  const t = compileTemplate(format, headers);
  const lines = rows.map((r) => t.render(r));
  if (t.header === undefined) return lines.join("\n");
  const cells = [t.header, ...lines].map((l) => l.split("\t"));
  return table(cells);
}

/** An inspected object (with its kind when the docker CLI has a Go struct for it), or the error its name got. */
export type InspectResult = { kind?: "container" | "image"; value: unknown } | { error: string };

/**
 * `inspect` output in argument order, as the docker CLI's inspectors print it: a JSON array of what was
 * found (or, with --format, each object through the template), then every error, one a line. A template is
 * run as its TemplateInspector runs it: on the typed struct first (_inspect-types.ts, GO_TYPED), then on the
 * raw JSON, whose error is the one reported; an object whose template fails prints nothing, and with nothing
 * printed the output is one empty line.
 */
export async function renderInspect(results: InspectResult[], format?: string): Promise<{ output: string; errors: string[] }> {
  const errors: string[] = [];
  if (!format || format === "json") {
    const found = results.flatMap((r) => ("error" in r ? (errors.push(r.error), []) : [r.value]));
    if (!format) return { output: JSON.stringify(found, null, 4), errors };
    return { output: found.map((v) => templates().goJson(v)).join("\n"), errors };
  }
  const { typedView } = await import("./_inspect-types.ts");
  const { TemplateError } = templates();
  const t = compileTemplate(format);
  const lines: string[] = [];
  for (const r of results) {
    if ("error" in r) {
      errors.push(r.error);
      continue;
    }
    try {
      try {
        lines.push(t.render(r.kind ? typedView(r.kind, r.value) : r.value, true));
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        lines.push(t.render(r.value));
      }
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      errors.push(`template parsing error: ${e.text("", true)}`);
    }
  }
  return { output: lines.join("\n"), errors };
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
