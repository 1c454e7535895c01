/**
 * text/template's evaluator (exec.go): walks a parsed tree (parse.ts) with a value as dot, once per row.
 *
 * Values are JavaScript's: an object is read as a Go map (range and printing in sorted key order, `index` by
 * key) but, as a field of one of docker's structs, a missing field is an error; an array is a slice; a function
 * is a method, called with the command's arguments. Not implemented: define/template/block, complex numbers.
 */

import { TemplateError } from "./errors.ts";
import { funcs, hasField, truth, type Fn } from "./funcs.ts";
import { nodeString, type Arg, type CommandNode, type ControlNode, type Node, type PipeNode, type Tree } from "./parse.ts";
import { goString, goType, isMap } from "../fmt.ts";

type Value = unknown;

const MISSING: unique symbol = Symbol("missing"); // no value piped in from the previous command

/** One field of a typed struct (GO_TYPED): its value when JSON omitted it or gave null, and how a present value reads. */
export interface TypedField {
  /** What the Go field holds when absent from the JSON: "" / 0 / false, [] for a nil slice, {} for a nil map, null for a nil pointer. */
  zero?: Value;
  /** A present JSON value as the Go type prints it (a time.Time, a time.Duration). */
  convert?: (v: Value) => Value;
}

/**
 * An object's Go struct type, when it is one of docker's: the fields that matter beyond the JSON (keyed by
 * name), under this symbol (invisible to JSON and to range). The docker CLI runs an inspect template on its
 * typed struct first, where an omitted field reads as its zero and a nil map as map[]; only if that fails
 * does it run the template on the raw JSON (cli/command/inspect/inspector.go). execute(..., { typed: true })
 * is that first pass.
 */
export const GO_TYPED: unique symbol = Symbol("go typed struct");
type Final = Value | typeof MISSING;
const NOARGS: Arg[] = [];
const BREAK = 1;
const CONTINUE = 2;


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
    private readonly typed = false,
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
      const field = this.typed ? (receiver as { [GO_TYPED]?: Record<string, TypedField> })[GO_TYPED]?.[name] : undefined;
      if (!hasField(receiver, name)) {
        if (field && "zero" in field) return this.plainField(field.zero, name, args, final);
        this.errorf(`can't evaluate field ${name} in type ${goType(receiver)}`, name);
      }
      let v = (receiver as Record<string, Value>)[name];
      if (field) {
        if (v === null && "zero" in field) v = field.zero;
        else if (v !== null && field.convert) v = field.convert(v);
      }
      if (typeof v === "function") return this.evalCall(dot, v as Fn, receiver, v.length, false, false, node, name, args, final);
      if (args.length > 1 || final !== MISSING) this.errorf(`${name} is not a method but has arguments`);
      return v;
    }
    this.errorf(`can't evaluate field ${name} in type ${goType(receiver)}`);
  }

  /** A typed field's value: not a method, so it takes no arguments. */
  private plainField(v: Value, name: string, args: Arg[], final: Final): Value {
    if (args.length > 1 || final !== MISSING) this.errorf(`${name} is not a method but has arguments`);
    return v;
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

/**
 * Renders a parsed template with `dot` as its data; throws TemplateError on Go's execution errors. `typed`:
 * objects read as the Go structs GO_TYPED describes (the docker CLI's first pass of an inspect template).
 */
export function execute(tree: Tree, dot: Value, opts: { typed?: boolean } = {}): string {
  const ex = new Exec(tree, dot, opts.typed);
  ex.walk(dot, tree.root);
  return ex.out;
}

