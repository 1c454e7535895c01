/**
 * packDir's `lower` option (export's view of a container): the merged tree must equal what overlayfs
 * itself shows for the same layers, so the oracle is a real read-only overlay mount of them.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packDir } from "../../src/fs/pack.ts";
import { sys, makedev } from "../../src/sys/index.ts";
import { gnuTarExtract, listTree } from "../helpers/tar-writer.ts";

const root = process.getuid?.() === 0;
const tmp = mkdtempSync(join(tmpdir(), "bunker-merged-"));
const mounted: string[] = [];
afterAll(() => {
  for (const m of mounted) Bun.spawnSync(["umount", m]);
  rmSync(tmp, { recursive: true, force: true });
});

const whiteout = (path: string) => sys().mknod(path, 0o20000, makedev(0, 0));
const opaque = (path: string) => sys().lsetxattr(path, "trusted.overlay.opaque", new TextEncoder().encode("y"));

describe.skipIf(!root)("packDir with lower layers", () => {
  test("equals a read-only overlay mount of the same layers: whiteouts, opaque dirs, shadowed files and kinds", async () => {
    const [base, mid, upper] = ["base", "mid", "upper"].map((n) => {
      const d = join(tmp, n);
      mkdirSync(d);
      return d;
    });
    // base: the image's first layer
    mkdirSync(join(base, "etc/deep"), { recursive: true });
    writeFileSync(join(base, "etc/keep"), "base keep\n");
    writeFileSync(join(base, "etc/gone"), "deleted above\n");
    writeFileSync(join(base, "etc/deep/x"), "hidden by opaque\n");
    mkdirSync(join(base, "home/user"), { recursive: true });
    writeFileSync(join(base, "home/user/rc"), "base rc\n");
    writeFileSync(join(base, "becomes-dir"), "a file below\n");
    mkdirSync(join(base, "becomes-file"));
    writeFileSync(join(base, "becomes-file/inner"), "hidden by a file\n");
    // mid: deletes etc/gone, replaces etc/deep (opaque), shadows etc/keep
    mkdirSync(join(mid, "etc/deep"), { recursive: true });
    whiteout(join(mid, "etc/gone"));
    opaque(join(mid, "etc/deep"));
    writeFileSync(join(mid, "etc/deep/y"), "mid y\n");
    writeFileSync(join(mid, "etc/keep"), "mid keep\n");
    // upper: the container's changes
    mkdirSync(join(upper, "home"));
    whiteout(join(upper, "home/user"));
    mkdirSync(join(upper, "becomes-dir"));
    writeFileSync(join(upper, "becomes-dir/f"), "now a dir\n");
    writeFileSync(join(upper, "becomes-file"), "now a file\n");
    symlinkSync("/etc/keep", join(upper, "link"));
    writeFileSync(join(upper, "new"), "new\n");

    // Tar keeps whole seconds: give every entry a whole-second mtime so the trees compare exactly.
    for (const d of [base, mid, upper]) Bun.spawnSync(["find", d, "-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"]);

    const archive = join(tmp, "merged.tar");
    await Bun.write(archive, new Response(packDir(upper, { lower: [mid, base] })));
    const extracted = join(tmp, "extracted");
    mkdirSync(extracted);
    gnuTarExtract(archive, extracted);

    const mnt = join(tmp, "mnt");
    mkdirSync(mnt);
    const m = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", `ro,lowerdir=${upper}:${mid}:${base}`, mnt], { stderr: "pipe" });
    if (m.exitCode !== 0) throw new Error(`overlay mount failed: ${m.stderr}`);
    mounted.push(mnt);
    const want = listTree(mnt);
    const got = listTree(extracted);
    delete want["."];
    delete got["."];
    expect(got).toEqual(want);
    expect(Object.keys(got)).not.toContain("etc/gone");
    expect(Object.keys(got)).not.toContain("etc/deep/x");
    expect(Object.keys(got)).not.toContain("home/user");
    expect(Object.keys(got)).not.toContain("becomes-file/inner");
    expect(await Bun.file(join(extracted, "etc/keep")).text()).toBe("mid keep\n");
  });
});
