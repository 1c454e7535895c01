/**
 * Resource limits (`run -m`, `--memory-swap`, `--cpus`, `--cpu-shares`, `--pids-limit`) through cgroups, as
 * Docker's cgroupfs driver lays them out: a directory per container under each controller it needs (v1:
 * /sys/fs/cgroup/<controller>/bunker/<id>, v2: /sys/fs/cgroup/bunker/<id>), made only for a container that
 * has a limit and written before each start. The shim puts the container's init, and every exec, in them
 * before execve (the plan's `cgroup` lines), so no process of the container ever runs outside its limits.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { EngineError } from "../errors.ts";

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
const V1_CONTROLLERS = ["memory", "cpu", "pids"] as const;
const PERIOD = 100_000; // CFS period in µs, Docker's default

/** True when a container has any limit, so it needs cgroups of its own. */
export const hasLimits = (r: Resources) => !!(r.Memory || r.MemorySwap || r.NanoCpus || r.CpuShares || (r.PidsLimit ?? 0) > 0);

const unified = () => existsSync(`${ROOT}/cgroup.controllers`);

function write(file: string, value: string | number): void {
  try {
    writeFileSync(file, String(value));
  } catch (e) {
    throw new EngineError("system", `failed to apply the container's resource limits: write ${value} to ${file}: ${(e as Error).message}`);
  }
}

/** What each limit writes, per controller: [file, value] in the order the kernel needs them. */
function settingsV1(r: Resources): Record<(typeof V1_CONTROLLERS)[number], [string, string | number][]> {
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

/** Writes a container's limits into its cgroups (made as needed); returns the cgroup.procs files to join. */
export function applyResources(id: string, r: Resources): string[] {
  if (!hasLimits(r)) return [];
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
    makeCgroup(`${base}/${id}`);
    const available = readFileSync(`${ROOT}/cgroup.controllers`, "utf8").split(/\s+/);
    const enable = ["memory", "cpu", "pids"].filter((c) => available.includes(c)).map((c) => `+${c}`).join(" ");
    for (const dir of [ROOT, base]) write(`${dir}/cgroup.subtree_control`, enable);
    put(`${base}/${id}`, settingsV2(r));
    return [`${base}/${id}/cgroup.procs`];
  }
  const procs: string[] = [];
  for (const [controller, settings] of Object.entries(settingsV1(r))) {
    if (!settings.length) continue;
    const dir = `${ROOT}/${controller}/bunker/${id}`;
    makeCgroup(dir);
    put(dir, settings);
    procs.push(`${dir}/cgroup.procs`);
  }
  return procs;
}

/** Removes a container's cgroups (its processes are gone), and "bunker" with the last one; quiet when it has none. */
export function removeResources(id: string): void {
  const parents = unified() ? [`${ROOT}/bunker`] : V1_CONTROLLERS.map((c) => `${ROOT}/${c}/bunker`);
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
      if ((e as { code?: string }).code !== "ENOENT" || attempt === 2) throw new EngineError("system", `failed to apply the container's resource limits: cgroup ${dir}: ${(e as Error).message}`);
    }
  }
}
