/**
 * The shape of src/, checked (in the spirit of go-containerregistry's depcheck): each layer imports only the
 * layers below it (commands -> api -> engine, server -> engine, never back), the top-level folders have no
 * import cycle, bun:ffi stays in src/sys/linux.ts, exit codes (CliError) stay in src/commands, and every
 * dependency package.json declares is imported.
 */
import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = join(import.meta.dir, "../..");

/** Every import of a file, static, dynamic, type-only or require(), with comments removed first. */
function importsOf(code: string): string[] {
  const bare = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const re = /\b(?:import|export)\s[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
  return [...bare.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]);
}

interface Edge {
  from: string;
  to: string;
}

/** src/ file -> what it imports: a path relative to the repository for a relative import, else the bare name. */
const edges: Edge[] = [];
for (const file of new Glob("src/**/*.ts").scanSync(root)) {
  for (const spec of importsOf(readFileSync(join(root, file), "utf8"))) {
    edges.push({ from: file, to: spec.startsWith(".") ? relative(root, join(root, dirname(file), spec)) : spec });
  }
}

/** The layer of a src/ path: its top-level folder, or the file itself at the top (main.ts, version.ts, jit.ts). */
function layerOf(path: string): string {
  const [top, second] = path.split("/");
  if (top !== "src") return path;
  return second!.endsWith(".ts") ? second!.replace(/\.ts$/, "") : second!;
}

/** What each layer may import (besides itself, node:/bun builtins and npm packages). */
const allowed: Record<string, string[]> = {
  main: ["commands"],
  version: [],
  jit: [],
  sys: [],
  // Go's behaviour (text/template, strconv, time layouts, durations): a leaf every layer may use.
  go: [],
  fs: ["sys"],
  engine: ["fs", "sys", "go", "version", "jit"],
  api: ["engine", "fs", "sys", "go", "version", "jit"],
  server: ["api", "engine", "fs", "sys", "go", "version", "jit"],
  commands: ["api", "server", "engine", "fs", "sys", "go", "version", "jit", "compose"],
  // Compose projects (loading, then orchestration over the Backend): between the commands and the api.
  compose: ["api", "engine", "go", "version"],
};

/** The only modules of a layer another layer may reach into, where it is not the whole layer. */
const narrow: Record<string, Record<string, string[]>> = {
  // The server shares the wire contract with the client, nothing else of it.
  server: { api: ["src/api/wire.ts"] },
  // Only `bunker serve` starts the daemon; every other command goes through a Backend.
  commands: { server: ["src/server/daemon.ts"] },
  // Compose drives containers through the Backend only; of the engine, errors and pure helpers.
  compose: { api: ["src/api/backend.ts", "src/api/wire.ts"], engine: ["src/engine/errors.ts", "src/engine/units.ts"] },
};

const local = edges.filter((e) => e.to.startsWith("src/"));

describe("dependencies", () => {
  test("each layer imports only the layers below it", () => {
    const bad: string[] = [];
    for (const { from, to } of local) {
      const a = layerOf(from);
      const b = layerOf(to);
      if (a === b) continue;
      if (!(a in allowed)) bad.push(`${from}: unknown layer ${a}`);
      else if (!allowed[a]!.includes(b)) bad.push(`${from} -> ${to}`);
      else if (narrow[a]?.[b] && !narrow[a]![b]!.includes(to)) bad.push(`${from} -> ${to} (only ${narrow[a]![b]!.join(", ")})`);
    }
    expect(bad).toEqual([]);
  });

  test("no import cycle between the top-level folders of src/", () => {
    const graph = new Map<string, Set<string>>();
    for (const { from, to } of local) {
      const a = layerOf(from);
      const b = layerOf(to);
      if (a !== b) graph.set(a, (graph.get(a) ?? new Set()).add(b));
    }
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (path.includes(node)) return void cycles.push([...path.slice(path.indexOf(node)), node].join(" -> "));
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect([...new Set(cycles)]).toEqual([]);
  });

  test("only src/sys/linux.ts imports bun:ffi", () => {
    expect(edges.filter((e) => e.to === "bun:ffi").map((e) => e.from)).toEqual(["src/sys/linux.ts"]);
  });

  test("exit codes stay in the command layer: CliError is used only in src/commands/", () => {
    const users = [...new Glob("src/**/*.ts").scanSync(root)].filter((f) => /\bCliError\b/.test(readFileSync(join(root, f), "utf8")));
    expect(users.filter((f) => !f.startsWith("src/commands/"))).toEqual([]);
    expect(users).toContain("src/commands/_cli.ts");
  });

  test("every dependency in package.json is imported somewhere in src/", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    const used = new Set(edges.map((e) => e.to.split("/").slice(0, e.to.startsWith("@") ? 2 : 1).join("/")));
    expect(Object.keys(pkg.dependencies ?? {}).filter((d) => !used.has(d))).toEqual([]);
  });

  test("the import scanner sees every form of import", () => {
    const code = `import a from "./a.ts";\nimport type { B } from "../b.ts";\nexport { c } from "./c.ts";\nimport "./d.ts";\nconst e = () => import("./e.ts");\nconst f = require("f");\n// import x from "./comment.ts";\n/** import("./doc.ts") */`;
    expect(importsOf(code).sort()).toEqual(["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./e.ts", "f"]);
  });
});
