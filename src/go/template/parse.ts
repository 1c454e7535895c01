/**
 * text/template's parse tree and parser (text/template/parse: node.go, parse.go), keeping Go's error
 * messages; a template is parsed once and cached by its text.
 */
import { TemplateError } from "./errors.ts";
import { funcs } from "./funcs.ts";
import { KEYWORDS, lex, type Token } from "./lex.ts";
import { goQuote, unquote } from "../strconv.ts";

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
export function nodeString(n: Node | Arg | CommandNode): string {
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
