/**
 * Go's fmt for the values bunker renders: %v of maps and slices, Sprint, Sprintf with Go's verbs and its
 * %!verb(...) mistakes, and %g. JavaScript values stand for Go's: an object is a map, an array a slice.
 */
import { goQuote } from "./strconv.ts";

type Value = unknown;

/** Whether a value is read as a Go map (a plain object, not an array). */
export const isMap = (v: Value): v is Record<string, Value> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The Go type a JavaScript value stands for, in error messages and %T. */
export function goType(v: Value): string {
  if (v === undefined || v === null) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (Array.isArray(v)) return "[]interface {}";
  if (typeof v === "function") return "func()";
  return "map[string]interface {}";
}

/** Go's %v for template output: maps as map[k:v] with sorted keys, arrays as [a b], undefined as <no value>, null as <nil>. */
export function goString(v: Value): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
  if (typeof v === "object") {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString((v as Record<string, Value>)[k])}`)
      .join(" ")}]`;
  }
  return String(v);
}

/** %v of an argument to print/printf (a missing value is Go's untyped nil). */
export const fmtV = (v: Value) => (v === undefined ? "<nil>" : goString(v));

/** fmt.Sprint: spaces between operands when neither is a string. */
export function sprint(args: Value[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += fmtV(a);
  });
  return out;
}

/** Go's %g with the shortest precision: exponent form below 1e-4 and from 1e+06. */
function shortestG(x: number): string {
  const [m, e] = x.toExponential().split("e");
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(x);
}

/** One fmt verb with its flags, width and precision. */
function fmtVerb(verb: string, v: Value, flags: string, width: number | undefined, prec: number | undefined): string {
  const bad = () => (v === undefined || v === null ? `%!${verb}(<nil>)` : `%!${verb}(${goType(v)}=${fmtV(v)})`);
  const isInt = typeof v === "number" && Number.isInteger(v);
  const sign = (s: string, x: number) => (x >= 0 && flags.includes("+") ? `+${s}` : x >= 0 && flags.includes(" ") ? ` ${s}` : s);
  let s: string;
  let numeric = false;
  switch (verb) {
    case "v":
      s = typeof v === "number" ? sign(String(v), v) : fmtV(v);
      numeric = typeof v === "number";
      break;
    case "s":
      if (typeof v !== "string" && !Array.isArray(v) && !isMap(v)) return bad();
      s = typeof v === "string" ? v : goString(v);
      if (prec !== undefined) s = [...s].slice(0, prec).join("");
      break;
    case "q":
      if (isInt) s = `'${String.fromCodePoint(v as number)}'`;
      else if (typeof v === "string") s = goQuote(prec === undefined ? v : [...v].slice(0, prec).join(""));
      else return bad();
      break;
    case "d":
      if (!isInt) return bad();
      s = sign(String(v), v as number);
      numeric = true;
      break;
    case "b":
    case "o":
    case "x":
    case "X": {
      if (verb === "x" || verb === "X") {
        if (typeof v === "string") {
          s = Buffer.from(v).toString("hex");
          s = verb === "X" ? s.toUpperCase() : s;
          break;
        }
      }
      if (!isInt) return bad();
      const n = v as number;
      s = Math.abs(n).toString(verb === "b" ? 2 : verb === "o" ? 8 : 16);
      if (verb === "X") s = s.toUpperCase();
      if (flags.includes("#")) s = (verb === "b" ? "0b" : verb === "o" ? "0" : verb === "x" ? "0x" : "0X") + s;
      s = sign(n < 0 ? `-${s}` : s, n);
      numeric = true;
      break;
    }
    case "c":
    case "U":
      if (!isInt) return bad();
      s = verb === "c" ? String.fromCodePoint(v as number) : `U+${(v as number).toString(16).toUpperCase().padStart(4, "0")}`;
      break;
    case "e":
    case "E":
    case "f":
    case "F":
    case "g":
    case "G": {
      if (typeof v !== "number") return bad();
      const lower = verb.toLowerCase();
      if (lower === "f") s = v.toFixed(prec ?? 6);
      else if (lower === "e") s = v.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, "e$10$2");
      else s = prec === undefined ? shortestG(v) : goG(v, Math.max(prec, 1));
      if (verb !== lower) s = s.toUpperCase();
      s = sign(s, v);
      numeric = true;
      break;
    }
    case "t":
      if (typeof v !== "boolean") return bad();
      s = String(v);
      break;
    case "T":
      s = goType(v);
      break;
    default:
      return bad();
  }
  if (width === undefined || [...s].length >= width) return s;
  const fill = width - [...s].length;
  if (flags.includes("-")) return s + " ".repeat(fill);
  if (flags.includes("0") && numeric) {
    const signed = /^[+\- ]/.test(s) ? 1 : 0;
    return s.slice(0, signed) + "0".repeat(fill) + s.slice(signed);
  }
  return " ".repeat(fill) + s;
}

/** fmt.Sprintf: verbs v s q d b o x X c U e f g t T with flags, width and precision; Go's %!verb(...) for mistakes. */
export function sprintf(format: string, args: Value[]): string {
  let out = "";
  let next = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== "%") {
      out += c;
      continue;
    }
    let flags = "";
    while ("+-# 0".includes(format[i + 1] ?? "x")) flags += format[++i];
    const num = () => {
      if (format[i + 1] === "*") {
        i++;
        const a = args[next++];
        return typeof a === "number" ? a : undefined;
      }
      let d = "";
      while (/\d/.test(format[i + 1] ?? "")) d += format[++i];
      return d ? Number(d) : undefined;
    };
    const width = num();
    let prec: number | undefined;
    if (format[i + 1] === ".") {
      i++;
      prec = num() ?? 0;
    }
    const verb = format[++i];
    if (verb === undefined) {
      out += "%!(NOVERB)";
      break;
    }
    if (verb === "%") out += "%";
    else if (next >= args.length) out += `%!${verb}(MISSING)`;
    else out += fmtVerb(verb, args[next++], flags, width, prec);
  }
  if (next < args.length) out += `%!(EXTRA ${args.slice(next).map((a) => (a == null ? "<nil>" : `${goType(a)}=${fmtV(a)}`)).join(", ")})`;
  return out;
}

/** Go's %.Ng: shortest of %e/%f at N significant digits, trailing zeros removed. */
export function goG(x: number, prec: number): string {
  if (x === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(prec)))));
  if (exp < -4 || exp >= prec) {
    const [m, e] = x.toExponential(prec - 1).split("e");
    const mant = m!.includes(".") ? m!.replace(/\.?0+$/, "") : m!;
    const ev = Number(e);
    return `${mant}e${ev < 0 ? "-" : "+"}${String(Math.abs(ev)).padStart(2, "0")}`;
  }
  const s = x.toFixed(Math.max(0, prec - 1 - exp));
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}
