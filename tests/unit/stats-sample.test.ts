/**
 * Reading the supervisor's CPU samples (cpu.sample, written by src/engine/runtime/shim/sample.c) in
 * src/engine/containers/stats.ts: which slot makes the window of `stats --no-stream`, and which are refused
 * (too recent, stale, another run's pid, half rewritten). The file is written here in the shim's layout.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordedCpu } from "../../src/engine/containers/stats.ts";

const dir = mkdtempSync(join(tmpdir(), "bunker-cpu-sample-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = 1_800_000_000_000 * 1e6; // ns, wall clock
/** The shim's two 256-byte slots: "cpu <seq> <pid> <real> <usage> <user> <sys> <periods> <throttled> <throttled ns> <seq>". */
const write = (...slots: (string | null)[]) => writeFileSync(join(dir, "cpu.sample"), slots.map((s) => `${(s ?? "").padEnd(255)}\n`).join(""));
const slot = (seq: number, pid: number, ageMs: number, usage: number, seqEnd = seq) => `cpu ${seq} ${pid} ${NOW - ageMs * 1e6} ${usage} 700 300 5 1 2000 ${seqEnd}`;

test("the newest slot at least 0.5 s old, as precpu_stats with the wall clock's system time", () => {
  write(slot(8, 42, 1200, 5000), slot(7, 42, 2200, 4000));
  const r = recordedCpu(dir, 42, NOW, 2)!;
  expect(r.cpu_stats).toEqual({
    cpu_usage: { total_usage: 5000, usage_in_kernelmode: 300, usage_in_usermode: 700 },
    system_cpu_usage: (NOW - 1200e6) * 2,
    online_cpus: 2,
    throttling_data: { periods: 5, throttled_periods: 1, throttled_time: 2000 },
  });
  expect(r.read).toBe(new Date((NOW - 1200e6) / 1e6).toISOString());
});

test("the newest too recent to be a window: the one before it", () => {
  write(slot(9, 42, 200, 6000), slot(8, 42, 1200, 5000));
  expect(recordedCpu(dir, 42, NOW, 2)?.cpu_stats.cpu_usage.total_usage).toBe(5000);
});

test("none: only a recent one (just started), stale ones, another run's, half rewritten, no file", () => {
  write(slot(1, 42, 100, 10), null);
  expect(recordedCpu(dir, 42, NOW, 2)).toBeUndefined();
  write(slot(5, 42, 3500, 10), slot(4, 42, 4500, 5));
  expect(recordedCpu(dir, 42, NOW, 2)).toBeUndefined();
  write(slot(5, 41, 900, 10), null);
  expect(recordedCpu(dir, 42, NOW, 2)).toBeUndefined();
  // a reader that caught the pwrite half done: the slot's two sequence numbers differ
  write(slot(6, 42, 900, 10, 5), null);
  expect(recordedCpu(dir, 42, NOW, 2)).toBeUndefined();
  write("", "");
  expect(recordedCpu(dir, 42, NOW, 2)).toBeUndefined();
  expect(recordedCpu(join(dir, "missing"), 42, NOW, 2)).toBeUndefined();
});
