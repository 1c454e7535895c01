/**
 * `docker stats`: a container's resource usage in Docker's StatsJSON shape (GET /containers/{id}/stats),
 * read from its own cgroups (v1: memory, cpuacct, cpu, pids, blkio under bunker/<id>; v2: bunker/<id>) and
 * the interface counters of its network namespace (/proc/<pid>/net/dev). Nothing is kept here between
 * samples: a stream carries the previous one as `precpu_stats`, as moby's does; one sample alone takes its
 * previous CPU figures from the container's supervisor, which records them about once a second (cpu.sample).
 */
import { readFileSync } from "node:fs";
import type { Engine } from "../engine.ts";
import { cgroupDir, unified } from "../runtime/cgroups.ts";
import { stateName, statusOf } from "./state.ts";
import type { ContainerStatus } from "../runtime/status.ts";
import type { StoredContainer as Stored } from "./types.ts";

/** moby's blkio entry. */
interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** moby's CPUStats. */
export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

/** moby's NetworkStats for one interface. */
export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** One sample in the Engine API's shape (moby's container.StatsResponse). */
export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<"io_service_bytes_recursive" | "io_serviced_recursive" | "io_queue_recursive" | "io_service_time_recursive" | "io_wait_time_recursive" | "io_merged_recursive" | "io_time_recursive" | "sectors_recursive", BlkioEntry[] | null>;
  num_procs: number;
  storage_stats: object;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; failcnt?: number; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, NetworkStats>;
}

const ZERO_TIME = "0001-01-01T00:00:00Z";
const USER_HZ = 100; // clock ticks of cpuacct.stat (sysconf(_SC_CLK_TCK) on Linux)

const zeroCpu = (): CpuStats => ({ cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });

function text(file: string): string {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return "";
  }
}

/** A cgroup file holding one number ("max" and unreadable: undefined). */
function num(file: string): number | undefined {
  const t = text(file).trim();
  return t && /^\d+$/.test(t) ? Number(t) : undefined;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat) as a map. */
function keyed(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text(file).split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

let cpusRead: { n: number; at: number } | undefined;
/** The number of online CPUs (/sys/devices/system/cpu/online: "0-1,4"), read at most once a second. */
function onlineCpus(): number {
  const now = performance.now();
  if (cpusRead && now - cpusRead.at < 1000) return cpusRead.n;
  cpusRead = { n: countOnline(), at: now };
  return cpusRead.n;
}

let memRead: { bytes: number; at: number } | undefined;
/** The host's memory (/proc/meminfo's MemTotal, what os.totalmem() says, without loading node:os), read at most once a second. */
function hostMemory(): number {
  const now = performance.now();
  if (memRead && now - memRead.at < 1000) return memRead.bytes;
  memRead = { bytes: Number(/^MemTotal:\s+(\d+) kB/m.exec(text("/proc/meminfo"))?.[1] ?? 0) * 1024, at: now };
  return memRead.bytes;
}

function countOnline(): number {
  let n = 0;
  for (const part of text("/sys/devices/system/cpu/online").trim().split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a !== undefined && !Number.isNaN(a)) n += (b ?? a) - a + 1;
  }
  return n || navigator.hardwareConcurrency;
}

/**
 * The clock of system_cpu_usage, the host's CPU time in ns, which clients only take differences of (within
 * one response, or between a stream's samples): a clock times the online CPUs. moby sums /proc/stat, which
 * counts the same time in 10 ms ticks; this process's monotonic clock keeps a short window exact. A window
 * that starts at the shim's sample (another process) is measured on the wall clock both ends (wallNs).
 */
const monotonicNs = () => Number(process.hrtime.bigint());
/** The wall clock in ns (ms precision): comparable with the shim's CLOCK_REALTIME in another process. */
const wallNs = () => Date.now() * 1e6;

/** v1 blkio lines "8:0 Read 4096" (the throttle files count every device's I/O, with or without a weight-based scheduler). */
function blkioV1(file: string): BlkioEntry[] | null {
  const out: BlkioEntry[] = [];
  for (const line of text(file).split("\n")) {
    const [dev, op, value] = line.split(" ");
    if (!dev || !op || value === undefined || !dev.includes(":")) continue;
    const [major, minor] = dev.split(":").map(Number);
    out.push({ major: major!, minor: minor!, op, value: Number(value) });
  }
  return out.length ? out : null;
}

/** v2 io.stat lines "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." as moby maps them (op "read"/"write"). */
function ioV2(file: string): { bytes: BlkioEntry[] | null; ios: BlkioEntry[] | null } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text(file).split("\n")) {
    const [dev, ...kv] = line.split(" ");
    if (!dev?.includes(":")) continue;
    const [major, minor] = dev.split(":").map(Number) as [number, number];
    const f = Object.fromEntries(kv.map((p) => p.split("=")).map(([k, v]) => [k, Number(v)]));
    bytes.push({ major, minor, op: "read", value: f.rbytes ?? 0 }, { major, minor, op: "write", value: f.wbytes ?? 0 });
    ios.push({ major, minor, op: "read", value: f.rios ?? 0 }, { major, minor, op: "write", value: f.wios ?? 0 });
  }
  return { bytes: bytes.length ? bytes : null, ios: ios.length ? ios : null };
}

/** The interfaces of a process's network namespace but lo, from /proc/<pid>/net/dev. */
export function interfaceCounters(pid: number): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text(`/proc/${pid}/net/dev`).split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo") continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = { rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]! };
  }
  return out;
}

/** The empty sample moby sends for a container that does not run. */
function emptyStats(c: Stored): ContainerStats {
  const blkio = { io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null };
  return { read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: blkio, num_procs: 0, storage_stats: {}, cpu_stats: zeroCpu(), precpu_stats: zeroCpu(), memory_stats: {}, name: `/${c.name}`, id: c.id };
}

/**
 * What a sample reads: `all` of moby's fields, or only the `table`'s, what `stats` prints (the CPU total,
 * memory usage, cache and limit, block I/O bytes, PIDs, network): in-process `stats --no-stream` reads 10
 * files a container instead of 16 on cgroup v1 (~10 µs each here, most of the command's work above start-up).
 */
export type SampleScope = "all" | "table";

/** How a sample is taken: system_cpu_usage's clock (monotonicNs, or wallNs against the shim's sample) and its scope. */
interface SampleOptions {
  clock?: () => number;
  scope?: SampleScope;
}

/** A container's CPU figures from its cgroup (v2: cpu.stat; v1: cpuacct and cpu), with the host's clock. */
function cpuStats(id: string, cpus: number, { clock = monotonicNs, scope = "all" }: SampleOptions = {}): CpuStats {
  if (unified()) {
    const cpu = keyed(`${cgroupDir(id, "cpu")}/cpu.stat`);
    return {
      cpu_usage: { total_usage: (cpu.usage_usec ?? 0) * 1000, usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000, usage_in_usermode: (cpu.user_usec ?? 0) * 1000 },
      system_cpu_usage: clock() * cpus,
      online_cpus: cpus,
      throttling_data: { periods: cpu.nr_periods ?? 0, throttled_periods: cpu.nr_throttled ?? 0, throttled_time: (cpu.throttled_usec ?? 0) * 1000 },
    };
  }
  const acct = cgroupDir(id, "cpuacct");
  // The table shows the total only: the user/kernel split and the throttling counters are two files more.
  const times = scope === "all" ? keyed(`${acct}/cpuacct.stat`) : {};
  const throttle = scope === "all" ? keyed(`${cgroupDir(id, "cpu")}/cpu.stat`) : {};
  const percpu = text(`${acct}/cpuacct.usage_percpu`).trim().split(/\s+/).filter(Boolean).map(Number);
  // cpuacct.usage is the sum of the same per-CPU counters: one file fewer a sample
  const total = percpu.length ? percpu.reduce((a, b) => a + b, 0) : (num(`${acct}/cpuacct.usage`) ?? 0);
  return {
    cpu_usage: { total_usage: total, ...(percpu.length ? { percpu_usage: percpu } : {}), usage_in_kernelmode: ((times.system ?? 0) * 1e9) / USER_HZ, usage_in_usermode: ((times.user ?? 0) * 1e9) / USER_HZ },
    system_cpu_usage: clock() * cpus,
    online_cpus: cpus,
    throttling_data: { periods: throttle.nr_periods ?? 0, throttled_periods: throttle.nr_throttled ?? 0, throttled_time: throttle.throttled_time ?? 0 },
  };
}

/**
 * One sample of a running container (its init's pid for the network counters); undefined when it does not
 * run. `st`: its status when the caller has just read it; `opts`: the clock and scope (SampleOptions).
 */
export function sampleStats(c: Stored, st = statusOf(c), opts: SampleOptions = {}): ContainerStats | undefined {
  if (!st.running || !st.pid) return undefined;
  const s = emptyStats(c);
  s.read = new Date().toISOString();
  const cpus = onlineCpus();
  const host = hostMemory();
  // moby: no limit (or one above the host's memory) shows as the host's memory
  const limit = (v: number | undefined) => (v === undefined || v > host ? host : v);
  const all = (opts.scope ?? "all") === "all";
  s.cpu_stats = cpuStats(c.id, cpus, opts);
  if (unified()) {
    const dir = cgroupDir(c.id, "memory")!;
    s.memory_stats = { usage: num(`${dir}/memory.current`) ?? 0, stats: keyed(`${dir}/memory.stat`), limit: limit(num(`${dir}/memory.max`)) };
    const pidsMax = all ? num(`${dir}/pids.max`) : undefined;
    s.pids_stats = { current: num(`${dir}/pids.current`) ?? 0, ...(pidsMax ? { limit: pidsMax } : {}) };
    const io = ioV2(`${dir}/io.stat`);
    s.blkio_stats.io_service_bytes_recursive = io.bytes;
    s.blkio_stats.io_serviced_recursive = io.ios;
  } else {
    const mem = cgroupDir(c.id, "memory");
    s.memory_stats = { usage: num(`${mem}/memory.usage_in_bytes`) ?? 0, stats: keyed(`${mem}/memory.stat`), limit: limit(num(`${mem}/memory.limit_in_bytes`)) };
    if (all) Object.assign(s.memory_stats, { max_usage: num(`${mem}/memory.max_usage_in_bytes`) ?? 0, failcnt: num(`${mem}/memory.failcnt`) ?? 0 });
    const pids = cgroupDir(c.id, "pids");
    const pidsMax = all ? num(`${pids}/pids.max`) : undefined;
    s.pids_stats = { current: num(`${pids}/pids.current`) ?? 0, ...(pidsMax ? { limit: pidsMax } : {}) };
    const blkio = cgroupDir(c.id, "blkio");
    s.blkio_stats.io_service_bytes_recursive = blkioV1(`${blkio}/blkio.throttle.io_service_bytes_recursive`);
    if (all) s.blkio_stats.io_serviced_recursive = blkioV1(`${blkio}/blkio.throttle.io_serviced_recursive`);
  }
  // Interfaces of the container's own network namespace (host and none have none of their own to count, as in Docker).
  const mode = c.hostConfig.NetworkMode;
  if (mode !== "host" && mode !== "none" && !mode.startsWith("container:")) s.networks = interfaceCounters(st.pid);
  return s;
}

/** What a stats request asks for: a stream (one sample a second) or one sample; `oneShot` skips the previous sample. */
export interface StatsOptions {
  stream: boolean;
  oneShot?: boolean;
  signal?: AbortSignal;
  /** ms between streamed samples (moby's collector: 1 s). */
  interval?: number;
  /** ms between the priming sample and the one sent, when the shim has no usable sample (see recordedCpu). */
  prime?: number;
}

/** The window of a sample primed here: five scheduler ticks at HZ=250 (the counters move a tick at a time). */
const PRIME_MS = 20;
/**
 * The ages of a shim sample (cpu.sample, about one a second) that make a window: at least half a second, so
 * a tick's error is at most 2 % (the newest is younger: the one before it serves), at most a few seconds (an
 * older one means the supervisor is not sampling: stopped, or a shim from before samples existed).
 */
const SHIM_WINDOW_MS = { min: 500, max: 3000 };

/**
 * The newest CPU sample the container's supervisor recorded for this run (src/engine/runtime/shim/sample.c)
 * that is between SHIM_WINDOW_MS old at `nowNs` (wall clock), as precpu_stats; undefined without one. A
 * slot half rewritten (its two sequence numbers differ) or of another pid is not one.
 */
export function recordedCpu(dir: string, pid: number, nowNs: number, cpus: number): Pick<ContainerStats, "read" | "cpu_stats"> | undefined {
  let best: number[] | undefined;
  for (const line of text(`${dir}/cpu.sample`).split("\n")) {
    const f = line.trim().split(" ");
    if (f.length !== 11 || f[0] !== "cpu" || f[1] !== f[10] || Number(f[2]) !== pid) continue;
    const v = f.slice(3, 10).map(Number);
    const age = (nowNs - v[0]!) / 1e6;
    if (v.some(Number.isNaN) || age < SHIM_WINDOW_MS.min || age > SHIM_WINDOW_MS.max) continue;
    if (!best || v[0]! > best[0]!) best = v;
  }
  if (!best) return undefined;
  const [real, usage, user, sys, periods, throttled, throttledNs] = best as [number, number, number, number, number, number, number];
  return {
    read: new Date(real / 1e6).toISOString(),
    cpu_stats: { cpu_usage: { total_usage: usage, usage_in_kernelmode: sys, usage_in_usermode: user }, system_cpu_usage: real * cpus, online_cpus: cpus, throttling_data: { periods, throttled_periods: throttled, throttled_time: throttledNs } },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => (clearTimeout(t), signal?.removeEventListener("abort", done), resolve());
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/**
 * The one sample of a request without a stream, for a container whose status `st` was just read: its
 * previous CPU figures (`precpu_stats`) are the ones its supervisor recorded 0.5-3 s ago (0.5-1.5 s while it
 * samples each second; dockerd's are its collector's, ~1 s), else ones primed here PRIME_MS before; none
 * with `oneShot`. A container that does not run gives moby's empty sample.
 */
async function singleSample(c: Stored, st: ContainerStatus, opts: Pick<StatsOptions, "oneShot" | "prime" | "signal">, scope: SampleScope = "all"): Promise<ContainerStats> {
  if (opts.oneShot || !st.running || !st.pid) return sampleStats(c, st, { scope }) ?? emptyStats(c);
  const recorded = recordedCpu(c.dir, st.pid, wallNs(), onlineCpus());
  const s = recorded && sampleStats(c, st, { clock: wallNs, scope });
  // its counters only grow within a run: a sample ahead of them is not this run's
  if (recorded && s && recorded.cpu_stats.cpu_usage.total_usage <= s.cpu_stats.cpu_usage.total_usage) {
    s.precpu_stats = recorded.cpu_stats;
    s.preread = recorded.read;
    return s;
  }
  // The priming sample is the CPU figures alone (the rest of it is never sent): a few files rather than a
  // whole sample, so the samples of many containers taken at once start their windows together and end
  // them together, instead of one after another.
  const read = new Date().toISOString();
  const cpu = cpuStats(c.id, onlineCpus(), { scope });
  // No cgroup CPU time: the container does not run (the sample says so), nothing to wait for.
  if (!cpu.cpu_usage.total_usage) return sampleStats(c, undefined, { scope }) ?? emptyStats(c);
  await sleep(opts.prime ?? PRIME_MS, opts.signal);
  const after = sampleStats(c, undefined, { scope }) ?? emptyStats(c);
  if (after.read !== ZERO_TIME) (after.precpu_stats = cpu), (after.preread = read);
  return after;
}

/**
 * The samples of a container, as GET /containers/{id}/stats sends them: each with the previous one's CPU
 * figures (`precpu_stats`, `preread`); a container that does not run gives moby's empty sample. A stream ends
 * when the container is removed or the signal aborts. Without a stream: one sample (singleSample).
 */
export async function* containerStats(engine: Engine, ref: string, opts: StatsOptions): AsyncGenerator<ContainerStats> {
  const c = engine.containers.resolve(ref);
  if (!opts.stream) {
    yield await singleSample(c, statusOf(c), opts);
    return;
  }
  let prev: ContainerStats | undefined;
  for (;;) {
    if (opts.signal?.aborted) return;
    const s = sampleStats(c);
    if (s && prev) {
      s.precpu_stats = prev.cpu_stats;
      s.preread = prev.read;
    }
    yield s ?? emptyStats(c);
    prev = s;
    await sleep(opts.interval ?? 1000, opts.signal);
    if (!engine.containers.lookup(c.id)) return;
  }
}

/**
 * `stats --no-stream` without names, in-process: one sample of each running container (of each one with
 * `all`), in `ps` order, taken together. The figures of one request per container that the table shows
 * (scope `table`), without the listing's other columns or a second read of each status.
 */
export async function statsSnapshot(engine: Engine, opts: { all: boolean }): Promise<{ id: string; sample: ContainerStats }[]> {
  const { reapExited } = await import("./query.ts");
  const shown = (await reapExited(engine)).map((c) => ({ c, st: statusOf(c) })).filter(({ st }) => opts.all || stateName(st) === "running");
  return Promise.all(shown.map(async ({ c, st }) => ({ id: c.id, sample: await singleSample(c, st, {}, "table") })));
}
