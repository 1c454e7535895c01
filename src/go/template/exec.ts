/**
 * Go's text/template as the docker CLI runs it for --format: a lexer and a recursive-descent parser (ports of
 * text/template/parse, keeping its error messages) that build a tree once, and a tree-walking evaluator (after
 * exec.go and funcs.go) that renders it per row. The functions are Go's builtins plus the docker CLI's
 * (templates/templates.go: json, join, split, title, lower, upper, pad, truncate).
 *
 * Values are JavaScript's: an object is read as a Go map (range and printing in sorted key order, `index` by
 * key) but, as a field of one of docker's structs, a missing field is an error; an array is a slice; a function
 * is a method, called with the command's arguments. Not implemented: define/template/block, complex numbers.
 */

import { goG } from "../../engine/units.ts";

type Value = unknown;

// ---------------------------------------------------------------------------------------------------------
// Errors

/** A template that failed to parse or run, with Go's message ("template: :1: unexpected EOF"). */
export class TemplateError extends Error {
  constructor(
    /** True for a parse error, false for an error while rendering. */
    readonly parse: boolean,
    /** Where: the line ("1") of a parse error, "line:column" (column in bytes) of an execution error. */
    readonly where: string,
    /** Go's text after the location: "unexpected EOF", "can't evaluate field X in type Y"... */
    readonly reason: string,
    /** Execution errors: the node being run, as Go prints it ("<.Nope>"). */
    readonly context?: string,
    /** Lexer errors inside a multi-line action: the action's first line and how Go words it. */
    readonly started?: { line: number; words: string },
    /** A field missing from an object: its name (a map's "no entry for key" to the docker CLI's inspect). */
    readonly missingKey?: string,
  ) {
    super("");
    this.name = "TemplateError";
    this.message = this.text();
  }

  /** Go's message for a template called `name`; `mapKeys` words a missing field as a map's missing key. */
  text(name = "", mapKeys = false): string {
    const start = this.started ? `${this.started.words}${name}:${this.started.line}` : "";
    if (this.parse) return `template: ${name}:${this.where}: ${this.reason}${start}`;
    const reason = mapKeys && this.missingKey !== undefined ? `map has no entry for key ${goQuote(this.missingKey)}` : this.reason;
    return `template: ${name}:${this.where}: executing ${goQuote(name)} at <${this.context}>: ${reason}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Lexer (text/template/parse/lex.go)

interface Token {
  /** "text", "{{", "}}", "(", ")", "|", "=", ":=", "space", "field", "identifier", "variable", "string",
   *  "rawString", "number", "complex", "charConstant", "bool", "char", ".", a keyword, "error" or "EOF". */
  t: string;
  val: string;
  pos: number;
  line: number;
}

const KEYWORDS = new Set(["block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"]);
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
function lex(input: string): Token[] {
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

// ---------------------------------------------------------------------------------------------------------
// Parse tree (text/template/parse/node.go)

/** A parsed template: the text (for error positions) and its top-level list. */
export interface Tree {
  text: string;
  root: ListNode;
}
/** A sequence of nodes. */
export interface ListNode {
  k: "list";
  pos: number;
  nodes: Node[];
}
/** Plain text, printed as is. */
export interface TextNode {
  k: "text";
  pos: number;
  text: string;
}
/** {{pipeline}}: prints the value unless the pipeline declares variables. */
export interface ActionNode {
  k: "action";
  pos: number;
  pipe: PipeNode;
}
/** {{if}}, {{with}} and {{range}}, each with an optional {{else}} list. */
export interface ControlNode {
  k: "if" | "with" | "range";
  pos: number;
  pipe: PipeNode;
  list: ListNode;
  elseList?: ListNode;
}
/** A node of a template's body. */
export type Node = ListNode | TextNode | ActionNode | ControlNode | { k: "break" | "continue" | "end" | "else"; pos: number };
/** `$x := cmd | cmd ...`. */
export interface PipeNode {
  k: "pipe";
  pos: number;
  isAssign: boolean;
  decl: string[];
  cmds: CommandNode[];
}
/** A command: a function, field or value and its arguments. */
export interface CommandNode {
  k: "command";
  pos: number;
  args: Arg[];
}
/** An operand of a command. */
export type Arg =
  | { k: "field"; pos: number; ident: string[] } // .A.B
  | { k: "variable"; pos: number; ident: string[] } // $x.A.B
  | { k: "chain"; pos: number; node: Arg; field: string[] } // (pipe).A.B
  | { k: "identifier"; pos: number; name: string }
  | { k: "dot" | "nil"; pos: number }
  | { k: "bool"; pos: number; value: boolean }
  | { k: "number"; pos: number; value: number; text: string }
  | { k: "string"; pos: number; value: string; quoted: string }
  | PipeNode;

/** Go's String() of a node, as execution errors quote it. */
function nodeString(n: Node | Arg | CommandNode): string {
  switch (n.k) {
    case "list":
      return n.nodes.map(nodeString).join("");
    case "text":
      return n.text;
    case "action":
      return `{{${nodeString(n.pipe)}}}`;
    case "if":
    case "with":
    case "range":
      return `{{${n.k} ${nodeString(n.pipe)}}}${nodeString(n.list)}${n.elseList ? `{{else}}${nodeString(n.elseList)}` : ""}{{end}}`;
    case "break":
    case "continue":
    case "end":
    case "else":
      return `{{${n.k}}}`;
    case "pipe":
      return (n.decl.length ? `${n.decl.join(", ")} ${n.isAssign ? "=" : ":="} ` : "") + n.cmds.map(nodeString).join(" | ");
    case "command":
      return n.args.map((a) => (a.k === "pipe" ? `(${nodeString(a)})` : nodeString(a))).join(" ");
    case "field":
      return `.${n.ident.join(".")}`;
    case "variable":
      return n.ident.join(".");
    case "chain":
      return (n.node.k === "pipe" ? `(${nodeString(n.node)})` : nodeString(n.node)) + n.field.map((f) => `.${f}`).join("");
    case "identifier":
      return n.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(n.value);
    case "number":
      return n.text;
    case "string":
      return n.quoted;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parser (text/template/parse/parse.go)

/** Go's item.String() in "unexpected X in Y". */
function itemString(t: Token): string {
  if (t.t === "EOF") return "EOF";
  if (t.t === "error") return t.val;
  if (t.t === "." || KEYWORDS.has(t.t)) return `<${t.val}>`;
  const runes = [...t.val];
  return Buffer.byteLength(t.val) > 10 ? `${goQuote(runes.slice(0, 10).join(""))}...` : goQuote(t.val);
}

const COMMAND_START = new Set(["bool", "charConstant", "complex", ".", "field", "identifier", "number", "nil", "rawString", "string", "variable", "("]);

class Parser {
  private i = 0;
  private hi = 0; // furthest token read: Go reports parse errors at its line
  private vars = ["$"];
  private actionLine = 0;
  private rangeDepth = 0;

  constructor(private readonly toks: Token[]) {}

  private at(i: number): Token {
    if (i > this.hi) this.hi = i;
    return this.toks[Math.min(i, this.toks.length - 1)]!;
  }
  private next(): Token {
    return this.at(this.i++);
  }
  private peek(): Token {
    return this.at(this.i);
  }
  private backup(): void {
    this.i--;
  }
  private nextNonSpace(): Token {
    let t = this.next();
    while (t.t === "space") t = this.next();
    return t;
  }
  private peekNonSpace(): Token {
    while (this.peek().t === "space") this.i++;
    return this.peek();
  }
  private errorf(reason: string, started?: TemplateError["started"]): never {
    throw new TemplateError(true, String(this.at(this.hi).line), reason, undefined, started);
  }
  private expect(t: string, context: string): Token {
    const tok = this.nextNonSpace();
    if (tok.t !== t) this.unexpected(tok, context);
    return tok;
  }
  private unexpected(tok: Token, context: string): never {
    if (tok.t === "error") {
      // A lexing error in an action that spans lines also names the line where the action started.
      if (this.actionLine && this.actionLine !== tok.line) this.errorf(tok.val, { line: this.actionLine, words: tok.val.endsWith(" action") ? " started at " : " in action started at " });
      this.errorf(tok.val);
    }
    this.errorf(`unexpected ${itemString(tok)} in ${context}`);
  }

  /** The whole template. */
  parse(): ListNode {
    const root: ListNode = { k: "list", pos: this.peek().pos, nodes: [] };
    while (this.peek().t !== "EOF") {
      const n = this.textOrAction();
      if (n.k === "end" || n.k === "else") this.errorf(`unexpected ${nodeString(n)}`);
      root.nodes.push(n);
    }
    return root;
  }

  /** Nodes up to an {{end}} or {{else}}, returned with it. */
  private itemList(): [ListNode, Node] {
    const list: ListNode = { k: "list", pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().t !== "EOF") {
      const n = this.textOrAction();
      if (n.k === "end" || n.k === "else") return [list, n];
      list.nodes.push(n);
    }
    this.errorf("unexpected EOF");
  }

  private textOrAction(): Node {
    const tok = this.nextNonSpace();
    if (tok.t === "text") return { k: "text", pos: tok.pos, text: tok.val };
    if (tok.t !== "{{") this.unexpected(tok, "input");
    this.actionLine = tok.line;
    const n = this.action();
    this.actionLine = 0;
    return n;
  }

  private action(): Node {
    const tok = this.nextNonSpace();
    switch (tok.t) {
      case "break":
      case "continue": {
        const close = this.nextNonSpace();
        if (close.t !== "}}") this.unexpected(close, `{{${tok.t}}}`);
        if (!this.rangeDepth) this.errorf(`{{${tok.t}}} outside {{range}}`);
        return { k: tok.t, pos: tok.pos };
      }
      case "else": {
        // {{else if ...}} and {{else with ...}}: the if/with is left for the enclosing control to read.
        const p = this.peekNonSpace();
        if (p.t === "if" || p.t === "with") return { k: "else", pos: p.pos };
        return { k: "else", pos: this.expect("}}", "else").pos };
      }
      case "end":
        return { k: "end", pos: this.expect("}}", "end").pos };
      case "if":
      case "with":
      case "range":
        return this.control(tok.t);
    }
    this.backup();
    const start = this.peek();
    return { k: "action", pos: start.pos, pipe: this.pipeline("command", "}}") };
  }

  /** {{if|with|range pipeline}} list [{{else}} list] {{end}}; variables declared inside end with it. */
  private control(k: "if" | "with" | "range"): ControlNode {
    const nvars = this.vars.length;
    const pipe = this.pipeline(k, "}}");
    if (k === "range") this.rangeDepth++;
    let [list, next] = this.itemList();
    if (k === "range") this.rangeDepth--;
    let elseList: ListNode | undefined;
    if (next.k === "else") {
      if ((k === "if" || k === "with") && this.peek().t === k) {
        // {{else if b}} is {{else}}{{if b}}...{{end}}, sharing the one {{end}}.
        this.next();
        elseList = { k: "list", pos: next.pos, nodes: [this.control(k)] };
      } else {
        [elseList, next] = this.itemList();
        if (next.k !== "end") this.errorf(`expected end; found ${nodeString(next)}`);
      }
    }
    this.vars.length = nvars;
    return { k, pos: pipe.pos, pipe, list, elseList };
  }

  /** [decl :=|=] command (| command)*, up to `end` ("}}" or ")"). */
  private pipeline(context: string, end: "}}" | ")"): PipeNode {
    const pipe: PipeNode = { k: "pipe", pos: this.peekNonSpace().pos, isAssign: false, decl: [], cmds: [] };
    for (;;) {
      const v = this.peekNonSpace();
      if (v.t !== "variable") break;
      const at = this.i;
      this.next();
      const next = this.peekNonSpace();
      if (next.t === "=" || next.t === ":=") {
        pipe.isAssign = next.t === "=";
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
      } else if (next.t === "char" && next.val === ",") {
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
        if (context === "range" && pipe.decl.length < 2) {
          const t = this.peekNonSpace().t;
          if (t === "variable" || t === "}}" || t === ")") continue; // the second variable of a range
          this.errorf("range can only initialize variables");
        }
        this.errorf(`too many declarations in ${context}`);
      } else this.i = at; // a variable used as a value
      break;
    }
    for (;;) {
      const tok = this.nextNonSpace();
      if (tok.t === end) {
        if (!pipe.cmds.length) this.errorf(`missing value for ${context}`);
        pipe.cmds.forEach((c, i) => {
          if (i && ["bool", "dot", "nil", "number", "string"].includes(c.args[0]!.k)) this.errorf(`non executable command in pipeline stage ${i + 1}`);
        });
        return pipe;
      }
      if (!COMMAND_START.has(tok.t)) this.unexpected(tok, context);
      this.backup();
      pipe.cmds.push(this.command());
    }
  }

  private command(): CommandNode {
    const cmd: CommandNode = { k: "command", pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const op = this.operand();
      if (op) cmd.args.push(op);
      const tok = this.next();
      if (tok.t === "space") continue;
      if (tok.t === "}}" || tok.t === ")") this.backup();
      else if (tok.t !== "|") this.unexpected(tok, "operand");
      break;
    }
    if (!cmd.args.length) this.errorf("empty command");
    return cmd;
  }

  /** A term and the fields chained to it: .A.B, $x.A, (pipe).A. */
  private operand(): Arg | undefined {
    const node = this.term();
    if (!node || this.peek().t !== "field") return node;
    const pos = this.peek().pos;
    const fields: string[] = [];
    while (this.peek().t === "field") fields.push(this.next().val.slice(1));
    switch (node.k) {
      case "field":
      case "variable":
        return { k: node.k, pos, ident: [...node.ident, ...fields] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        this.errorf(`unexpected . after term ${goQuote(nodeString(node))}`);
    }
    return { k: "chain", pos, node, field: fields };
  }

  private term(): Arg | undefined {
    const tok = this.nextNonSpace();
    const pos = tok.pos;
    switch (tok.t) {
      case "identifier":
        if (!funcs.has(tok.val)) this.errorf(`function ${goQuote(tok.val)} not defined`);
        return { k: "identifier", pos, name: tok.val };
      case ".":
        return { k: "dot", pos };
      case "nil":
        return { k: "nil", pos };
      case "variable":
        if (!this.vars.includes(tok.val)) this.errorf(`undefined variable ${goQuote(tok.val)}`);
        return { k: "variable", pos, ident: [tok.val] };
      case "field":
        return { k: "field", pos, ident: [tok.val.slice(1)] };
      case "bool":
        return { k: "bool", pos, value: tok.val === "true" };
      case "charConstant": {
        const s = unquote(tok.val);
        if (s === undefined) this.errorf("invalid syntax");
        if ([...s].length !== 1) this.errorf(`malformed character constant: ${tok.val}`);
        return { k: "number", pos, value: s.codePointAt(0)!, text: tok.val };
      }
      case "number":
      case "complex": {
        const value = tok.t === "number" ? parseNumber(tok.val) : Number.NaN;
        if (Number.isNaN(value)) this.errorf(`illegal number syntax: ${goQuote(tok.val)}`);
        return { k: "number", pos, value, text: tok.val };
      }
      case "(":
        return this.pipeline("parenthesized pipeline", ")");
      case "string":
      case "rawString": {
        const value = unquote(tok.val);
        if (value === undefined) this.errorf("invalid syntax");
        return { k: "string", pos, value, quoted: tok.val };
      }
    }
    this.backup();
    return undefined;
  }
}

/** A Go number literal (decimal, 0x, 0o, 0b, legacy octal, float, `_` separators); NaN if not one. */
function parseNumber(text: string): number {
  const neg = text.startsWith("-");
  const s = text.replace(/^[+-]/, "").replace(/_/g, "");
  const valid = /^(0[xob][0-9a-f]+|\d*\.?\d*([eE][+-]?\d+)?)$/i.test(s) && /\d/.test(s);
  const v = /^0[0-7]+$/.test(s) ? Number.parseInt(s, 8) : valid ? Number(s) : Number.NaN;
  return neg ? -v : v;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\" };

/** strconv.Unquote for "..." and `...` (and the body of a '...' character constant); undefined if invalid. */
function unquote(lit: string): string | undefined {
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

const trees = new Map<string, Tree>();

/** Parses a template (cached by its text); throws TemplateError with Go's parse error. */
export function parseTemplate(text: string): Tree {
  let tree = trees.get(text);
  if (!tree) {
    tree = { text, root: new Parser(lex(text)).parse() };
    trees.set(text, tree);
  }
  return tree;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluator (text/template/exec.go)

const MISSING: unique symbol = Symbol("missing"); // no value piped in from the previous command
type Final = Value | typeof MISSING;
const NOARGS: Arg[] = [];
const BREAK = 1;
const CONTINUE = 2;

const isMap = (v: Value): v is Record<string, Value> => typeof v === "object" && v !== null && !Array.isArray(v);
/** Whether an object has field `name` (its own, or inherited from anything but Object.prototype). */
const hasField = (o: object, name: string) => Object.hasOwn(o, name) || (name in o && !(name in Object.prototype));

/** Go's truth: false, 0, "", nil and empty arrays and maps are false. */
function truth(v: Value): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v) || typeof v === "string") return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return typeof v === "number" ? v !== 0 : typeof v === "boolean" ? v : true;
}

/** The Go type a JavaScript value stands for, in error messages and %T. */
function goType(v: Value): string {
  if (v === undefined || v === null) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (Array.isArray(v)) return "[]interface {}";
  if (typeof v === "function") return "func()";
  return "map[string]interface {}";
}

/** Line and byte column of a position, as Go's ErrorContext computes them. */
function location(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const nl = before.lastIndexOf("\n");
  let line = 1;
  for (let k = 0; k < before.length; k++) if (before.charCodeAt(k) === 10) line++;
  return `${line}:${Buffer.byteLength(nl < 0 ? before : before.slice(nl + 1))}`;
}

class Exec {
  /** The node being run, for errors (Go's state.at). */
  private node: Node | Arg | CommandNode;
  private readonly vars: { name: string; value: Value }[];
  out = "";

  constructor(
    private readonly tree: Tree,
    dot: Value,
  ) {
    this.node = tree.root;
    this.vars = [{ name: "$", value: dot }];
  }

  private errorf(reason: string, missingKey?: string): never {
    throw new TemplateError(false, location(this.tree.text, this.node.pos), reason, nodeString(this.node), undefined, missingKey);
  }

  /** Runs a node; returns BREAK or CONTINUE from inside a range, else 0. */
  walk(dot: Value, node: Node): number {
    this.node = node;
    switch (node.k) {
      case "text":
        this.out += node.text;
        return 0;
      case "action": {
        const v = this.evalPipeline(dot, node.pipe);
        if (!node.pipe.decl.length) {
          this.node = node;
          this.out += typeof v === "string" ? v : goString(v);
        }
        return 0;
      }
      case "list":
        for (const n of node.nodes) {
          const signal = this.walk(dot, n);
          if (signal) return signal;
        }
        return 0;
      case "if":
      case "with": {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, node.pipe);
        const signal = truth(v) ? this.walk(node.k === "with" ? v : dot, node.list) : node.elseList ? this.walk(dot, node.elseList) : 0;
        this.vars.length = mark;
        return signal;
      }
      case "range":
        return this.walkRange(dot, node);
      case "break":
        return BREAK;
      case "continue":
        return CONTINUE;
    }
    return 0;
  }

  private walkRange(dot: Value, r: ControlNode): number {
    this.node = r;
    const mark = this.vars.length;
    const val = this.evalPipeline(dot, r.pipe);
    const inner = this.vars.length; // the range's own variables are on top
    const decl = r.pipe.decl;
    // One pass of the body; false on {{break}}.
    const one = (index: Value, elem: Value): boolean => {
      if (decl.length) {
        if (r.pipe.isAssign) this.setVar(decl[0]!, decl.length > 1 ? index : elem);
        else this.vars[inner - 1]!.value = elem;
      }
      if (decl.length > 1) {
        if (r.pipe.isAssign) this.setVar(decl[1]!, elem);
        else this.vars[inner - 2]!.value = index;
      }
      const signal = this.walk(elem, r.list);
      this.vars.length = inner;
      return signal !== BREAK;
    };
    let ran = false;
    if (Array.isArray(val)) {
      for (let i = 0; i < val.length && one(i, val[i]); i++);
      ran = val.length > 0;
    } else if (isMap(val)) {
      const keys = Object.keys(val).sort();
      for (let i = 0; i < keys.length && one(keys[i], val[keys[i]!]); i++);
      ran = keys.length > 0;
    } else if (typeof val === "number" && Number.isInteger(val)) {
      // Go 1.22: range over an integer.
      if (decl.length > 1) this.errorf(`can't use ${val} to iterate over more than one variable`);
      for (let i = 0; i < val && one(i, i); i++);
      ran = val > 0;
    } else if (val !== undefined && val !== null) this.errorf(`range can't iterate over ${goString(val)}`);
    const signal = !ran && r.elseList ? this.walk(dot, r.elseList) : 0;
    this.vars.length = mark;
    return signal;
  }

  private setVar(name: string, value: Value): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private varValue(name: string): Value {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  private evalPipeline(dot: Value, pipe: PipeNode): Value {
    this.node = pipe;
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, value);
      else this.vars.push({ name, value });
    }
    return value;
  }

  private notAFunction(args: Arg[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  private evalCommand(dot: Value, cmd: CommandNode, final: Final): Value {
    const first = cmd.args[0]!;
    switch (first.k) {
      case "field":
        this.node = first;
        return this.evalFieldChain(dot, dot, first, first.ident, cmd.args, final);
      case "chain":
        return this.evalChain(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariable(dot, first, cmd.args, final);
    }
    this.node = first;
    this.notAFunction(cmd.args, final);
    switch (first.k) {
      case "dot":
        return dot;
      case "nil":
        return this.errorf("nil is not a command");
      default:
        return first.value;
    }
  }

  private evalArg(dot: Value, n: Arg): Value {
    this.node = n;
    switch (n.k) {
      case "dot":
        return dot;
      case "nil":
        return null;
      case "field":
        return this.evalFieldChain(dot, dot, n, n.ident, NOARGS, MISSING);
      case "variable":
        return this.evalVariable(dot, n, NOARGS, MISSING);
      case "pipe":
        return this.evalPipeline(dot, n);
      case "identifier":
        return this.evalFunction(dot, n, n, NOARGS, MISSING);
      case "chain":
        return this.evalChain(dot, n, NOARGS, MISSING);
      default:
        return n.value;
    }
  }

  private evalChain(dot: Value, chain: Extract<Arg, { k: "chain" }>, args: Arg[], final: Final): Value {
    this.node = chain;
    if (chain.node.k === "nil") this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const receiver = this.evalArg(dot, chain.node);
    return this.evalFieldChain(dot, receiver, chain, chain.field, args, final);
  }

  private evalVariable(dot: Value, v: Extract<Arg, { k: "variable" }>, args: Arg[], final: Final): Value {
    this.node = v;
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  /** .A.B.C on `receiver`: the last one, if a method, gets the command's arguments. */
  private evalFieldChain(dot: Value, receiver: Value, node: Arg, ident: string[], args: Arg[], final: Final): Value {
    const last = ident.length - 1;
    for (let i = 0; i < last; i++) receiver = this.evalField(dot, ident[i]!, node, NOARGS, MISSING, receiver);
    return this.evalField(dot, ident[last]!, node, args, final, receiver);
  }

  private evalField(dot: Value, name: string, node: Arg, args: Arg[], final: Final, receiver: Value): Value {
    if (receiver === undefined) return undefined; // Go: a missing value has no fields, and gives <no value>
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    if (typeof receiver === "object" && !Array.isArray(receiver)) {
      if (!hasField(receiver, name)) this.errorf(`can't evaluate field ${name} in type ${goType(receiver)}`, name);
      const v = (receiver as Record<string, Value>)[name];
      if (typeof v === "function") return this.evalCall(dot, v as Fn, receiver, v.length, false, false, node, name, args, final);
      if (args.length > 1 || final !== MISSING) this.errorf(`${name} is not a method but has arguments`);
      return v;
    }
    this.errorf(`can't evaluate field ${name} in type ${goType(receiver)}`);
  }

  private evalFunction(dot: Value, ident: Extract<Arg, { k: "identifier" }>, node: Arg | CommandNode, args: Arg[], final: Final): Value {
    this.node = ident;
    const f = funcs.get(ident.name)!;
    return this.evalCall(dot, f.fn, undefined, f.n, !!f.variadic, true, node, ident.name, args, final);
  }

  /** Calls a function or method with the command's arguments (args[0] is the function) and the piped value. */
  private evalCall(dot: Value, fn: Fn, self: Value, want: number, variadic: boolean, builtin: boolean, node: Node | Arg | CommandNode, name: string, args: Arg[], final: Final): Value {
    const given = args.length ? args.length - 1 : 0;
    const numIn = given + (final === MISSING ? 0 : 1);
    if (variadic && numIn < want) this.errorf(`wrong number of args for ${name}: want at least ${want} got ${given}`);
    if (!variadic && numIn !== want) this.errorf(`wrong number of args for ${name}: want ${want} got ${numIn}`);
    if (builtin && (name === "and" || name === "or")) {
      // Short-circuit: the first false (and) or true (or) argument, else the last.
      let v: Value;
      for (let i = 1; i < args.length; i++) {
        v = this.evalArg(dot, args[i]!);
        if (truth(v) === (name === "or")) return v;
      }
      return final === MISSING ? v : final;
    }
    const argv: Value[] = [];
    for (let i = 1; i < args.length; i++) argv.push(this.evalArg(dot, args[i]!));
    if (final !== MISSING) argv.push(final);
    try {
      return fn.apply(self, argv);
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      this.node = node;
      this.errorf(`error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** Renders a parsed template with `dot` as its data; throws TemplateError on Go's execution errors. */
export function execute(tree: Tree, dot: Value): string {
  const ex = new Exec(tree, dot);
  ex.walk(dot, tree.root);
  return ex.out;
}

// ---------------------------------------------------------------------------------------------------------
// Values and functions (text/template/funcs.go, fmt, docker/cli templates.go)

/** A template function or method: any signature. */
type Fn = (...args: any[]) => Value;

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

/** The docker CLI's json function: encoding/json with SetEscapeHTML(false), so no spaces and <>& as they are. */
export function goJson(v: Value): string {
  return JSON.stringify(v ?? null);
}

/** Go's %q of a string. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const esc: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v" };
    out += esc[ch] ?? (c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, "0")}` : ch);
  }
  return `${out}"`;
}

/** %v of an argument to print/printf (a missing value is Go's untyped nil). */
const fmtV = (v: Value) => (v === undefined ? "<nil>" : goString(v));

/** fmt.Sprint: spaces between operands when neither is a string. */
function sprint(args: Value[]): string {
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
function sprintf(format: string, args: Value[]): string {
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
const funcs = new Map<string, { n: number; variadic?: boolean; fn: Fn }>([
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
