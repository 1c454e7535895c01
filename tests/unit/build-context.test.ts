/** The build context: sources resolved inside it, wildcards, .dockerignore, and content checksums. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuildContext, SourceNotFoundError } from "../../src/engine/build/context.ts";
import { Dockerignore, readDockerignore } from "../../src/engine/build/dockerignore.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-ctx-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function context(files: Record<string, string | { link: string }>, ignore = ""): BuildContext {
  const root = join(tmp, `c${n++}`);
  mkdirSync(root);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    if (typeof v === "string") writeFileSync(join(root, p), v);
    else symlinkSync(v.link, join(root, p));
  }
  return new BuildContext(root, new Dockerignore(readDockerignore(ignore)));
}

describe("build context", () => {
  test("sources are cleaned as if the context were / and symlinks resolve inside it", () => {
    const c = context({ "a.txt": "a", "dir/b": "b", "abs-link": { link: "/etc" }, "up-link": { link: "../../../dir" }, "etc/passwd": "context's own" });
    expect(c.sources("../../a.txt")).toEqual([{ name: "a.txt", real: "a.txt" }]);
    expect(c.sources("/dir/")).toEqual([{ name: "dir", real: "dir" }]);
    // /etc of the host is never reached: an absolute target starts again at the context root.
    expect(c.sources("abs-link/passwd")).toEqual([{ name: "abs-link/passwd", real: "etc/passwd" }]);
    expect(c.sources("up-link/b")).toEqual([{ name: "up-link/b", real: "dir/b" }]);
    expect(() => c.sources("nope")).toThrow(SourceNotFoundError);
    expect(() => c.sources("abs-link/shadow")).toThrow('"/abs-link/shadow": not found');
  });

  test("wildcards per component, sorted; .dockerignore hides matches and named paths", () => {
    const c = context({ "a.txt": "", "b.txt": "", "c.md": "", "sub/x.txt": "", "secret.txt": "" }, "secret.txt\n");
    expect(c.sources("*.txt").map((s) => s.name)).toEqual(["a.txt", "b.txt"]);
    expect(c.sources("s*/*.txt").map((s) => s.name)).toEqual(["sub/x.txt"]);
    expect(() => c.sources("secret.txt")).toThrow(SourceNotFoundError);
    expect(() => c.sources("*.none")).toThrow(SourceNotFoundError);
  });

  test("walks skip ignored paths but keep exceptions below an ignored directory", () => {
    const c = context({ "docs/keep.md": "", "docs/drop.md": "", "node_modules/m/i.js": "", "src/a.ts": "" }, "docs\n!docs/keep.md\nnode_modules\n");
    expect([...c.walk("")].map((e) => e.rel)).toEqual(["", "docs/keep.md", "src", "src/a.ts"]);
  });

  test("checksums follow content, mode and names, not mtimes or ignored files", () => {
    const c = context({ "app/main.ts": "one", "app/ignored.log": "x" }, "**/*.log\n");
    const first = c.checksum(["app"]);
    utimesSync(join(c.root, "app/main.ts"), 1, 1);
    writeFileSync(join(c.root, "app/ignored.log"), "changed");
    expect(c.checksum(["app"])).toBe(first);
    chmodSync(join(c.root, "app/main.ts"), 0o755);
    const moded = c.checksum(["app"]);
    expect(moded).not.toBe(first);
    writeFileSync(join(c.root, "app/main.ts"), "two");
    expect(c.checksum(["app"])).not.toBe(moded);
  });
});
