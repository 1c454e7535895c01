/**
 * stats, pause/unpause and update through `bunker serve` with real clients: the docker CLI 28, docker-py
 * (Debian's python3-docker) and docker-compose 1.29, and the Engine API's stats JSON checked against the
 * container's cgroup files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDataRoot, serveAt } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const COMPOSE = "/usr/bin/docker-compose";
const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER);
const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;
const v1 = !existsSync("/sys/fs/cgroup/cgroup.controllers");

let reg: Registry;
let dir: string;
let dataRoot: string;
let d: Awaited<ReturnType<typeof serveAt>>;
let cli: ReturnType<typeof dockerCli>;
let busybox: string;

const docker = (args: string[]) => cli.run([DOCKER, ...args]);
const cg = (id: string, controller: string, file: string) => readFileSync(v1 ? `/sys/fs/cgroup/${controller}/bunker/${id}/${file}` : `/sys/fs/cgroup/bunker/${id}/${file}`, "utf8").trim();

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-ops-"));
  chmodSync(dir, 0o755);
  dataRoot = freshDataRoot();
  d = await serveAt(dataRoot, ["--registry-mirror", reg.url]);
  cli = dockerCli(d.sock, dir);
  busybox = `${reg.host}/busybox`;
  await cli.dockerOk(["pull", "-q", busybox]);
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  const ids = (await cli.docker(["ps", "-aq"])).stdout.trim();
  if (ids) await cli.docker(["rm", "-f", ...ids.split("\n")]);
  d.daemon.kill("SIGTERM");
  await d.daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("docker CLI 28 through serve", () => {
  test("stats --no-stream shows real figures (not a row of --)", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--name", "dstat", "-m", "64m", busybox, "sh", "-c", "sleep 1000 & while :; do :; done"])).trim();
    await Bun.sleep(300);
    const out = await cli.dockerOk(["stats", "--no-stream"]);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]!.split(/ {2,}/)).toEqual(["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]);
    const row = lines.find((l) => l.startsWith(id.slice(0, 12)))!;
    const cells = row.split(/ {2,}/);
    expect(cells[1]).toBe("dstat");
    expect(Number(cells[2]!.replace("%", ""))).toBeGreaterThan(0);
    expect(cells[3]).toMatch(/^[\d.]+[KM]iB \/ 64MiB$/);
    expect(cells[7]).toBe(cg(id, "pids", "pids.current"));
    expect(cells[7]).toBe("2");
    expect(row).not.toContain("--");
    // streaming: the docker CLI's live mode (stats stream and the events it follows)
    const live = Bun.spawn([DOCKER, "stats", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}"], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${d.sock}` } });
    let text = "";
    for await (const chunk of live.stdout) {
      text += new TextDecoder().decode(chunk);
      if ((text.match(/dstat 2 /g) ?? []).length >= 3) break;
    }
    live.kill();
    await live.exited;
    expect(text).toMatch(/dstat 2 [\d.]+[KM]iB \/ 64MiB/);
  }, 60_000);

  test("pause, ps (Paused), exec refused, unpause; update; the run options", async () => {
    const id = (await cli.dockerOk(["inspect", "-f", "{{.Id}}", "dstat"])).trim();
    expect((await cli.dockerOk(["pause", "dstat"])).trim()).toBe("dstat");
    expect(await cli.dockerOk(["ps", "--filter", "name=dstat", "--format", "{{.Status}}"])).toMatch(/^Up .* \(Paused\)\n$/);
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "dstat"])).trim()).toBe("paused true");
    const exec = await cli.docker(["exec", "dstat", "true"]);
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toContain(`Container ${id} is paused, unpause the container before exec`);
    const attach = await d.api(`/containers/dstat/attach?stream=1&stdout=1`, { method: "POST" });
    expect([attach.status, ((await attach.json()) as { message: string }).message]).toEqual([409, "You cannot attach to a paused container, unpause it first"]);
    expect((await cli.dockerOk(["unpause", "dstat"])).trim()).toBe("dstat");
    expect((await cli.dockerOk(["update", "-m", "128m", "--memory-swap", "256m", "--pids-limit", "30", "dstat"])).trim()).toBe("dstat");
    expect(cg(id, "memory", v1 ? "memory.limit_in_bytes" : "memory.max")).toBe(String(128 << 20));
    expect(cg(id, "pids", "pids.max")).toBe("30");
    expect((await cli.dockerOk(["stats", "--no-stream", "--format", "{{.MemUsage}}", "dstat"])).trim()).toEndWith(" / 128MiB");
    const bad = await cli.docker(["update", "-m", "300m", "--memory-swap", "200m", "dstat"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Minimum memoryswap limit should be larger than memory limit, see usage");
    const out = await cli.dockerOk(["run", "--rm", "--cpuset-cpus", "0", "--cpu-period", "100000", "--cpu-quota", "30000", "--oom-score-adj", "100", busybox, "cat", v1 ? "/sys/fs/cgroup/cpuset/cpuset.cpus" : "/sys/fs/cgroup/cpuset.cpus", "/proc/self/oom_score_adj"]);
    expect(out).toBe("0\n100\n");
    // the events
    const since = Math.floor(Date.now() / 1000) - 30;
    const ev = await cli.dockerOk(["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=dstat", "--format", "{{.Action}}"]);
    expect(ev.split("\n").filter((a) => ["pause", "unpause", "update"].includes(a))).toEqual(["pause", "unpause", "update"]);
  }, 60_000);
});

describe.skipIf(!ready)("Engine API stats JSON", () => {
  test("stream=false: moby's fields, CPU and memory from the cgroup files, networks per interface", async () => {
    const id = (await cli.dockerOk(["inspect", "-f", "{{.Id}}", "dstat"])).trim();
    const cpuBefore = Number(v1 ? cg(id, "cpuacct", "cpuacct.usage") : /usage_usec (\d+)/.exec(cg(id, "cpu", "cpu.stat"))![1]! + "000");
    const s = (await (await d.api(`/v1.50/containers/${id}/stats?stream=false`)).json()) as any;
    const cpuAfter = Number(v1 ? cg(id, "cpuacct", "cpuacct.usage") : /usage_usec (\d+)/.exec(cg(id, "cpu", "cpu.stat"))![1]! + "000");
    expect(Object.keys(s).sort()).toEqual(["blkio_stats", "cpu_stats", "id", "memory_stats", "name", "networks", "num_procs", "pids_stats", "precpu_stats", "preread", "read", "storage_stats"]);
    expect([s.id, s.name]).toEqual([id, "/dstat"]);
    expect(s.cpu_stats.cpu_usage.total_usage).toBeGreaterThanOrEqual(cpuBefore);
    expect(s.cpu_stats.cpu_usage.total_usage).toBeLessThanOrEqual(cpuAfter);
    expect(s.precpu_stats.cpu_usage.total_usage).toBeLessThan(s.cpu_stats.cpu_usage.total_usage);
    expect(s.cpu_stats.system_cpu_usage).toBeGreaterThan(s.precpu_stats.system_cpu_usage);
    expect(s.cpu_stats.online_cpus).toBe(navigator.hardwareConcurrency);
    expect(Date.parse(s.read)).toBeGreaterThan(Date.parse(s.preread));
    expect(s.memory_stats.limit).toBe(128 << 20);
    expect(s.memory_stats.stats[v1 ? "total_inactive_file" : "inactive_file"]).toBeNumber();
    expect(s.pids_stats).toEqual({ current: 2, limit: 30 });
    expect(Object.keys(s.networks)).toEqual(["eth0"]);
    expect(s.networks.eth0.rx_bytes).toBeGreaterThan(0);
    // one-shot: no priming sample
    const one = (await (await d.api(`/containers/${id}/stats?stream=false&one-shot=true`)).json()) as any;
    expect([one.preread, one.precpu_stats.cpu_usage.total_usage]).toEqual(["0001-01-01T00:00:00Z", 0]);
  }, 30_000);

  test("stream=false: the previous CPU figures are the supervisor's sample 0.5-3 s back, else primed here", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--name", "dloop", busybox, "sh", "-c", "while :; do :; done"])).trim();
    const cdir = join(dataRoot, "containers", id);
    try {
      const one = async () => {
        const s = (await (await d.api(`/containers/${id}/stats?stream=false`)).json()) as any;
        const window = Date.parse(s.read) - Date.parse(s.preread); // ms
        const delta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
        const cpu = (delta / (s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage)) * s.cpu_stats.online_cpus * 100;
        expect(delta).toBeGreaterThanOrEqual(0);
        return { s, window, cpu };
      };
      // Right after start the supervisor's first sample (taken at the start) is too recent: a 20 ms window
      // primed here, which never reaches back before this run.
      const startedAt = Date.parse((await cli.dockerOk(["inspect", "-f", "{{.State.StartedAt}}", id])).trim());
      const early = await one();
      expect(Date.parse(early.s.preread)).toBeGreaterThanOrEqual(startedAt - 5);
      expect(early.cpu).toBeLessThanOrEqual(150);
      await Bun.sleep(1500);
      // A second on: the supervisor's, its counters as cpu.sample has them; the loop gets up to one CPU (a 10 ms
      // tick is 2 % of the window at most; the clocks are the wall clock's ms).
      const slots = () => readFileSync(join(cdir, "cpu.sample"), "latin1").trim().split(/\s*\n/).map((l) => l.trim().split(" "));
      const before = slots();
      const { s, window, cpu } = await one();
      const recorded = [...before, ...slots()].filter((f) => f[0] === "cpu").map((f) => Number(f[4]));
      expect(recorded).toContain(s.precpu_stats.cpu_usage.total_usage);
      expect(window).toBeGreaterThanOrEqual(500);
      expect(window).toBeLessThanOrEqual(3000);
      expect(cpu).toBeGreaterThan(0);
      expect(cpu).toBeLessThanOrEqual(103);
      // A stale sample (the supervisor stopped, so it samples no more) is no window: primed here again.
      const { supervisorPid } = JSON.parse(readFileSync(join(cdir, "status.json"), "utf8"));
      process.kill(supervisorPid, "SIGSTOP");
      try {
        await Bun.sleep(3200);
        const stale = await one();
        expect(stale.window).toBeLessThan(400);
        expect(stale.cpu).toBeLessThanOrEqual(150);
      } finally {
        process.kill(supervisorPid, "SIGCONT");
      }
      // No sample (a supervisor from before samples existed): primed, too. The supervisor writes through
      // the file it opened, so the name stays gone.
      rmSync(join(cdir, "cpu.sample"));
      await Bun.sleep(1200);
      const none = await one();
      expect(none.window).toBeLessThan(400);
      // restarted: the earlier run's samples (another pid) are not this run's window
      await cli.dockerOk(["restart", "-t", "0", id]);
      const restartedAt = Date.parse((await cli.dockerOk(["inspect", "-f", "{{.State.StartedAt}}", id])).trim());
      const after = await one();
      expect(Date.parse(after.s.preread)).toBeGreaterThanOrEqual(restartedAt - 5);
    } finally {
      await cli.docker(["rm", "-f", id]);
    }
  }, 60_000);

  test("a stream sends a sample a second, each with the previous one's CPU figures", async () => {
    const res = await d.api(`/containers/dstat/stats`);
    const reader = res.body!.getReader();
    let text = "";
    const t0 = Date.now();
    while (text.split("\n").length < 3) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const [a, b] = text.split("\n").slice(0, 2).map((l) => JSON.parse(l));
    expect(Date.now() - t0).toBeGreaterThan(800);
    expect(b.precpu_stats.cpu_usage.total_usage).toBe(a.cpu_stats.cpu_usage.total_usage);
    expect(b.preread).toBe(a.read);
  }, 30_000);
});

describe.skipIf(!ready || !hasPython)("docker-py", () => {
  test("container.stats(stream=False), pause(), unpause(), update()", async () => {
    const script = join(dir, "ops.py");
    writeFileSync(
      script,
      `import docker, json, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1]).containers.run(sys.argv[2], ["sleep", "1000"], detach=True, name="pyops")
s = c.stats(stream=False)
c.pause(); c.reload(); paused = c.status
c.unpause(); c.reload()
r = c.update(mem_limit="96m", memswap_limit="192m", cpu_shares=256)
c.reload()
print(json.dumps({"name": s["name"], "pids": s["pids_stats"]["current"], "limit": s["memory_stats"]["limit"] > 0, "paused": paused, "after": c.status, "update": r, "mem": c.attrs["HostConfig"]["Memory"], "shares": c.attrs["HostConfig"]["CpuShares"]}))
c.remove(force=True)
`,
    );
    const r = await cli.run(["python3", script, d.sock, busybox]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout)).toEqual({ name: "/pyops", pids: 1, limit: true, paused: "paused", after: "running", update: { Warnings: [] }, mem: 96 << 20, shares: 256 });
  }, 60_000);
});

describe.skipIf(!ready || !existsSync(COMPOSE))("docker-compose 1.29", () => {
  test("pause and unpause a project's services", async () => {
    const proj = join(dir, "compose");
    Bun.spawnSync(["mkdir", "-p", proj]);
    writeFileSync(join(proj, "docker-compose.yml"), `version: "3"\nservices:\n  app:\n    image: ${busybox}\n    command: ["sleep", "1000"]\n    network_mode: none\n`);
    const compose = (args: string[]) => cli.run([COMPOSE, "-p", "opsc", ...args], { cwd: proj });
    try {
      const up = await compose(["up", "-d"]);
      if (up.code !== 0) throw new Error(up.stderr);
      const pause = await compose(["pause"]);
      expect([pause.code, pause.stderr]).toEqual([0, expect.stringContaining("Pausing opsc_app_1 ... done")]);
      expect((await cli.dockerOk(["inspect", "-f", "{{.State.Status}}", "opsc_app_1"])).trim()).toBe("paused");
      const unpause = await compose(["unpause"]);
      expect([unpause.code, unpause.stderr]).toEqual([0, expect.stringContaining("Unpausing opsc_app_1 ... done")]);
      expect((await cli.dockerOk(["inspect", "-f", "{{.State.Status}}", "opsc_app_1"])).trim()).toBe("running");
    } finally {
      await compose(["down", "-t", "1"]);
    }
  }, 120_000);
});
