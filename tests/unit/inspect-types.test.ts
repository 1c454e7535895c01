/**
 * Inspect templates as the docker CLI runs them (src/commands/_inspect-types.ts, GO_TYPED in
 * src/go/template/exec.ts): the typed pass reads an omitted field as its Go zero and a null map or slice as
 * empty, prints times and durations as Go does, and a template failing there is run on the raw JSON, whose
 * error is the one reported. The figures are what docker CLI 28.2 printed for the same JSON (also checked
 * end to end in serve-docker-cli.test.ts).
 */
import { expect, test } from "bun:test";
import { compileTemplate, renderFormatted, renderInspect } from "../../src/commands/_output.ts";
import { goDuration, goTime, typedView } from "../../src/commands/_inspect-types.ts";
import { TemplateError } from "../../src/go/template/index.ts";

const container = () => ({
  Id: "c1",
  State: { Status: "created", Running: false },
  Config: { Env: ["A=1"], Cmd: ["true"], Volumes: null, OnBuild: null, Labels: {}, Healthcheck: { Test: ["CMD", "true"], Interval: 90e9, Timeout: 1.5e9 } },
  HostConfig: { Links: null, Binds: null },
});

/** One object through `format` as `inspect` renders it: its output, or the TemplateError it raised. */
function render(format: string, v: unknown): string {
  const t = compileTemplate(format);
  try {
    return t.render(v, true);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return t.render(v);
  }
}

test("omitted fields read as their zero, null maps and slices as empty, durations as Go prints them", () => {
  const c = typedView("container", container());
  expect(render("{{.State.Health}}|{{.SizeRw}}|{{.Config.Shell}}|{{.Config.StopSignal}}|{{.Config.ArgsEscaped}}|{{.Config.ExposedPorts}}", c)).toBe("<nil>|<nil>|[]||false|map[]");
  expect(render("{{.Config.Volumes}}|{{.Config.OnBuild}}|{{.HostConfig.Links}}|{{.HostConfig.Annotations}}", c)).toBe("map[]|[]|[]|map[]");
  expect(render("{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} {{.Config.Healthcheck.StartPeriod}} {{.Config.Healthcheck.Retries}}", c)).toBe("1m30s 1.5s 0s 0");
  // JSON and range see only the data: the marks are a symbol.
  expect(render("{{json .Config.Volumes}} {{json .HostConfig}}", c)).toBe('null {"Links":null,"Binds":null}');
  expect(renderFormatted("json", [c])).toBe(JSON.stringify(container()));
  expect(render("{{range $k, $v := .State}}{{$k}};{{end}}", c)).toBe("Running;Status;");
});

test("a template the typed pass cannot run is run on the raw JSON, whose error is reported", () => {
  const c = typedView("container", container());
  // docker: nil pointer in the typed pass, then the raw JSON's missing key.
  let err: unknown;
  try {
    render("{{.State.Health.Status}}", c);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TemplateError);
  expect((err as TemplateError).text("", true)).toBe('template: :1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"');
  // A field neither the struct nor the JSON has.
  expect(() => render("{{.Node}}", c)).toThrow(TemplateError);
  // Without marks (networks, volumes) nothing changes: the raw JSON only.
  expect(() => render("{{.Config.Shell}}", container())).toThrow(TemplateError);
});

test("renderInspect: output in order, failing objects print nothing, their errors after; nothing printed is an empty line", async () => {
  const results = [{ kind: "container" as const, value: { ...container(), Name: "/a" } }, { error: "Error: No such object: nope" }, { kind: "container" as const, value: { ...container(), Name: "/b", State: { Health: { Status: "healthy" } } } }];
  expect(await renderInspect(results, "{{.Name}} {{.State.Health.Status}}")).toEqual({
    output: "/b healthy",
    errors: ['template parsing error: template: :1:18: executing "" at <.State.Health.Status>: map has no entry for key "Health"', "Error: No such object: nope"],
  });
  expect(await renderInspect([{ error: "Error: No such object: x" }], "{{.Id}}")).toEqual({ output: "", errors: ["Error: No such object: x"] });
  expect((await renderInspect([{ value: { Name: "n" } }])).output).toBe('[\n    {\n        "Name": "n"\n    }\n]');
});

test("an image's Variant and Metadata.LastTagTime", () => {
  const img = typedView("image", { Os: "linux", Architecture: "amd64", Config: {}, Metadata: { LastTagTime: "2026-12-07T20:39:31.127Z" } });
  expect(render("{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", img)).toBe("linux/amd64");
  expect(render("{{.Metadata.LastTagTime}}|{{.Descriptor}}|{{.Manifests}}|{{.Config.Cmd}}|{{.Config.Healthcheck}}", img)).toBe("2026-12-07 20:39:31.127 +0000 UTC|<nil>|[]|[]|<nil>");
});

test("Go's time.Time and time.Duration strings", () => {
  expect(goTime("0001-01-01T00:00:00Z")).toBe("0001-01-01 00:00:00 +0000 UTC");
  expect(goTime("2026-12-07T20:39:31.100000000Z")).toBe("2026-12-07 20:39:31.1 +0000 UTC");
  expect(goTime("not a time")).toBe("not a time");
  const cases: [number, string][] = [[0, "0s"], [1, "1ns"], [1500, "1.5µs"], [2e6, "2ms"], [1.5e9, "1.5s"], [60e9, "1m0s"], [90e9, "1m30s"], [3600e9, "1h0m0s"], [3723.5e9, "1h2m3.5s"], [-5e9, "-5s"]];
  for (const [ns, s] of cases) expect(goDuration(ns)).toBe(s);
});
