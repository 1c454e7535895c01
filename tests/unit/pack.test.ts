/** The tar writer and the directory packer, with GNU tar and the unpacker as oracles. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TarReader, type TarEntry } from "../../src/fs/tar.ts";
import { encodeHeader, tarStream, TarWriteError } from "../../src/fs/tar-write.ts";
import { packDir, packMembers } from "../../src/fs/pack.ts";
import { unpackLayer } from "../../src/fs/unpack.ts";
import { sys, makedev } from "../../src/sys/index.ts";
import { gnuTarArchive, gnuTarExtract, listTree } from "../helpers/tar-writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = join(tmp, `d${n++}`);
  mkdirSync(d);
  return d;
};
const bytes = async (s: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(s).arrayBuffer());

/** Every member of an archive as our reader sees it, with its body as text. */
function read(archive: Uint8Array): (TarEntry & { body: string })[] {
  const out: (TarEntry & { body: string })[] = [];
  const chunks: Uint8Array[] = [];
  const r = new TarReader({
    entry: (e) => {
      out.push({ ...e, body: "" });
      chunks.length = 0;
    },
    data: (c) => void chunks.push(c.slice()),
    entryEnd: () => void (out.at(-1)!.body = Buffer.concat(chunks).toString("latin1")),
  });
  r.write(archive);
  r.end();
  return out;
}

/** GNU tar's extraction of an archive held in memory. */
function gnuExtract(archive: Uint8Array): string {
  const file = join(tmp, `a${n++}.tar`);
  writeFileSync(file, archive);
  const out = freshDir();
  gnuTarExtract(file, out);
  return out;
}

describe("tar writer", () => {
  test("ustar when fields fit; pax records for long or non-ASCII names, long targets, big ids and xattrs; GNU tar reads it", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
    const members = [
      { header: { name: "short.txt", type: "file" as const, mode: 0o640, size: 3, uid: 1000, gid: 1000, mtime: 1700000000 }, body: new TextEncoder().encode("abc") },
      { header: { name: `${"p".repeat(120)}/x`, type: "file" as const, mode: 0o644, size: 0 } },
      { header: { name: long, type: "file" as const, mode: 0o644, size: 1, uid: 3_000_000 }, body: new Uint8Array([65]) },
      { header: { name: "naïve", type: "symlink" as const, mode: 0o777, size: 0, linkname: "t".repeat(150) } },
      { header: { name: "x", type: "file" as const, mode: 0o644, size: 0, xattrs: new Map([["user.k", new Uint8Array([0, 1, 61])]]) } },
      { header: { name: "dev", type: "char" as const, mode: 0o666, size: 0, devmajor: 1, devminor: 3 } },
    ];
    expect(encodeHeader(members[0]!.header).length).toBe(512);
    expect(encodeHeader(members[1]!.header).length).toBe(512); // the ustar prefix field holds it
    const archive = await bytes(tarStream(members));
    const got = read(archive);
    expect(got.map((e) => [e.name, e.type, e.size, e.uid, e.linkname.length, e.body])).toEqual([
      ["short.txt", "file", 3, 1000, 0, "abc"],
      [`${"p".repeat(120)}/x`, "file", 0, 0, 0, ""],
      [long, "file", 1, 3_000_000, 0, "A"],
      ["naïve", "symlink", 0, 0, 150, ""],
      ["x", "file", 0, 0, 0, ""],
      ["dev", "char", 0, 0, 0, ""],
    ]);
    expect([...got[4]!.xattrs!]).toEqual([["user.k", new Uint8Array([0, 1, 61])]]);
    const out = gnuExtract(archive);
    const tree = listTree(out);
    expect(tree["short.txt"]).toStartWith("file 640 1000:1000 size=3");
    expect(tree[long]).toStartWith("file 644 3000000:0 size=1");
    expect(tree["naïve"]).toContain(`-> ${"t".repeat(150)}`);
    expect(tree.dev).toContain(`rdev=${makedev(1, 3)}`);
  });

  test("onFileBody names each regular file's body where it starts in the stream (pax names, big bodies read in chunks)", async () => {
    const big = join(freshDir(), "big");
    const bigBody = Buffer.alloc(200_000, 7);
    writeFileSync(big, bigBody);
    const long = `${"d".repeat(120)}/${"l".repeat(120)}`;
    const members = [
      { header: { name: "a", type: "dir" as const, mode: 0o755, size: 0 } },
      { header: { name: "a/small", type: "file" as const, mode: 0o644, size: 3 }, body: new TextEncoder().encode("abc") },
      { header: { name: "a/empty", type: "file" as const, mode: 0o644, size: 0 } },
      { header: { name: "a/big", type: "file" as const, mode: 0o644, size: bigBody.length }, body: { fd: openSync(big, "r") } },
      { header: { name: long, type: "file" as const, mode: 0o644, size: 2 }, body: new TextEncoder().encode("xy") },
      { header: { name: "a/link", type: "hardlink" as const, mode: 0o644, size: 0, linkname: "a/small" } },
    ];
    const told: [string, number, number][] = [];
    const archive = await bytes(tarStream(members, { onFileBody: (name, offset, size) => told.push([name, offset, size]) }));
    expect(told.map(([name, , size]) => [name, size])).toEqual([["a/small", 3], ["a/empty", 0], ["a/big", bigBody.length], [long, 2]]);
    const body = (i: number) => Buffer.from(archive.subarray(told[i]![1], told[i]![1] + told[i]![2]));
    expect(body(0).toString()).toBe("abc");
    expect(body(2).equals(bigBody)).toBe(true);
    expect(body(3).toString()).toBe("xy");
  });

  test("a file that shrinks while archived fails the stream instead of writing a corrupt archive", async () => {
    const f = join(freshDir(), "f");
    writeFileSync(f, "0123456789");
    const s = tarStream([{ header: { name: "f", type: "file", mode: 0o644, size: 100 }, body: { fd: openSync(f, "r") } }]);
    await expect(bytes(s)).rejects.toBeInstanceOf(TarWriteError);
  });
});

describe("directory packer", () => {
  test("a rich tree (GNU tar's pax test tree: xattrs, devices, long names, hardlinks, big ids) packs to an archive GNU tar extracts to the same tree", async () => {
    const src = freshDir();
    gnuTarArchive(src, "pax", join(tmp, "oracle.tar"));
    const out = gnuExtract(await bytes(packDir(src)));
    // Without the root's own entry, and mtimes in whole seconds (moby truncates them, as this writer does).
    const skipRoot = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => k !== ".").map(([k, v]) => [k, v.replace(/mtime=(\d+)\d{3}/, "mtime=$1")]));
    expect(skipRoot(listTree(out))).toEqual(skipRoot(listTree(src)));
  });

  test("moby's member order and names: sorted, directories first with '/', relative, no root member", async () => {
    const src = freshDir();
    mkdirSync(join(src, "b/c"), { recursive: true });
    writeFileSync(join(src, "b/c/z"), "");
    writeFileSync(join(src, "a"), "");
    writeFileSync(join(src, "b/a"), "");
    expect(read(await bytes(packDir(src))).map((e) => e.name)).toEqual(["a", "b/", "b/a", "b/c/", "b/c/z"]);
    expect(read(await bytes(packDir(src, { as: "top" }))).map((e) => e.name)).toEqual(["top/", "top/a", "top/b/", "top/b/a", "top/b/c/", "top/b/c/z"]);
    expect(read(await bytes(packDir(src, { only: "b", as: "x" }))).map((e) => e.name)).toEqual(["x/", "x/a", "x/c/", "x/c/z"]);
    expect(read(await bytes(packDir(src, { skip: (r) => r === "b/c" }))).map((e) => e.name)).toEqual(["a", "b/", "b/a"]);
  });

  test("an overlay upper dir becomes a layer with .wh. whiteouts and opaque markers, and unpacks back to the same tree", async () => {
    const upper = freshDir();
    mkdirSync(join(upper, "etc"));
    writeFileSync(join(upper, "etc/new"), "new\n");
    sys().mknod(join(upper, "etc/gone"), 0o20000 | 0o000, 0); // overlayfs's whiteout: char 0:0
    mkdirSync(join(upper, "opaque"), { mode: 0o750 });
    sys().lsetxattr(join(upper, "opaque"), "trusted.overlay.opaque", new TextEncoder().encode("y"));
    sys().lsetxattr(join(upper, "etc"), "trusted.overlay.origin", new Uint8Array([1, 2]));
    writeFileSync(join(upper, "opaque/kept"), "k");
    const archive = await bytes(packDir(upper, { overlay: true }));
    const got = read(archive);
    expect(got.map((e) => e.name)).toEqual(["etc/", "etc/.wh.gone", "etc/new", "opaque/", "opaque/.wh..wh..opq", "opaque/kept"]);
    expect(got.every((e) => ![...(e.xattrs?.keys() ?? [])].some((k) => k.startsWith("trusted.overlay.")))).toBe(true);
    expect(got[1]).toMatchObject({ type: "file", mode: 0o600, size: 0 });
    const back = freshDir();
    await unpackLayer(new Blob([archive]).stream(), back);
    const without = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => k !== ".").map(([k, v]) => [k, v.replace(/ xattr trusted\.overlay\.origin=\S+/, "").replace(/ mtime=\d+/, "")]));
    expect(without(listTree(back))).toEqual(without(listTree(upper)));
  });

  test("symlinks are archived as links and never followed; fifos and sockets never block or leak", async () => {
    const src = freshDir();
    symlinkSync("/etc", join(src, "etc-link"));
    symlinkSync("/etc/passwd", join(src, "passwd"));
    Bun.spawnSync(["mkfifo", join(src, "fifo")]);
    const got = read(await bytes(packDir(src)));
    expect(got.map((e) => [e.name, e.type, e.linkname])).toEqual([
      ["etc-link", "symlink", "/etc"],
      ["fifo", "fifo", ""],
      ["passwd", "symlink", "/etc/passwd"],
    ]);
    expect(read(await bytes(packDir(src, { only: "etc-link" }))).map((e) => [e.name, e.type])).toEqual([["etc-link", "symlink"]]);
  });

  test("hardlinks point at the first name of their inode", async () => {
    const src = freshDir();
    writeFileSync(join(src, "a"), "data");
    Bun.spawnSync(["ln", join(src, "a"), join(src, "b")]);
    expect(read(await bytes(packDir(src))).map((e) => [e.name, e.type, e.linkname, e.body])).toEqual([
      ["a", "file", "", "data"],
      ["b", "hardlink", "a", ""],
    ]);
  });

  test("a cancelled stream closes every descriptor it opened", async () => {
    const src = freshDir();
    for (let i = 0; i < 5; i++) mkdirSync(join(src, `d${i}/e`), { recursive: true }), writeFileSync(join(src, `d${i}/e/f`), "x".repeat(1 << 20));
    // Only descriptors into the packed tree count: other suites' sockets may close meanwhile in this process.
    const fds = () => readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(src);
      } catch {
        return false;
      }
    }).length;
    const before = fds();
    expect(before).toBe(0);
    const reader = packDir(src).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(fds()).toBe(before);
    const it = packMembers(src);
    it.next();
    it.return(undefined);
    expect(fds()).toBe(before);
  });
});
