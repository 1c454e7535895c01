/** .dockerignore as moby's patternmatcher reads and applies it. */
import { describe, expect, test } from "bun:test";
import { cleanPath, Dockerignore, readDockerignore } from "../../src/engine/build/dockerignore.ts";

const ignore = (text: string) => new Dockerignore(readDockerignore(text));

describe(".dockerignore", () => {
  test("reading: comments, blanks, spaces, exceptions, cleaned paths without a leading /", () => {
    expect(readDockerignore("\uFEFF# comment\n\n  *.md  \n! keep.md\n/abs/./x/../y\n./rel\n")).toEqual(["*.md", "!keep.md", "abs/y", "rel"]);
    expect([cleanPath("a//b/./c/.."), cleanPath("../a"), cleanPath("/.."), cleanPath("")]).toEqual(["a/b", "../a", "/", "."]);
  });

  test("globs: * and ? stay inside a component, ** crosses directories, classes and escapes", () => {
    const i = ignore("*.md\n**/*.log\nsrc/?.tmp\n[ab]*.bin\nlit\\*eral");
    expect(["README.md", "docs/x.md", "x.log", "a/b/c.log", "src/1.tmp", "src/12.tmp", "a.bin", "c.bin", "lit*eral", "litXeral"].map((p) => [p, i.excludes(p)])).toEqual([
      ["README.md", true],
      ["docs/x.md", false],
      ["x.log", true],
      ["a/b/c.log", true],
      ["src/1.tmp", true],
      ["src/12.tmp", false],
      ["a.bin", true],
      ["c.bin", false],
      ["lit*eral", true],
      ["litXeral", false],
    ]);
    expect(ignore("a/**").excludes("a/b/c")).toBe(true);
    expect(ignore("**").excludes("anything/at/all")).toBe(true);
  });

  test("a matching parent directory excludes what is below it; the last matching pattern wins", () => {
    const i = ignore("node_modules\ndocs\n!docs/keep.md\n*\n!src\nsrc/gen");
    expect(i.excludes("node_modules/a/b.js")).toBe(true);
    expect(i.excludes("docs/other.md")).toBe(true);
    expect(i.excludes("docs/keep.md")).toBe(true); // "*" after the exception excludes it again
    expect(i.excludes("src/main.ts")).toBe(false);
    expect(i.excludes("src/gen/x.ts")).toBe(true);
    const j = ignore("docs\n!docs/keep.md");
    expect([j.excludes("docs/keep.md"), j.excludes("docs/other.md")]).toEqual([false, true]);
  });

  test("a walk may skip an excluded directory only when no exception can reach inside it", () => {
    expect(ignore("node_modules").skipsDirectory("node_modules")).toBe(true);
    expect(ignore("docs\n!docs/keep.md").skipsDirectory("docs")).toBe(false);
    expect(ignore("docs\n!other/keep.md").skipsDirectory("docs")).toBe(true);
    expect(ignore("*\n!**/keep").skipsDirectory("any")).toBe(false);
    expect(ignore("src").skipsDirectory("lib")).toBe(false);
  });
});
