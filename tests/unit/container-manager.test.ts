/**
 * The container manager (src/engine/containers/manager.ts) on a temp data root: what create records and
 * refuses, names, and the state transitions stop/kill/wait/rm/prune/rename. The shim is played by the test
 * at its boundary (fakeShim): a real `sleep` process is the container's process, and status.json is written
 * as the shim writes it. Only the start test needs root (planFor creates the container's cgroups); the
 * runtime start itself is faked through startContainer's `runtime` parameter.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine, EngineEvent } from "../../src/engine/engine.ts";
import { createContainer, killContainer, pruneContainers, reapAutoRemoved, removeContainer, renameContainer, startContainer, stopContainer, waitContainer } from "../../src/engine/containers/manager.ts";
import { processStartTime, readContainerStatus } from "../../src/engine/runtime/status.ts";
import type { ContainerPlan } from "../../src/engine/runtime/spec.ts";
import { UnitBed } from "../helpers/unit-engine.ts";

const bed = new UnitBed();
const procs = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => {
  for (const p of procs) p.kill("SIGKILL");
  bed.stop();
});
const host = bed.registry.host;
let e: Engine;
let image: string;
const events: EngineEvent[] = [];
beforeAll(async () => {
  e = bed.engine();
  e.events = { publish: (ev) => events.push(ev) };
  await bed.image(e, "lib/img", "1", [{ "bin/x": "x" }, { "etc/y": "y" }], { Cmd: ["/bin/x", "arg"], Env: ["PATH=/bin", "A=image"], WorkingDir: "/srv", Labels: { from: "image" }, ExposedPorts: { "80/tcp": {} } });
  image = `${host}/lib/img:1`;
});

/** Writes status.json as the shim does (a rename, so a reader never sees it torn). */
function writeStatus(dir: string, s: Record<string, unknown>) {
  writeFileSync(join(dir, "status.json.tmp"), JSON.stringify({ running: false, restarting: false, pid: 0, pidStart: 0, supervisorPid: process.pid, guardianPid: 0, startedAt: "", finishedAt: "", exitCode: null, restartCount: 0, error: "", ...s }));
  renameSync(join(dir, "status.json.tmp"), join(dir, "status.json"));
}

/** Plays the shim for a container: `sleep` runs as its process; its exit is recorded with the shell's exit code. */
function fakeShim(dir: string): ReturnType<typeof Bun.spawn> {
  const p = Bun.spawn(["sleep", "60"], { stdout: "ignore", stderr: "ignore" });
  procs.add(p);
  const startedAt = new Date().toISOString();
  writeStatus(dir, { running: true, pid: p.pid, pidStart: processStartTime(p.pid), startedAt });
  void p.exited.then((code) => {
    const sig = p.signalCode ? (require("node:os").constants.signals as Record<string, number>)[p.signalCode]! : 0;
    writeStatus(dir, { running: false, pid: p.pid, startedAt, finishedAt: new Date().toISOString(), exitCode: sig ? 128 + sig : code });
    procs.delete(p);
  });
  return p;
}

test("create merges the image config with the options and records row, files and event", async () => {
  events.length = 0;
  const c = await createContainer(e, { image, name: "web", env: ["A=user", "B=2"], labels: { mine: "yes" }, workdir: "/tmp/x/", networkMode: "none", exposedPorts: ["53/udp"] });
  expect(c.name).toBe("web");
  expect(c.id).toMatch(/^[0-9a-f]{64}$/);
  expect(c.path).toBe("/bin/x");
  expect(c.args).toEqual(["arg"]);
  expect(c.config.Env).toEqual(["PATH=/bin", "A=user", "B=2"]);
  expect(c.config.WorkingDir).toBe("/tmp/x");
  expect(c.config.Labels).toEqual({ from: "image", mine: "yes" });
  expect(c.config.Hostname).toBe(c.id.slice(0, 12));
  expect(c.config.ExposedPorts).toEqual({ "80/tcp": {}, "53/udp": {} });
  expect(c.hostConfig.NetworkMode).toBe("none");
  expect(c.hostConfig.ShmSize).toBe(64 * 1024 * 1024);
  expect(c.hostConfig.RestartPolicy).toEqual({ Name: "no", MaximumRetryCount: 0 });
  expect(e.containers.resolve("web").id).toBe(c.id);
  expect(e.containers.resolve(c.id.slice(0, 10)).id).toBe(c.id);
  // The overlay's lower dirs are the image's layers, top first; the config file names the container.
  const overlay = e.root.layerDir(c.id);
  expect(readFileSync(join(overlay, "lower"), "utf8")).toBe(e.layers.diffDirs(c.topLayer).join(":"));
  expect(readFileSync(join(overlay, "lower"), "utf8").split(":")).toHaveLength(2);
  expect(JSON.parse(readFileSync(join(c.dir, "config.v2.json"), "utf8")).Name).toBe("/web");
  expect(readContainerStatus(c.dir)).toEqual({ running: false, restarting: false, restartCount: 0 });
  expect(events).toEqual([{ Type: "container", Action: "create", id: c.id, from: image, name: "web", labels: { from: "image", mine: "yes" } }]);
});

test("an entrypoint drops the image's Cmd; an empty one clears the image's", async () => {
  const a = await createContainer(e, { image, entrypoint: "/bin/sh", networkMode: "none" });
  expect([a.path, ...a.args]).toEqual(["/bin/sh"]);
  expect(a.config.Cmd).toBeNull();
  const b = await createContainer(e, { image, entrypoint: ["/e", "-x"], cmd: ["c"], networkMode: "none" });
  expect([b.path, ...b.args]).toEqual(["/e", "-x", "c"]);
  await expect(createContainer(e, { image, entrypoint: "", networkMode: "none" })).rejects.toThrow("No command specified");
});

test("names: random ones are adjective_scientist, taken and invalid ones are refused with moby's text", async () => {
  const a = await createContainer(e, { image, networkMode: "none" });
  expect(a.name).toMatch(/^[a-z]+_[a-z]+$/);
  const web = e.containers.resolve("web");
  await expect(createContainer(e, { image, name: "/web", networkMode: "none" })).rejects.toThrow(`Conflict. The container name "/web" is already in use by container "${web.id}". You have to remove (or rename) that container to be able to reuse that name.`);
  await expect(createContainer(e, { image, name: "-bad", networkMode: "none" })).rejects.toThrow("Invalid container name (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  const before = e.containers.all().length;
  await expect(createContainer(e, { image, name: "x", networkMode: "none" })).rejects.toThrow("Invalid container name (x)");
  expect(e.containers.all().length).toBe(before);
});

test.each([
  [{ workdir: "rel" }, "the working directory 'rel' is invalid, it needs to be an absolute path"],
  [{ env: ["=x"] }, "invalid environment variable: =x"],
  [{ hostname: "h".repeat(65) }, `hostname "${"h".repeat(65)}" is too long (maximum 64 bytes)`],
  [{ restart: { Name: "always", MaximumRetryCount: 3 } }, "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
  [{ restart: { Name: "on-failure", MaximumRetryCount: -1 } }, "invalid restart policy: maximum retry count cannot be negative"],
  [{ autoRemove: true, restart: { Name: "always", MaximumRetryCount: 0 } }, "can't create 'AutoRemove' container with restart policy"],
  [{ logConfig: { "max-file": "x" } }, 'strconv.Atoi: parsing "x": invalid syntax'],
  [{ logConfig: { tag: "t" } }, "log opt 'tag' is not supported by bunker"],
  [{ logConfig: { bogus: "1" } }, "unknown log opt 'bogus' for json-file log driver"],
  [{ resources: { Memory: 1024 } }, "Minimum memory limit allowed is 6MB"],
  [{ shmSize: -1 }, "SHM size can not be less than 0"],
  [{ securityOpt: ["seccomp=/x.json"] }, "custom seccomp profiles are not supported"],
  [{ platform: "linux/arm64" }, `image with reference ${"IMAGE"} was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)`],
] as [Record<string, unknown>, string][])("create refuses %j and records nothing", async (opts, message) => {
  const before = e.containers.all().length;
  const err = await createContainer(e, { image, networkMode: "none", ...opts }).then(() => undefined, (x: Error & { kind?: string }) => x);
  expect(err?.message).toContain(message.replace("IMAGE", image));
  expect(err?.kind).toBe(message.includes("platform") ? "notFound" : "invalidParameter");
  expect(e.containers.all().length).toBe(before);
});

test("stop signals the process, waits for the recorded exit, and publishes stop", async () => {
  const c = await createContainer(e, { image, networkMode: "none", stopSignal: "SIGTERM" });
  const p = fakeShim(c.dir);
  expect(readContainerStatus(c.dir)).toMatchObject({ running: true, pid: p.pid });
  await expect(removeContainer(e, c.id)).rejects.toThrow(`cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`);
  events.length = 0;
  expect(await stopContainer(e, c.id, { timeout: 5 })).toEqual({ wasRunning: true });
  expect(p.signalCode).toBe("SIGTERM");
  expect(readContainerStatus(c.dir)).toMatchObject({ running: false, exitCode: 143 });
  expect(existsSync(join(c.dir, "stop-requested"))).toBe(true); // no restart policy revives it
  expect(events.map((x) => x.Action)).toEqual(["stop"]);
  expect(await stopContainer(e, c.id)).toEqual({ wasRunning: false });
  expect(await waitContainer(e, c.id)).toBe(143);
});

test("stop -t 0 kills a process that ignores its stop signal", async () => {
  const c = await createContainer(e, { image, networkMode: "none", stopSignal: "SIGWINCH" });
  const p = fakeShim(c.dir);
  await stopContainer(e, c.id, { timeout: 0 });
  expect(p.signalCode).toBe("SIGKILL");
  expect(readContainerStatus(c.dir).exitCode).toBe(137);
});

test("kill sends the named signal; a stopped container cannot be killed", async () => {
  const c = await createContainer(e, { image, networkMode: "none" });
  const p = fakeShim(c.dir);
  const waited = waitContainer(e, c.id);
  await killContainer(e, c.id, "USR1");
  await p.exited;
  expect(p.signalCode).toBe("SIGUSR1");
  expect(await waited).toBe(128 + 10);
  await expect(killContainer(e, c.id)).rejects.toThrow(`cannot kill container: ${c.id}: container ${c.id} is not running`);
});

test("rm -f kills a running container and removes row, overlay and directory", async () => {
  const c = await createContainer(e, { image, networkMode: "none" });
  const p = fakeShim(c.dir);
  events.length = 0;
  await removeContainer(e, c.id, { force: true });
  expect(p.signalCode).toBe("SIGKILL");
  expect(e.containers.lookup(c.id)).toBeUndefined();
  expect(existsSync(c.dir)).toBe(false);
  expect(existsSync(e.root.layerDir(c.id))).toBe(false);
  expect(events.map((x) => x.Action)).toEqual(["destroy"]);
  expect(() => e.containers.resolve(c.id)).toThrow(`No such container: ${c.id}`);
});

test("rename changes the name and frees the old one; the same name is refused", async () => {
  const c = await createContainer(e, { image, name: "before", networkMode: "none" });
  renameContainer(e, "before", "after");
  expect(e.containers.resolve("after").id).toBe(c.id);
  expect(e.containers.lookup("before")).toBeUndefined();
  expect(() => renameContainer(e, "after", "after")).toThrow("Renaming a container with the same name as its current name");
  expect(() => renameContainer(e, "after", "web")).toThrow('Conflict. The container name "/web" is already in use');
});

test("prune removes created and exited containers, keeps running ones, and honours label filters", async () => {
  const f = bed.engine();
  await bed.image(f, "lib/img", "1", [{ "bin/x": "x" }], { Cmd: ["/bin/x"] });
  const mk = (labels: Record<string, string>) => createContainer(f, { image, networkMode: "none", labels });
  const [created, exited, running, other] = [await mk({ k: "v" }), await mk({ k: "v" }), await mk({ k: "v" }), await mk({ k: "w" })];
  writeFileSync(join(f.root.layerDir(exited.id), "diff", "file"), "12345");
  writeStatus(exited.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 3 });
  fakeShim(running.dir);
  const out = await pruneContainers(f, { labels: ["k=v"] });
  expect(out.ContainersDeleted?.sort()).toEqual([created.id, exited.id].sort());
  expect(out.SpaceReclaimed).toBe(5);
  expect(f.containers.all().map((c) => c.id).sort()).toEqual([running.id, other.id].sort());
  await removeContainer(f, running.id, { force: true });
});

test("prune in a long-running engine also takes directories no row names, and keeps a removal a live process is at", async () => {
  const f = bed.engine();
  await bed.image(f, "lib/img", "1", [{ "bin/x": "x" }], { Cmd: ["/bin/x"] });
  const kept = await createContainer(f, { image, networkMode: "none" });
  // A removal that deleted the row but lost its directory (the engine started before either existed).
  const orphan = f.root.containerDir("ab".repeat(32));
  mkdirSync(orphan);
  writeFileSync(join(orphan, "config.v2.json"), "{}");
  // One that another live process is in the middle of: its intent names that process.
  const busy = f.root.containerDir("cd".repeat(32));
  mkdirSync(busy);
  mkdirSync(join(f.root.root, "removing"), { recursive: true });
  writeFileSync(join(f.root.root, "removing", "cd".repeat(32)), JSON.stringify({ owner: `${process.pid}-${processStartTime(process.pid)}`, cacheId: "cd".repeat(32), volumes: [] }));
  const out = await pruneContainers(f, { labels: ["nothing=matches"] });
  expect(out.ContainersDeleted).toBeNull();
  expect(existsSync(orphan)).toBe(false);
  expect(existsSync(busy)).toBe(true);
  expect(existsSync(kept.dir)).toBe(true);
  rmSync(busy, { recursive: true });
  rmSync(join(f.root.root, "removing", "cd".repeat(32)));
});

test.skipIf(process.getuid!() !== 0)("a prune or rm -f while a start is under way waits for it: the started container is kept, or removed whole, never taken from under it", async () => {
  const f = bed.engine();
  await bed.image(f, "lib/img", "1", [{ "bin/x": "x" }], { Cmd: ["/bin/x"] });
  // The runtime's start takes a while; the directories must still be there when it spawns the shim.
  const slowStart = (c: { dir: string }) => async () => {
    await Bun.sleep(150);
    expect(existsSync(c.dir)).toBe(true);
    return { pid: fakeShim(c.dir).pid };
  };
  const a = await createContainer(f, { image, networkMode: "none" });
  const starting = startContainer(f, a.id, {}, slowStart(a));
  await Bun.sleep(20);
  const pruned = await pruneContainers(f);
  await starting;
  expect(pruned.ContainersDeleted).toBeNull(); // running by the time prune looked
  expect(f.containers.lookup(a.id)?.id).toBe(a.id);
  const b = await createContainer(f, { image, networkMode: "none" });
  const startingB = startContainer(f, b.id, {}, slowStart(b));
  await Bun.sleep(20);
  await removeContainer(f, b.id, { force: true });
  await startingB;
  expect(f.containers.lookup(b.id)).toBeUndefined();
  expect(existsSync(b.dir)).toBe(false);
  await removeContainer(f, a.id, { force: true });
  expect(existsSync(a.dir)).toBe(false);
});

test("an exited --rm container is reaped at the next listing; a created one is not", async () => {
  const f = bed.engine();
  await bed.image(f, "lib/img", "1", [{ "bin/x": "x" }], { Cmd: ["/bin/x"] });
  const a = await createContainer(f, { image, networkMode: "none", autoRemove: true });
  const b = await createContainer(f, { image, networkMode: "none", autoRemove: true });
  writeStatus(a.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 0 });
  expect((await reapAutoRemoved(f)).map((c) => c.id)).toEqual([a.id]);
  expect(f.containers.all().map((c) => c.id)).toEqual([b.id]);
});

test("an exited --rm container removed by the monitor while a listing reaps it is destroyed once, announced once", async () => {
  const f = bed.engine();
  const seen: EngineEvent[] = [];
  f.events = { publish: (ev) => seen.push(ev) };
  await bed.image(f, "lib/img", "1", [{ "bin/x": "x" }], { Cmd: ["/bin/x"] });
  const a = await createContainer(f, { image, networkMode: "none", autoRemove: true });
  writeStatus(a.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 0 });
  // Both start from rows read before either deleted anything, as the daemon's monitor and a /containers/json do.
  const listed = f.containers.all();
  await Promise.all([removeContainer(f, a.id, { force: true, volumes: true }), reapAutoRemoved(f, listed), reapAutoRemoved(f, listed)]);
  expect(seen.filter((x) => x.Action === "destroy").map((x) => x.id)).toEqual([a.id]);
  expect(f.containers.all()).toEqual([]);
  expect(existsSync(a.dir)).toBe(false);
  // A remover holding a row another process already deleted announces nothing either.
  const b = await createContainer(f, { image, networkMode: "none", autoRemove: true });
  writeStatus(b.dir, { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), exitCode: 0 });
  const stale = f.containers.all();
  await reapAutoRemoved(f, stale);
  await reapAutoRemoved(f, stale);
  expect(seen.filter((x) => x.Action === "destroy").map((x) => x.id)).toEqual([a.id, b.id]);
});

// planFor creates the container's cgroups on the host: as root only.
test.skipIf(process.getuid!() !== 0)("start hands the runtime a plan of the container (faked runtime), publishes start; a failed --rm start removes the container", async () => {
  const c = await createContainer(e, { image, networkMode: "none", hostname: "box", env: ["X=1"], restart: { Name: "on-failure", MaximumRetryCount: 2 } });
  let plan: ContainerPlan | undefined;
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  events.length = 0;
  const r = await startContainer(e, c.id, {}, async (p) => {
    plan = p;
    proc = fakeShim(c.dir);
    return { pid: proc.pid };
  });
  try {
    expect(r).toEqual({ pid: proc!.pid, alreadyRunning: false });
    expect(plan!.args).toEqual(["/bin/x", "arg"]);
    expect(plan!.hostname).toBe("box");
    expect(plan!.cwd).toBe("/srv");
    expect(plan!.network).toBe("none");
    expect(plan!.env).toContain("X=1");
    expect(plan!.rootfs.lowerDirs).toEqual(e.layers.diffDirs(c.topLayer));
    expect(plan!.rootfs.upperDir).toBe(join(e.root.layerDir(c.id), "diff"));
    expect(plan!.restart).toEqual({ name: "on-failure", maxRetries: 2 });
    expect(plan!.seccomp).toBe(true);
    expect(events.map((x) => x.Action)).toEqual(["start"]);
    // Running: a second start is a no-op (Docker's 304).
    expect(await startContainer(e, c.id, {}, async () => { throw new Error("must not start twice"); })).toEqual({ pid: proc!.pid, alreadyRunning: true });
  } finally {
    await removeContainer(e, c.id, { force: true });
  }
  const rm = await createContainer(e, { image, networkMode: "none", autoRemove: true });
  await expect(startContainer(e, rm.id, {}, async () => { throw new Error("exec failed"); })).rejects.toThrow("exec failed");
  expect(e.containers.lookup(rm.id)).toBeUndefined();
  expect(existsSync(rm.dir)).toBe(false);
});
