/**
 * runtime/cgroups.ts against a fake cgroup root (BUNKER_CGROUP_ROOT, a temp dir: the syscall boundary is
 * the files): which file gets which value on cgroup v1 and v2, and what removal leaves. The real kernel's
 * v1 enforcement is tested in tests/e2e/containers.test.ts; this host has no v2 controllers to try.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const { applyResources, hasLimits, removeResources } = await cgroupsAt(root, "unit-v1");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const limits = { Memory: 64 << 20, MemorySwap: 96 << 20, NanoCpus: 1.5e9, CpuShares: 512, PidsLimit: 20 };
const read = (path: string) => readFileSync(join(root, path), "utf8");

describe("cgroups", () => {
  test("no limit, no cgroup", () => {
    expect(hasLimits({ Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, PidsLimit: null })).toBe(false);
    expect(applyResources("c0", { PidsLimit: -1 })).toEqual([]);
    expect(existsSync(join(root, "memory"))).toBe(false);
  });

  test("v1: a directory per controller, swap only where the kernel accounts it", () => {
    mkdirSync(join(root, "memory/bunker/c1"), { recursive: true });
    writeFileSync(join(root, "memory/bunker/c1/memory.memsw.limit_in_bytes"), "");
    expect(applyResources("c1", limits)).toEqual(["memory", "cpu", "pids"].map((c) => join(root, c, "bunker/c1/cgroup.procs")));
    expect([read("memory/bunker/c1/memory.limit_in_bytes"), read("memory/bunker/c1/memory.memsw.limit_in_bytes")]).toEqual([String(64 << 20), String(96 << 20)]);
    expect([read("cpu/bunker/c1/cpu.cfs_period_us"), read("cpu/bunker/c1/cpu.cfs_quota_us"), read("cpu/bunker/c1/cpu.shares")]).toEqual(["100000", "150000", "512"]);
    expect(read("pids/bunker/c1/pids.max")).toBe("20");
    // memory alone: twice as much memory+swap by default (Docker's), no cpu or pids cgroup
    expect(applyResources("c2", { Memory: 32 << 20 })).toEqual([join(root, "memory/bunker/c2/cgroup.procs")]);
    expect(existsSync(join(root, "memory/bunker/c2/memory.memsw.limit_in_bytes"))).toBe(false); // no swap accounting there
    expect(existsSync(join(root, "cpu/bunker/c2"))).toBe(false);
  });

  test("v2: one directory, controllers enabled down the tree", () => {
    const v2 = join(root, "v2");
    mkdirSync(v2);
    writeFileSync(join(v2, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    return cgroupsAt(v2, "unit-v2").then(({ applyResources: apply }) => {
      mkdirSync(join(v2, "bunker/c3"), { recursive: true });
      writeFileSync(join(v2, "bunker/c3/memory.swap.max"), "");
      expect(apply("c3", limits)).toEqual([join(v2, "bunker/c3/cgroup.procs")]);
      expect([read("v2/cgroup.subtree_control"), read("v2/bunker/cgroup.subtree_control")]).toEqual(["+memory +cpu +pids", "+memory +cpu +pids"]);
      expect([read("v2/bunker/c3/memory.max"), read("v2/bunker/c3/memory.swap.max"), read("v2/bunker/c3/cpu.max"), read("v2/bunker/c3/pids.max")]).toEqual([String(64 << 20), String(32 << 20), "150000 100000", "20"]);
      expect(read("v2/bunker/c3/cpu.weight")).toBe(String(Math.round(1 + ((512 - 2) * 9999) / 262142)));
    });
  });

  test("removal takes the container's directories, and bunker with the last one", () => {
    // a fake tree holds files rmdir cannot remove: empty the directories first, as the kernel's are
    for (const c of ["memory", "cpu", "pids"]) for (const id of ["c1", "c2"]) rmSync(join(root, c, "bunker", id), { recursive: true, force: true }), mkdirSync(join(root, c, "bunker", id), { recursive: true });
    removeResources("c1");
    expect(existsSync(join(root, "memory/bunker/c1"))).toBe(false);
    expect(existsSync(join(root, "memory/bunker"))).toBe(true); // c2 is still there
    removeResources("c2");
    expect(["memory", "cpu", "pids"].map((c) => existsSync(join(root, c, "bunker")))).toEqual([false, false, false]);
  });
});
