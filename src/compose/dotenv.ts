/**
 * Compose's dotenv files (.env, --env-file, env_file:), parsed as compose-go's dotenv package does: `KEY=VALUE`
 * or `KEY: VALUE`, `export KEY=…`, `#` comments (and ` #` after an unquoted value), 'single quotes' literal,
 * "double quotes" with escapes and substitution, unquoted values trimmed and substituted, a bare `KEY` taken
 * from the environment. Substitution sees the environment first, then the file's earlier keys.
 */
import { substitute, type Lookup } from "./template.ts";

/** A dotenv file that does not parse: compose's words with the line. */
export class DotenvError extends Error {}

const SPACE = new Set(["\t", "\v", "\f", "\r", " ", "\u0085", "\u00a0"]);
const isSpace = (c: string) => SPACE.has(c);

/** Parses dotenv text; `lookup` gives the environment for bare keys and substitutions. */
export function parseDotenv(src: string, lookup: Lookup = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const resolve: Lookup = (k) => lookup(k) ?? (Object.hasOwn(out, k) ? out[k] : undefined);
  let line = 1;
  let rest = src.replace(/^\uFEFF/, "");
  for (;;) {
    // The next statement: skip blank space and comment lines.
    let pos = 0;
    for (;;) {
      while (pos < rest.length && /\s/.test(rest[pos]!)) if (rest[pos++] === "\n") line++;
      if (rest[pos] !== "#") break;
      const nl = rest.indexOf("\n", pos);
      if (nl < 0) pos = rest.length;
      else pos = nl;
    }
    rest = rest.slice(pos);
    if (rest === "") break;
    if (/^export\s+/.test(rest)) rest = rest.replace(/^export/, "").replace(/^[\t\v\f\r \u0085\u00a0]+/, "");
    let key = "";
    let offset = 0;
    let inherited = false;
    let found = false;
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i]!;
      if (isSpace(c)) continue;
      if (c === "=" || c === ":" || c === "\n") {
        key = rest.slice(0, i);
        offset = i + 1;
        inherited = c === "\n";
        found = true;
        break;
      }
      if ("_.-[]".includes(c) || /[\p{L}\p{N}]/u.test(c)) continue;
      throw new DotenvError(`line ${line}: unexpected character ${JSON.stringify(c)} in variable name ${JSON.stringify(rest.split("\n")[0])}`);
    }
    if (!found) {
      // The last line, a bare key without a newline.
      key = rest;
      offset = rest.length;
      inherited = true;
    }
    if (inherited) line++;
    key = key.trimEnd();
    if (key.includes(" ")) throw new DotenvError(`line ${line}: key cannot contain a space`);
    rest = rest.slice(offset).replace(/^[\t\v\f\r \u0085\u00a0]+/, "");
    if (inherited) {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    const quote = rest[0];
    if (quote !== '"' && quote !== "'") {
      const nl = rest.indexOf("\n");
      let value = nl < 0 ? rest : rest.slice(0, nl);
      rest = nl < 0 ? "" : rest.slice(nl + 1);
      line++;
      const hash = value.indexOf(" #");
      if (hash >= 0) value = value.slice(0, hash);
      out[key] = substitute(value.trimEnd(), resolve);
      continue;
    }
    let chars = "";
    let escaped = false;
    let closed = -1;
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i]!;
      if (c === "\n") line++;
      if (c !== quote) {
        if (!escaped && c === "\\") {
          escaped = true;
          continue;
        }
        if (escaped) {
          escaped = false;
          chars += "\\";
        }
        chars += c;
        continue;
      }
      if (escaped) {
        escaped = false;
        chars += c;
        continue;
      }
      closed = i;
      break;
    }
    if (closed < 0) {
      const nl = rest.indexOf("\n");
      throw new DotenvError(`line ${line}: unterminated quoted value ${nl < 0 ? rest : rest.slice(0, nl)}`);
    }
    out[key] = quote === '"' ? substitute(expandEscapes(chars), resolve) : chars;
    rest = rest.slice(closed + 1);
  }
  return out;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", c: "\\c", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", '"': '"', "\\": "\\", $: "$$" };

/** Go-style escapes inside double quotes (`\$` stays an escaped dollar for the substitution). */
function expandEscapes(s: string): string {
  return s.replace(/\\(?:[abcfnrtv$"\\]|0\d{0,3})/g, (m) => {
    if (m.startsWith("\\0")) {
      const n = parseInt(m.slice(1), 8);
      return Number.isNaN(n) ? m : String.fromCharCode(n);
    }
    return ESCAPES[m[1]!] ?? m;
  });
}

/**
 * An env_file with `format: raw`: the docker CLI's --env-file parser (kvfile): `KEY=VALUE` taken as written,
 * `#` lines and blank lines skipped, a bare `KEY` from the environment (left out when unset), no quotes, no
 * substitution.
 */
export function parseRawEnv(src: string, lookup: Lookup = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of src.replace(/^\uFEFF/, "").split("\n")) {
    const line = raw.replace(/\r$/, "").trimStart();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === "") throw new DotenvError(`no variable name on line '${line}'`);
    if (/\s/.test(key)) throw new DotenvError(`variable '${key}' contains whitespaces`);
    if (eq >= 0) out[key] = line.slice(eq + 1);
    else {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}
