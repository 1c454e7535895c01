/**
 * State after a crash (issue 10 §9): kill -9 of `bunker serve` at random points of a forced
 * `DELETE /containers/{id}?force=1&v=1` of a running container (with a memory cgroup and an anonymous volume),
 * then an engine start (the CLI in-process or a new daemon, alternately) must leave no half-removed
 * container: no directory without a row, no row without a directory, no overlay upper dir, cgroup, process
 * or anonymous volume of a removed container; and `rm -f` / `rmi` still work. Bounded in count and time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, freshDataRoot, serveAt } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
const TRIES = 20;

let reg: Registry;
let dir: string;
let dataRoot: string;
let sock: string;
let daemon: Subprocess<"ignore", "ignore", "ignore"> | undefined;
const ids = new Set<string>();

async function startDaemon() {
  ({ daemon } = await serveAt(dataRoot, ["--registry-mirror", reg.url], { sock }));
}
const api = (path: string, init: RequestInit = {}) => fetch(`http://x${path}`, { unix: sock, ...init } as RequestInit);
const post = (path: string, body?: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
const cli = (...args: string[]) => Bun.spawnSync([BUNKER, "--data-root", dataRoot, ...args], { stdout: "pipe", stderr: "pipe" });

const containerRows = () => {
  const db = new Database(join(dataRoot, "bunker.db"), { readonly: true });
  try {
    return (db.query("SELECT id FROM containers").all() as { id: string }[]).map((r) => r.id).sort();
  } finally {
    db.close();
  }
};
const volumeRows = () => {
  const db = new Database(join(dataRoot, "bunker.db"), { readonly: true });
  try {
    return (db.query("SELECT name FROM volumes").all() as { name: string }[]).map((r) => r.name).sort();
  } finally {
    db.close();
  }
};
const list = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
const startTime = (pid: number) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    return s.slice(s.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
};

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-reconcile-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  dataRoot = freshDataRoot();
  await startDaemon();
  const pull = await api("/images/create?fromImage=busybox&tag=latest", { method: "POST" });
  await pull.text();
  expect(pull.status).toBe(200);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  daemon?.kill("SIGKILL");
  await daemon?.exited;
  if (ids.size) cli("rm", "-f", "-v", ...ids);
  for (const id of ids) {
    for (const c of ["memory", "cpu", "pids"]) {
      try {
        rmdirSync(`/sys/fs/cgroup/${c}/bunker/${id}`);
      } catch {}
    }
  }
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)("reconcile at engine start", () => {
  test("kill -9 of the daemon during DELETE ?force=1, then an engine start: nothing half removed", async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < TRIES; i++) {
      if (!daemon || daemon.exitCode !== null || daemon.signalCode) await startDaemon();
      const r = await post(`/containers/create?name=rc${i}`, { Image: "busybox", Cmd: ["sleep", "1000"], Volumes: { "/data": {} }, HostConfig: { NetworkMode: "none", Memory: 64 << 20 } });
      expect(r.status).toBe(201);
      const { Id: id } = (await r.json()) as { Id: string };
      ids.add(id);
      expect((await post(`/containers/${id}/start`)).status).toBe(204);
      const status = JSON.parse(readFileSync(join(dataRoot, "containers", id, "status.json"), "utf8")) as { pid: number; supervisorPid: number; guardianPid: number };
      const procs = [status.pid, status.supervisorPid, status.guardianPid].filter((p) => p > 0).map((p) => [p, startTime(p)] as const);
      const volume = ((await (await api(`/containers/${id}/json`)).json()) as { Mounts: { Name: string }[] }).Mounts[0]!.Name;

      const del = api(`/containers/${id}?force=1&v=1`, { method: "DELETE" }).then((x) => x.status, () => "cut");
      await Bun.sleep(Math.floor(Math.random() * 40));
      daemon!.kill("SIGKILL");
      await daemon!.exited;
      // What the kill left: an intent (removal under way), and whether the row was still there.
      const left = list(join(dataRoot, "removing")).includes(id) ? (containerRows().includes(id) ? "+intent,row" : "+intent") : "";
      outcomes.push(`${await del}${left}`);

      // The engine starts again: in-process (the CLI) on even tries, as a daemon on odd ones.
      if (i % 2) await startDaemon();
      else expect(cli("ps", "-a").exitCode).toBe(0);

      const rows = containerRows();
      const removed = !rows.includes(id);
      // Either the removal happened entirely, or not at all (the kill came before the request reached it).
      expect(list(join(dataRoot, "containers"))).toEqual(rows);
      expect(list(join(dataRoot, "removing"))).toEqual([]);
      if (removed) {
        expect(existsSync(join(dataRoot, "overlay2", id))).toBe(false);
        expect(existsSync(`/sys/fs/cgroup/memory/bunker/${id}`)).toBe(false);
        expect(volumeRows()).not.toContain(volume);
        expect(existsSync(join(dataRoot, "volumes", volume))).toBe(false);
        // The shims (supervisor, guardian) exit once the container is down: within moments, never left behind.
        for (const [pid, start] of procs) {
          for (let t = 0; t < 100 && startTime(pid) === start; t++) await Bun.sleep(20);
          expect([pid, startTime(pid)]).not.toEqual([pid, start]);
        }
        ids.delete(id);
        outcomes[outcomes.length - 1] += "/removed";
      } else {
        expect(existsSync(join(dataRoot, "overlay2", id, "diff"))).toBe(true);
      }
    }
    console.log(`DELETE outcomes: ${outcomes.join(" ")}`);

    // Whatever is left is removable, and so is the image.
    if (!daemon || daemon.exitCode !== null || daemon.signalCode) await startDaemon();
    daemon!.kill("SIGKILL");
    await daemon!.exited;
    const left = containerRows();
    if (left.length) expect(cli("rm", "-f", "-v", ...left).exitCode).toBe(0);
    for (const id of left) ids.delete(id);
    const rmi = cli("rmi", "busybox");
    expect(rmi.stderr.toString()).toBe("");
    expect(rmi.exitCode).toBe(0);
    expect(list(join(dataRoot, "containers"))).toEqual([]);
    expect(list(join(dataRoot, "overlay2")).filter((n) => n !== "l")).toEqual([]);
  }, 300_000);

  test("directories no row names (left by builds without removal intents) go at the next engine start", async () => {
    daemon?.kill("SIGKILL");
    await daemon?.exited;
    expect(cli("--registry-mirror", reg.url, "pull", "-q", "busybox").exitCode).toBe(0);
    const id = cli("create", "--network", "none", "busybox", "true").stdout.toString().trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    ids.add(id);
    const db = new Database(join(dataRoot, "bunker.db"));
    try {
      db.run("DELETE FROM containers WHERE id = ?", [id]);
    } finally {
      db.close();
    }
    expect(existsSync(join(dataRoot, "containers", id))).toBe(true);
    expect(cli("ps", "-a").exitCode).toBe(0);
    expect(existsSync(join(dataRoot, "containers", id))).toBe(false);
    expect(existsSync(join(dataRoot, "overlay2", id))).toBe(false);
    ids.delete(id);
    expect(cli("rmi", "busybox").exitCode).toBe(0);
  });
});
