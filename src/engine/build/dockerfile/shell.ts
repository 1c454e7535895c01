/**
 * Variable expansion and word splitting in a Dockerfile, as BuildKit's shell lexer does them (the
 * `docker/dockerfile:1` rules): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
 * `${VAR:?message}`, `${VAR?message}`, `${VAR#glob}`, `${VAR##glob}`, `${VAR%glob}`, `${VAR%%glob}`,
 * `${VAR/glob/with}`, `${VAR//glob/with}`; single quotes literal, double quotes with `$` expanded and the escape
 * token escaping `"`, `$` and itself; the escape token (`\` or `` ` ``) escaping any character outside quotes.
 * Errors read as BuildKit's (`failed to process "…": syntax error: missing '}'`).
 */

/** What the lexer may leave as it is, for the parser's own passes (BuildKit's Lex options). */
export interface LexOptions {
  /** Keep quote characters in the result. */
  rawQuotes?: boolean;
  /** Keep escape tokens in the result. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-d}`). */
  skipUnsetEnv?: boolean;
}

/** A variable expansion the Dockerfile's text does not allow. */
export class ShellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellError";
  }
}

const EOF = "";
const isSpace = (c: string) => /^\s$/u.test(c);
const isLetterOrDigit = (c: string) => /^[\p{L}\p{Nd}_]$/u.test(c);
const SPECIAL = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);

/** A shell glob (`*`, `?`, `[...]`, escapes) as an anchored regular expression. */
function globToRegex(glob: string, escape: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === escape && i + 1 < glob.length) re += glob[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    else if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "u");
}

/** Expands and splits Dockerfile words against an environment. */
export class ShellLex {
  constructor(
    readonly escapeToken = "\\",
    readonly options: LexOptions = {},
  ) {}

  /** One word, expanded, quotes removed, spaces kept (ENV values, COPY paths, WORKDIR...). */
  processWord(word: string, env: ReadonlyMap<string, string>): string {
    return this.process(word, env).word;
  }

  /** Words, expanded then split on unquoted white space (the text of a variable splits too). */
  processWords(word: string, env: ReadonlyMap<string, string>): string[] {
    return this.process(word, env).words;
  }

  private process(source: string, env: ReadonlyMap<string, string>): { word: string; words: string[] } {
    try {
      return new Scan(source, env, this.escapeToken, this.options).stopOn(EOF, false);
    } catch (e) {
      if (e instanceof ShellError) throw new ShellError(`failed to process "${source}": ${e.message}`);
      throw e;
    }
  }
}

/** Words being built: a character adds to the current word, unquoted white space ends it. */
class Words {
  word = "";
  words: string[] = [];
  inWord = false;
  addChar(c: string) {
    if (isSpace(c)) {
      if (this.inWord && this.word.length) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else this.addRaw(c);
  }
  addRaw(s: string) {
    this.word += s;
    this.inWord = true;
  }
  addString(s: string) {
    for (const c of s) this.addChar(c);
  }
  done(): string[] {
    if (this.word.length) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

/** One pass over a source text (BuildKit's shellWord). */
class Scan {
  private readonly chars: string[];
  private pos = 0;

  constructor(
    source: string,
    private readonly env: ReadonlyMap<string, string>,
    private readonly escape: string,
    private readonly opts: LexOptions,
  ) {
    this.chars = [...source];
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }
  private next(): string {
    return this.chars[this.pos++] ?? EOF;
  }

  /** Reads until `stop` (consumed) or the end; a missing `stop` is an error. */
  stopOn(stop: string, rawEscapes: boolean): { word: string; words: string[] } {
    let result = "";
    const words = new Words();
    while (this.peek() !== EOF) {
      const c = this.peek();
      if (stop !== EOF && c === stop) {
        this.next();
        return { word: result, words: words.done() };
      }
      if (c === "'" || c === '"' || c === "$") {
        const tmp = c === "'" ? this.singleQuote() : c === '"' ? this.doubleQuote() : this.dollar();
        result += tmp;
        if (c === "$") words.addString(tmp);
        else words.addRaw(tmp);
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (rawEscapes || this.opts.rawEscapes) {
          words.addRaw(ch);
          result += ch;
        }
        ch = this.next(); // the escape token escapes any character, except at the end
        if (ch === EOF) break;
        words.addRaw(ch);
      } else words.addChar(ch);
      result += ch;
    }
    if (stop !== EOF) throw new ShellError(`unexpected end of statement while looking for matching ${stop}`);
    return { word: result, words: words.done() };
  }

  private singleQuote(): string {
    let result = this.opts.rawQuotes ? "'" : "";
    this.next();
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new ShellError("unexpected end of statement while looking for matching single-quote");
      if (c === "'") return this.opts.rawQuotes ? `${result}'` : result;
      result += c;
    }
  }

  private doubleQuote(): string {
    let result = this.opts.rawQuotes ? '"' : "";
    this.next();
    for (;;) {
      const c = this.peek();
      if (c === EOF) throw new ShellError("unexpected end of statement while looking for matching double-quote");
      if (c === '"') {
        this.next();
        return this.opts.rawQuotes ? `${result}"` : result;
      }
      if (c === "$") {
        result += this.dollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.opts.rawEscapes) result += ch;
        const p = this.peek();
        if (p === EOF) continue;
        if (p === '"' || p === "$" || p === this.escape) ch = this.next();
      }
      result += ch;
    }
  }

  private name(): string {
    let name = "";
    while (this.peek() !== EOF) {
      const c = this.peek();
      if (!name && /^\p{Nd}$/u.test(c)) {
        while (/^\p{Nd}$/u.test(this.peek())) name += this.next();
        return name;
      }
      if (!name && SPECIAL.has(c)) return this.next();
      if (!isLetterOrDigit(c)) break;
      name += this.next();
    }
    return name;
  }

  private lookup(name: string): [string, boolean] {
    const v = this.env.get(name);
    return [v ?? "", v !== undefined];
  }

  private dollar(): string {
    this.next();
    if (this.peek() !== "{") {
      const name = this.name();
      if (!name) return "$";
      const [value, set] = this.lookup(name);
      return !set && this.opts.skipUnsetEnv ? `$${name}` : value;
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new ShellError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new ShellError("syntax error: bad substitution");
    const name = this.name();
    let ch = this.next();
    if (ch === EOF) throw new ShellError("syntax error: missing '}'");
    let mod = ch;
    let nullIsUnset = false;
    if (ch === "}") {
      const [value, set] = this.lookup(name);
      return !set && this.opts.skipUnsetEnv ? `\${${name}}` : value;
    }
    if (ch === ":") {
      nullIsUnset = true;
      ch = this.next();
      mod += ch;
    }
    if (ch === "+" || ch === "-" || ch === "?" || ch === "#" || ch === "%") {
      const raw = ch === "#" || ch === "%";
      if (nullIsUnset && raw) throw new ShellError(`unsupported modifier (${mod}) in substitution`);
      const word = this.closing("}", raw, "syntax error: missing '}'");
      const [value, set] = this.lookup(name);
      if (this.opts.skipUnsetEnv && !set) return `\${${name}${mod}${word}}`;
      const unset = !set || (nullIsUnset && value === "");
      switch (ch) {
        case "-":
          return unset ? word : value;
        case "+":
          return unset ? "" : word;
        case "?":
          if (!set) throw new ShellError(`${name}: ${word || "is not allowed to be unset"}`);
          if (nullIsUnset && value === "") throw new ShellError(`${name}: ${word || "is not allowed to be empty"}`);
          return value;
        default: {
          const greedy = word[0] === ch;
          const re = globToRegex(greedy ? word.slice(1) : word, this.escape);
          const chars = [...value];
          // Shortest or longest prefix (#) or suffix (%) the glob matches is cut off.
          for (let k = 0; k <= chars.length; k++) {
            const n = greedy ? chars.length - k : k;
            if (ch === "#" ? re.test(chars.slice(0, n).join("")) : re.test(chars.slice(chars.length - n).join(""))) {
              return ch === "#" ? chars.slice(n).join("") : chars.slice(0, chars.length - n).join("");
            }
          }
          return value;
        }
      }
    }
    if (ch === "/" && !nullIsUnset) {
      const all = this.peek() === "/";
      if (all) this.next();
      const pattern = this.closing("/", true, "syntax error: missing '/' in ${}");
      const replacement = this.closing("}", true, "syntax error: missing '}'");
      const [value, set] = this.lookup(name);
      if (this.opts.skipUnsetEnv && !set) return `\${${name}/${pattern}/${replacement}}`;
      const re = globToRegex(pattern, this.escape).source.slice(1, -1);
      // Longest match at the first position that matches, as bash and BuildKit replace.
      return value.replace(new RegExp(re, all ? "gu" : "u"), () => replacement);
    }
    throw new ShellError(`unsupported modifier (${mod}) in substitution`);
  }

  /** The text up to `stop` (expanded), or `missing` when the source ends first. */
  private closing(stop: string, raw: boolean, missing: string): string {
    try {
      return this.stopOn(stop, raw).word;
    } catch (e) {
      if (this.peek() === EOF) throw new ShellError(missing);
      throw e;
    }
  }
}
