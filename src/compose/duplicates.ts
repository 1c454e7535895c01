/**
 * Duplicate keys of a block mapping, which go-yaml (and so docker compose) refuses and Bun.YAML silently
 * resolves to the last one: `yaml: unmarshal errors:\n  line 4: mapping key "image" already defined at line 3`.
 * A conservative line scanner over text Bun.YAML has already parsed: block mappings only (keys inside one-line
 * flow collections are not looked at); block scalars, multi-line quoted scalars and multi-line flow
 * collections are skipped; explicit `?` keys end the scan.
 */

/** The first duplicate key of a YAML stream, as go-yaml words it; undefined when none is seen. */
export function duplicateKeyError(text: string): string | undefined {
  interface Mapping {
    indent: number;
    keys: Map<string, number>;
  }
  let stack: Mapping[] = [];
  const lines = text.split("\n");
  let skipDeeperThan = -1; // inside a block scalar: lines indented more than this
  let closer: RegExp | undefined; // inside a multi-line quoted scalar: the line that closes it
  let flowDepth = 0; // inside a multi-line flow collection
  const errors: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith("\r") ? lines[i]!.slice(0, -1) : lines[i]!;
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (closer) {
      if (closer.test(line)) closer = undefined;
      continue;
    }
    if (flowDepth > 0) {
      flowDepth += bracketBalance(line);
      continue;
    }
    if (skipDeeperThan >= 0) {
      if (body === "" || indent > skipDeeperThan) continue;
      skipDeeperThan = -1;
    }
    if (body === "" || body.startsWith("#")) continue;
    if (body === "---" || body.startsWith("--- ") || body === "...") {
      stack = [];
      continue;
    }
    if (body.startsWith("? ") || body === "?" || body.startsWith("%")) return undefined;
    // Sequence entries: each "- " opens a new item, whose mapping starts after it.
    let col = indent;
    let rest = body;
    let item = false;
    // (String tests rather than regular expressions on every line: each one compiled costs ~0.1 ms of a
    // `compose config` run. trim and \s cover the same white space.)
    while (rest[0] === "-" && (rest.length === 1 || rest[1]!.trim() === "")) {
      const after = rest.slice(1).trimStart();
      col += rest.length - after.length;
      rest = after;
      item = true;
    }
    // An entry (even a bare `-`, its mapping on the next lines) ends the mappings of the entry before it.
    if (item) while (stack.length && stack.at(-1)!.indent > indent) stack.pop();
    let key: string;
    let afterKey: number;
    const simple = simpleKey(rest);
    if (simple) [key, afterKey] = simple;
    else {
      const m = /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#"'{[\]&*!|>%@`][^#]*?))[ \t]*:(?:[ \t]+|$)/.exec(rest);
      if (!m) {
        // A scalar or flow value on its own line (a sequence entry, a continuation): it may open a multi-line one.
        if (rest) openMultiline(rest, indent);
        continue;
      }
      key = m[1] ?? m[2]?.replace(/''/g, "'") ?? m[3]!.trim();
      afterKey = m[0].length;
    }
    while (stack.length && stack.at(-1)!.indent > col) stack.pop();
    if (!stack.length || stack.at(-1)!.indent < col) stack.push({ indent: col, keys: new Map() });
    const mapping = stack.at(-1)!;
    if (key !== "<<") {
      const first = mapping.keys.get(key);
      if (first !== undefined) errors.push(`line ${i + 1}: mapping key ${JSON.stringify(key)} already defined at line ${first}`);
      else mapping.keys.set(key, i + 1);
    }
    openMultiline(rest.slice(afterKey), col);
  }
  return errors.length ? `yaml: unmarshal errors:\n  ${errors.join("\n  ")}` : undefined;

  /** After a key (or a bare value): a block scalar, an unclosed quote or an unbalanced flow collection. */
  function openMultiline(value: string, keyIndent: number): void {
    let v = value[0] === "&" || value[0] === "!" ? value.replace(/^(?:[&!][^\s]*\s*)+/, "") : value;
    if (v.includes("#")) v = v.replace(/\s+#.*$/, "");
    v = v.trim();
    if ((v[0] === "|" || v[0] === ">") && /^[|>][-+0-9]*$/.test(v)) skipDeeperThan = keyIndent;
    else if (v.startsWith('"') && !/^"(?:[^"\\]|\\.)*"/.test(v)) closer = /(?:^|[^\\])(?:\\\\)*"/;
    else if (v.startsWith("'") && !/^'(?:[^']|'')*'(?!')/.test(v)) closer = /'(?!')/;
    else if (v.startsWith("[") || v.startsWith("{")) flowDepth = Math.max(0, bracketBalance(v));
  }
}

/**
 * A plain key of letters, digits, `_`, `.` and `-`, and where the value after its `:` and blanks starts: what
 * the key expression above finds on such a line, read without it (most keys are so; the expression is then
 * never compiled). Undefined for anything else.
 */
function simpleKey(rest: string): [key: string, valueAt: number] | undefined {
  let i = 0;
  while (i < rest.length && isKeyChar(rest.charCodeAt(i))) i++;
  if (i === 0 || rest[i] !== ":") return undefined;
  let end = i + 1;
  if (end < rest.length && rest[end] !== " " && rest[end] !== "\t") return undefined;
  while (rest[end] === " " || rest[end] === "\t") end++;
  return [rest.slice(0, i), end];
}

/** a-z, A-Z, 0-9, `_`, `.`, `-`. */
const isKeyChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45;

/** Opening minus closing brackets of a line, outside quotes and comments. */
function bracketBalance(line: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
  }
  return depth;
}
