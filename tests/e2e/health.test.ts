/**
 * Healthchecks (issue 15) through the compiled CLI as root, with real containers: in-process, or through
 * `bunker serve` with BUNKER_E2E_MODE=daemon. The checks run in each container's shim, so in-process they
 * go on after the `run -d` that started them has exited. Covered: healthy and unhealthy transitions with
 * ps's status and --filter health, inspect's State.Health (Log of 5, output kept), Retries, the start
 * period, a check past its Timeout killed with what it started, a check that cannot start, the image's
 * HEALTHCHECK and --no-healthcheck, the reset to starting on a restart-policy restart, and no process left
 * per check. Then, through `bunker serve` only: the docker CLI 28, docker-py, `health_status` events, and
 * docker-compose 1.29's `depends_on: condition: service_healthy`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, DAEMON_MODE, freshDataRoot, serveAt, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { pushWithHealthcheck } from "../helpers/health-image.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let own: Registry | undefined;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let hcImage: string;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  own = await pushWithHealthcheck(reg, { Test: ["CMD-SHELL", "echo image-check"], Interval: 3e8 });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  busybox = `${reg.host}/busybox`;
  hcImage = `${own.host}/busybox:hc`;
  await b.ok(["pull", "-q", busybox]);
  await b.ok(["pull", "-q", hcImage]);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", ...ids.split("\n")]);
  await own?.stop();
  await reg?.stop();
});

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}
// State without a check has no Health (moby's omitempty): the whole State is read
const health = async (ref: string): Promise<Health | null> => JSON.parse(await b.ok(["inspect", "-f", "{{json .State}}", ref])).Health ?? null;
const statusOf = async (ref: string) => (await b.ok(["ps", "-a", "--filter", `name=^/${ref}$`, "--format", "{{.Status}}"])).trim();

/** Polls inspect until `pred` holds (10 s at most); returns the last State.Health. */
async function until(ref: string, pred: (h: Health) => boolean, ms = 10_000): Promise<Health> {
  const end = Date.now() + ms;
  let h: Health | null = null;
  while (Date.now() < end) {
    h = await health(ref);
    if (h && pred(h)) return h;
    await Bun.sleep(100);
  }
  throw new Error(`${ref}: health never matched; last ${JSON.stringify(h)}`);
}

/** Host pids whose command line is exactly `args` (NUL-separated in /proc). */
function pidsRunning(...args: string[]): number[] {
  const want = `${args.join("\0")}\0`;
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "latin1") === want) out.push(Number(d));
    } catch {}
  }
  return out;
}

const run = (name: string, ...args: string[]) => b.ok(["run", "-d", "--name", name, "--network", "none", ...args]);

describe.skipIf(!root)("healthchecks", () => {
  test("healthy: starting first (ps: health: starting), then healthy after one interval; the Log keeps the output, in later CLI processes too", async () => {
    await run("hc-ok", "--health-cmd", "echo ok-$HOSTNAME; exit 0", "--health-interval", "1s", busybox, "sleep", "60");
    const first = await health("hc-ok");
    expect(first).toMatchObject({ Status: "starting", FailingStreak: 0, Log: [] });
    expect(await statusOf("hc-ok")).toMatch(/^Up .* \(health: starting\)$/);
    expect((await b.ok(["ps", "--filter", "health=starting", "--format", "{{.Names}}"])).split("\n")).toContain("hc-ok");
    const h = await until("hc-ok", (x) => x.Status === "healthy");
    expect(h.Log[0]).toMatchObject({ ExitCode: 0, Output: `ok-${(await b.ok(["inspect", "-f", "{{.Config.Hostname}}", "hc-ok"])).trim()}\n` });
    expect(Date.parse(h.Log[0]!.End)).toBeGreaterThanOrEqual(Date.parse(h.Log[0]!.Start));
    expect(await statusOf("hc-ok")).toMatch(/^Up .* \(healthy\)$/);
    expect((await b.ok(["ps", "--filter", "health=healthy", "--format", "{{.Names}}"])).split("\n")).toContain("hc-ok");
    expect((await b.ok(["ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"])).split("\n")).not.toContain("hc-ok");
    // only 5 results are kept, the oldest dropped; checks go on with nobody but the shim watching
    const later = await until("hc-ok", (x) => x.Log.length === 5 && Date.parse(x.Log[4]!.Start) > Date.parse(h.Log[0]!.Start) + 4000, 15_000);
    expect(later.Log.every((r) => r.ExitCode === 0)).toBe(true);
  }, 30_000);

  test("unhealthy after Retries consecutive failures; ExitCode and output recorded; ps and --filter health", async () => {
    await run("hc-bad", "--health-cmd", "echo broken >&2; exit 3", "--health-interval", "200ms", "--health-retries", "2", busybox, "sleep", "60");
    const h = await until("hc-bad", (x) => x.Status === "unhealthy");
    // unhealthy at the 2nd failure (checks go on meanwhile: the streak counts every failure since)
    expect(h.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(Math.min(h.FailingStreak, 5)).toBe(h.Log.length);
    expect(h.Log.slice(0, 2).map((r) => [r.ExitCode, r.Output])).toEqual([[3, "broken\n"], [3, "broken\n"]]);
    expect(await statusOf("hc-bad")).toMatch(/^Up .* \(unhealthy\)$/);
    expect((await b.ok(["ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"])).split("\n")).toContain("hc-bad");
    const none = (await b.ok(["ps", "-a", "--filter", "health=none", "--format", "{{.Names}}"])).split("\n");
    expect(none).not.toContain("hc-bad");
    expect((await b.run(["ps", "--filter", "health=sick"])).stderr).toContain("Unrecognised filter value for health: sick");
  });

  test("a check past its Timeout: ExitCode -1, moby's message, and it is killed with what it started", async () => {
    await run("hc-slow", "--health-cmd", "sleep 987 & sleep 986", "--health-interval", "300ms", "--health-timeout", "400ms", busybox, "sleep", "60");
    const h = await until("hc-slow", (x) => x.Log.length >= 2);
    expect(h.Log[0]).toMatchObject({ ExitCode: -1, Output: "Health check exceeded timeout (400ms)" });
    const took = Date.parse(h.Log[0]!.End) - Date.parse(h.Log[0]!.Start);
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3000);
    await b.ok(["stop", "-t", "0", "hc-slow"]);
    await Bun.sleep(200);
    expect([...pidsRunning("sleep", "987"), ...pidsRunning("sleep", "986")]).toEqual([]);
  });

  test("output: the first 4096 bytes kept, then moby's \"...\"", async () => {
    await run("hc-long", "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' a", "--health-interval", "200ms", busybox, "sleep", "60");
    const h = await until("hc-long", (x) => x.Log.length >= 1);
    expect(h.Log[0]!.Output).toBe(`${"a".repeat(4096)}...`);
  });

  test("the check is confined as an exec is: the container's user, hostname, pid namespace, no capabilities as non-root", async () => {
    await run("hc-jail", "-u", "1234:1234", "--hostname", "jailed", "--health-cmd", "id -u; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep CapEff /proc/self/status; ls /proc | grep -c '^[0-9]'", "--health-interval", "200ms", busybox, "sleep", "60");
    const h = await until("hc-jail", (x) => x.Log.length >= 1);
    // PID 1 is the container's init, and only it, the shell and its pipeline's processes are visible
    const [uid, host, init, caps, nprocs] = h.Log[0]!.Output.split("\n");
    expect([uid, host, init, caps?.replace(/\s+/g, " ")]).toEqual(["1234", "jailed", "sleep 60 ", "CapEff: 0000000000000000"]);
    expect(Number(nprocs)).toBeLessThan(8);
    expect(h.Log[0]!.ExitCode).toBe(0);
  });

  test("the start period: failures do not count while starting within it, then they do", async () => {
    await run("hc-grace", "--health-cmd", "exit 1", "--health-interval", "250ms", "--health-retries", "1", "--health-start-period", "2s", "--health-start-interval", "200ms", busybox, "sleep", "60");
    const early = await until("hc-grace", (x) => x.Log.length >= 3);
    expect(early).toMatchObject({ Status: "starting", FailingStreak: 0 });
    const late = await until("hc-grace", (x) => x.Status === "unhealthy");
    expect(late.FailingStreak).toBeGreaterThanOrEqual(1);
    expect(late.FailingStreak).toBeLessThan(late.Log.length); // the failures inside the start period did not count
    const started = Date.parse((await b.ok(["inspect", "-f", "{{.State.StartedAt}}", "hc-grace"])).trim());
    expect(Date.parse(late.Log.at(-1)!.Start) - started).toBeGreaterThanOrEqual(1900);
  });

  test("the image's HEALTHCHECK runs (Config.Healthcheck from the image); --no-healthcheck turns it off", async () => {
    await run("hc-image", hcImage, "sleep", "60");
    expect(JSON.parse(await b.ok(["inspect", "-f", "{{json .Config.Healthcheck}}", "hc-image"]))).toEqual({ Test: ["CMD-SHELL", "echo image-check"], Interval: 3e8 });
    expect((await until("hc-image", (x) => x.Status === "healthy")).Log[0]!.Output).toBe("image-check\n");
    // --health-* over the image's: the command replaced, the interval inherited
    await run("hc-over", "--health-cmd", "echo mine", hcImage, "sleep", "60");
    expect(JSON.parse(await b.ok(["inspect", "-f", "{{json .Config.Healthcheck}}", "hc-over"]))).toEqual({ Test: ["CMD-SHELL", "echo mine"], Interval: 3e8 });
    expect((await until("hc-over", (x) => x.Status === "healthy")).Log[0]!.Output).toBe("mine\n");
    await run("hc-off", "--no-healthcheck", hcImage, "sleep", "60");
    await Bun.sleep(800);
    expect(await health("hc-off")).toBeNull();
    expect(await statusOf("hc-off")).toMatch(/^Up [^(]*$/);
    expect((await b.ok(["ps", "--filter", "health=none", "--format", "{{.Names}}"])).split("\n")).toContain("hc-off");
  });

  test("a restart by the restart policy resets the status to starting (the Log kept); a stop leaves it unhealthy", async () => {
    await run("hc-restart", "--restart", "on-failure:1", "--health-cmd", "true", "--health-interval", "1500ms", busybox, "sh", "-c", "sleep 2.5; exit 1");
    const before = await until("hc-restart", (x) => x.Status === "healthy");
    expect(before.Log.length).toBeGreaterThanOrEqual(1);
    const end = Date.now() + 10_000;
    let seen: Health | null = null;
    while (Date.now() < end) {
      const info = JSON.parse(await b.ok(["inspect", "-f", "{{json .}}", "hc-restart"])) as { RestartCount: number; State: { Health?: Health } };
      const [count, h] = [info.RestartCount, info.State.Health];
      if (count === 1 && h?.Status === "starting") {
        seen = h;
        break;
      }
      await Bun.sleep(50);
    }
    expect(seen?.FailingStreak).toBe(0);
    expect(seen!.Log.length).toBeGreaterThanOrEqual(before.Log.length);
    await until("hc-restart", (x) => x.Status === "healthy");
    // the second run exits 1 and is not restarted again: the monitor stops, unhealthy as moby leaves it
    const last = await until("hc-restart", (x) => x.Status === "unhealthy", 15_000);
    expect(last.FailingStreak).toBe(0);
    expect(await statusOf("hc-restart")).toMatch(/^Exited \(1\)/);
  }, 30_000);

  test("bunker restart (a new supervisor): starting again with the Log kept, the oldest results dropped first", async () => {
    await run("hc-keep", "--health-cmd", "echo run-1", "--health-interval", "700ms", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait");
    const before = await until("hc-keep", (x) => x.Log.length >= 2);
    await b.ok(["restart", "-t", "1", "hc-keep"]);
    const after = (await health("hc-keep"))!;
    expect(after.Status).toBe("starting");
    expect(after.Log.slice(0, 2)).toEqual(before.Log.slice(0, 2));
    const full = await until("hc-keep", (x) => x.Status === "healthy" && x.Log.length === 5 && Date.parse(x.Log[4]!.Start) > Date.parse(after.Log.at(-1)!.End) + 1000, 15_000);
    // in order, oldest first, across the two supervisors
    const starts = full.Log.map((r) => Date.parse(r.Start));
    expect([...starts].sort((x, y) => x - y)).toEqual(starts);
    expect(full.Log.every((r) => r.ExitCode === 0 && r.Output === "run-1\n")).toBe(true);
  });

  test("no process is left per check: ~40 checks 100 ms apart leave only the container and its supervisors", async () => {
    await run("hc-count", "--health-cmd", "true", "--health-interval", "100ms", busybox, "sleep", "60");
    const pid = Number((await b.ok(["inspect", "-f", "{{.State.Pid}}", "hc-count"])).trim());
    await until("hc-count", (x) => x.Log.length === 5);
    await Bun.sleep(3000);
    const h = await health("hc-count");
    expect(h!.Status).toBe("healthy");
    // the supervisor's children: the container init only (a check in flight may add one for a moment)
    const sup = Number(readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]!.split(" ")[1]);
    const guardian = Number(readFileSync(`/proc/${sup}/stat`, "latin1").split(") ")[1]!.split(" ")[1]);
    const childrenOf = (p: number) => readFileSync(`/proc/${p}/task/${p}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
    const children = () => childrenOf(sup);
    // nothing else in the container but its init: no check process survived (a check in flight may show for a moment)
    const inside = () => readdirSync("/proc").filter((d) => /^\d+$/.test(d) && Number(d) !== pid && readlinkNs(Number(d)) === readlinkNs(pid));
    let last: [number[], string[], number[]] = [[], [], []];
    for (let i = 0; i < 100; i++) {
      last = [children(), inside(), childrenOf(guardian)]; // the guardian (subreaper) adopted no orphan either
      if (last[0].length === 1 && !last[1].length) break;
      await Bun.sleep(10);
    }
    expect(last).toEqual([[pid], [], [sup]]);
  });
  test("the checks survive a kill -9 of the supervisor: the guardian runs them on", async () => {
    await run("hc-g", "--health-cmd", "echo alive", "--health-interval", "200ms", busybox, "sleep", "60");
    const before = await until("hc-g", (x) => x.Status === "healthy");
    const pid = Number((await b.ok(["inspect", "-f", "{{.State.Pid}}", "hc-g"])).trim());
    const sup = Number(readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]!.split(" ")[1]);
    process.kill(sup, "SIGKILL");
    const killed = Date.now();
    const h = await until("hc-g", (x) => x.Log.some((r) => Date.parse(r.Start) > killed + 300));
    expect(h.Status).toBe("healthy");
    expect(h.Log.at(-1)!.Output).toBe("alive\n");
    expect(h.Log.map((r) => r.Start)).toContain(before.Log.at(-1)!.Start); // S's results kept
  });
});


function readlinkNs(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return "";
  }
}

describe.skipIf(!root || DAEMON_MODE)("healthchecks through bunker serve", () => {
  let api: (path: string, init?: RequestInit) => Promise<Response>;
  let sock: string;
  let dir: string;
  const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${sock}` });
  beforeAll(async () => {
    if (!root || DAEMON_MODE) return;
    dir = tempDir("bunker-health-serve-");
    ({ api, sock } = await serveAt(freshDataRoot(), ["--registry-mirror", reg.url], { sock: join(dir, "d.sock") }));
    const pull = await api("/images/create?fromImage=busybox&tag=latest", { method: "POST" });
    await pull.text();
    expect(pull.status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    if (!root || DAEMON_MODE) return;
    const list = (await (await api("/containers/json?all=1")).json()) as { Id: string }[];
    for (const c of list) await api(`/containers/${c.Id}?force=1`, { method: "DELETE" });
  });

  test.skipIf(!existsSync("/usr/local/bin/docker"))("the docker CLI 28: run --health-*, ps (healthy), inspect State.Health, and a health_status event", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const docker = (...args: string[]) => {
      const r = Bun.spawnSync(["/usr/local/bin/docker", ...args], { env: env(), stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
      return r.stdout.toString();
    };
    docker("run", "-d", "--name", "dk", "--network", "none", "--health-cmd", "echo fine", "--health-interval", "300ms", "busybox", "sleep", "60");
    let status = "";
    for (let i = 0; i < 50 && status !== "healthy"; i++) {
      status = docker("inspect", "-f", "{{.State.Health.Status}}", "dk").trim();
      if (status !== "healthy") await Bun.sleep(100);
    }
    expect(status).toBe("healthy");
    expect(docker("ps", "--filter", "name=dk", "--format", "{{.Status}}")).toMatch(/^Up .* \(healthy\)\n$/);
    expect(docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}")).toBe("dk\n");
    expect(docker("inspect", "-f", "{{(index .State.Health.Log 0).Output}}", "dk")).toBe("fine\n\n");
    const events = docker("events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=dk", "--format", "{{.Action}}");
    expect(events.split("\n")).toContain("health_status: healthy");
  });

  test("a check that cannot start (CMD of a missing program): ExitCode -1 with the runtime's error", async () => {
    const post = (path: string, body?: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const created = (await (await post("/containers/create?name=nocmd", { Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { NetworkMode: "none" }, Healthcheck: { Test: ["CMD", "/no/such/check"], Interval: 2e8 } })).json()) as { Id: string };
    expect((await post(`/containers/${created.Id}/start`)).status).toBe(204);
    let h: Health | undefined;
    for (let i = 0; i < 50 && !h?.Log.length; i++) {
      h = ((await (await api("/containers/nocmd/json")).json()) as { State: { Health: Health } }).State.Health;
      if (!h.Log.length) await Bun.sleep(100);
    }
    expect(h!.Log[0]).toMatchObject({ ExitCode: -1, Output: 'OCI runtime exec failed: exec failed: unable to start container process: exec: "/no/such/check": stat /no/such/check: no such file or directory: unknown' });
  });

  test("docker-py: containers.run(healthcheck=...), attrs State.Health", () => {
    const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;
    if (!hasPython) return;
    const py = `
import docker, time
c = docker.DockerClient(base_url="unix://${sock}")
ct = c.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none",
    healthcheck={"test": ["CMD", "sh", "-c", "exit 2"], "interval": 200_000_000, "retries": 2})
for _ in range(100):
    ct.reload()
    h = ct.attrs["State"].get("Health") or {}
    if h.get("Status") == "unhealthy": break
    time.sleep(0.1)
print(h["Status"], h["FailingStreak"], h["Log"][0]["ExitCode"], ct.attrs["Config"]["Healthcheck"]["Test"])
ct.remove(force=True)
`;
    const r = Bun.spawnSync(["python3", "-c", py], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe("unhealthy 2 2 ['CMD', 'sh', '-c', 'exit 2']\n");
  });

  test.skipIf(!existsSync("/usr/bin/docker-compose"))("docker-compose 1.29: depends_on condition service_healthy waits for the check", async () => {
    const proj = tempDir("bunker-health-compose-");
    writeFileSync(
      join(proj, "docker-compose.yml"),
      `version: "2.4"
services:
  db:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 60"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      retries: 20
  app:
    image: busybox
    network_mode: none
    command: ["sleep", "60"]
    depends_on:
      db:
        condition: service_healthy
`,
    );
    const compose = (...args: string[]) => Bun.spawnSync(["/usr/bin/docker-compose", "-p", "hc", ...args], { cwd: proj, env: env(), stdout: "pipe", stderr: "pipe", timeout: 90_000 });
    try {
      const up = compose("up", "-d");
      expect([up.exitCode, up.stderr.toString()]).toEqual([0, expect.stringContaining("Creating hc_app_1")]);
      const ps = (await (await api("/containers/json")).json()) as { Names: string[]; Status: string }[];
      const db = ps.find((c) => c.Names[0] === "/hc_db_1");
      expect(db?.Status).toMatch(/\(healthy\)$/);
      const app = (await (await api("/containers/hc_app_1/json")).json()) as { State: { StartedAt: string } };
      const dbInfo = (await (await api("/containers/hc_db_1/json")).json()) as { State: { StartedAt: string; Health: Health } };
      // app started only once db's first passing check was recorded
      const healthyAt = Date.parse(dbInfo.State.Health.Log.find((l) => l.ExitCode === 0)!.End);
      expect(Date.parse(app.State.StartedAt)).toBeGreaterThanOrEqual(healthyAt);
      expect(healthyAt - Date.parse(dbInfo.State.StartedAt)).toBeGreaterThanOrEqual(900);
    } finally {
      compose("down", "-t", "0");
    }
  }, 120_000);
});
