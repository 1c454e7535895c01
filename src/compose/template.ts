/**
 * Compose's variable substitution (compose-go's template package): `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`,
 * defaults and alternatives substituted in turn (nested `${A:-${B}}`).
 */

/** Looks a variable up: its value, or undefined when unset. */
export type Lookup = (name: string) => string | undefined;

/** A template compose cannot parse (`${}`, `${ VAR}`, an unclosed `${`): the whole string is reported. */
export class InvalidTemplateError extends Error {
  constructor(readonly template: string) {
    super(`Invalid template: ${JSON.stringify(template)}`);
  }
}

/** `${VAR:?reason}` / `${VAR?reason}` on a variable without a value. */
export class MissingRequiredError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(reason ? `required variable ${variable} is missing a value: ${reason}` : `required variable ${variable} is missing a value`);
  }
}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/**
 * Substitutes the variables of one string. `unset` hears each variable used without a value and without a
 * default (compose warns and uses an empty string).
 */
export function substitute(template: string, lookup: Lookup, unset?: (name: string) => void): string {
  if (!template.includes("$")) return template;
  let out = "";
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf("$", i);
    if (dollar < 0 || dollar === template.length - 1) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, dollar);
    const next = template[dollar + 1]!;
    if (next === "$") {
      out += "$";
      i = dollar + 2;
      continue;
    }
    if (next === "{") {
      const close = closingBrace(template, dollar + 2);
      if (close < 0) throw new InvalidTemplateError(template);
      out += braced(template.slice(dollar + 2, close), template, lookup, unset);
      i = close + 1;
      continue;
    }
    const name = NAME.exec(template.slice(dollar + 1))?.[0];
    if (!name) {
      // A `$` followed by anything else stays as it is.
      out += "$";
      i = dollar + 1;
      continue;
    }
    const value = lookup(name);
    if (value === undefined) unset?.(name);
    out += value ?? "";
    i = dollar + 1 + name.length;
  }
  return out;
}

/** The index of the `}` closing a `${` whose body starts at `from`, nested `${…}` included; -1 when none. */
function closingBrace(s: string, from: number): number {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === "$" && s[i + 1] === "{") {
      depth++;
      i++;
    } else if (s[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/** One `${…}` body: a name, then an optional operator and its argument. */
function braced(body: string, template: string, lookup: Lookup, unset?: (name: string) => void): string {
  const name = NAME.exec(body)?.[0];
  if (!name) throw new InvalidTemplateError(template);
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === "") {
    if (value === undefined) unset?.(name);
    return value ?? "";
  }
  const op = /^(:?[-+?])/.exec(rest)?.[1];
  if (!op) throw new InvalidTemplateError(template);
  const arg = rest.slice(op.length);
  const empty = op.startsWith(":") ? value === undefined || value === "" : value === undefined;
  switch (op) {
    case ":-":
    case "-":
      return empty ? substitute(arg, lookup, unset) : value!;
    case ":+":
    case "+":
      return empty ? "" : substitute(arg, lookup, unset);
    default:
      if (empty) throw new MissingRequiredError(name, substitute(arg, lookup, unset));
      return value!;
  }
}
