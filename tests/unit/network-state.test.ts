import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/engine/config.ts";
import { Engine } from "../../src/engine/engine.ts";
import { listNetworks } from "../../src/engine/network/index.ts";
import { deadIntents } from "../../src/engine/network/pending.ts";
import { hostLock, hostLockAsync } from "../../src/engine/network/program.ts";
import { RUN_DIR } from "../../src/engine/network/roots.ts";
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

// Host changes await their spawns (the event loop stays free); the flock still serialises them with other
// processes, a queue with the other changes of this process, and the synchronous lock (crash recovery) refuses
// rather than spin on a lock its own process holds (it would never be released).
test.skipIf(process.getuid?.() !== 0)("the asynchronous host lock: one change at a time in a process and across processes", async () => {
  const order: string[] = [];
  const first = hostLockAsync(async () => {
    order.push("first in");
    await Bun.sleep(20);
    order.push("first out");
  });
  const second = hostLockAsync(async () => void order.push("second"));
  expect(() => hostLock(() => 0)).toThrow("held by an asynchronous change of this process");
  await Promise.all([first, second]);
  expect(order).toEqual(["first in", "first out", "second"]);
  expect(hostLock(() => 1)).toBe(1);
  // A failed change releases the lock for the next one.
  await expect(hostLockAsync(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  // Another process holds the flock: the change waits for it, while the event loop runs on.
  const holder = Bun.spawn(["flock", "-o", join(RUN_DIR, "network.lock"), "-c", "echo locked; read x"], { stdin: "pipe", stdout: "pipe" });
  try {
    expect(new TextDecoder().decode((await holder.stdout.getReader().read()).value)).toBe("locked\n");
    let entered = false;
    const waiting = hostLockAsync(async () => void (entered = true));
    let ticks = 0;
    for (let i = 0; i < 5; i++) await Bun.sleep(10).then(() => ticks++);
    expect([ticks, entered]).toEqual([5, false]);
    holder.stdin.end();
    await waiting;
    expect(entered).toBe(true);
  } finally {
    holder.stdin.end();
    await holder.exited;
  }
});
