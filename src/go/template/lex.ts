/**
 * text/template's lexer (text/template/parse/lex.go): a template's text as tokens, a lexing error as an
 * "error" token at the end.
 */
import { goQuote } from "../strconv.ts";

export interface Token {
  /** "text", "{{", "}}", "(", ")", "|", "=", ":=", "space", "field", "identifier", "variable", "string",
   *  "rawString", "number", "complex", "charConstant", "bool", "char", ".", a keyword, "error" or "EOF". */
  t: string;
  val: string;
  pos: number;
  line: number;
}

/** Go's keywords: an identifier spelled so lexes as the keyword. */
export const KEYWORDS = new Set(["block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"]);
const ALNUM = /^[\p{L}\p{Nd}_]$/u;
const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\r" || c === "\n";
/** Go's isAlphaNumeric: a letter, a digit or '_' (ASCII checked first: the Unicode regex costs to compile). */
const isAlnum = (c: string | undefined) => {
  if (c === undefined) return false;
  const x = c.charCodeAt(0);
  if (x < 0x80) return (x >= 97 && x <= 122) || (x >= 65 && x <= 90) || (x >= 48 && x <= 57) || x === 95;
  return ALNUM.test(c);
};
const charAt = (s: string, i: number) => {
  const cp = s.codePointAt(i);
  return cp === undefined ? undefined : String.fromCodePoint(cp);
};

/** Go's %#U: U+0023 '#'. */
function fmtU(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? hex : `${hex} '${ch}'`;
}

/** Splits a template into tokens as Go's lexer does; a lexing error ends the list as an "error" token. */
export function lex(input: string): Token[] {
  const toks: Token[] = [];
  const n = input.length;
  let start = 0; // start of the pending token
  let pos = 0;
  let line = 1; // line of `start`
  const moveStart = (to: number) => {
    for (let k = start; k < to; k++) if (input.charCodeAt(k) === 10) line++;
    start = to;
  };
  const emit = (t: string, end = pos) => {
    toks.push({ t, val: input.slice(start, end), pos: start, line });
    moveStart(end);
  };
  const fail = (msg: string) => {
    toks.push({ t: "error", val: msg, pos: start, line });
    return false;
  };
  const hasLeftTrim = (p: number) => input[p] === "-" && isSpace(input[p + 1]);
  // [at "}}" or " -}}", with the trim marker]
  const atRightDelim = (p: number): [boolean, boolean] =>
    isSpace(input[p]) && input[p + 1] === "-" && input.startsWith("}}", p + 2) ? [true, true] : [input.startsWith("}}", p), false];
  const atTerminator = (p: number) => {
    const c = input[p];
    return c === undefined || isSpace(c) || ".,|:()".includes(c) || input.startsWith("}}", p);
  };
  const alnumRun = () => {
    let r = charAt(input, pos);
    while (isAlnum(r)) {
      pos += r!.length;
      r = charAt(input, pos);
    }
    return r;
  };
  // ".Name" or "$name"; a lone "." or "$" is the dot or the $ variable.
  const fieldOrVariable = (t: "field" | "variable") => {
    if (!atTerminator(pos)) {
      const r = alnumRun();
      if (!atTerminator(pos)) return fail(`bad character ${fmtU(r!)}`);
    }
    emit(pos - start === 1 && t === "field" ? "." : t);
    return true;
  };
  const accept = (set: string) => {
    if (pos >= n || !set.includes(input[pos]!)) return false;
    pos++;
    return true;
  };
  const scanNumber = () => {
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    while (accept(digits));
    if (accept(".")) while (accept(digits));
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      while (accept("0123456789_"));
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      while (accept("0123456789_"));
    }
    accept("i");
    // The next thing mustn't be alphanumeric.
    const r = charAt(input, pos);
    if (!isAlnum(r)) return true;
    pos += r!.length;
    return false;
  };
  const quoted = (q: string, what: string) => {
    for (;;) {
      const d = input[pos++];
      if (d === "\\") {
        const e = input[pos++];
        if (e !== undefined && e !== "\n") continue;
        return fail(`unterminated ${what}`);
      }
      if (d === undefined || d === "\n") return fail(`unterminated ${what}`);
      if (d === q) return true;
    }
  };

  // Inside {{ }}; false after an error.
  const action = (): boolean => {
    let depth = 0;
    for (;;) {
      const [delim, trimRight] = atRightDelim(pos);
      if (delim) {
        if (depth) return fail("unclosed left paren");
        if (trimRight) moveStart((pos += 2));
        pos += 2;
        emit("}}");
        if (trimRight) {
          while (isSpace(input[pos])) pos++;
          moveStart(pos);
        }
        return true;
      }
      if (pos >= n) return fail("unclosed action");
      const c = input[pos]!;
      if (isSpace(c)) {
        let spaces = 0;
        for (; isSpace(input[pos]); pos++) spaces++;
        // A trim-marked right delimiter starts with a space: leave that space to it.
        if (input[pos] === "-" && input.startsWith("}}", pos + 1)) {
          pos--;
          if (spaces === 1) continue;
        }
        emit("space");
        continue;
      }
      pos++;
      switch (c) {
        case "=":
          emit("=");
          continue;
        case ":":
          if (input[pos] !== "=") return fail("expected :=");
          pos++;
          emit(":=");
          continue;
        case "|":
          emit("|");
          continue;
        case '"':
          if (!quoted('"', "quoted string")) return false;
          emit("string");
          continue;
        case "'":
          if (!quoted("'", "character constant")) return false;
          emit("charConstant");
          continue;
        case "`": {
          const close = input.indexOf("`", pos);
          if (close < 0) return fail("unterminated raw quoted string");
          pos = close + 1;
          emit("rawString");
          continue;
        }
        case "$":
          if (!fieldOrVariable("variable")) return false;
          continue;
        case "(":
          depth++;
          emit("(");
          continue;
        case ")":
          if (--depth < 0) return fail("unexpected right paren");
          emit(")");
          continue;
      }
      if (c === "." && pos < n && !(input[pos]! >= "0" && input[pos]! <= "9")) {
        if (!fieldOrVariable("field")) return false;
        continue;
      }
      pos--;
      if (c === "." || c === "+" || c === "-" || (c >= "0" && c <= "9")) {
        if (!scanNumber()) return fail(`bad number syntax: ${goQuote(input.slice(start, pos))}`);
        if (input[pos] === "+" || input[pos] === "-") {
          if (!scanNumber() || input[pos - 1] !== "i") return fail(`bad number syntax: ${goQuote(input.slice(start, pos))}`);
          emit("complex");
        } else emit("number");
        continue;
      }
      const ch = charAt(input, pos)!;
      if (isAlnum(ch)) {
        const r = alnumRun();
        if (!atTerminator(pos)) return fail(`bad character ${fmtU(r!)}`);
        const word = input.slice(start, pos);
        emit(KEYWORDS.has(word) ? word : word === "true" || word === "false" ? "bool" : "identifier");
        continue;
      }
      if (c >= " " && c <= "~") {
        pos++;
        emit("char");
        continue;
      }
      return fail(`unrecognized character in action: ${fmtU(ch)}`);
    }
  };

  for (;;) {
    const x = input.indexOf("{{", pos);
    if (x < 0) {
      pos = n;
      if (pos > start) emit("text");
      toks.push({ t: "EOF", val: "EOF", pos, line });
      return toks;
    }
    let end = x;
    if (hasLeftTrim(x + 2)) while (end > start && isSpace(input[end - 1])) end--;
    if (end > start) emit("text", end);
    moveStart(x);
    pos = x + 2;
    const after = hasLeftTrim(pos) ? pos + 2 : pos;
    if (input.startsWith("/*", after)) {
      moveStart(after);
      const close = input.indexOf("*/", after + 2);
      if (close < 0) {
        fail("unclosed comment");
        return toks;
      }
      pos = close + 2;
      const [delim, trimRight] = atRightDelim(pos);
      if (!delim) {
        fail("comment ends before closing delimiter");
        return toks;
      }
      pos += trimRight ? 4 : 2;
      if (trimRight) while (isSpace(input[pos])) pos++;
      moveStart(pos);
      continue;
    }
    emit("{{");
    pos = after;
    moveStart(pos);
    if (!action()) return toks;
  }
}
