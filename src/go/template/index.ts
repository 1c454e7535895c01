/**
 * Go's text/template as the docker CLI runs it for --format: parse once (parse.ts), render per row (exec.ts).
 * The public face of src/go/template: the CLI imports this file only.
 */
export { TemplateError } from "./errors.ts";
export { execute, GO_TYPED, type TypedField } from "./exec.ts";
export { goJson } from "./funcs.ts";
export { parseTemplate, type Node, type Tree } from "./parse.ts";
export { goString } from "../fmt.ts";
