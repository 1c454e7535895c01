import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/engine/config.ts";
import { Engine } from "../../src/engine/engine.ts";
import { listNetworks } from "../../src/engine/network/index.ts";
import { deadIntents } from "../../src/engine/network/pending.ts";
import { processStartTime } from "../../src/engine/runtime/status.ts";

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

test("an intent file counts as a crash only while it is still there once its process is gone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bunker-intents-"));
  dirs.push(dir);
  // A real process that has exited: its start time was read while it ran.
  const p = Bun.spawn(["sleep", "0.2"]);
  const name = `${p.pid}-${processStartTime(p.pid)}`;
  writeFileSync(join(dir, name), "");
  const self = `${process.pid}-${processStartTime(process.pid)}`;
  writeFileSync(join(dir, self), "");
  const names = readdirSync(dir);
  await p.exited;
  expect(deadIntents(dir, names)).toEqual([name]); // died with its file: a crash
  rmSync(join(dir, name)); // it finished its change and exited after the readdir: no crash
  expect(deadIntents(dir, names)).toEqual([]);
});
