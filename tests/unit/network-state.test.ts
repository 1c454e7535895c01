import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/engine/config.ts";
import { Engine } from "../../src/engine/engine.ts";
import { listNetworks } from "../../src/engine/network/index.ts";

const dirs: string[] = [];
const engines: Engine[] = [];
afterAll(() => {
  for (const e of engines) e.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An engine on a fresh data root of its own. */
function engineOnNewRoot(): Engine {
  const dir = mkdtempSync(join(tmpdir(), "bunker-netstate-"));
  dirs.push(dir);
  const e = new Engine(loadConfig({ "data-root": dir }, {}));
  engines.push(e);
  return e;
}

test("each engine of a process gets its own built-in networks (the once-only checks are per engine)", () => {
  const a = engineOnNewRoot();
  expect(listNetworks(a).map((n) => n.Name).sort()).toEqual(["bridge", "host", "none"]);
  const b = engineOnNewRoot();
  expect(listNetworks(b).map((n) => n.Name).sort()).toEqual(["bridge", "host", "none"]);
  expect(listNetworks(b)[0]!.Id).not.toBe(listNetworks(a)[0]!.Id);
});
