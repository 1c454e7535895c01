import { describe, expect, test } from "bun:test";
import { humanSize, binarySize, goG, humanDuration, table, renderFormatted, compileTemplate, naturalCompare } from "../../src/commands/_output.ts";
import { TemplateError } from "../../src/go/template/index.ts";
import { defineCommand } from "../../src/commands/_cli.ts";
import type { CliError } from "../../src/commands/_cli.ts";

describe("go-units", () => {
  test("HumanSizeWithPrecision(x, 3)", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(5)).toBe("5B");
    expect(humanSize(1234)).toBe("1.23kB");
    expect(humanSize(77_860_000)).toBe("77.9MB");
    expect(humanSize(4_260_000)).toBe("4.26MB");
    expect(humanSize(100_000)).toBe("100kB");
    expect(humanSize(999_500)).toBe("1e+03kB"); // Go's %.3g
  });
  test("BytesSize", () => {
    expect(binarySize(1536)).toBe("1.5KiB");
    expect(binarySize(25_165_824_000)).toBe("23.44GiB");
  });
  test("%g", () => {
    expect(goG(77, 3)).toBe("77");
    expect(goG(0.0001234, 3)).toBe("0.000123");
    expect(goG(0.00001234, 3)).toBe("1.23e-05");
  });
  test("HumanDuration", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1000)).toBe("1 second");
    expect(humanDuration(59_000)).toBe("59 seconds");
    expect(humanDuration(61_000)).toBe("About a minute");
    expect(humanDuration(45 * 60_000)).toBe("45 minutes");
    expect(humanDuration(60 * 60_000)).toBe("About an hour");
    expect(humanDuration(5 * 3600_000)).toBe("5 hours");
    expect(humanDuration(3 * 86400_000)).toBe("3 days");
    expect(humanDuration(21 * 86400_000)).toBe("3 weeks");
    expect(humanDuration(90 * 86400_000)).toBe("3 months");
    expect(humanDuration(800 * 86400_000)).toBe("2 years");
  });
});

describe("tables and templates", () => {
  test("tabwriter: minwidth 10, padding 3, last column unpadded", () => {
    expect(table([["REPOSITORY", "TAG", "IMAGE ID"], ["ubuntu", "latest", "abc"]])).toBe("REPOSITORY   TAG       IMAGE ID\nubuntu       latest    abc");
    // An empty last cell leaves the padding of the cell before it (history's COMMENT column).
    expect(table([["SIZE", "COMMENT"], ["0B", ""]])).toBe("SIZE      COMMENT\n0B        ");
  });
  test("fields, functions, pipelines", () => {
    const row = { Repository: "ubuntu", Tag: "latest", Labels: { a: "1" }, List: ["x", "y"] };
    expect(compileTemplate("{{.Repository}}:{{.Tag}}").render(row)).toBe("ubuntu:latest");
    expect(compileTemplate("{{json .Labels}}").render(row)).toBe('{"a":"1"}');
    expect(compileTemplate("{{.Repository | upper}}").render(row)).toBe("UBUNTU");
    expect(compileTemplate('{{join .List ","}}').render(row)).toBe("x,y");
    expect(compileTemplate('{{index .Labels "a"}}').render(row)).toBe("1");
    expect(compileTemplate("{{.Labels}}").render(row)).toBe("map[a:1]");
    expect(() => compileTemplate("{{.Nope}}").render(row)).toThrow("can't evaluate field Nope");
  });
  test("table templates get headers; json prints one object a line", () => {
    const rows = [{ ID: "abc", Repository: "ubuntu" }];
    expect(renderFormatted("table {{.ID}}\t{{.Repository}}", rows, { ID: "IMAGE ID" })).toBe("IMAGE ID   REPOSITORY\nabc        ubuntu");
    expect(renderFormatted("json", rows)).toBe('{"ID":"abc","Repository":"ubuntu"}');
  });
});

describe("natural order (Go's sortorder.NaturalLess, the docker CLI's sort of network names and port lines)", () => {
  test("digit runs compare as numbers, fewer leading zeros first, digits before letters, bytes otherwise", () => {
    expect(["net10", "net2", "Net1", "bridge", "a01", "a1", "a", "1x"].sort(naturalCompare)).toEqual(["1x", "Net1", "a", "a1", "a01", "bridge", "net2", "net10"]);
    expect(["8080/tcp -> 0.0.0.0:1", "443/tcp -> 0.0.0.0:2", "80/tcp -> 127.0.0.1:3"].sort(naturalCompare)).toEqual(["80/tcp -> 127.0.0.1:3", "443/tcp -> 0.0.0.0:2", "8080/tcp -> 0.0.0.0:1"]);
    expect(naturalCompare("same", "same")).toBe(0);
  });
});

// A container as `docker inspect` shows it (abridged), for the docker docs' template examples.
const container = {
  Name: "/web",
  State: { Status: "running", Running: true, ExitCode: 0, Health: null },
  Config: { Hostname: "abc123", Labels: { "com.example": "yes", b: "2", a: "1" }, Env: ["A=1", "B=2"] },
  NetworkSettings: { Networks: { frontend: { IPAddress: "10.0.1.2" }, backend: { IPAddress: "10.0.2.2" } } },
  Mounts: [
    { Type: "volume", Name: "data", Source: "/var/lib/v/data", Destination: "/data" },
    { Type: "bind", Source: "/etc/app", Destination: "/app" },
  ],
};
const render = (t: string, ...dot: unknown[]) => compileTemplate(t).render(dot.length ? dot[0] : container);
const failure = (fn: () => unknown): TemplateError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof TemplateError) return e;
    throw e;
  }
  throw new Error("expected a TemplateError");
};

describe("Go templates: the docker docs' examples", () => {
  test("range over a map visits its keys in sorted order", () => {
    expect(render("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")).toBe("10.0.2.2 10.0.1.2 ");
    expect(render("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}")).toBe("a=1 b=2 com.example=yes ");
    expect(render("{{.Config.Labels}}")).toBe("map[a:1 b:2 com.example:yes]");
  });
  test("if/eq, with, json, index, len", () => {
    expect(render('{{if eq .State.Status "running"}}up{{else}}down{{end}}')).toBe("up");
    expect(render('{{if eq .State.Status "exited"}}up{{else}}down{{end}}')).toBe("down");
    expect(render("{{with .Config}}{{.Hostname}}{{end}}")).toBe("abc123");
    expect(render("{{json .Mounts}}")).toBe(JSON.stringify(container.Mounts));
    expect(render('{{index .Config.Labels "com.example"}}')).toBe("yes");
    expect(render('[{{index .Config.Labels "missing"}}]')).toBe("[]"); // a string map's zero value
    expect(render("{{len .Mounts}} {{len .Config.Labels}} {{len .Name}}")).toBe("2 3 4");
    expect(render("{{range .Mounts}}{{if eq .Type \"bind\"}}{{.Source}}:{{.Destination}}{{end}}{{end}}")).toBe("/etc/app:/app");
  });
  test("trim markers and comments", () => {
    expect(render("a  \n {{- .Name -}} \n  b")).toBe("a/webb");
    expect(render("a {{- /* gone */ -}} b{{/* c */}}!")).toBe("ab!");
    expect(render("{{-3}} {{3 -}} x")).toBe("-3 3x"); // "-3" is a number: a trim marker needs a space
    expect(render("{{range .Config.Env}}\n  {{- .}},{{end}}")).toBe("A=1,B=2,");
  });
});

describe("Go templates: control structures and variables", () => {
  test("else-if chains, else-with", () => {
    const t = '{{if eq .N 1}}one{{else if eq .N 2}}two{{else if gt .N 9}}big{{else}}other{{end}}';
    expect([1, 2, 10, 5].map((N) => render(t, { N }))).toEqual(["one", "two", "big", "other"]);
    expect(render("{{with .A}}a={{.}}{{else with .B}}b={{.}}{{else}}none{{end}}", { A: "", B: "x" })).toBe("b=x");
    expect(render("{{with .A}}a={{.}}{{else}}none{{end}}", { A: 0 })).toBe("none");
  });
  test("range: index and element, else, break and continue, integers", () => {
    expect(render("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}} {{end}}")).toBe("0:/data 1:/app ");
    expect(render("{{range $m := .Mounts}}{{$m.Type}} {{end}}")).toBe("volume bind ");
    expect(render("{{range .L}}x{{else}}empty{{end}}", { L: [] })).toBe("empty");
    expect(render("{{range .L}}x{{else}}empty{{end}}", { L: null })).toBe("empty");
    expect(render("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}", { L: [1, 2, 3, 4, 5] })).toBe("13");
    expect(render("{{range 3}}{{.}}{{end}}")).toBe("012");
  });
  test("$ is the top-level dot; := declares, = assigns; a variable lives to the end of its control structure", () => {
    expect(render("{{range .Mounts}}{{.Destination}}@{{$.Name}} {{end}}")).toBe("/data@/web /app@/web ");
    expect(render("{{$n := 0}}{{range .Mounts}}{{$n = .Destination}}{{end}}{{$n}}")).toBe("/app");
    expect(render("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}")).toBe("21");
    expect(render("{{with $h := .Config.Hostname}}{{$h}}{{end}}")).toBe("abc123");
    expect(render("{{$c := .Config}}{{$c.Hostname}} {{$.Config.Hostname}}")).toBe("abc123 abc123");
    expect(failure(() => compileTemplate("{{if true}}{{$y := 1}}{{end}}{{$y}}")).message).toBe('template: :1: undefined variable "$y"');
    expect(failure(() => compileTemplate("{{range $i, $v := .L}}{{end}}{{$v}}")).message).toBe('template: :1: undefined variable "$v"');
  });
  test("Go's truth: false, 0, empty string, nil, empty array and map are false", () => {
    const t = "{{if .}}T{{else}}F{{end}}";
    expect([false, 0, "", null, undefined, [], {}].map((v) => render(t, v)).join("")).toBe("FFFFFFF");
    expect([true, 1, -0.5, "x", [0], { a: 0 }].map((v) => render(t, v)).join("")).toBe("TTTTTT");
    expect(render("{{not 0}} {{not .}}", "x")).toBe("true false");
  });
  test("and/or short-circuit and return the deciding value", () => {
    expect(render('{{and 1 0 "x"}}|{{and 1 "x"}}|{{or 0 "" "y" "z"}}|{{or 0 ""}}|')).toBe('0|x|y||');
    // The argument after the deciding one is not evaluated (it would fail: no field Nope).
    expect(render("{{or .Name .Nope}} {{and .State.ExitCode .Nope}}")).toBe("/web 0");
    expect(render("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}")).toBe("ok");
  });
});

describe("Go templates: pipelines, literals, functions", () => {
  test("pipelines, parenthesized sub-pipelines and chained fields", () => {
    expect(render("{{.Name | printf \"%s!\" | upper}}")).toBe("/WEB!");
    expect(render("{{(.Config).Hostname}} {{(index .Mounts 1).Source}} {{.Mounts | len}} {{(len .Mounts) | printf \"%d\"}}")).toBe("abc123 /etc/app 2 2");
    expect(render("{{if (gt (len .Mounts) 1)}}many{{end}}")).toBe("many");
  });
  test("literals: strings with Go escapes, raw strings, numbers, characters, bools, nil", () => {
    // (compileTemplate turns a typed \t or \n into a tab or newline first, as the docker CLI's formatter does)
    expect(render('{{"a\\u00e9\\x41\\101\\"\\\\\\a"}}')).toBe('aéAA"\\\x07');
    expect(render("{{`raw \\d`}} {{0x1F}} {{0o17}} {{017}} {{1_000}} {{1.5}} {{1e3}} {{-2}} {{'a'}} {{true}} {{false}}")).toBe("raw \\d 31 15 15 1000 1.5 1000 -2 97 true false");
    expect(render("{{eq .State.Health nil}} {{ne .Name nil}}")).toBe("true true");
  });
  test("comparisons", () => {
    expect(render('{{eq 1 2 3 1}} {{eq "a" "b"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}')).toBe("true false true true true true false");
  });
  test("printf, print, println", () => {
    expect(render('{{printf "%s-%d-%5.2f-%q-%v-%t-%x|%-4s|%04d|%+d" "a" 42 3.14159 "q" .Config.Env true 255 "ab" 7 3}}')).toBe('a-42- 3.14-"q"-[A=1 B=2]-true-ff|ab  |0007|+3');
    expect(render('{{printf "%d %s" 1}} {{printf "%d" "x"}} {{printf "%d" 1 2}} {{printf "%v %s" nil nil}} {{printf "%T %g %e" .Mounts 1000000.0 1234.5}}')).toBe(
      "1 %!s(MISSING) %!d(string=x) 1%!(EXTRA int=2) <nil> %!s(<nil>) []interface {} 1e+06 1.234500e+03",
    );
    expect(render('{{print 1 2 "a" 3 "b"}}|{{println 1 "a"}}|')).toBe("1 2a3b|1 a\n|");
  });
  test("index (several keys), slice, len, html, js, urlquery", () => {
    expect(render('{{index .M "a" 1}} {{index .L 0}} {{slice .L 1}} {{slice .L 1 2}} {{slice "hello" 1 3}}', { M: { a: [5, 6] }, L: [1, 2, 3] })).toBe("6 1 [2 3] [2] el");
    expect(render('{{html "<a href=\'x\'>&"}} {{js "a\'b<"}} {{urlquery "a b&c"}}')).toBe("&lt;a href=&#39;x&#39;&gt;&amp; a\\'b\\u003C a+b%26c");
  });
  test("the docker CLI's functions keep their behaviour", () => {
    expect(render('{{json .Config.Env}} {{upper "ab"}} {{lower "AB"}} {{title "hello world"}} {{join .Config.Env ","}} {{split "a,b" ","}} {{truncate "abcdef" 3}} [{{pad "x" 1 2}}]')).toBe(
      '["A=1","B=2"] AB ab Hello World A=1,B=2 [a b] abc [ x  ]',
    );
    // docker/cli's json: an encoder with SetEscapeHTML(false); its pad leaves an empty string empty.
    expect(render("{{json .}}", { a: "<&>" })).toBe('{"a":"<&>"}');
    expect(render('[{{pad "" 1 2}}]')).toBe("[]");
  });
  test("methods get the command's arguments (ps's .Label)", () => {
    const row = { Labels: { "com.x": "1" }, Label(k: string) { return this.Labels[k as "com.x"] ?? ""; } };
    expect(render('{{.Label "com.x"}}|{{.Label "nope"}}|{{"com.x" | .Label}}', row)).toBe("1||1");
    expect(failure(() => render("{{.Label}}", row)).message).toBe('template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0');
  });
  test("values print as Go's %v", () => {
    expect(render("{{.A}} {{.B}} {{.C}} {{.D}} {{.E}}", { A: [1, "x"], B: { z: 1, a: { b: null } }, C: null, D: undefined, E: 1.5 })).toBe("[1 x] map[a:map[b:<nil>] z:1] <nil> <no value> 1.5");
  });
  test("table templates: headers from the first field of each action, also inside control structures", () => {
    const rows = [{ ID: "abc", Repository: "ubuntu", Tag: "" }];
    expect(renderFormatted("table {{.ID}}\t{{if .Tag}}{{.Tag}}{{else}}-{{end}}\t{{.Repository | upper}}", rows, { ID: "IMAGE ID" })).toBe("IMAGE ID   TAG       REPOSITORY\nabc        -         UBUNTU");
    expect(renderFormatted("table {{.ID}}", [], { ID: "IMAGE ID" })).toBe("IMAGE ID");
  });
});

describe("Go templates: errors, with Go's messages", () => {
  const parseError = (t: string) => failure(() => compileTemplate(t)).message;
  test("parse errors are raised when compiling, before any row", () => {
    expect(parseError("{{range .X}}")).toBe("template: :1: unexpected EOF");
    expect(parseError("{{if .A}}x{{else}}y")).toBe("template: :1: unexpected EOF");
    expect(parseError("{{.A}}{{end}}")).toBe("template: :1: unexpected {{end}}");
    expect(parseError("{{else}}")).toBe("template: :1: unexpected {{else}}");
    expect(parseError("{{foo .A}}")).toBe('template: :1: function "foo" not defined');
    expect(parseError("{{$x}}")).toBe('template: :1: undefined variable "$x"');
    expect(parseError("{{if}}{{end}}")).toBe("template: :1: missing value for if");
    expect(parseError("{{if .A}}{{else}}{{else}}{{end}}")).toBe("template: :1: expected end; found {{else}}");
    expect(parseError("{{range .A}}{{else if .B}}{{end}}")).toBe("template: :1: unexpected <if> in input");
    expect(parseError("{{break}}")).toBe("template: :1: {{break}} outside {{range}}");
    expect(parseError("{{.A")).toBe("template: :1: unclosed action");
    expect(parseError("x\n{{\n.A\n\n")).toBe("template: :5: unclosed action started at :2");
    expect(parseError('{{"abc}}')).toBe("template: :1: unterminated quoted string");
    expect(parseError("{{`abc}}")).toBe("template: :1: unterminated raw quoted string");
    expect(parseError("{{/* c")).toBe("template: :1: unclosed comment");
    expect(parseError("{{/* c */ }}")).toBe("template: :1: comment ends before closing delimiter");
    expect(parseError("{{.A!}}")).toBe("template: :1: bad character U+0021 '!'");
    expect(parseError("{{(.A}}")).toBe("template: :1: unclosed left paren");
    expect(parseError("{{.A)}}")).toBe("template: :1: unexpected right paren");
    expect(parseError("{{ ( ) }}")).toBe("template: :1: missing value for parenthesized pipeline");
    expect(parseError("{{.A | 1}}")).toBe("template: :1: non executable command in pipeline stage 2");
    expect(parseError("{{true.X}}")).toBe('template: :1: unexpected . after term "true"');
    expect(parseError("{{$a, $b := 1}}")).toBe("template: :1: too many declarations in command");
    expect(parseError("{{range $k, 1}}{{end}}")).toBe("template: :1: range can only initialize variables");
    expect(parseError("{{0x}}")).toBe('template: :1: illegal number syntax: "0x"');
    expect(parseError("{{3k}}")).toBe('template: :1: bad number syntax: "3k"');
    expect(parseError('{{"\\q"}}')).toBe("template: :1: invalid syntax");
    expect(parseError("a\nb\n{{end}}")).toBe("template: :3: unexpected {{end}}");
    const e = failure(() => compileTemplate("{{range .X}}"));
    expect(e.parse).toBe(true);
    expect(e.text("version")).toBe("template: version:1: unexpected EOF");
    // No rows, still an error: the template is compiled first.
    expect(() => renderFormatted("{{range .X}}", [])).toThrow("template: :1: unexpected EOF");
  });
  test("execution errors: location (line:byte column), the node, the reason", () => {
    const execError = (t: string, dot: unknown = container) => failure(() => render(t, dot));
    expect(execError("{{.Nope}}").message).toBe('template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type map[string]interface {}');
    expect(execError("{{.Config.Nope}}").message).toBe('template: :1:9: executing "" at <.Config.Nope>: can\'t evaluate field Nope in type map[string]interface {}');
    expect(execError("{{.State.Health.Status}}").message).toBe('template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status');
    expect(execError("{{.Name.X}}").message).toBe('template: :1:7: executing "" at <.Name.X>: can\'t evaluate field X in type string');
    expect(execError("é\n  {{len .State.ExitCode}}").message).toBe('template: :2:4: executing "" at <len .State.ExitCode>: error calling len: len of type int');
    expect(execError("{{index .Mounts 5}}").message).toBe('template: :1:2: executing "" at <index .Mounts 5>: error calling index: index out of range: 5');
    expect(execError('{{eq .State.Running "true"}}').message).toBe('template: :1:2: executing "" at <eq .State.Running "true">: error calling eq: incompatible types for comparison: bool and string');
    expect(execError("{{range .Name}}{{end}}").message).toBe('template: :1:8: executing "" at <.Name>: range can\'t iterate over /web');
    expect(execError("{{json}}").message).toBe('template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0');
    expect(execError('{{"x" | .Name}}').message).toBe('template: :1:8: executing "" at <.Name>: Name is not a method but has arguments');
    expect(execError("{{1 2}}").message).toBe('template: :1:2: executing "" at <1>: can\'t give argument to non-function 1');
    const e = execError("{{.Nope}}");
    expect(e.parse).toBe(false);
    expect(e.text("version")).toBe('template: version:1:2: executing "version" at <.Nope>: can\'t evaluate field Nope in type map[string]interface {}');
    expect(e.text("", true)).toBe('template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"');
  });
});

describe("template errors as the docker CLI reports them (defineCommand)", () => {
  const command = (name: string, rows: unknown[] = [{ A: 1 }]) => {
    let ran = false;
    const cmd = defineCommand({
      meta: { name, description: "", usage: "" },
      flags: { format: { type: "string" } },
      async run({ flags }) {
        ran = true;
        console.log(renderFormatted(flags.format, rows));
      },
    });
    const run = async (format: string): Promise<CliError> => {
      try {
        await cmd.run({ flags: { format }, args: [], global: {} });
      } catch (e) {
        return e as CliError;
      }
      throw new Error("expected an error");
    };
    return { run, ran: () => ran };
  };
  test("parse errors: before the command runs, with the command's prefix and exit code", async () => {
    const images = command("images", []);
    let e = await images.run("{{range .X}}");
    expect([e.message, e.exitCode, images.ran()]).toEqual(["template parsing error: template: :1: unexpected EOF", 1, false]);
    const inspect = command("inspect");
    e = await inspect.run("{{foo}}");
    expect([e.message, e.exitCode, inspect.ran()]).toEqual(['template parsing error: template: :1: function "foo" not defined', 64, false]);
    e = await command("ps").run("{{end}}");
    expect([e.message, e.exitCode]).toEqual(["failed to parse template: template: :1: unexpected {{end}}", 1]);
    e = await command("version").run("{{if}}");
    expect([e.message, e.exitCode]).toEqual(["template parsing error: template: version:1: missing value for if", 64]);
    e = await command("info").run("{{");
    expect([e.message, e.exitCode]).toEqual(["template parsing error: template: :1: unclosed action", 64]);
  });
  test("execution errors exit 1", async () => {
    let e = await command("inspect").run("{{.Nope}}");
    expect([e.message, e.exitCode]).toEqual(['template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"', 1]);
    e = await command("images").run("{{.Nope}}");
    expect(e.message).toBe('template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type map[string]interface {}');
    e = await command("ps").run("{{.Nope}}");
    expect(e.message).toStartWith("failed to execute template: template: :1:2:");
    e = await command("version").run("{{.Nope}}");
    expect([e.message, e.exitCode]).toEqual(['template: version:1:2: executing "version" at <.Nope>: can\'t evaluate field Nope in type map[string]interface {}', 1]);
  });
});
