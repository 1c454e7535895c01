import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Hex } from "../../src/fs/digest.ts";
import { LayerError, unpackLayer } from "../../src/fs/unpack.ts";
import { sys } from "../../src/sys/index.ts";
import { gnuTarArchive, gnuTarExtract, listTree, streamOf, tar, type TarFormat } from "../helpers/tar-writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-unpack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = join(tmp, `d${n++}`);
  mkdirSync(d);
  return d;
};
const fileStream = (path: string) => Bun.file(path).stream();

describe.each(["v7", "ustar", "gnu", "pax"] as TarFormat[])("a GNU tar --format=%s archive", (format) => {
  let archive = "";
  let oracle: Record<string, string> = {};
  beforeAll(() => {
    archive = join(tmp, `${format}.tar`);
    gnuTarArchive(freshDir(), format, archive);
    const out = freshDir();
    gnuTarExtract(archive, out);
    oracle = listTree(out);
  });

  test("unpacks to exactly what tar -x makes", async () => {
    const dest = freshDir();
    const r = await unpackLayer(fileStream(archive), dest);
    expect(listTree(dest)).toEqual(oracle);
    expect(r.diffId).toBe(sha256Hex(readFileSync(archive)));
  });

  test("the oracle tree holds what the format can carry", () => {
    expect(oracle["setuid"]).toStartWith("file 4755 0:0");
    expect(oracle["sticky"]).toStartWith("dir 1777");
    expect(oracle["user1000.txt"]).toStartWith("file 640 1000:1000");
    expect(oracle["hello.txt"]).toContain("same-inode-as=hardlink");
    expect(oracle["abs-symlink"]).toContain("-> /etc/passwd");
    if (format !== "v7") {
      expect(oracle["fifo"]).toStartWith("fifo 620");
      expect(oracle["loop200"]).toStartWith("block 660");
      expect(oracle[`${"p".repeat(90)}/${"q".repeat(90)}`]).toStartWith("file");
    }
    if (format === "gnu" || format === "pax") {
      expect(oracle[`${"a".repeat(200)}/${"b".repeat(150)}`]).toStartWith("file");
      expect(oracle["biguid"]).toStartWith("file 644 3000000:2500000");
      expect(oracle["long-target-symlink"]).toContain(`-> ${"t".repeat(150)}`);
    }
    if (format === "pax") {
      expect(oracle["hello.txt"]).toContain("xattr user.greeting=");
      expect(oracle["sub"]).toContain("xattr trusted.dirattr=64");
      expect(oracle["empty"]).toContain("mtime=1614834367123");
    }
  });

  test("gzip and zstd layers give the same tree and the plain tar's diffID", async () => {
    const plain = readFileSync(archive);
    const gz = join(tmp, `${format}.tar.gz`);
    writeFileSync(gz, gzipSync(plain));
    const zst = join(tmp, `${format}.tar.zst`);
    const z = Bun.spawnSync(["zstd", "-q", "-f", archive, "-o", zst]);
    expect(z.exitCode).toBe(0);
    for (const file of [gz, zst]) {
      const dest = freshDir();
      const r = await unpackLayer(fileStream(file), dest);
      expect(listTree(dest)).toEqual(oracle);
      expect(r.diffId).toBe(sha256Hex(plain));
    }
  });
});

describe("diffID and size", () => {
  test("diffID equals sha256sum of the plain tar, trailing bytes included; size sums regular files", async () => {
    const bytes = Buffer.concat([tar([{ name: "a", data: "12345" }, { name: "d/", type: "5" }, { name: "d/b", data: "678" }, { name: "l", type: "1", linkname: "a" }]), new Uint8Array([1, 2, 3])]);
    const file = join(tmp, "trailing.tar");
    writeFileSync(file, bytes);
    const sum = Bun.spawnSync(["sha256sum", file]).stdout.toString().split(" ")[0];
    const r = await unpackLayer(streamOf(gzipSync(bytes), 7), freshDir());
    expect(r).toEqual({ diffId: `sha256:${sum}`, size: 8 });
  });

  test("an empty stream is an empty layer", async () => {
    const r = await unpackLayer(streamOf(new Uint8Array(0)), freshDir());
    expect(r).toEqual({ diffId: sha256Hex(""), size: 0 });
  });

  test("onProgress sees the running total of compressed bytes", async () => {
    const gz = gzipSync(tar([{ name: "x", data: "y".repeat(100_000) }]));
    const seen: number[] = [];
    await unpackLayer(streamOf(gz, 100), freshDir(), { onProgress: (b) => seen.push(b) });
    expect(seen.at(-1)).toBe(gz.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  test("an aborted signal rejects with its reason", async () => {
    const ac = new AbortController();
    const never = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(tar([{ name: "x" }], { end: false })) });
    const p = unpackLayer(never, freshDir(), { signal: ac.signal });
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});

describe("whiteouts become overlayfs whiteouts", () => {
  test("file, directory and opaque whiteouts", async () => {
    const dest = freshDir();
    await unpackLayer(
      streamOf(
        tar([
          { name: "etc/", type: "5", mode: 0o755 },
          { name: "etc/.wh.passwd", uid: 5, gid: 6 },
          { name: ".wh.var" },
          { name: "opt/", type: "5", mode: 0o755 },
          { name: "opt/.wh..wh..opq" },
          { name: "opt/kept", data: "k" },
          { name: "missing-parent/.wh.x" },
        ]),
      ),
      dest,
    );
    const t = listTree(dest);
    expect(t["etc/passwd"]).toStartWith("char 0 5:6 rdev=0");
    expect(t["var"]).toStartWith("char 0 0:0 rdev=0");
    expect(t["missing-parent/x"]).toStartWith("char 0 0:0 rdev=0");
    expect(t["opt"]).toContain(`xattr trusted.overlay.opaque=${Buffer.from("y").toString("hex")}`);
    expect(t["opt/kept"]).toStartWith("file");
    expect(Object.keys(t).filter((p) => p.includes(".wh."))).toEqual([]);
  });

  test("trusted.overlay.* xattrs in the archive are not applied", async () => {
    const dest = freshDir();
    await unpackLayer(streamOf(tar([{ name: "d/", type: "5", pax: { "SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.ok": "1" } }])), dest);
    expect(sys().llistxattr(join(dest, "d"))).toEqual(["user.ok"]);
  });
});

describe("a later member replaces an earlier one", () => {
  test("dir -> file, file -> symlink, symlink -> dir, file -> file keeps other hardlinks", async () => {
    const dest = freshDir();
    await unpackLayer(
      streamOf(
        tar([
          { name: "a/", type: "5" },
          { name: "a/child", data: "c" },
          { name: "a", data: "now a file" },
          { name: "b", data: "b" },
          { name: "b", type: "2", linkname: "/nowhere" },
          { name: "c", type: "2", linkname: "/etc" },
          { name: "c/", type: "5", mode: 0o700 },
          { name: "c/inside", data: "i" },
          { name: "f", data: "old" },
          { name: "g", type: "1", linkname: "f" },
          { name: "f", data: "new" },
          { name: "dir/", type: "5", mode: 0o755 },
          { name: "dir/", type: "5", mode: 0o711, uid: 7 },
        ]),
      ),
      dest,
    );
    const t = listTree(dest);
    expect(t["a"]).toStartWith("file 644 0:0 size=10");
    expect(t["a/child"]).toBeUndefined();
    expect(t["b"]).toStartWith("symlink");
    expect(t["c"]).toStartWith("dir 700");
    expect(t["c/inside"]).toStartWith("file");
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("new");
    expect(readFileSync(join(dest, "g"), "utf8")).toBe("old");
    expect(t["dir"]).toStartWith("dir 711 7:0");
  });

  test("directory mtimes are applied after their children", async () => {
    const dest = freshDir();
    await unpackLayer(streamOf(tar([{ name: "d/", type: "5", mtime: 1000 }, { name: "d/x", mtime: 2000 }])), dest);
    const t = listTree(dest);
    expect(t["d"]).toContain("mtime=1000000");
    expect(t["d/x"]).toContain("mtime=2000000");
  });
});

describe("corrupt layers are LayerErrors", () => {
  const good = tar([{ name: "file", data: "x".repeat(5000) }, { name: "other", data: "y" }]);
  const cases: [string, Uint8Array][] = [
    ["corrupt gzip", (() => { const g = gzipSync(good); g.fill(0x55, 20, 60); return g; })()],
    ["truncated gzip", gzipSync(good).subarray(0, 100)],
    ["truncated tar body", good.subarray(0, 2048)],
    ["truncated tar header", good.subarray(0, 512 * 11 + 100)],
    ["bad header checksum", tar([{ name: "file", data: "x", checksum: 1234 }])],
    ["non-octal size", (() => { const t = tar([{ name: "file", data: "x" }]); t.set(new TextEncoder().encode("zz"), 124); return t; })()],
    ["xz", new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 0])],
    ["unsupported typeflag", tar([{ name: "weird", type: "Q" }])],
    ["hardlink to a missing file", tar([{ name: "l", type: "1", linkname: "nothere" }])],
    ["member under a regular file", tar([{ name: "f", data: "x" }, { name: "f/g", data: "y" }])],
  ];
  test.each(cases)("%s", async (_, bytes) => {
    await expect(unpackLayer(streamOf(bytes, 1000), freshDir())).rejects.toBeInstanceOf(LayerError);
  });
});
