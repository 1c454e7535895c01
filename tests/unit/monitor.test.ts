/**
 * The daemon's container monitor (src/engine/monitor.ts) on a temp data root: the events it publishes in
 * moby's shape when a container's shim records an exit, a restart or an OOM kill, what wait reads
 * (lastExit, dies, onChange), and reconcile at daemon start (adopting running containers, removing --rm
 * ones that exited meanwhile). The shim is played by the test: status.json written as the shim writes it,
 * with a live process of the test's as the container's. No root needed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../../src/engine/engine.ts";
import { createContainer } from "../../src/engine/containers/manager.ts";
import { eventsOf, type EngineEvent } from "../../src/engine/events.ts";
import { installEventSink, monitorOf } from "../../src/engine/monitor.ts";
import { processStartTime } from "../../src/engine/runtime/status.ts";
import { UnitBed } from "../helpers/unit-engine.ts";

const bed = new UnitBed();
const procs = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => {
  for (const p of procs) p.kill("SIGKILL");
  bed.stop();
});
let image: string;
let seed: Engine;
beforeAll(async () => {
  seed = bed.engine();
  await bed.image(seed, "lib/img", "1", [{ "x": "x" }], { Cmd: ["/x"] });
  image = `${bed.registry.host}/lib/img:1`;
});

/** An engine with the image, its events collected (container events only). */
async function engineWithEvents() {
  const e = bed.engine();
  await bed.image(e, "lib/img", "1", [{ "x": "x" }], { Cmd: ["/x"] });
  const events: EngineEvent[] = [];
  eventsOf(e).subscribe((ev) => ev.Type === "container" && events.push(ev));
  return { e, events, mon: installEventSink(e) };
}

/** Writes status.json as the shim does (rename: a new inode each time). */
function writeStatus(dir: string, s: Record<string, unknown>) {
  writeFileSync(join(dir, "status.json.tmp"), JSON.stringify({ running: false, restarting: false, pid: 0, pidStart: 0, supervisorPid: process.pid, guardianPid: 0, startedAt: "", finishedAt: "", exitCode: null, restartCount: 0, error: "", ...s }));
  renameSync(join(dir, "status.json.tmp"), join(dir, "status.json"));
}

/** A live process recorded as the container's running init. */
function running(dir: string, startedAt = new Date().toISOString()) {
  const p = Bun.spawn(["sleep", "60"]);
  procs.add(p);
  writeStatus(dir, { running: true, pid: p.pid, pidStart: processStartTime(p.pid), startedAt });
  return { p, startedAt };
}

/** Resolves on the next change the monitor reports for `id`. */
const nextChange = (mon: ReturnType<typeof monitorOf>, id: string) =>
  new Promise<void>((resolve) => {
    const off = mon.onChange(id, () => {
      off();
      resolve();
    });
  });

const summary = (events: EngineEvent[]) => events.map((ev) => [ev.Action, ev.Actor.Attributes.exitCode ?? ""]);

test("the sink reshapes the manager's events: labels, image and name as attributes", async () => {
  const { e, events } = await engineWithEvents();
  const c = await createContainer(e, { image, name: "web", networkMode: "none", labels: { team: "a" } });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ Type: "container", Action: "create", Actor: { ID: c.id, Attributes: { team: "a", image, name: "web" } }, scope: "local" });
});

test("an exit recorded by the shim becomes die with exitCode and execDuration; wait's readers see it", async () => {
  const { e, events, mon } = await engineWithEvents();
  const c = await createContainer(e, { image, name: "job", networkMode: "none", labels: { k: "v" } });
  const startedAt = new Date(Date.now() - 3500).toISOString();
  const { p } = running(c.dir, startedAt);
  e.events.publish({ Type: "container", Action: "start", id: c.id, from: image, name: "job" });
  expect(mon.dies(c.id)).toBe(0);
  const changed = nextChange(mon, c.id);
  p.kill("SIGKILL");
  await p.exited;
  writeStatus(c.dir, { running: false, pid: p.pid, startedAt, finishedAt: new Date().toISOString(), exitCode: 42 });
  await changed;
  expect(mon.lastExit(c.id)).toBe(42);
  expect(mon.dies(c.id)).toBe(1);
  expect(summary(events)).toEqual([["create", ""], ["start", ""], ["die", "42"]]);
  const die = events.at(-1)!;
  expect(die.Actor.Attributes).toMatchObject({ k: "v", image, name: "job", exitCode: "42", execDuration: "3" });
});

test("a restart by the shim (new start time) is die then start; an OOM kill publishes oom before die", async () => {
  const { e, events, mon } = await engineWithEvents();
  const c = await createContainer(e, { image, networkMode: "none", restart: { Name: "always", MaximumRetryCount: 0 } });
  const first = running(c.dir, new Date(Date.now() - 1000).toISOString());
  e.events.publish({ Type: "container", Action: "start", id: c.id, from: image, name: c.name });
  let changed = nextChange(mon, c.id);
  const second = running(c.dir, new Date().toISOString()).p; // restarted by the shim before the poll saw the exit
  first.p.kill("SIGKILL");
  await changed;
  expect(summary(events)).toEqual([["create", ""], ["start", ""], ["die", "0"], ["start", ""]]);
  expect(mon.dies(c.id)).toBe(1);
  changed = nextChange(mon, c.id);
  second.kill("SIGKILL");
  await second.exited;
  writeStatus(c.dir, { running: false, pid: second.pid, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 137, oomKilled: true });
  await changed;
  expect(summary(events).slice(4)).toEqual([["oom", ""], ["die", "137"]]);
  expect(mon.lastExit(c.id)).toBe(137);
});

test("stop and destroy from the manager come after the die the monitor had not yet seen", async () => {
  const { e, events } = await engineWithEvents();
  const c = await createContainer(e, { image, networkMode: "none" });
  const { p, startedAt } = running(c.dir);
  e.events.publish({ Type: "container", Action: "start", id: c.id, from: image, name: c.name });
  p.kill("SIGKILL");
  await p.exited;
  writeStatus(c.dir, { running: false, pid: p.pid, startedAt, finishedAt: new Date().toISOString(), exitCode: 1 });
  // Published at once, before the monitor's next tick: the sink checks the container first.
  e.events.publish({ Type: "container", Action: "stop", id: c.id, from: image, name: c.name });
  expect(summary(events)).toEqual([["create", ""], ["start", ""], ["die", "1"], ["stop", ""]]);
});

test("reconcile at daemon start adopts running containers and removes --rm ones that exited meanwhile", async () => {
  const { e, events, mon } = await engineWithEvents();
  const live = await createContainer(e, { image, networkMode: "none" });
  const gone = await createContainer(e, { image, networkMode: "none", autoRemove: true });
  const kept = await createContainer(e, { image, networkMode: "none" });
  const { p, startedAt } = running(live.dir);
  writeStatus(gone.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 0 });
  writeStatus(kept.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 2 });
  events.length = 0;
  await mon.reconcile();
  expect(e.containers.lookup(gone.id)).toBeUndefined();
  expect(e.containers.lookup(kept.id)?.id).toBe(kept.id);
  expect(summary(events)).toEqual([["destroy", ""]]);
  expect(events[0]!.Actor.ID).toBe(gone.id);
  // The adopted one is watched: its exit is seen.
  const changed = nextChange(mon, live.id);
  p.kill("SIGKILL");
  await p.exited;
  writeStatus(live.dir, { running: false, pid: p.pid, startedAt, finishedAt: new Date().toISOString(), exitCode: 7 });
  await changed;
  expect(summary(events)).toEqual([["destroy", ""], ["die", "7"]]);
});

test("an exited --rm container the monitor watched is removed, with destroy after die", async () => {
  const { e, events, mon } = await engineWithEvents();
  const c = await createContainer(e, { image, networkMode: "none", autoRemove: true });
  const { p, startedAt } = running(c.dir);
  e.events.publish({ Type: "container", Action: "start", id: c.id, from: image, name: c.name });
  const removed = new Promise<void>((resolve) => {
    const off = eventsOf(e).subscribe((ev) => {
      if (ev.Action === "destroy") {
        off();
        resolve();
      }
    });
  });
  p.kill("SIGKILL");
  await p.exited;
  writeStatus(c.dir, { running: false, pid: p.pid, startedAt, finishedAt: new Date().toISOString(), exitCode: 0 });
  await removed;
  expect(summary(events)).toEqual([["create", ""], ["start", ""], ["die", "0"], ["destroy", ""]]);
  expect(e.containers.lookup(c.id)).toBeUndefined();
  expect(mon.lastExit(c.id)).toBe(0);
});

test("a HEALTHCHECK status the shim records becomes moby's health_status: healthy / unhealthy; starting and a stop's unhealthy do not", async () => {
  const { e, events } = await engineWithEvents();
  const c = await createContainer(e, { image, name: "hc", networkMode: "none", healthcheck: { Test: ["CMD", "true"] } });
  const { p, startedAt } = running(c.dir);
  const run = { running: true, pid: p.pid, pidStart: processStartTime(p.pid), startedAt };
  writeStatus(c.dir, { ...run, health: "starting" });
  e.events.publish({ Type: "container", Action: "start", id: c.id, from: image, name: "hc" });
  const seen = async (n: number) => {
    for (let i = 0; i < 100 && events.length < n; i++) await Bun.sleep(20);
  };
  writeStatus(c.dir, { ...run, health: "healthy" });
  await seen(3);
  writeStatus(c.dir, { ...run, health: "unhealthy" });
  await seen(4);
  p.kill("SIGKILL");
  await p.exited;
  writeStatus(c.dir, { ...run, running: false, finishedAt: new Date().toISOString(), exitCode: 137, health: "unhealthy" });
  await seen(5);
  await Bun.sleep(300);
  expect(summary(events)).toEqual([["create", ""], ["start", ""], ["health_status: healthy", ""], ["health_status: unhealthy", ""], ["die", "137"]]);
  expect(events[2]!.Actor.Attributes).toMatchObject({ image, name: "hc" });
});
