/**
 * fs/extract.ts (cp's extraction) and fs/rebase.ts on real temp trees: moby's rules (absolute names contained,
 * ".." above the target refused, climbing symlinks and outside hardlinks refused, dir/non-dir replacement),
 * every lookup inside the root (a symlink to "/" or to a host path, planted before or by the archive, stays
 * in the root), device nodes only where allowed, `.wh.` names as plain files; and the name rebaser.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, constants, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExtractError, extractTar } from "../../src/fs/extract.ts";
import { nameRebaser, rebaseTar } from "../../src/fs/rebase.ts";
import { TarReader, type TarEntry } from "../../src/fs/tar.ts";
import { O_CLOEXEC, O_PATH } from "../../src/sys/index.ts";
import { streamOf, tar, type RawMember } from "../helpers/tar-writer.ts";

const temps: string[] = [];
afterAll(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

/** A fresh root with /dest in it, and the host-side marker dir a hostile archive must never reach. */
function fresh(): { root: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), "bunker-extract-"));
  temps.push(base);
  mkdirSync(join(base, "root/dest"), { recursive: true });
  mkdirSync(join(base, "outside"));
  return { root: join(base, "root"), outside: join(base, "outside") };
}

async function extract(root: string, members: RawMember[], opts: Partial<Parameters<typeof extractTar>[3]> = {}, dir = "/dest"): Promise<void> {
  const fd = openSync(root, O_PATH | O_CLOEXEC | constants.O_DIRECTORY);
  try {
    await extractTar(streamOf(tar(members), 700), fd, dir, { owner: "keep", ...opts });
  } finally {
    closeSync(fd);
  }
}

describe("extractTar", () => {
  test("files, dirs, links, modes and mtimes; `.wh.` names are files; absolute names count from the target", async () => {
    const { root } = fresh();
    await extract(root, [
      { name: "a/", type: "5", mode: 0o750 },
      { name: "a/f", data: "hi", mode: 0o4755, mtime: 1_600_000_000 },
      { name: "a/l", type: "2", linkname: "f" },
      { name: "a/h", type: "1", linkname: "a/f" },
      { name: ".wh.x", data: "w" },
      { name: "/abs", data: "contained" },
    ]);
    const d = join(root, "dest");
    expect(readFileSync(join(d, "a/f"), "utf8")).toBe("hi");
    expect(lstatSync(join(d, "a/f")).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(d, "a/f")).mtimeMs).toBe(1_600_000_000_000);
    expect(lstatSync(join(d, "a")).mode & 0o7777).toBe(0o750);
    expect(readlinkSync(join(d, "a/l"))).toBe("f");
    expect(lstatSync(join(d, "a/h")).ino).toBe(lstatSync(join(d, "a/f")).ino);
    expect(readFileSync(join(d, ".wh.x"), "utf8")).toBe("w");
    expect(readFileSync(join(d, "abs"), "utf8")).toBe("contained");
  });

  test("hostile names and links are refused; nothing lands outside the target", async () => {
    for (const [members, text] of [
      [[{ name: "../escape", data: "x" }], "is outside of"],
      [[{ name: "a/../../escape", data: "x" }], "is outside of"],
      [[{ name: "up", type: "2", linkname: "../../outside" }], "invalid symlink"],
      [[{ name: "h", type: "1", linkname: "../outside/x" }], "is outside of"],
      [[{ name: "ok", pax: { path: "a\0b" }, data: "z" }], "NUL"],
      [[{ name: "null", type: "3", devmajor: 1, devminor: 3 }], "refusing to create device node"],
      [[{ name: ".", type: "0", data: "x" }], "would replace the extraction directory"],
    ] as [RawMember[], string][]) {
      const { root, outside } = fresh();
      const err = await extract(root, members).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(ExtractError);
      expect(String(err.message)).toContain(text);
      expect(existsSync(join(root, "escape")) || existsSync(join(root, "..", "escape"))).toBe(false);
      expect(existsSync(join(outside, "x"))).toBe(false);
    }
  });

  test("symlinks to / or to a host path, planted before or by the archive, resolve inside the root", async () => {
    const { root, outside } = fresh();
    symlinkSync(outside, join(root, "dest/planted")); // an absolute host path: inside the root it does not exist
    symlinkSync("/", join(root, "dest/slash"));
    await extract(root, [
      { name: "byarchive", type: "2", linkname: "/" },
      { name: "byarchive/etc-like/file", data: "in root" },
      { name: "slash/other", data: "in root too" },
    ]);
    expect(readFileSync(join(root, "etc-like/file"), "utf8")).toBe("in root");
    expect(readFileSync(join(root, "other"), "utf8")).toBe("in root too");
    // Through a link to a host path: that path does not exist in the root, so the member fails (as in moby's chroot).
    await expect(extract(root, [{ name: "planted/x", data: "never outside" }])).rejects.toThrow(ExtractError);
    expect(existsSync(join(outside, "x"))).toBe(false);
    mkdirSync(join(root, outside), { recursive: true });
    await extract(root, [{ name: "planted/x", data: "inside" }]);
    expect(readFileSync(join(root, outside, "x"), "utf8")).toBe("inside");
    expect(existsSync(join(outside, "x"))).toBe(false);
  });

  test("replacement: a later member replaces another kind; noOverwriteDirNonDir refuses dir<->non-dir", async () => {
    const { root } = fresh();
    mkdirSync(join(root, "dest/d/sub"), { recursive: true });
    writeFileSync(join(root, "dest/d/sub/x"), "old");
    writeFileSync(join(root, "dest/f"), "old");
    await expect(extract(root, [{ name: "d", data: "file now" }], { noOverwriteDirNonDir: true })).rejects.toThrow("cannot overwrite directory");
    await expect(extract(root, [{ name: "f/", type: "5" }], { noOverwriteDirNonDir: true })).rejects.toThrow("cannot overwrite non-directory");
    await extract(root, [{ name: "d", data: "file now" }, { name: "f/", type: "5" }]);
    expect(readFileSync(join(root, "dest/d"), "utf8")).toBe("file now");
    expect(lstatSync(join(root, "dest/f")).isDirectory()).toBe(true);
  });

  test("device nodes only on the root's own file system", async () => {
    if (process.getuid?.() !== 0) return;
    const { root } = fresh();
    await extract(root, [{ name: "null", type: "3", devmajor: 1, devminor: 3, mode: 0o600 }], { devices: true });
    expect(lstatSync(join(root, "dest/null")).isCharacterDevice()).toBe(true);
    const tmpfs = join(root, "dest/mnt");
    mkdirSync(tmpfs);
    // A different file system under the root (as a volume or bind is): refused there.
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "tmpfs", tmpfs]).exitCode === 0;
    try {
      if (mounted) await expect(extract(root, [{ name: "mnt/sda", type: "4", devmajor: 8, devminor: 0 }], { devices: true })).rejects.toThrow("outside the container's root file system");
    } finally {
      if (mounted) Bun.spawnSync(["umount", tmpfs]);
    }
  });
});

describe("rebase", () => {
  test("nameRebaser: the base and what is under it, nothing else", () => {
    const r = nameRebaser("data", "copy");
    expect(["data", "data/", "data/a/b", "database", "other/data"].map(r)).toEqual(["copy", "copy/", "copy/a/b", "database", "other/data"]);
    expect(nameRebaser("", "x")("/a")).toBe("x/a");
  });

  test("rebaseTar renames members and hardlink targets, keeps bodies", async () => {
    const out = rebaseTar(streamOf(tar([{ name: "src/", type: "5" }, { name: "src/f", data: "body" }, { name: "src/h", type: "1", linkname: "src/f" }]), 100), "src", "dst");
    const entries: [TarEntry, string][] = [];
    let body = "";
    const reader = new TarReader({ entry: (e) => void entries.push([e, ""]), data: (c) => void (body += new TextDecoder().decode(c)), entryEnd: () => void (entries.at(-1)![1] = body, (body = "")) });
    for await (const chunk of out) reader.write(chunk);
    reader.end();
    expect(entries.map(([e, b]) => [e.name, e.linkname, b])).toEqual([["dst/", "", ""], ["dst/f", "", "body"], ["dst/h", "dst/f", ""]]);
  });
});
