/**
 * The Dockerfile's syntax tree, as BuildKit's parser builds it for the `docker/dockerfile:1` syntax: parser
 * directives (`# syntax=`, `# escape=`, `# check=`) at the very top, comments, line continuations with the
 * escape token, instruction flags (`--from=x`, also `--from x`), JSON and shell forms, ENV/LABEL pairs in
 * both the `k=v` and the old `k v` form, ONBUILD's nested instruction, and heredocs (`<<EOF`, `<<-EOF`,
 * `<<"EOF"`, several on one line) for RUN, COPY and ADD. No variable is expanded here: that needs the
 * build's state (instructions.ts, shell.ts). Errors carry the line numbers BuildKit reports.
 */
import { ShellLex } from "./shell.ts";

/** A heredoc attached to an instruction. */
export interface Heredoc {
  /** The delimiter word, quotes removed. */
  name: string;
  /** The file descriptor it feeds (`3<<EOF`); 0 when none was given. */
  fd: number;
  /** Whether variables in the content are expanded (false when any part of the delimiter was quoted). */
  expand: boolean;
  /** `<<-`: leading tabs are removed from each line of the content. */
  chomp: boolean;
  /** The lines up to the delimiter, each with its newline. */
  content: string;
}

/** One instruction. */
export interface Node {
  /** The instruction keyword in lower case ("from", "run", ...); unknown ones too (refused later). */
  cmd: string;
  /** The `--name=value` flags before the arguments, as written. */
  flags: string[];
  /** The arguments as the instruction's line parser splits them (ENV and LABEL: key, value, key, value ...). */
  args: string[];
  /** The arguments were a JSON array. */
  json: boolean;
  heredocs: Heredoc[];
  /** The instruction's text after continuations were joined (used in history and errors). */
  original: string;
  /** For ONBUILD: the trigger instruction. */
  trigger?: Node;
  /** 1-based lines of the Dockerfile the instruction spans (heredocs included). */
  startLine: number;
  endLine: number;
  /** Comment lines right before the instruction. */
  comments: string[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  nodes: Node[];
  escapeToken: string;
  /** Parser directives found at the top (lower-case names). */
  directives: Record<string, string>;
  /** Warnings BuildKit prints (empty continuation lines, ignored directives). */
  warnings: string[];
}

/** A Dockerfile that cannot be parsed: BuildKit's message and the lines it points at. */
export class DockerfileParseError extends Error {
  constructor(
    readonly reason: string,
    readonly startLine: number,
    readonly endLine = startLine,
  ) {
    super(`dockerfile parse error on line ${startLine}: ${reason}`);
    this.name = "DockerfileParseError";
  }
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const VALID_DIRECTIVES = new Set(["escape", "syntax", "check"]);
const HEREDOC = /^(\d*)<<(-?)([^<]*)$/;
const HEREDOC_INSTRUCTIONS = new Set(["run", "copy", "add"]);
const WHITESPACE = /[\t\v\f\r ]+/;
const isSpace = (c: string) => /^\s$/u.test(c);

/** Parses a Dockerfile's text. Throws DockerfileParseError. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, "").match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const directives: Record<string, string> = {};
  const warnings: string[] = [];
  const nodes: Node[] = [];
  let escape = "\\";
  let continuation = continuationRegex(escape);
  let lookingForDirectives = true;
  let comments: string[] = [];
  let i = 0; // index of the next line; also the 1-based number of the line just read

  /** A possible parser directive; the first line that is not one ends the search. */
  const directive = (line: string) => {
    if (!lookingForDirectives) return;
    const m = DIRECTIVE.exec(line);
    const key = m?.[1]!.toLowerCase();
    if (!m || !VALID_DIRECTIVES.has(key!)) {
      lookingForDirectives = false;
      return;
    }
    if (key! in directives) throw new DockerfileParseError(`only one ${key} parser directive can be used`, i);
    directives[key!] = m[2]!;
    if (key === "escape") {
      if (m[2] !== "`" && m[2] !== "\\") throw new DockerfileParseError(`invalid escape token '${m[2]}' does not match \` or \\`, i);
      escape = m[2]!;
      continuation = continuationRegex(escape);
    }
  };
  const trimNewline = (s: string) => s.replace(/[\r\n]+$/, "");
  const isComment = (s: string) => /^#/.test(trimNewline(s).trimStart());
  const stripComment = (s: string) => (s.startsWith("#") ? "" : s);

  while (i < lines.length) {
    const raw = lines[i++]!;
    if (isComment(raw)) comments.push(trimNewline(raw).trimStart().slice(1).trim());
    const first = trimNewline(raw).trimStart();
    directive(first);
    const startLine = i;
    let [line, ended] = trimContinuation(stripComment(first), continuation);
    if (ended && line === "") continue;
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const next = lines[i++]!;
      directive(trimNewline(next));
      if (isComment(next)) continue; // comments inside a continued instruction are dropped
      if (trimNewline(next).trim() === "") {
        emptyContinuation = true;
        continue;
      }
      let more: string;
      [more, ended] = trimContinuation(stripComment(trimNewline(next)), continuation);
      line += more;
    }
    if (emptyContinuation) warnings.push(`[WARNING]: Empty continuation line found in:\n    ${line}`);
    let node: Node;
    try {
      node = nodeFromLine(line, escape, comments);
    } catch (e) {
      throw new DockerfileParseError((e as Error).message, startLine, i);
    }
    const target = node.cmd === "onbuild" && node.trigger ? node.trigger : node;
    if (HEREDOC_INSTRUCTIONS.has(target.cmd) && !target.json) {
      for (const doc of heredocsFromLine(line)) {
        let terminated = false;
        while (i < lines.length) {
          const l = lines[i++]!;
          const candidate = doc.chomp ? trimNewline(l).replace(/^\t+/, "") : trimNewline(l);
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          doc.content += l;
        }
        if (!terminated) throw new DockerfileParseError("unterminated heredoc", startLine, i);
        target.heredocs.push(doc);
      }
    }
    node.startLine = startLine;
    node.endLine = i;
    nodes.push(node);
    comments = [];
  }
  if (warnings.length) warnings.push("[WARNING]: Empty continuation lines will become errors in a future release.");
  if (!nodes.length) throw new DockerfileParseError("file with no instructions", i);
  return { nodes, escapeToken: escape, directives, warnings };
}

/** The continuation test: the escape token last on a line (not escaped itself), or alone on it. */
function continuationRegex(escape: string): RegExp {
  const e = escape === "\\" ? "\\\\" : escape;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

function trimContinuation(line: string, re: RegExp): [string, boolean] {
  if (re.test(line)) return [line.replace(re, "$1"), false];
  return [line, true];
}

/** An instruction line split into keyword, flags and arguments, the arguments parsed per instruction. */
function nodeFromLine(line: string, escape: string, comments: string[]): Node {
  const trimmed = line.trim();
  const sp = WHITESPACE.exec(trimmed);
  const cmd = (sp ? trimmed.slice(0, sp.index) : trimmed).toLowerCase();
  const [rest, flags] = sp ? extractFlags(trimmed.slice(sp.index + sp[0].length)) : ["", []];
  const node: Node = { cmd, flags, args: [], json: false, heredocs: [], original: line, startLine: 0, endLine: 0, comments };
  const args = rest.trim();
  switch (cmd) {
    case "add":
    case "copy":
    case "volume":
      Object.assign(node, maybeJsonToList(args));
      break;
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      Object.assign(node, maybeJson(args));
      break;
    case "arg":
      node.args = parseWords(args, escape);
      break;
    case "env":
    case "label":
      node.args = parseNameValues(args, cmd.toUpperCase(), escape);
      break;
    case "expose":
    case "from":
      node.args = args ? args.split(WHITESPACE) : [];
      break;
    case "healthcheck": {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(args);
      if (m) {
        const rest = maybeJson(m[2]!);
        node.args = [m[1]!, ...rest.args];
        node.json = rest.json;
      }
      break;
    }
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      node.args = args ? [args] : [];
      break;
    case "onbuild":
      if (args) node.trigger = nodeFromLine(args, escape, []);
      break;
    default:
      break; // an unknown instruction: refused with BuildKit's message when instructions are read
  }
  return node;
}

/** Flags that never take the next word as their value: `COPY --link src dest` is a flag, a source and a destination. */
const BOOL_FLAGS = new Set(["--link", "--parents", "--keep-git-dir", "--unpack"]);

/** Flags before the arguments: `--name=value`, `--name value` (joined with "="), quotes and `\` removed; `--` ends them. */
function extractFlags(line: string): [string, string[]] {
  const words: string[] = [];
  let word = "";
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOk = false;
  let parsingArg = false;
  let needArg = true;
  for (let pos = 0; pos <= line.length; pos++) {
    const c = line[pos] ?? "";
    if (phase === "spaces") {
      if (pos === line.length) break;
      if (isSpace(c)) continue;
      if (!parsingArg && (c !== "-" || line[pos + 1] !== "-")) return [line.slice(pos), words];
      phase = "word";
    }
    if (pos === line.length) {
      if (word !== "--" && (blankOk || word.length)) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(c)) {
        phase = "spaces";
        if (parsingArg) {
          words[words.length - 1] += `=${word}`;
          parsingArg = false;
          needArg = true;
        } else {
          if (word === "--") return [line.slice(pos), words];
          if (blankOk || word.length) {
            if (needArg && !BOOL_FLAGS.has(word)) parsingArg = true;
            words.push(word);
          }
        }
        word = "";
        blankOk = false;
        continue;
      }
      if (c === "=" && needArg) needArg = false;
      if (c === "'" || c === '"') {
        quote = c;
        blankOk = true;
        phase = "quote";
        continue;
      }
      if (c === "\\") {
        if (pos + 1 === line.length) continue;
        word += line[++pos];
        continue;
      }
      word += c;
      continue;
    }
    // in a quote
    if (c === quote) {
      phase = "word";
      continue;
    }
    if (c === "\\") {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      word += line[++pos];
      continue;
    }
    word += c;
  }
  return ["", words];
}

/** Words split on white space, quotes and escapes kept for the later expansion (BuildKit's parseWords). */
function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = [...rest];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let c = chars[pos] ?? "";
    if (phase === "spaces") {
      if (pos === chars.length) break;
      if (isSpace(c)) continue;
      phase = "word";
    }
    if (pos === chars.length) {
      if (blankOk || word.length) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(c)) {
        phase = "spaces";
        if (blankOk || word.length) words.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (c === "'" || c === '"') {
        quote = c;
        blankOk = true;
        phase = "quote";
      }
      if (c === escape) {
        if (pos + 1 === chars.length) continue;
        word += c;
        c = chars[++pos]!;
      }
      word += c;
      continue;
    }
    if (c === quote) phase = "word";
    if (c === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += c;
      c = chars[++pos]!;
    }
    word += c;
  }
  return words;
}

/** ENV and LABEL: `k=v k2=v2`, or the old `k v w` (one pair, the rest as the value). */
function parseNameValues(rest: string, name: string, escape: string): string[] {
  const words = parseWords(rest, escape);
  if (!words.length) return [];
  if (!words[0]!.includes("=")) {
    const sp = WHITESPACE.exec(rest);
    if (!sp) throw new Error(`${name} must have two arguments`);
    return [rest.slice(0, sp.index), rest.slice(sp.index + sp[0].length)];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) throw new Error(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    out.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

/** A JSON array of strings, or null when the text is not a JSON array; non-strings are an error. */
function parseJson(rest: string): string[] | null {
  const text = rest.trimStart();
  if (!text.startsWith("[")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  if (!value.every((v) => typeof v === "string")) throw new Error("when using JSON array syntax, arrays must be comprised of strings only");
  return value;
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array, or the whole text as one shell-form argument. */
function maybeJson(rest: string): { args: string[]; json: boolean } {
  if (!rest) return { args: [], json: false };
  const json = parseJson(rest);
  return json ? { args: json, json: true } : { args: [rest], json: false };
}

/** COPY, ADD, VOLUME: a JSON array, or the text split on white space. */
function maybeJsonToList(rest: string): { args: string[]; json: boolean } {
  const json = parseJson(rest);
  if (json) return { args: json, json: true };
  return { args: rest ? rest.split(WHITESPACE) : [], json: false };
}

/** The heredocs an instruction line opens (`<<EOF`, `<<-EOF`, `3<<"EOF"`), in order. */
function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLex("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  const docs: Heredoc[] = [];
  let words: string[];
  try {
    words = lex.processWords(line, new Map());
  } catch {
    return docs;
  }
  for (const w of words) {
    const m = HEREDOC.exec(w);
    if (!m || !m[3]) continue;
    // Parsed with and without quotes: if quotes differ, part of the word was quoted, and the content is not expanded.
    const plain = new ShellLex("\\", { skipUnsetEnv: true }).processWords(m[3], new Map());
    if (plain.length !== 1) continue;
    const raw = new ShellLex("\\", { rawQuotes: true, skipUnsetEnv: true }).processWords(m[3], new Map());
    const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
    docs.push({ name: plain[0]!, fd: Number(m[1] || 0), expand: quotes(plain[0]!) === quotes(raw[0] ?? ""), chomp: m[2] === "-", content: "" });
  }
  return docs;
}
