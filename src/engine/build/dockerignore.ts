/**
 * `.dockerignore` as Docker reads and applies it (moby/patternmatcher and BuildKit's dockerignore package):
 * one pattern a line, `#` comments, blank lines skipped, surrounding spaces trimmed, `!` for exceptions, each
 * pattern cleaned like a path with a leading "/" dropped; Go's filepath.Match syntax (`*`, `?`, `[...]`, `\`
 * escapes) plus `**` for any number of directories. A path is excluded when the last pattern that matches it,
 * or one of its parent directories, is not an exception.
 */

/** One compiled pattern. */
interface Pattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
  /** Path components, for the parent-directory test of exceptions. */
  dirs: string[];
}

/** Patterns of a .dockerignore file, in order ("!" kept in front of exceptions). */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    let line = i === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (line.startsWith("#")) continue;
    line = line.trim();
    if (!line) continue;
    const invert = line.startsWith("!");
    if (invert) line = line.slice(1).trim();
    if (line) {
      line = cleanPath(line);
      if (line.length > 1 && line.startsWith("/")) line = line.slice(1);
    }
    out.push(invert ? `!${line}` : line);
  }
  return out;
}

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length && parts.at(-1) !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join("/");
  return rooted ? `/${joined}` : joined || ".";
}

/** A pattern as an anchored regular expression (patternmatcher's compile). */
function compile(pattern: string): RegExp {
  let re = "^";
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") {
      if (chars[i + 1] === "*") {
        i++;
        // "**/" matches zero or more directories; a trailing "**" anything below.
        if (chars[i + 1] === "/") {
          i++;
          re += "(.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      const n = chars[++i];
      if (n !== undefined) re += n.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    } else if (c === "[") {
      const end = chars.indexOf("]", i + 1);
      if (end < 0) throw new Error(`syntax error in pattern: ${pattern}`);
      let cls = chars.slice(i + 1, end).join("");
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`${re}$`, "u");
}

/** Decides which context paths a .dockerignore excludes. */
export class Dockerignore {
  private readonly patterns: Pattern[];
  /** Whether any pattern is an exception (then an excluded directory may still hold included files). */
  readonly hasExceptions: boolean;

  constructor(patterns: string[]) {
    this.patterns = patterns
      .filter((p) => p !== "" && p !== "!")
      .map((p) => {
        const exclusion = p.startsWith("!");
        const text = exclusion ? p.slice(1) : p;
        return { text, exclusion, re: compile(text), dirs: text.split("/") };
      });
    this.hasExceptions = this.patterns.some((p) => p.exclusion);
  }

  /** Whether there is no pattern at all (no .dockerignore): nothing is excluded. */
  get isEmpty(): boolean {
    return !this.patterns.length;
  }

  /** Whether `path` (relative to the context, "/"-separated, no leading "./") is left out. */
  excludes(path: string): boolean {
    if (!this.patterns.length) return false; // no .dockerignore: a walk of 2,000 files asks 2,000 times
    const rel = cleanPath(path);
    const parents: string[] = [];
    for (let i = rel.indexOf("/"); i >= 0; i = rel.indexOf("/", i + 1)) parents.push(rel.slice(0, i));
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue; // only a pattern of the other kind can change the answer
      let match = p.re.test(rel);
      if (!match) match = parents.some((dir) => p.re.test(dir));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a walk may skip the whole directory `dir` once it is excluded: true unless an exception could
   * still include something below it (patternmatcher's test on the exception's leading components).
   */
  skipsDirectory(dir: string): boolean {
    if (!this.excludes(dir)) return false;
    const parts = cleanPath(dir).split("/");
    for (const p of this.patterns) {
      if (!p.exclusion) continue;
      if (p.text.includes("**")) return false;
      // An exception whose leading components could match this directory may include something below it.
      if (p.dirs.length > parts.length && parts.every((seg, i) => compile(p.dirs[i]!).test(seg))) return false;
    }
    return true;
  }
}
