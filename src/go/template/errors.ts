/**
 * text/template's errors, with Go's messages ("template: :1: unexpected EOF").
 */
import { goQuote } from "../strconv.ts";

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
