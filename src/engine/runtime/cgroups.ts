/**
 * Every container's own cgroups, as Docker's cgroupfs driver lays them out: v1 a directory per hierarchy
 * (/sys/fs/cgroup/<hierarchy>/bunker/<id>, for memory, cpu, cpuacct, pids, blkio and devices), v2 one
 * (/sys/fs/cgroup/bunker/<id>). Made before each start with the limits (`-m`, `--memory-swap`, `--cpus`,
 * `--cpu-shares`, `--pids-limit`) written; the shim applies the device allow-list there and puts the
 * container's init, and every exec, in them before execve, so none of its processes runs outside them.
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
}

const ROOT = process.env.BUNKER_CGROUP_ROOT ?? "/sys/fs/cgroup";
/** The v1 controllers a container gets a cgroup in: its limits, the device allow-list, and what `stats` reads. */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "blkio", "devices"] as const;
const PERIOD = 100_000; // CFS period in µs, Docker's default

/** True when a container has any limit. */
export const hasLimits = (r: Resources) => !!(r.Memory || r.MemorySwap || r.NanoCpus || r.CpuShares || (r.PidsLimit ?? 0) > 0);

const unified = () => existsSync(`${ROOT}/cgroup.controllers`);

/** Docker's default --cgroupns: private on cgroup v2, host on v1. */
export const defaultCgroupns = (): "private" | "host" => (unified() ? "private" : "host");

/**
 * The v1 hierarchies holding V1_CONTROLLERS, by their directory name under the root ("cpu,cpuacct" where
 * the host mounts them together), with the names linked to it ("cpu", "cpuacct"); controllers not mounted are left out.
 */
function v1Hierarchies(): { name: string; aliases: string[]; controllers: string[] }[] {
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

/** What each limit writes, per controller: [file, value] in the order the kernel needs them. */
function settingsV1(r: Resources): Record<"memory" | "cpu" | "pids", [string, string | number][]> {
  const memory: [string, string | number][] = [];
  if (r.Memory) {
    memory.push(["memory.limit_in_bytes", r.Memory]);
    // Swap accounting may be off (no memsw files): Docker then warns and limits memory alone.
    const swap = r.MemorySwap === -1 ? -1 : r.MemorySwap || r.Memory * 2;
    memory.push(["memory.memsw.limit_in_bytes?", swap]);
  }
  const cpu: [string, string | number][] = [];
  if (r.NanoCpus) cpu.push(["cpu.cfs_period_us", PERIOD], ["cpu.cfs_quota_us", Math.round((r.NanoCpus * PERIOD) / 1e9)]);
  if (r.CpuShares) cpu.push(["cpu.shares", r.CpuShares]);
  const pids: [string, string | number][] = (r.PidsLimit ?? 0) > 0 ? [["pids.max", r.PidsLimit!]] : [];
  return { memory, cpu, pids };
}

/** The same limits in cgroup v2's files (cpu.weight from shares as runc converts them). */
function settingsV2(r: Resources): [string, string | number][] {
  const out: [string, string | number][] = [];
  if (r.Memory) {
    out.push(["memory.max", r.Memory]);
    const swap = r.MemorySwap === -1 ? "max" : (r.MemorySwap || r.Memory * 2) - r.Memory;
    out.push(["memory.swap.max?", swap]);
  }
  if (r.NanoCpus) out.push(["cpu.max", `${Math.round((r.NanoCpus * PERIOD) / 1e9)} ${PERIOD}`]);
  if (r.CpuShares) out.push(["cpu.weight", Math.round(1 + ((r.CpuShares - 2) * 9999) / 262142)]);
  if ((r.PidsLimit ?? 0) > 0) out.push(["pids.max", r.PidsLimit!]);
  return out;
}

/**
 * Makes a container's cgroups and writes its limits, before a start. Returns the cgroup.procs files its
 * processes join and the layout the shim needs (devices cgroup, /sys/fs/cgroup inside, `ns`: --cgroupns private).
 */
export function containerCgroups(id: string, r: Resources, ns = false): { cgroupProcs: string[]; cgroup: PlanCgroup } {
  const put = (dir: string, settings: [string, string | number][]) => {
    for (const [name, value] of settings) {
      const optional = name.endsWith("?");
      const file = `${dir}/${optional ? name.slice(0, -1) : name}`;
      if (optional && !existsSync(file)) continue;
      write(file, value);
    }
  };
  if (unified()) {
    // v2: controllers must be enabled in every ancestor's subtree_control; "bunker" itself holds no process.
    const base = `${ROOT}/bunker`;
    const dir = `${base}/${id}`;
    makeCgroup(dir);
    const available = readFileSync(`${ROOT}/cgroup.controllers`, "utf8").split(/\s+/);
    const enable = ["memory", "cpu", "pids", "io"].filter((c) => available.includes(c)).map((c) => `+${c}`).join(" ");
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
    for (const c of h.controllers) put(dir, settings[c as keyof typeof settings] ?? []);
    return { name: h.name, dir, aliases: h.aliases };
  });
  return { cgroupProcs: dirs.map((d) => `${d.dir}/cgroup.procs`), cgroup: { version: 1, dirs, devices: `${ROOT}/${devices.name}/bunker/${id}`, ns } };
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
