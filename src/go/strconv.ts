/**
 * Go's strconv as Docker's messages show it: Quote (%q), Unquote, and the texts of strconv's errors
 * ("strconv.Atoi: parsing "x": invalid syntax"). Part of src/go: ports of Go's standard library that other
 * folders share; it imports nothing from the rest of bunker.
 */

/** strconv.Quote (Go's %q) of a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const esc: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v" };
    out += esc[ch] ?? (c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, "0")}` : ch);
  }
  return `${out}"`;
}

/** strconv.QuoteRune (Go's %q of an integer): 'A', '\n', '\x04'. */
export function goQuoteRune(r: number): string {
  const esc: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 39: "\\'", 92: "\\\\" };
  if (esc[r]) return `'${esc[r]}'`;
  if (r < 0x20 || r === 0x7f) return `'\\x${r.toString(16).padStart(2, "0")}'`;
  return `'${String.fromCodePoint(r)}'`;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\" };

/** strconv.Unquote for "..." and `...` (and the body of a '...' character constant); undefined if invalid. */
export function unquote(lit: string): string | undefined {
  const q = lit[0]!;
  const body = lit.slice(1, -1);
  if (q === "`") return body.replace(/\r/g, "");
  let out = "";
  for (let i = 0; i < body.length; ) {
    const c = body[i++]!;
    if (c !== "\\") {
      if (c === q) return undefined;
      out += c;
      continue;
    }
    const e = body[i++];
    if (e !== undefined && e in ESCAPES) out += ESCAPES[e];
    else if (e === q) out += q;
    else if (e === "x" || e === "u" || e === "U") {
      const len = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = body.slice(i, i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) return undefined;
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff || (e !== "x" && cp >= 0xd800 && cp < 0xe000)) return undefined;
      out += String.fromCodePoint(cp);
      i += len;
    } else if (e !== undefined && e >= "0" && e <= "7") {
      const oct = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) return undefined;
      out += String.fromCharCode(Number.parseInt(oct, 8));
      i += 2;
    } else return undefined;
  }
  return out;
}

/** The text of a strconv.NumError: `strconv.Atoi: parsing "x": invalid syntax` (or "value out of range"). */
export function strconvError(fn: "Atoi" | "ParseInt" | "ParseUint" | "ParseBool" | "ParseFloat", input: string, reason = "invalid syntax"): string {
  return `strconv.${fn}: parsing ${goQuote(input)}: ${reason}`;
}
