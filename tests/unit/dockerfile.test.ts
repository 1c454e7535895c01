/** The Dockerfile front end: BuildKit's variable expansion, syntax tree and instruction checks, with its error texts. */
import { describe, expect, test } from "bun:test";
import { ShellLex } from "../../src/engine/build/dockerfile/shell.ts";
import { parseDockerfile } from "../../src/engine/build/dockerfile/parser.ts";
import { planDockerfile, type Instruction } from "../../src/engine/build/dockerfile/instructions.ts";

const env = new Map([
  ["PWD", "/home"],
  ["EMPTY", ""],
  ["P", "/usr/local/bin/app.tar.gz"],
  ["W", "a b  c"],
  ["KOREAN", "한국어"],
]);
const lex = new ShellLex();
const word = (w: string) => lex.processWord(w, env);
const words = (w: string) => lex.processWords(w, env);
const fails = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("no error");
};

describe("variable expansion (BuildKit's shell lexer)", () => {
  test("plain references, quotes and escapes", () => {
    expect(word("$PWD/x")).toBe("/home/x");
    expect(word("${PWD}x")).toBe("/homex");
    expect(word("'$PWD'")).toBe("$PWD");
    expect(word('"$PWD and \\"q\\""')).toBe('/home and "q"');
    expect(word('"a\\b"')).toBe("a\\b"); // inside double quotes only " $ and the escape token are escaped
    expect(word("\\$PWD")).toBe("$PWD");
    expect(word("a\\ b")).toBe("a b");
    expect(word("$UNSET.x")).toBe(".x");
    expect(word("$")).toBe("$");
    expect(word("$1x")).toBe("x");
    expect(word("${KOREAN}!")).toBe("한국어!");
    expect(new ShellLex("`").processWord("a`$PWD", env)).toBe("a$PWD");
  });

  test("the modifiers: defaults, alternatives, required, prefix/suffix removal, replacement", () => {
    expect([word("${UNSET:-d}"), word("${EMPTY:-d}"), word("${EMPTY-d}"), word("${UNSET-d}"), word("${PWD:-d}")]).toEqual(["d", "d", "", "d", "/home"]);
    expect([word("${PWD:+alt}"), word("${EMPTY:+alt}"), word("${EMPTY+alt}"), word("${UNSET+alt}")]).toEqual(["alt", "", "alt", ""]);
    expect(word("${UNSET:-$PWD/sub}")).toBe("/home/sub");
    expect([word("${P#*/}"), word("${P##*/}"), word("${P%.*}"), word("${P%%.*}")]).toEqual(["usr/local/bin/app.tar.gz", "app.tar.gz", "/usr/local/bin/app.tar", "/usr/local/bin/app"]);
    expect([word("${P/local/LOCAL}"), word("${P//l/L}"), word("${P/#nomatch/x}")]).toEqual(["/usr/LOCAL/bin/app.tar.gz", "/usr/LocaL/bin/app.tar.gz", "/usr/local/bin/app.tar.gz"]);
    expect(fails(() => word("${UNSET:?must be set}"))).toBe('failed to process "${UNSET:?must be set}": UNSET: must be set');
    expect(fails(() => word("${EMPTY:?}"))).toBe('failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty');
    expect(fails(() => word("${UNSET?}"))).toBe('failed to process "${UNSET?}": UNSET: is not allowed to be unset');
    expect(word("${EMPTY?}")).toBe("");
  });

  test("syntax errors read as BuildKit's", () => {
    expect(fails(() => word("${PWD"))).toBe(`failed to process "\${PWD": syntax error: missing '}'`);
    expect(fails(() => word("${}"))).toBe(`failed to process "\${}": syntax error: bad substitution`);
    expect(fails(() => word("${PWD:x}"))).toBe(`failed to process "\${PWD:x}": unsupported modifier (:x) in substitution`);
    expect(fails(() => word("${PWD:#x}"))).toBe(`failed to process "\${PWD:#x}": unsupported modifier (:#) in substitution`);
    expect(fails(() => word("'open"))).toBe(`failed to process "'open": unexpected end of statement while looking for matching single-quote`);
    expect(fails(() => word('"open'))).toBe(`failed to process ""open": unexpected end of statement while looking for matching double-quote`);
  });

  test("words split on unquoted white space after expansion; quoted text stays one word", () => {
    expect(words("$W d")).toEqual(["a", "b", "c", "d"]);
    expect(words('"$W" d')).toEqual(["a b  c", "d"]);
    expect(words("x'y z'")).toEqual(["xy z"]);
    expect(words("  ")).toEqual([]);
  });
});

describe("the syntax tree", () => {
  const df = [
    "# syntax=docker/dockerfile:1",
    "# escape=\\",
    "",
    "# about the base",
    "FROM busybox AS build",
    'ENV A=1 B="two words" \\',
    "    C=3",
    "ENV OLD value with spaces",
    "RUN echo hi && \\",
    "  # a comment inside is dropped",
    "  echo there",
    'RUN ["sh", "-c", "echo json"]',
    "COPY --chmod 755 --from=build /a /dest/",
    "RUN <<EOF bash",
    "echo $A",
    "EOF",
    'COPY <<-"EOT" /etc/x',
    "\tnot expanded $A",
    "\tEOT",
    "ONBUILD RUN echo later",
  ].join("\n");
  const parsed = parseDockerfile(df);

  test("directives, comments, continuations, forms and line numbers", () => {
    expect(parsed.directives).toEqual({ syntax: "docker/dockerfile:1", escape: "\\" });
    const rows = parsed.nodes.map((n) => [n.startLine, n.endLine, n.cmd, n.flags, n.args, n.json]);
    expect(rows).toEqual([
      [5, 5, "from", [], ["busybox", "AS", "build"], false],
      [6, 7, "env", [], ["A", "1", "B", '"two words"', "C", "3"], false],
      [8, 8, "env", [], ["OLD", "value with spaces"], false],
      [9, 11, "run", [], ["echo hi &&   echo there"], false],
      [12, 12, "run", [], ["sh", "-c", "echo json"], true],
      [13, 13, "copy", ["--chmod=755", "--from=build"], ["/a", "/dest/"], false],
      [14, 16, "run", [], ["<<EOF bash"], false],
      [17, 19, "copy", [], ['<<-"EOT"', "/etc/x"], false],
      [20, 20, "onbuild", [], [], false],
    ]);
    expect(parsed.nodes[0]!.comments).toContain("about the base");
    expect(parsed.nodes[8]!.trigger).toMatchObject({ cmd: "run", args: ["echo later"] });
  });

  test("heredocs: content, expansion only when the delimiter is unquoted, <<- trims tabs before the delimiter", () => {
    expect(parsed.nodes[6]!.heredocs).toEqual([{ name: "EOF", fd: 0, expand: true, chomp: false, content: "echo $A\n" }]);
    expect(parsed.nodes[7]!.heredocs).toEqual([{ name: "EOT", fd: 0, expand: false, chomp: true, content: "\tnot expanded $A\n" }]);
    const two = parseDockerfile("FROM a\nCOPY <<A <<B /dir/\na\nA\nb\nB\nRUN true\n");
    expect(two.nodes[1]!.heredocs.map((h) => [h.name, h.content])).toEqual([["A", "a\n"], ["B", "b\n"]]);
    expect(two.nodes[2]).toMatchObject({ cmd: "run", startLine: 7 });
  });

  test("the backtick escape directive, and warnings for empty continuation lines", () => {
    const r = parseDockerfile("# escape=`\nFROM a\nRUN dir `\n\n  c:\\x\n");
    expect(r.escapeToken).toBe("`");
    expect(r.nodes[1]!.args).toEqual(["dir   c:\\x"]);
    expect(r.warnings[0]).toStartWith("[WARNING]: Empty continuation line found in:");
  });

  test("parse errors with BuildKit's text and line", () => {
    const err = (t: string) => fails(() => parseDockerfile(t));
    expect(err("# escape=x\nFROM a")).toBe("dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\");
    expect(err("# escape=\\\n# escape=`\nFROM a")).toBe("dockerfile parse error on line 2: only one escape parser directive can be used");
    expect(err("FROM a\nRUN <<EOF\nno end\n")).toBe("dockerfile parse error on line 2: unterminated heredoc");
    expect(err("# nothing\n\n")).toBe("dockerfile parse error on line 2: file with no instructions");
    expect(err('FROM a\nCMD ["a", 1]')).toBe("dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only");
  });
});

describe("instructions and stages", () => {
  test("meta ARGs, stages, typed instructions", () => {
    const plan = planDockerfile(
      [
        "ARG BASE=busybox",
        "FROM --platform=$BUILDPLATFORM ${BASE} AS Build",
        "RUN --mount=type=cache,target=/c --network=none make",
        "COPY --from=build --chown=1:2 --link --exclude=*.md a b /d/",
        "ADD --checksum=sha256:abc http://127.0.0.1/x /x",
        'HEALTHCHECK --interval=5s --retries=3 CMD ["curl", "-f", "http://localhost/"]',
        "ONBUILD RUN echo later",
        "FROM scratch",
        "COPY --from=0 / /",
      ].join("\n"),
    );
    expect(plan.metaArgs).toEqual([{ key: "BASE", value: "busybox" }]);
    expect(plan.stages.map((s) => [s.index, s.name, s.base, s.platform])).toEqual([
      [0, "build", "${BASE}", "$BUILDPLATFORM"],
      [1, "", "scratch", undefined],
    ]);
    const [run, copy, add, hc, onbuild] = plan.stages[0]!.instructions as Instruction[];
    expect(run).toMatchObject({ kind: "run", cmd: ["make"], mounts: ["type=cache,target=/c"], network: "none", line: 3 });
    expect(copy).toMatchObject({ kind: "copy", sources: ["a", "b"], dest: "/d/", from: "build", chown: "1:2", link: true, exclude: ["*.md"] });
    expect(add).toMatchObject({ kind: "add", sources: ["http://127.0.0.1/x"], checksum: "sha256:abc" });
    expect(hc).toMatchObject({ kind: "healthcheck", test: ["CMD", "curl", "-f", "http://localhost/"], interval: 5e9, retries: 3 });
    expect(onbuild).toMatchObject({ kind: "onbuild", trigger: "RUN echo later" });
  });

  test("refusals with BuildKit's messages and lines", () => {
    const err = (t: string) => fails(() => planDockerfile(t));
    expect(err("FROM a b")).toBe("dockerfile parse error on line 1: FROM requires either one or three arguments");
    expect(err("FROM a\nFRM b")).toBe("dockerfile parse error on line 2: unknown instruction: FRM (did you mean from?)");
    expect(err("FROM a\n\nCOPY x")).toBe("dockerfile parse error on line 3: COPY requires at least two arguments, but only one was provided. Destination could not be determined.");
    expect(err("FROM a\nCOPY --nope=1 a b")).toBe("dockerfile parse error on line 2: unknown flag: nope");
    expect(err("FROM a\nCOPY --link=maybe a b")).toBe("dockerfile parse error on line 2: expecting boolean value for flag link, not: maybe");
    expect(err("FROM a\nSHELL sh -c")).toBe("dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form");
    expect(err("FROM a\nONBUILD ONBUILD RUN x")).toBe("dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect(err("FROM a\nONBUILD FROM b")).toBe("dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger");
    expect(err("FROM a AS 1x")).toBe(`dockerfile parse error on line 1: invalid name for build stage: "1x", name can't start with a number or contain symbols`);
    expect(err("FROM a AS x\nFROM b AS x")).toBe(`dockerfile parse error on line 2: duplicate stage name "x"`);
    expect(err("FROM a\nHEALTHCHECK --interval=5 CMD x")).toBe(`dockerfile parse error on line 2: time: missing unit in duration "5"`);
    expect(err("FROM a\nHEALTHCHECK WAT x")).toBe(`dockerfile parse error on line 2: Unknown type "WAT" in HEALTHCHECK (try CMD)`);
    expect(err("FROM a\nENV x")).toBe("dockerfile parse error on line 2: ENV must have two arguments");
    expect(err("FROM a\nENV a=1 b")).toBe(`dockerfile parse error on line 2: Syntax error - can't find = in "b". Must be of the form: name=value`);
    expect(err("RUN x")).toBe("dockerfile parse error on line 1: no build stage in current context");
    expect(err("FROM a\nWORKDIR")).toBe("dockerfile parse error on line 2: WORKDIR requires exactly one argument");
    // BuildKit's flag scanner joins "--flag value" only until a flag has used "=": then the value is the first argument.
    expect(err("FROM a\nCOPY --from=x --chmod 755 a b")).toBe("dockerfile parse error on line 2: missing a value on flag: chmod");
    // Boolean flags never swallow the next word: `COPY --link src dest` is the common form.
    const copy = (line: string) => planDockerfile(`FROM a\n${line}`).stages[0]!.instructions[0] as { link: boolean; parents: boolean; sources: string[]; dest: string };
    expect(copy("COPY --link a b")).toMatchObject({ link: true, sources: ["a"], dest: "b" });
    expect(copy("COPY --parents --link --chown=1 x/a /c/")).toMatchObject({ link: true, parents: true, sources: ["x/a"], dest: "/c/" });
  });

  test("directives bunker does not run are warned about, not silently dropped", () => {
    expect(planDockerfile("# syntax=docker/dockerfile:1.7\nFROM a").warnings).toEqual([]);
    expect(planDockerfile("# syntax=example.com/frontend:2\n# check=skip=all\nFROM a").warnings).toEqual([
      `[WARNING]: the syntax directive "example.com/frontend:2" is ignored: bunker's built-in Dockerfile frontend (docker/dockerfile:1) is used`,
      `[WARNING]: the check directive "skip=all" is ignored: bunker does not run BuildKit's build checks`,
    ]);
  });
});

describe("commit and import --change", () => {
  test("Dockerfile instructions without FROM; only moby's change commands", async () => {
    const { parseChanges } = await import("../../src/engine/build/dockerfile/instructions.ts");
    expect(parseChanges(['CMD ["/bin/app"]', "ENV A=1 \\", "  B=2", "EXPOSE 80"]).map((i) => i.kind)).toEqual(["cmd", "env", "expose"]);
    expect(parseChanges([])).toEqual([]);
    expect(fails(() => parseChanges(["RUN make"]))).toBe("dockerfile parse error on line 1: run is not a valid change command");
    expect(fails(() => parseChanges(["CMD x", "FROM y"]))).toBe("dockerfile parse error on line 2: from is not a valid change command");
  });
});
