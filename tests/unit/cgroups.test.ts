/**
 * runtime/cgroups.ts against a fake cgroup root (BUNKER_CGROUP_ROOT, a temp dir: the syscall boundary is
 * the files): which file gets which value on cgroup v1 and v2, and what removal leaves. The real kernel's
 * v1 enforcement is tested in tests/e2e/containers.test.ts; this host has no v2 controllers to try.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "bunker-cgroups-"));
/**
 * A copy of the module whose root is `at`: it reads BUNKER_CGROUP_ROOT once, when loaded. The query makes a
 * new instance (`bun test tests/` shares one module cache, whose copy writes to the real /sys/fs/cgroup), and
 * the variable goes at once, so no CLI another test file spawns inherits it.
 */
async function cgroupsAt(at: string, tag: string): Promise<typeof import("../../src/engine/runtime/cgroups.ts")> {
  process.env.BUNKER_CGROUP_ROOT = at;
  try {
    return await import(`../../src/engine/runtime/cgroups.ts?${tag}`);
  } finally {
    delete process.env.BUNKER_CGROUP_ROOT;
  }
}
const { containerCgroups, hasLimits, removeCgroups, defaultCgroupns } = await cgroupsAt(root, "unit-v1");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const limits = { Memory: 64 << 20, MemorySwap: 96 << 20, NanoCpus: 1.5e9, CpuShares: 512, PidsLimit: 20 };
const read = (path: string) => readFileSync(join(root, path), "utf8");
// the v1 hierarchies a host mounts: cpu and cpuacct together here, as most distributions do
for (const h of ["memory", "cpu,cpuacct", "pids", "blkio", "devices", "freezer", "net_cls"]) mkdirSync(join(root, h));
symlinkSync("cpu,cpuacct", join(root, "cpu"));
symlinkSync("cpu,cpuacct", join(root, "cpuacct"));
// freezer: `pause`; cpuset is not mounted in this fake (its parent-copy is tested below)
const procs = (id: string) => ["memory", "cpu,cpuacct", "pids", "blkio", "devices", "freezer"].map((h) => join(root, h, "bunker", id, "cgroup.procs"));

describe("cgroups", () => {
  test("every container gets its own cgroups, limits or not; co-mounted hierarchies count once", () => {
    expect(hasLimits({ Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, PidsLimit: null })).toBe(false);
    const { cgroupProcs, cgroup } = containerCgroups("c0", { PidsLimit: -1 });
    expect(cgroupProcs).toEqual(procs("c0"));
    expect(cgroup.version).toBe(1);
    expect(cgroup.devices).toBe(join(root, "devices/bunker/c0"));
    expect(cgroup.dirs.find((d) => d.name === "cpu,cpuacct")!.aliases).toEqual(["cpu", "cpuacct"]);
    expect(cgroup.ns).toBe(false);
    expect(existsSync(join(root, "net_cls/bunker"))).toBe(false); // only the controllers it needs
    expect(existsSync(join(root, "memory/bunker/c0/memory.limit_in_bytes"))).toBe(false); // no limit, nothing written
    expect(defaultCgroupns()).toBe("host"); // v1: Docker's default
  });

  test("v1: limits land in their hierarchy, swap only where the kernel accounts it", () => {
    mkdirSync(join(root, "memory/bunker/c1"), { recursive: true });
    writeFileSync(join(root, "memory/bunker/c1/memory.memsw.limit_in_bytes"), "");
    expect(containerCgroups("c1", limits, true).cgroupProcs).toEqual(procs("c1"));
    expect([read("memory/bunker/c1/memory.limit_in_bytes"), read("memory/bunker/c1/memory.memsw.limit_in_bytes")]).toEqual([String(64 << 20), String(96 << 20)]);
    expect([read("cpu,cpuacct/bunker/c1/cpu.cfs_period_us"), read("cpu,cpuacct/bunker/c1/cpu.cfs_quota_us"), read("cpu,cpuacct/bunker/c1/cpu.shares")]).toEqual(["100000", "150000", "512"]);
    expect(read("pids/bunker/c1/pids.max")).toBe("20");
    // memory alone: twice as much memory+swap by default (Docker's)
    containerCgroups("c2", { Memory: 32 << 20 });
    expect(existsSync(join(root, "memory/bunker/c2/memory.memsw.limit_in_bytes"))).toBe(false); // no swap accounting there
    expect(existsSync(join(root, "cpu,cpuacct/bunker/c2/cpu.shares"))).toBe(false);
  });

  test("v2: one directory, controllers enabled down the tree, private cgroup namespace by default", () => {
    const v2 = join(root, "v2");
    mkdirSync(v2);
    writeFileSync(join(v2, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    return cgroupsAt(v2, "unit-v2").then(({ containerCgroups: make, defaultCgroupns: ns }) => {
      mkdirSync(join(v2, "bunker/c3"), { recursive: true });
      writeFileSync(join(v2, "bunker/c3/memory.swap.max"), "");
      const { cgroupProcs, cgroup } = make("c3", limits, true);
      expect(cgroupProcs).toEqual([join(v2, "bunker/c3/cgroup.procs")]);
      expect(cgroup).toEqual({ version: 2, dirs: [{ name: "", dir: join(v2, "bunker/c3"), aliases: [] }], devices: join(v2, "bunker/c3"), ns: true });
      expect([read("v2/cgroup.subtree_control"), read("v2/bunker/cgroup.subtree_control")]).toEqual(["+memory +cpu +pids +io +cpuset", "+memory +cpu +pids +io +cpuset"]);
      expect([read("v2/bunker/c3/memory.max"), read("v2/bunker/c3/memory.swap.max"), read("v2/bunker/c3/cpu.max"), read("v2/bunker/c3/pids.max")]).toEqual([String(64 << 20), String(32 << 20), "150000 100000", "20"]);
      expect(read("v2/bunker/c3/cpu.weight")).toBe(String(Math.round(1 + ((512 - 2) * 9999) / 262142)));
      expect(ns()).toBe("private");
    });
  });

  test("removal takes the container's directories, and bunker with the last one", () => {
    // a fake tree holds files rmdir cannot remove: empty the directories first, as the kernel's are
    const hs = ["memory", "cpu,cpuacct", "pids", "blkio", "devices"];
    for (const c of hs) for (const id of ["c0", "c1", "c2"]) rmSync(join(root, c, "bunker", id), { recursive: true, force: true }), mkdirSync(join(root, c, "bunker", id), { recursive: true });
    removeCgroups("c1");
    expect(existsSync(join(root, "memory/bunker/c1"))).toBe(false);
    expect(existsSync(join(root, "memory/bunker"))).toBe(true); // c0 and c2 are still there
    removeCgroups("c0");
    removeCgroups("c2");
    expect(hs.map((c) => existsSync(join(root, c, "bunker")))).toEqual(hs.map(() => false));
  });

  test("a host without the devices controller cannot isolate devices: no start", async () => {
    const bare = join(root, "bare");
    mkdirSync(join(bare, "memory"), { recursive: true });
    const { containerCgroups: make } = await cgroupsAt(bare, "unit-bare");
    expect(() => make("c4", {})).toThrow("Devices cgroup isn't mounted");
  });

  test("v1 cpuset: a new cgroup gets its parent's CPUs and nodes (none can join it otherwise), or the ones asked", async () => {
    const at = mkdtempSync(join(tmpdir(), "bunker-cgroups-cpuset-"));
    try {
      for (const h of ["devices", "cpuset"]) mkdirSync(join(at, h));
      writeFileSync(join(at, "cpuset/cpuset.cpus"), "0-3\n");
      writeFileSync(join(at, "cpuset/cpuset.mems"), "0\n");
      // the kernel makes these files empty in a new cgroup; the fake does the same
      for (const d of ["bunker", "bunker/a", "bunker/b"]) {
        mkdirSync(join(at, "cpuset", d), { recursive: true });
        for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(at, "cpuset", d, f), "");
      }
      const m = await cgroupsAt(at, "unit-cpuset");
      m.containerCgroups("a", {});
      m.containerCgroups("b", { CpusetCpus: "1-2" });
      const r = (p: string) => readFileSync(join(at, "cpuset", p), "utf8");
      expect([r("bunker/cpuset.cpus"), r("bunker/a/cpuset.cpus"), r("bunker/a/cpuset.mems"), r("bunker/b/cpuset.cpus")]).toEqual(["0-3", "0-3", "0", "1-2"]);
    } finally {
      rmSync(at, { recursive: true, force: true });
    }
  });

  test("pause: the freezer's file set and read back, v1 and v2 (v2 waits for cgroup.events)", async () => {
    const { setFrozen, isFrozen } = await cgroupsAt(root, "unit-v1");
    containerCgroups("fz", {});
    writeFileSync(join(root, "freezer/bunker/fz/freezer.state"), "THAWED\n"); // the kernel's file
    expect(isFrozen("fz")).toBe(false);
    await setFrozen("fz", true);
    expect([read("freezer/bunker/fz/freezer.state"), isFrozen("fz")]).toEqual(["FROZEN", true]);
    await setFrozen("fz", false);
    expect([read("freezer/bunker/fz/freezer.state"), isFrozen("fz")]).toEqual(["THAWED", false]);
    await expect(setFrozen("never-started", true)).rejects.toThrow("has no freezer cgroup");
    const v2 = join(root, "v2f");
    mkdirSync(join(v2, "bunker/fz"), { recursive: true });
    writeFileSync(join(v2, "cgroup.controllers"), "cpu memory pids\n");
    writeFileSync(join(v2, "bunker/fz/cgroup.freeze"), "0\n");
    writeFileSync(join(v2, "bunker/fz/cgroup.events"), "populated 1\nfrozen 1\n"); // what the kernel reports once every task stopped
    const m2 = await cgroupsAt(v2, "unit-v2f");
    await m2.setFrozen("fz", true);
    expect([readFileSync(join(v2, "bunker/fz/cgroup.freeze"), "utf8"), m2.isFrozen("fz")]).toEqual(["1", true]);
  });

  test("update: new limits written where each controller lives, pids -1 lifts the limit", async () => {
    const { updateCgroups } = await cgroupsAt(root, "unit-v1");
    containerCgroups("up", { Memory: 64 << 20, PidsLimit: 10 });
    writeFileSync(join(root, "memory/bunker/up/memory.memsw.limit_in_bytes"), String(128 << 20));
    updateCgroups("up", { Memory: 256 << 20, MemorySwap: 512 << 20, CpuQuota: 20000, CpuPeriod: 50000, CpusetCpus: "1", PidsLimit: -1 });
    expect([read("memory/bunker/up/memory.limit_in_bytes"), read("memory/bunker/up/memory.memsw.limit_in_bytes")]).toEqual([String(256 << 20), String(512 << 20)]);
    expect([read("cpu,cpuacct/bunker/up/cpu.cfs_period_us"), read("cpu,cpuacct/bunker/up/cpu.cfs_quota_us"), read("pids/bunker/up/pids.max")]).toEqual(["50000", "20000", "max"]);
    expect(existsSync(join(root, "cpuset"))).toBe(false); // not mounted in this fake: nothing written there
  });
});
