/**
 * `stats`: `bunker stats --no-stream` of 20 running containers, in-process and through `bunker serve`
 * (target ≤ 50 ms), interleaved with `docker stats --no-stream` against bunker serve and against dockerd
 * (when installed: private socket and data root, --iptables=false --bridge=none, stopped by pid); then the
 * daemon's CPU cost of one client streaming GET /containers/{id}/stats for 30 s (target ≤ 1% of one CPU),
 * from the daemon process's utime+stime beside its background work without a client, dockerd's too when it
 * runs (containerd's shims are not counted), and what one sample costs measured in-process.
 *
 * With BUNKER_BASELINE=<an older dist/bunker>, that binary's `stats --no-stream` in-process on the same data
 * root (and through the same serve) is interleaved too: before/after in one run.
 *
 *   bun scripts/bench/stats.ts [rounds=15] [seconds=30]
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, machineWatch, timed, type Contender, startDockerd, tearDown, waitForPath, dockerAt } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { purgeNetworking } from "../../tests/helpers/netcheck.ts";

const rounds = Number(process.argv[2] ?? 15);
const seconds = Number(process.argv[3] ?? 30);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-stats-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const waitFor = waitForPath;
const docker = dockerAt;
const fill = (host: string) => {
  docker(host, "pull", "-q", `${reg.host}/busybox`);
  // bridge networking: NET I/O has an interface to read
  for (let i = 0; i < 20; i++) docker(host, "run", "-d", `${reg.host}/busybox`, "sleep", "600");
};
/** utime + stime of a process, in clock ticks (USER_HZ = 100). */
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
};
/** The daemon's CPU % of one CPU while one client streams a container's stats for `seconds`. */
async function streamingCost(host: string, pid: number): Promise<number> {
  const sock = host.slice("unix://".length);
  const id = docker(host, "ps", "-q").stdout.toString().split("\n")[0]!;
  const idle = await idleCost(pid, 5);
  const ac = new AbortController();
  const res = await fetch(`http://x/containers/${id}/stats`, { unix: sock, signal: ac.signal } as RequestInit);
  const reader = res.body!.getReader();
  let samples = 0;
  const reading = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        samples += new TextDecoder().decode(value).split("\n").length - 1;
      }
    } catch {}
  })();
  await Bun.sleep(1500); // past the first sample
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const used = cpuTicks(pid) - t0;
  const wall = (performance.now() - w0) / 1000;
  ac.abort();
  await reading;
  console.log(`  ${samples} samples received; the daemon's own background work meanwhile (no client, 5 s before): ${idle.toFixed(2)}%`);
  const total = used / wall; // ticks/s at 100 Hz = % of one CPU
  console.log(`  the stream's own cost (with the stream minus without): ${Math.max(0, total - idle).toFixed(2)}%`);
  return total;
}

/** The daemon's CPU % over `s` seconds without this client's samples (its monitor and timers). */
async function idleCost(pid: number, s: number): Promise<number> {
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  await Bun.sleep(s * 1000);
  return (cpuTicks(pid) - t0) / ((performance.now() - w0) / 1000);
}

try {
  const bs = `unix://${work}/bunker.sock`;
  const daemon = Bun.spawn([bunker, "serve", "-H", bs, "--data-root", join(work, "bunker"), "--registry-mirror", reg.url], { stdout: "ignore", stderr: "ignore" });
  procs.push(daemon);
  await waitFor(`${work}/bunker.sock`);
  fill(bs);
  const contenders: Contender[] = [
    { name: "bunker stats (in-process)", run: () => timed([bunker, "--data-root", join(work, "bunker"), "stats", "--no-stream"]) },
    { name: "bunker stats → serve", run: () => timed([bunker, "-H", bs, "stats", "--no-stream"]) },
    { name: "docker stats → serve", run: () => timed(["docker", "stats", "--no-stream"], { env: { DOCKER_HOST: bs } }) },
    // the floor on this machine at this moment: the same CLI start and container listing, without samples
    { name: "bunker ps (reference)", run: () => timed([bunker, "--data-root", join(work, "bunker"), "ps"]) },
  ];
  const baseline = process.env.BUNKER_BASELINE;
  if (baseline) {
    contenders.push({ name: "baseline stats (in-process)", run: () => timed([baseline, "--data-root", join(work, "bunker"), "stats", "--no-stream"]) });
    contenders.push({ name: "baseline stats → serve", run: () => timed([baseline, "-H", bs, "stats", "--no-stream"]) });
  }
  const dockerd = await startDockerd(work);
  if (dockerd) {
    procs.push(dockerd.proc);
    const ds = dockerd.host;
    docker(ds, "pull", "-q", `${reg.host}/busybox`);
    for (let i = 0; i < 20; i++) docker(ds, "run", "-d", "--network", "none", `${reg.host}/busybox`, "sleep", "600");
    if (docker(ds, "ps", "-q").stdout.toString().trim().split("\n").length === 20) contenders.push({ name: "docker stats → dockerd", run: () => timed(["docker", "stats", "--no-stream"], { env: { DOCKER_HOST: ds } }) });
    else console.log("(dockerd started but could not run containers here: no comparison)");
  } else console.log("(dockerd not installed: no comparison)");
  const watch = machineWatch();
  await compare("stats --no-stream with 20 running containers (target ≤ 50 ms)", contenders, rounds);
  console.log(`  machine: ${watch()}, load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);

  // What one sample costs (cgroup files, netns counters, JSON), in this process over the same data root.
  const { openEngine } = await import("../../src/commands/_engine.ts");
  const { sampleStats } = await import("../../src/engine/containers/stats.ts");
  const engine = await openEngine({ "data-root": join(work, "bunker") });
  const one = engine.containers.all()[0]!;
  for (let i = 0; i < 50; i++) sampleStats(one);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 1000; i++) JSON.stringify(sampleStats(one));
  const used = process.cpuUsage(cpu0);
  console.log(`\none sample of one container: ${((used.user + used.system) / 1e6).toFixed(3)} ms of CPU (a stream takes one a second)`);

  console.log(`\nthe daemon's CPU while one client streams /containers/{id}/stats for ${seconds} s (target ≤ 1%)`);
  console.log(`  bunker serve: ${(await streamingCost(bs, daemon.pid)).toFixed(2)}% of one CPU`);
  if (dockerd && contenders.some((c) => c.name === "docker stats → dockerd")) console.log(`  dockerd:      ${(await streamingCost(dockerd.host, dockerd.proc.pid)).toFixed(2)}% of one CPU (dockerd alone; containerd not counted)`);
  for (const host of [bs, ...(dockerd ? [dockerd.host] : [])]) {
    const ids = docker(host, "ps", "-aq").stdout.toString().trim();
    if (ids) docker(host, "rm", "-f", ...ids.split("\n"));
  }
} finally {
  await tearDown(work, procs.splice(0));
  purgeNetworking(join(work, "bunker"));
  await reg.stop();
}
