/**
 * Code above the syscall boundary, run against the recording fake (src/sys/fake.ts) instead of the kernel:
 * data-root locks under contention, and `docker diff`'s opaque-directory rule without root (trusted.* xattrs
 * and whiteout nodes need CAP_SYS_ADMIN/CAP_MKNOD for real).
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeSys } from "../../src/sys/fake.ts";
import { LOCK, SysError, useSys, type Sys } from "../../src/sys/index.ts";
import { lock, tryLock } from "../../src/engine/store/locks.ts";
import { changeLetter, containerChanges } from "../../src/engine/containers/diff.ts";

const base = mkdtempSync(join(tmpdir(), "bunker-sysfake-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let fake: FakeSys;
let previous: Sys | undefined;
beforeEach(() => {
  fake = new FakeSys();
  previous = useSys(fake);
});
afterEach(() => void useSys(previous));

describe("data-root locks over the fake flock", () => {
  test("tryLock asks for a non-blocking lock and gives up while another process holds it", () => {
    const path = join(base, "locks", "a.lock");
    const l = tryLock(path);
    expect(l).toBeDefined();
    l!.release();
    expect(fake.callsOf("flock").map(([, op]) => op)).toEqual([LOCK.EX | LOCK.NB]);
    fake.holdLock("exclusive");
    expect(tryLock(path)).toBeUndefined();
    expect(tryLock(path, true)).toBeUndefined();
    fake.holdLock("shared");
    expect(tryLock(path, true)).toBeDefined();
    expect(tryLock(path)).toBeUndefined();
    expect(fake.callsOf("flock").map(([, op]) => op)).toEqual([LOCK.EX | LOCK.NB, LOCK.EX | LOCK.NB, LOCK.SH | LOCK.NB, LOCK.SH | LOCK.NB, LOCK.EX | LOCK.NB]);
  });

  test("lock() polls until the other holder lets go, and stops polling when aborted", async () => {
    const path = join(base, "locks", "b.lock");
    fake.holdLock("exclusive");
    const waiting = lock(path);
    await Bun.sleep(40);
    const tries = fake.callsOf("flock").length;
    expect(tries).toBeGreaterThan(1);
    fake.letGo();
    (await waiting).release();
    fake.holdLock("exclusive");
    const ac = new AbortController();
    const aborted = lock(path, false, ac.signal);
    ac.abort();
    await expect(aborted).rejects.toThrow();
  });
});

describe("docker diff over the fake xattrs", () => {
  function tree(name: string, files: Record<string, string>): string {
    const dir = join(base, name);
    for (const [p, v] of Object.entries(files)) {
      mkdirSync(join(dir, p, ".."), { recursive: true });
      if (p.endsWith("/")) mkdirSync(join(dir, p), { recursive: true });
      else writeFileSync(join(dir, p), v);
    }
    return dir;
  }
  const show = (upper: string, lower: string) => containerChanges(upper, [lower]).map((c) => `${changeLetter(c.Kind)} ${c.Path}`);

  test("an opaque upper directory (trusted.overlay.opaque=y) hides the lower one's files", () => {
    const lower = tree("lower", { "etc/a": "1", "etc/b": "2" });
    const upper = tree("upper", { "etc/c": "3" });
    expect(show(upper, lower)).not.toContain("D /etc");
    fake.lsetxattr(join(upper, "etc"), "trusted.overlay.opaque", new TextEncoder().encode("y"));
    // As moby's overlay walk: the replaced directory is reported deleted, its new content added.
    expect(show(upper, lower)).toEqual(["D /etc", "A /etc/c"]);
    expect(fake.callsOf("lgetxattr")).toContainEqual([join(upper, "etc"), "trusted.overlay.opaque"]);
  });

  test("a file system without xattrs (ENOTSUP) reads as not opaque; other errors surface", () => {
    const lower = tree("lower2", { "etc/a": "1" });
    const upper = tree("upper2", { "etc/c": "3" });
    fake.lsetxattr(join(upper, "etc"), "trusted.overlay.opaque", new TextEncoder().encode("y"));
    fake.failNext("lgetxattr", "ENOTSUP");
    expect(show(upper, lower)).not.toContain("D /etc");
    fake.failNext("lgetxattr", "EIO");
    expect(() => show(upper, lower)).toThrow(SysError);
  });
});
