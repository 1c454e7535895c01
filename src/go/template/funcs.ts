/**
 * text/template's builtin functions (funcs.go) and the docker CLI's (templates/templates.go: json, join,
 * split, title, lower, upper, pad, truncate).
 */
import { fmtV, goString, goType, isMap, sprint, sprintf } from "../fmt.ts";

type Value = unknown;

/** A template function or method: any signature. */
export type Fn = (...args: any[]) => Value;

/** The docker CLI's json function: encoding/json with SetEscapeHTML(false), so no spaces and <>& as they are. */
export function goJson(v: Value): string {
  return JSON.stringify(v ?? null);
}

/** Whether an object has field `name` (its own, or inherited from anything but Object.prototype). */
export const hasField = (o: object, name: string) => Object.hasOwn(o, name) || (name in o && !(name in Object.prototype));

/** Go's truth: false, 0, "", nil and empty arrays and maps are false. */
export function truth(v: Value): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v) || typeof v === "string") return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return typeof v === "number" ? v !== 0 : typeof v === "boolean" ? v : true;
}

/** Go's eq: arg == any of the others; numbers, strings and bools compare by value, nil equals nil. */
function eq(a: Value, ...others: Value[]): boolean {
  if (!others.length) throw new Error("missing argument for comparison");
  const basic = (v: Value) => (typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? typeof v : v == null ? "nil" : "other");
  for (const b of others) {
    const ka = basic(a);
    const kb = basic(b);
    if (ka === "nil" || kb === "nil") {
      if (ka === kb) return true;
      continue;
    }
    if (ka !== kb) throw new Error(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
    if (ka === "other") throw new Error(`non-comparable type ${goString(b)}: ${goType(b)}`);
    if (a === b) return true;
  }
  return false;
}

/** Go's lt: numbers and strings only. */
function lt(a: Value, b: Value): boolean {
  const ok = (v: Value) => typeof v === "string" || typeof v === "number";
  if (!ok(a) || !ok(b)) throw new Error("invalid type for comparison");
  if (typeof a !== typeof b) throw new Error(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
  return (a as number) < (b as number);
}

/** An integer index into something of length `cap` (Go's indexArg). */
function indexArg(i: Value, cap: number): number {
  if (i === undefined || i === null) throw new Error("cannot index slice/array with nil");
  if (typeof i !== "number" || !Number.isInteger(i)) throw new Error(`cannot index slice/array with type ${goType(i)}`);
  if (i < 0 || i > cap) throw new Error(`index out of range: ${i}`);
  return i;
}

/** A map's zero value for a missing key, guessed from its values: "" for string maps (labels), else nil. */
function zeroOf(map: Record<string, Value>): Value {
  for (const k in map) {
    const v = map[k];
    return typeof v === "string" ? "" : typeof v === "number" ? 0 : typeof v === "boolean" ? false : null;
  }
  return "";
}

/** Go's index: item[k1][k2]...; a missing map key gives the map's zero value. */
function index(item: Value, ...keys: Value[]): Value {
  if (item === undefined || item === null) throw new Error("index of untyped nil");
  for (const k of keys) {
    if (item === undefined || item === null) throw new Error("index of nil pointer");
    if (Array.isArray(item) || typeof item === "string") {
      const i = indexArg(k, item.length);
      if (i >= item.length) throw new Error(`index out of range: ${i}`);
      item = typeof item === "string" ? Buffer.from(item)[i] : item[i];
    } else if (isMap(item)) {
      if (typeof k !== "string") throw new Error(k == null ? "value is nil; should be of type string" : `value has type ${goType(k)}; should be string`);
      item = hasField(item, k) ? item[k] : zeroOf(item);
    } else throw new Error(`can't index item of type ${goType(item)}`);
  }
  return item;
}

/** Go's slice: item[i:j] of a string or an array. */
function slice(item: Value, ...idx: Value[]): Value {
  if (item === undefined || item === null) throw new Error("slice of untyped nil");
  if (idx.length > 3) throw new Error(`too many slice indexes: ${idx.length}`);
  if (typeof item === "string" && idx.length === 3) throw new Error("cannot 3-index slice a string");
  if (typeof item !== "string" && !Array.isArray(item)) throw new Error(`can't slice item of type ${goType(item)}`);
  const bounds = [0, item.length, item.length];
  idx.forEach((v, i) => (bounds[i] = indexArg(v, item.length)));
  if (bounds[0]! > bounds[1]!) throw new Error(`invalid slice index: ${bounds[0]} > ${bounds[1]}`);
  if (idx.length === 3 && bounds[1]! > bounds[2]!) throw new Error(`invalid slice index: ${bounds[1]} > ${bounds[2]}`);
  return item.slice(bounds[0], bounds[1]);
}

/** Go's len: bytes of a string, elements of an array, keys of a map. */
function length(v: Value): number {
  if (v === undefined || v === null) throw new Error("len of nil pointer");
  if (typeof v === "string") return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goType(v)}`);
}

/** The text of html/js/urlquery's arguments (Go's evalArgs). */
const argText = (a: Value[]) => (a.length === 1 && typeof a[0] === "string" ? a[0] : sprint(a.map((v) => (v === undefined ? "<no value>" : v))));

const htmlEscapes: Record<string, string> = { "\0": "\uFFFD", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;" };
const jsEscapes: Record<string, string> = { "\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D" };

/** Template functions: Go's builtins and the docker CLI's. `n` is the count of (fixed) parameters. */
export const funcs = new Map<string, { n: number; variadic?: boolean; fn: Fn }>([
  ["and", { n: 1, variadic: true, fn: () => undefined }], // evaluated lazily in evalCall
  ["or", { n: 1, variadic: true, fn: () => undefined }],
  ["not", { n: 1, fn: (v) => !truth(v) }],
  ["len", { n: 1, fn: length }],
  ["index", { n: 1, variadic: true, fn: index }],
  ["slice", { n: 1, variadic: true, fn: slice }],
  ["print", { n: 0, variadic: true, fn: (...a) => sprint(a) }],
  ["printf", { n: 1, variadic: true, fn: (f, ...a) => sprintf(String(f), a) }],
  ["println", { n: 0, variadic: true, fn: (...a) => `${a.map(fmtV).join(" ")}\n` }],
  ["html", { n: 0, variadic: true, fn: (...a) => argText(a).replace(/[\0"'&<>]/g, (c) => htmlEscapes[c]!) }],
  ["js", { n: 0, variadic: true, fn: (...a) => argText(a).replace(/[\\'"<>&=\x00-\x1f]/g, (c) => jsEscapes[c] ?? `\\u00${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`) }],
  ["urlquery", { n: 0, variadic: true, fn: (...a) => encodeURIComponent(argText(a)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, "+") }],
  ["eq", { n: 1, variadic: true, fn: eq }],
  ["ne", { n: 2, fn: (a, b) => !eq(a, b) }],
  ["lt", { n: 2, fn: lt }],
  ["le", { n: 2, fn: (a, b) => lt(a, b) || eq(a, b) }],
  ["gt", { n: 2, fn: (a, b) => !(lt(a, b) || eq(a, b)) }],
  ["ge", { n: 2, fn: (a, b) => !lt(a, b) }],
  // The docker CLI's (templates.go), as bunker has always rendered them.
  ["json", { n: 1, fn: goJson }],
  ["upper", { n: 1, fn: (v) => String(v).toUpperCase() }],
  ["lower", { n: 1, fn: (v) => String(v).toLowerCase() }],
  ["title", { n: 1, fn: (v) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()) }],
  ["join", { n: 2, fn: (v, sep) => (Array.isArray(v) ? v.join(String(sep)) : String(v ?? "")) }],
  ["split", { n: 2, fn: (v, sep) => String(v).split(String(sep)) }],
  ["truncate", { n: 2, fn: (v, n) => String(v).slice(0, Number(n)) }],
  ["pad", { n: 3, fn: (v, l, r) => (v === "" ? "" : `${" ".repeat(Number(l))}${v}${" ".repeat(Number(r))}`) }], // padWithSpace: "" stays ""
]);
