import { describe, expect, test } from "bun:test";
import { humanSize, binarySize, goG, humanDuration, table, renderFormatted, compileTemplate, naturalCompare } from "../../src/commands/_output.ts";

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
