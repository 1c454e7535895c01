/** Benchmark helpers: interleaved runs (A B A B), medians, ratios, peak RSS of a child. Not a test. */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";

// A bridge container makes the engine switch forwarding on and set FORWARD's policy to DROP, as dockerd
// does; a benchmark puts both back as it found them when it exits.
if (process.getuid?.() === 0 && Bun.which("iptables")) {
  const forward = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
  const policy = /^-P FORWARD (\w+)/m.exec(Bun.spawnSync(["iptables", "-S", "FORWARD"]).stdout.toString())?.[1] ?? "ACCEPT";
  process.on("exit", () => {
    writeFileSync("/proc/sys/net/ipv4/ip_forward", forward);
    Bun.spawnSync(["iptables", "-P", "FORWARD", policy]);
  });
}

/**
 * GNU time (Debian's `time`), the peak-RSS probe: it forks the command from its own small process and
 * reports what wait4 says of it. The timed spawn cannot tell: Bun spawns with vfork, and the kernel counts
 * the memory a process had before its exec (this harness's) in its peak, so every command measured at least
 * this harness's ~20-50 MiB (`true`: 21.6 MiB; under GNU time: 1 MiB).
 */
const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** Set by compare() for its first round, whose runs measure peak RSS (under GNU time) and are not timed. */
let probingRss = false;

/**
 * One run of a command: wall time in ms, from a synchronous spawn as hyperfine measures (waiting on the event
 * loop for the exit added ~1 ms of the harness's own to each run); with `rss` (or in compare()'s probe round)
 * under GNU time instead, for the command's own peak RSS in bytes (NaN without GNU time), its time then not
 * comparable (GNU time adds ~4 ms). A timed run's maxRss is NaN.
 */
export async function timed(cmd: string[], opts: { env?: Record<string, string>; cwd?: string; rss?: boolean } = {}): Promise<{ ms: number; maxRss: number }> {
  const env = { ...process.env, ...opts.env };
  const probe = (opts.rss || probingRss) && GNU_TIME !== undefined;
  const out = `/tmp/bunker-bench-rss-${process.pid}`;
  const t0 = performance.now();
  const p = Bun.spawnSync(probe ? [GNU_TIME!, "-f", "%M", "-o", out, ...cmd] : cmd, { stdout: "ignore", stderr: "pipe", env, cwd: opts.cwd });
  const ms = performance.now() - t0;
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${p.exitCode}: ${p.stderr.toString()}`);
  if (!probe) return { ms, maxRss: NaN };
  const kib = Number(readFileSync(out, "utf8").trim().split("\n").at(-1));
  rmSync(out, { force: true });
  return { ms, maxRss: kib * 1024 };
}

/** The median of a list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A contender: prepare() runs untimed before each run (cleanup), run() is timed. */
export interface Contender {
  name: string;
  prepare?(): Promise<void> | void;
  run(): Promise<{ ms: number; maxRss: number }>;
}

/**
 * Runs contenders interleaved for `rounds` rounds and prints medians, ratios to the first one, and each one's
 * peak RSS, from one more round before them whose runs are probed (timed()) and not timed.
 */
export async function compare(title: string, contenders: Contender[], rounds: number): Promise<Record<string, { median: number; maxRss: number }>> {
  const times: Record<string, number[]> = {};
  const rss: Record<string, number> = {};
  for (let r = -1; r < rounds; r++) {
    for (const c of contenders) {
      await c.prepare?.();
      probingRss = r < 0;
      try {
        const { ms, maxRss } = await c.run();
        if (r < 0) rss[c.name] = maxRss;
        else (times[c.name] ??= []).push(ms);
      } finally {
        probingRss = false;
      }
    }
  }
  const base = median(times[contenders[0]!.name]!);
  console.log(`\n${title} (${rounds} interleaved rounds, medians)`);
  const out: Record<string, { median: number; maxRss: number }> = {};
  for (const c of contenders) {
    const m = median(times[c.name]!);
    out[c.name] = { median: m, maxRss: rss[c.name]! };
    const ratio = c === contenders[0] ? "" : `  ${contenders[0]!.name}/${c.name} = ${(base / m).toFixed(2)}`;
    const peak = Number.isNaN(rss[c.name]) ? "n/a" : (rss[c.name]! / 1048576).toFixed(1);
    console.log(`  ${c.name.padEnd(28)} ${m.toFixed(1).padStart(8)} ms   peak RSS ${peak.padStart(6)} MiB${ratio}`);
  }
  return out;
}

/** True when a command exists on PATH. */
export function has(cmd: string): boolean {
  return Bun.which(cmd) !== null;
}

/** Runs a setup command to completion; its trimmed stdout, or an error with its stderr. */
export function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** CPU time counters of the whole machine (/proc/stat's first line), in ticks. */
function cpuTicks(): { total: number; steal: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

/**
 * What one page fault costs now, in µs: fresh pages of a new buffer touched once each, in a child process (a
 * spawned child's peak RSS counts its parent's too, so the buffer must not grow this one). A short command's
 * start-up is mostly page faults (a compiled hello-world takes ~700), and on this VM their price has moved
 * from ~10.5 to ~15.5 µs within an hour, taking every start-up figure with it.
 */
export function pageFaultMicros(pages = 4096): number {
  const probe = `const a = new Uint8Array(${pages} * 4096); const t = performance.now(); for (let i = 0; i < a.length; i += 4096) a[i] = 1; console.log(((performance.now() - t) * 1000) / ${pages});`;
  return Number(sh([process.execPath, "-e", probe]));
}

/**
 * Watches the machine while a benchmark runs: the share of CPU time the hypervisor took (steal), the KiB
 * read from disk (page cache refilled, e.g. after the host reclaimed it) and a page fault's price before
 * and after. On a shared VM each makes every process here slower at times; the figures say when a run
 * happened in such a phase.
 */
export function machineWatch(): () => string {
  const t0 = cpuTicks();
  const read0 = diskReadKiB();
  const fault0 = pageFaultMicros();
  return () => {
    const t1 = cpuTicks();
    const steal = t1.total > t0.total ? ((t1.steal - t0.steal) * 100) / (t1.total - t0.total) : 0;
    return `CPU steal ${steal.toFixed(0)}%, ${((diskReadKiB() - read0) / 1024).toFixed(0)} MiB read from disk, a page fault ${fault0.toFixed(1)} µs before and ${pageFaultMicros().toFixed(1)} µs after`;
  };
}

/** KiB read from block devices since boot (/proc/vmstat pgpgin). */
function diskReadKiB(): number {
  return Number(/^pgpgin (\d+)$/m.exec(readFileSync("/proc/vmstat", "utf8"))?.[1] ?? 0);
}

/**
 * A private dockerd for a side-by-side run: its own data and exec roots under `work`, its socket there, no
 * bridge, iptables or forwarding changes on the host (so it cannot disturb bunker's networking). Resolves once
 * it answers `docker version`; `stop()` ends it (SIGTERM, then waits). Undefined when it is not installed or
 * does not come up.
 */
export async function startDockerd(work: string, namespace = "bunkerbench"): Promise<{ host: string; proc: Subprocess; stop: () => Promise<void> } | undefined> {
  if (!has("dockerd") || !has("docker")) return undefined;
  const host = `unix://${work}/docker.sock`;
  const proc = Bun.spawn(["dockerd", "--data-root", `${work}/docker`, "--exec-root", `${work}/dexec`, "--host", host, "--pidfile", `${work}/docker.pid`, "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none", "--containerd-namespace", namespace, "--default-ulimit", "nofile=1024:1024"], { stdout: "ignore", stderr: "ignore" });
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
  for (let i = 0; i < 300; i++) {
    if (Bun.spawnSync(["docker", "-H", host, "version"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) return { host, proc, stop };
    if (proc.exitCode !== null) return undefined;
    await Bun.sleep(100);
  }
  await stop();
  return undefined;
}

/** Waits (up to 6 s) for a path to appear: a socket a daemon is about to listen on. */
export async function waitForPath(path: string): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(path); i++) await Bun.sleep(20);
}

/** Runs the docker CLI against `host` (a `unix://` address); its output is piped. */
export function dockerAt(host: string, ...args: string[]) {
  return Bun.spawnSync(["docker", ...args], { env: { ...process.env, DOCKER_HOST: host }, stdout: "pipe", stderr: "pipe" });
}

/**
 * A bench's end: the processes it started stopped by pid (last started first), then every mount under its
 * work directory (deepest first: overlays of containers and podman's stores), then the directory itself.
 */
export async function tearDown(work: string, procs: Subprocess[] = []): Promise<void> {
  for (const p of [...procs].reverse()) {
    p.kill("SIGTERM");
    await p.exited;
  }
  unmountUnder(work);
  rmSync(work, { recursive: true, force: true });
}

/** Lazily unmounts every mount at or under `dir`, deepest first (no shell: the paths are passed as arguments). */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m === dir || m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) Bun.spawnSync(["umount", "-l", m]);
}
