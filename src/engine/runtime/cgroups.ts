/**
 * Every container's own cgroups, as Docker's cgroupfs driver lays them out: v1 a directory per hierarchy
 * (/sys/fs/cgroup/<hierarchy>/bunker/<id>, for memory, cpu, cpuacct, pids, blkio, devices, cpuset and
 * freezer), v2 one (/sys/fs/cgroup/bunker/<id>). Made before each start with the limits (`-m`,
 * `--memory-swap`, `--cpus`, `-c`, `--cpu-period/quota`, `--cpuset-*`, `--pids-limit`, `--blkio-weight`,
 * `--oom-kill-disable`) written, rewritten live by `update`, frozen by `pause`; the shim applies the device
 * allow-list there and puts the container's init, and every exec, in them before execve, so none of its
 * processes runs outside them.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { EngineError } from "../errors.ts";
import type { PlanCgroup } from "./spec.ts";

/** The HostConfig fields bunker enforces (moby's Resources subset); 0 / null / undefined: no limit. */
export interface Resources {
  Memory?: number;
  /** Memory plus swap; -1 unlimited swap; 0 (unset) lets the container use as much swap as memory, as Docker. */
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  PidsLimit?: number | null;
  /** CFS period and quota in µs (--cpu-period, --cpu-quota; 0 unset, quota -1 unlimited). */
  CpuPeriod?: number;
  CpuQuota?: number;
  /** --cpuset-cpus / --cpuset-mems ("0-1,3"; "" unset: the parent's). */
  CpusetCpus?: string;
  CpusetMems?: string;
  /** --blkio-weight, 10-1000 (0 unset). */
  BlkioWeight?: number;
  /** --oom-kill-disable (v1 memory.oom_control). */
  OomKillDisable?: boolean | null;
}

const ROOT = process.env.BUNKER_CGROUP_ROOT ?? "/sys/fs/cgroup";
/** The v1 controllers a container gets a cgroup in: its limits, the device allow-list, `stats` and `pause` (freezer). */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "blkio", "devices", "cpuset", "freezer"] as const;
const PERIOD = 100_000; // CFS period in µs, Docker's default

/** True when a container has any limit. */
export const hasLimits = (r: Resources) => !!(r.Memory || r.MemorySwap || r.NanoCpus || r.CpuShares || (r.PidsLimit ?? 0) > 0 || r.CpuPeriod || r.CpuQuota || r.CpusetCpus || r.CpusetMems || r.BlkioWeight || r.OomKillDisable);

let isUnified: boolean | undefined;
/** True on a cgroup v2 (unified) host (asked once: a host does not switch while bunker runs). */
export const unified = () => (isUnified ??= existsSync(`${ROOT}/cgroup.controllers`));

/** Docker's default --cgroupns: private on cgroup v2, host on v1. */
export const defaultCgroupns = (): "private" | "host" => (unified() ? "private" : "host");

let v1Cache: { name: string; aliases: string[]; controllers: string[] }[] | undefined;
/**
 * The v1 hierarchies holding V1_CONTROLLERS, by their directory name under the root ("cpu,cpuacct" where
 * the host mounts them together), with the names linked to it ("cpu", "cpuacct"); controllers not mounted are left out.
 */
function v1Hierarchies(): { name: string; aliases: string[]; controllers: string[] }[] {
  // Asked once, as unified(): the host's cgroup mounts do not change while bunker runs (8 lstats a start).
  return (v1Cache ??= findV1Hierarchies());
}

function findV1Hierarchies(): { name: string; aliases: string[]; controllers: string[] }[] {
  const out = new Map<string, { name: string; aliases: string[]; controllers: string[] }>();
  for (const c of V1_CONTROLLERS) {
    let name: string = c;
    try {
      if (lstatSync(`${ROOT}/${c}`).isSymbolicLink()) name = basename(readlinkSync(`${ROOT}/${c}`));
    } catch {
      continue;
    }
    const h = out.get(name) ?? { name, aliases: [], controllers: [] };
    if (name !== c) h.aliases.push(c);
    h.controllers.push(c);
    out.set(name, h);
  }
  return [...out.values()];
}

function write(file: string, value: string | number): void {
  try {
    writeFileSync(file, String(value));
  } catch (e) {
    throw new EngineError("system", `failed to apply the container's resource limits: write ${value} to ${file}: ${(e as Error).message}`);
  }
}

type Settings = [string, string | number][];

/** What each limit writes, per v1 controller: [file, value] in the order the kernel needs them ("?": only where the file exists). */
function settingsV1(r: Resources): Record<"memory" | "cpu" | "pids" | "cpuset" | "blkio", Settings> {
  const memory: Settings = [];
  if (r.Memory) {
    memory.push(["memory.limit_in_bytes", r.Memory]);
    // Swap accounting may be off (no memsw files): Docker then warns and limits memory alone.
    const swap = r.MemorySwap === -1 ? -1 : r.MemorySwap || r.Memory * 2;
    memory.push(["memory.memsw.limit_in_bytes?", swap]);
  }
  if (r.OomKillDisable) memory.push(["memory.oom_control", 1]);
  const cpu: Settings = [];
  if (r.NanoCpus) cpu.push(["cpu.cfs_period_us", PERIOD], ["cpu.cfs_quota_us", Math.round((r.NanoCpus * PERIOD) / 1e9)]);
  if (r.CpuPeriod) cpu.push(["cpu.cfs_period_us", r.CpuPeriod]);
  if (r.CpuQuota) cpu.push(["cpu.cfs_quota_us", r.CpuQuota]);
  if (r.CpuShares) cpu.push(["cpu.shares", r.CpuShares]);
  // -1: `update --pids-limit -1` lifts the limit
  const pids: Settings = (r.PidsLimit ?? 0) > 0 ? [["pids.max", r.PidsLimit!]] : r.PidsLimit === -1 ? [["pids.max", "max"]] : [];
  const cpuset: Settings = [];
  if (r.CpusetCpus) cpuset.push(["cpuset.cpus", r.CpusetCpus]);
  if (r.CpusetMems) cpuset.push(["cpuset.mems", r.CpusetMems]);
  const blkio: Settings = r.BlkioWeight ? [["blkio.weight", r.BlkioWeight]] : [];
  return { memory, cpu, pids, cpuset, blkio };
}

/** The same limits in cgroup v2's files (cpu.weight from shares and io.weight from blkio weight as runc converts them). */
function settingsV2(r: Resources): Settings {
  const out: Settings = [];
  if (r.Memory) {
    out.push(["memory.max", r.Memory]);
    const swap = r.MemorySwap === -1 ? "max" : (r.MemorySwap || r.Memory * 2) - r.Memory;
    out.push(["memory.swap.max?", swap]);
  }
  if (r.NanoCpus) out.push(["cpu.max", `${Math.round((r.NanoCpus * PERIOD) / 1e9)} ${PERIOD}`]);
  if (r.CpuPeriod || r.CpuQuota) out.push(["cpu.max", `${r.CpuQuota && r.CpuQuota > 0 ? r.CpuQuota : "max"} ${r.CpuPeriod || PERIOD}`]);
  if (r.CpuShares) out.push(["cpu.weight", Math.round(1 + ((r.CpuShares - 2) * 9999) / 262142)]);
  if ((r.PidsLimit ?? 0) > 0 || r.PidsLimit === -1) out.push(["pids.max", r.PidsLimit === -1 ? "max" : r.PidsLimit!]);
  if (r.CpusetCpus) out.push(["cpuset.cpus", r.CpusetCpus]);
  if (r.CpusetMems) out.push(["cpuset.mems", r.CpusetMems]);
  if (r.BlkioWeight) out.push(["io.weight", Math.round(1 + ((r.BlkioWeight - 10) * 9999) / 990)]);
  return out;
}

/** Writes settings into a cgroup directory, skipping the optional ones ("?") the kernel does not have. */
function put(dir: string, settings: Settings): void {
  for (const [name, value] of settings) {
    const optional = name.endsWith("?");
    const file = `${dir}/${optional ? name.slice(0, -1) : name}`;
    if (optional && !existsSync(file)) continue;
    write(file, value);
  }
}

/**
 * Whether this host can apply a limit bunker would otherwise have to drop (Docker warns and discards it;
 * bunker refuses): undefined when it can, else why not.
 */
export function unsupportedLimit(r: Resources): string | undefined {
  if (unified()) {
    if (r.OomKillDisable) return "Your kernel does not support OomKillDisable (cgroup v2 has no memory.oom_control)";
    if (r.BlkioWeight && !readFileSync(`${ROOT}/cgroup.controllers`, "utf8").split(/\s+/).includes("io")) return "Your kernel does not support Block I/O weight or the cgroup is not mounted";
    return undefined;
  }
  if (r.BlkioWeight && !existsSync(`${ROOT}/blkio/blkio.weight`)) return "Your kernel does not support Block I/O weight or the cgroup is not mounted (no blkio.weight: the I/O scheduler has no weights)";
  if (r.OomKillDisable && !existsSync(`${ROOT}/memory/memory.oom_control`)) return "Your kernel does not support OomKillDisable";
  return undefined;
}

/** The CPUs and memory nodes a container may be given (the root cpuset's). */
export function availableCpuset(): { cpus: string; mems: string } {
  const dir = unified() ? ROOT : `${ROOT}/cpuset`;
  const read = (f: string) => {
    try {
      return readFileSync(`${dir}/${f}`, "utf8").trim();
    } catch {
      return "";
    }
  };
  return { cpus: read(unified() ? "cpuset.cpus.effective" : "cpuset.cpus"), mems: read(unified() ? "cpuset.mems.effective" : "cpuset.mems") };
}

/** v1 cpuset: a new cgroup starts with no CPU and no node, and no process may join it until both are set (from its parent). */
function initCpuset(dir: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    if (readFileSync(`${dir}/${f}`, "utf8").trim()) continue;
    write(`${dir}/${f}`, readFileSync(`${dir}/../${f}`, "utf8").trim());
  }
}

/**
 * Makes a container's cgroups and writes its limits, before a start. Returns the cgroup.procs files its
 * processes join and the layout the shim needs (devices cgroup, /sys/fs/cgroup inside, `ns`: --cgroupns private).
 */
export function containerCgroups(id: string, r: Resources, ns = false): { cgroupProcs: string[]; cgroup: PlanCgroup } {
  if (unified()) {
    // v2: controllers must be enabled in every ancestor's subtree_control; "bunker" itself holds no process.
    const base = `${ROOT}/bunker`;
    const dir = `${base}/${id}`;
    makeCgroup(dir);
    const available = readFileSync(`${ROOT}/cgroup.controllers`, "utf8").split(/\s+/);
    const enable = ["memory", "cpu", "pids", "io", "cpuset"].filter((c) => available.includes(c)).map((c) => `+${c}`).join(" ");
    if (enable) for (const d of [ROOT, base]) write(`${d}/cgroup.subtree_control`, enable);
    put(dir, settingsV2(r));
    return { cgroupProcs: [`${dir}/cgroup.procs`], cgroup: { version: 2, dirs: [{ name: "", dir, aliases: [] }], devices: dir, ns } };
  }
  const hierarchies = v1Hierarchies();
  const devices = hierarchies.find((h) => h.controllers.includes("devices"));
  if (!devices) throw new EngineError("system", "Devices cgroup isn't mounted");
  const settings = settingsV1(r);
  const dirs = hierarchies.map((h) => {
    const dir = `${ROOT}/${h.name}/bunker/${id}`;
    makeCgroup(dir);
    if (h.controllers.includes("cpuset")) initCpuset(`${ROOT}/${h.name}/bunker`), initCpuset(dir);
    for (const c of h.controllers) put(dir, settings[c as keyof typeof settings] ?? []);
    return { name: h.name, dir, aliases: h.aliases };
  });
  return { cgroupProcs: dirs.map((d) => `${d.dir}/cgroup.procs`), cgroup: { version: 1, dirs, devices: `${ROOT}/${devices.name}/bunker/${id}`, ns } };
}

const mounted = new Set<string>();
/** Whether a v1 controller's hierarchy is mounted (a mounted one is remembered: `stats` asks 15 times a container). */
function isMounted(controller: string): boolean {
  if (mounted.has(controller)) return true;
  if (!existsSync(`${ROOT}/${controller}`)) return false;
  mounted.add(controller);
  return true;
}

/** A container's cgroup directory for a v1 controller (or its one v2 directory); undefined when that controller is not mounted. */
export function cgroupDir(id: string, controller: (typeof V1_CONTROLLERS)[number]): string | undefined {
  if (unified()) return `${ROOT}/bunker/${id}`;
  return isMounted(controller) ? `${ROOT}/${controller}/bunker/${id}` : undefined;
}

/**
 * Writes changed limits into a running container's cgroups (`docker update`). Memory before or after its
 * swap limit, whichever keeps memory <= memory+swap at every step (the kernel refuses otherwise); a memory
 * limit below what the container uses is runc's error.
 */
export function updateCgroups(id: string, r: Resources): void {
  if (unified()) return put(`${ROOT}/bunker/${id}`, settingsV2(r));
  const s = settingsV1(r);
  const mem = cgroupDir(id, "memory");
  if (mem && r.Memory) {
    const current = Number(readFileSync(`${mem}/memory.limit_in_bytes`, "utf8"));
    const order = r.Memory > current ? [...s.memory].reverse() : s.memory;
    try {
      put(mem, order);
    } catch (e) {
      if (!/busy/i.test((e as Error).message)) throw e;
      const usage = readFileSync(`${mem}/memory.usage_in_bytes`, "utf8").trim();
      const peak = readFileSync(`${mem}/memory.max_usage_in_bytes`, "utf8").trim();
      throw new EngineError("invalidParameter", `unable to set memory limit to ${r.Memory} (current usage: ${usage}, peak usage: ${peak})`);
    }
  } else if (mem) put(mem, s.memory);
  for (const c of ["cpu", "pids", "cpuset", "blkio"] as const) {
    const dir = cgroupDir(id, c);
    if (dir) put(dir, s[c]);
  }
}

/** The freezer's file and the values that freeze and thaw: v1 freezer.state, v2 cgroup.freeze. */
function freezerOf(id: string): { file: string; frozen: string; thawed: string } | undefined {
  if (unified()) return { file: `${ROOT}/bunker/${id}/cgroup.freeze`, frozen: "1", thawed: "0" };
  const dir = cgroupDir(id, "freezer");
  return dir ? { file: `${dir}/freezer.state`, frozen: "FROZEN", thawed: "THAWED" } : undefined;
}

/** Whether the container's processes are frozen (`docker pause`); false when it has no freezer cgroup. */
export function isFrozen(id: string): boolean {
  const f = freezerOf(id);
  if (!f) return false;
  try {
    return readFileSync(f.file, "utf8").trim() === f.frozen;
  } catch {
    return false;
  }
}

/**
 * Freezes or thaws every process of the container (`pause`/`unpause`) and waits until the kernel says it
 * is done (v1 passes through FREEZING while tasks are stopped one by one; v2 reports it in cgroup.events).
 */
export async function setFrozen(id: string, frozen: boolean): Promise<void> {
  const f = freezerOf(id);
  if (!f || !existsSync(f.file)) throw new EngineError("system", `the container ${id} has no freezer cgroup (it was started before bunker could pause containers: restart it)`);
  write(f.file, frozen ? f.frozen : f.thawed);
  const done = () => (unified() ? readFileSync(`${ROOT}/bunker/${id}/cgroup.events`, "utf8").includes(`frozen ${frozen ? 1 : 0}`) : readFileSync(f.file, "utf8").trim() === (frozen ? f.frozen : f.thawed));
  for (let i = 0; !done(); i++) {
    if (i === 500) throw new EngineError("system", `timed out ${frozen ? "freezing" : "thawing"} the container ${id}`);
    // v1: writing FROZEN again retries the tasks that were busy (runc does the same)
    if (frozen && !unified() && i % 10 === 9) write(f.file, f.frozen);
    await Bun.sleep(2);
  }
}

/** Removes a container's cgroups (its processes are gone), and "bunker" with the last one; quiet when it has none. */
export function removeCgroups(id: string): void {
  const parents = unified() ? [`${ROOT}/bunker`] : v1Hierarchies().map((h) => `${ROOT}/${h.name}/bunker`);
  for (const parent of parents) {
    for (const dir of [`${parent}/${id}`, parent]) {
      try {
        rmdirSync(dir); // a cgroup goes with rmdir alone (its files are the kernel's); one still in use stays
      } catch {}
    }
  }
}

/** mkdir -p of a cgroup, again if another process removed the empty "bunker" parent in between. */
function makeCgroup(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir, { recursive: true });
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT" || attempt === 2) throw new EngineError("system", `failed to create the container's cgroup ${dir}: ${(e as Error).message}`);
    }
  }
}
