/**
 * Healthchecks' cost per container (issue 15): 20 containers with a 1 s healthcheck (`--health-cmd true
 * --health-interval 1s`), bunker (in-process CLI, so nothing but the shims runs them) and dockerd when it is
 * installed, and 20 of bunker's without a check (the baseline). Every 10 s for a minute, A B A B: the PSS of each container's supervision (bunker: guardian +
 * supervisor from /proc/<pid>/smaps_rollup; docker: its containerd-shim-runc-v2) and the processes left
 * behind (in a container's pid namespace or under its supervisor, besides the init, seen in three samples
 * 300 ms apart, so a check in flight is not counted). Target: PSS <= 0.5 MiB per container, 0 processes left.
 * dockerd runs on a private socket and data root with --iptables=false --bridge=none; both stop by pid.
 *
 *   bun scripts/bench/health.ts [seconds=60]
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { has, median, startDockerd, tearDown } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const seconds = Number(process.argv[2] ?? 60);
const N = 20;
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-health-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const image = `${reg.host}/busybox`;
const hcArgs = ["run", "-d", "--network", "none", "--health-cmd", "true", "--health-interval", "1s", image, "sleep", "3600"];

const out = (cmd: string[], env: Record<string, string> = {}) => {
  const r = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r.stdout.toString().trim();
};
const bk = (...args: string[]) => out([bunker, "--data-root", join(work, "bunker"), "--registry-mirror", reg.url, ...args]);
const dk = (...args: string[]) => out(["docker", ...args], { DOCKER_HOST: `unix://${work}/docker.sock` });

const ppid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]!.split(" ")[1]);
const pssKiB = (pid: number) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "latin1"))?.[1] ?? NaN);
const children = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const descendants = (pid: number): number[] => children(pid).flatMap((c) => [c, ...descendants(c)]);
const pidns = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return "";
  }
};

/** One engine's containers: init pids and the processes that supervise each (bunker: S and G; docker: the shim). */
interface Set_ {
  name: string;
  inits: number[];
  supervisors: (init: number) => number[];
}

/** Processes besides the init in each container's pid namespace or under its supervisors, stable over 3 samples. */
async function leftovers(s: Set_): Promise<number> {
  const sample = () => {
    const seen = new Set<number>();
    const spaces = new Map(s.inits.map((p) => [pidns(p), p]));
    for (const d of readdirSync("/proc")) if (/^\d+$/.test(d) && spaces.has(pidns(Number(d))) && !s.inits.includes(Number(d))) seen.add(Number(d));
    for (const init of s.inits) {
      const sup = s.supervisors(init);
      for (const p of descendants(sup.at(-1)!)) if (p !== init && !sup.includes(p)) seen.add(p);
    }
    return seen;
  };
  let stable = sample();
  for (let i = 0; i < 2; i++) {
    await Bun.sleep(300);
    const next = sample();
    stable = new Set([...stable].filter((p) => next.has(p)));
  }
  return stable.size;
}

const pssPer = (s: Set_) => s.inits.map((i) => s.supervisors(i).reduce((a, p) => a + pssKiB(p), 0));

try {
  bk("pull", "-q", image);
  const bunkerIds = Array.from({ length: N }, () => bk(...hcArgs));
  const sets: Set_[] = [
    {
      name: "bunker (shim: guardian + supervisor)",
      inits: bunkerIds.map((id) => Number(bk("inspect", "-f", "{{.State.Pid}}", id))),
      supervisors: (init) => [ppid(init), ppid(ppid(init))],
    },
  ];
  // the same shims without a check: what the checks themselves cost
  const plainIds = Array.from({ length: N }, () => bk("run", "-d", "--network", "none", image, "sleep", "3600"));
  sets.push({
    name: "bunker, no healthcheck (baseline)",
    inits: plainIds.map((id) => Number(bk("inspect", "-f", "{{.State.Pid}}", id))),
    supervisors: (init) => [ppid(init), ppid(ppid(init))],
  });
  let dockerIds: string[] = [];
  const dockerd = await startDockerd(work, "bunkerbenchhc");
  if (dockerd) {
    procs.push(dockerd.proc);
    dk("pull", "-q", image);
    dockerIds = Array.from({ length: N }, () => dk(...hcArgs));
    sets.push({
      name: "docker (containerd-shim-runc-v2)",
      inits: dockerIds.map((id) => Number(dk("inspect", "-f", "{{.State.Pid}}", id))),
      supervisors: (init) => [ppid(init)],
    });
  } else console.log("(dockerd not installed here: no docker comparison)");

  const pss = new Map(sets.map((s) => [s.name, [] as number[]]));
  const left = new Map(sets.map((s) => [s.name, 0]));
  const t0 = Date.now();
  for (let round = 0; Date.now() - t0 < seconds * 1000; round++) {
    await Bun.sleep(Math.min(10_000, Math.max(0, seconds * 1000 - (Date.now() - t0))));
    for (const s of round % 2 ? [...sets].reverse() : sets) pss.get(s.name)!.push(...pssPer(s)); // A B, then B A
  }
  for (const s of sets) left.set(s.name, await leftovers(s));
  const checks = Number(bk("inspect", "-f", "{{len .State.Health.Log}}", bunkerIds[0]!));
  console.log(`\n${N} containers, --health-interval 1s, ${seconds} s (bunker's first container: ${bk("inspect", "-f", "{{.State.Health.Status}}", bunkerIds[0]!)}, ${checks} results in its Log)`);
  console.log("engine                                  PSS/container (median, KiB)   processes left after the checks");
  for (const s of sets) console.log(`${s.name.padEnd(40)}${String(median(pss.get(s.name)!)).padStart(12)}                   ${left.get(s.name)}`);
  if (sets.length === 3) console.log(`ratio bunker/docker PSS: ${(median(pss.get(sets[0]!.name)!) / median(pss.get(sets[2]!.name)!)).toFixed(3)}`);
  console.log(`target: <= 512 KiB per container: ${median(pss.get(sets[0]!.name)!) <= 512 ? "met" : "NOT met"}; processes left: ${left.get(sets[0]!.name) === 0 ? "0 (met)" : "NOT 0"}`);
  bk("rm", "-f", ...bunkerIds, ...plainIds);
  if (dockerIds.length) dk("rm", "-f", ...dockerIds);
} finally {
  await tearDown(work, procs.splice(0));
  await reg.stop();
}
