import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Hex } from "../../src/fs/digest.ts";
import { assembleLayerTar, recordedTarSize, TarSplitMissingError, writeLayerTar } from "../../src/fs/tar-split.ts";
import { ArchiveFile } from "../../src/fs/archive-file.ts";
import { FakeSys } from "../../src/sys/fake.ts";
import { useSys } from "../../src/sys/index.ts";
import { unpackLayer } from "../../src/fs/unpack.ts";
import { gnuTarArchive, streamOf, tar, type TarFormat } from "../helpers/tar-writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-tarsplit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A fresh layer directory with an empty diff/. */
const layerDir = () => {
  const d = join(tmp, `l${n++}`);
  mkdirSync(join(d, "diff"), { recursive: true });
  return d;
};

async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Unpacks `archive` with a tar-split record (in `chunk`-byte pieces) and reassembles it. */
async function roundTrip(archive: Uint8Array, chunk = 65536): Promise<Uint8Array> {
  const dir = layerDir();
  const r = await unpackLayer(streamOf(archive, chunk), join(dir, "diff"), { tarSplitDir: dir });
  expect(r.diffId).toBe(sha256Hex(archive));
  expect(recordedTarSize(dir)).toBe(archive.length);
  return bytesOf(assembleLayerTar(dir, r.diffId));
}

describe.each(["v7", "ustar", "gnu", "pax"] as TarFormat[])("a GNU tar --format=%s layer", (format) => {
  test("reassembles byte for byte, whatever the chunking", async () => {
    const src = join(tmp, `src-${format}`);
    mkdirSync(src);
    const path = join(tmp, `${format}.tar`);
    gnuTarArchive(src, format, path);
    const archive = new Uint8Array(readFileSync(path));
    for (const chunk of [97, 511, 513, 65536]) expect(sha256Hex(await roundTrip(archive, chunk))).toBe(sha256Hex(archive));
  });
});

describe("tar-split", () => {
  test("keeps empty files, whiteouts with bodies, missing end blocks and trailing bytes", async () => {
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const body = tar([
      { name: "dir/", type: "5" },
      { name: "dir/empty", data: "" },
      { name: "dir/big", data: big },
      { name: "dir/.wh.gone", data: "whiteout bodies are not files" },
      { name: "link", type: "1", linkname: "dir/big" },
      { name: "x", data: "x", pax: { "SCHILY.xattr.user.a": "1", mtime: "1700000000.25" } },
    ]);
    const trailing = new Uint8Array([...body, ...new Uint8Array(2048), 1, 2, 3]);
    for (const archive of [body, trailing, body.subarray(0, body.length - 1024)]) {
      expect(await roundTrip(archive, 1000)).toEqual(archive);
    }
  });

  test("a reader with its own small buffer gets the same bytes, read into that buffer", async () => {
    const big = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
    const archive = tar([
      { name: "dir/", type: "5" },
      { name: "dir/a", data: "hello" },
      { name: "dir/big", data: big },
      { name: "dir/empty", data: "" },
    ]);
    const dir = layerDir();
    const r = await unpackLayer(streamOf(archive), join(dir, "diff"), { tarSplitDir: dir });
    for (const size of [100, 512, 4096]) {
      const reader = assembleLayerTar(dir, r.diffId).getReader({ mode: "byob" });
      const parts: Uint8Array[] = [];
      let buffer = new Uint8Array(size);
      for (;;) {
        const { done, value } = await reader.read(buffer);
        if (done) break;
        expect(value.buffer.byteLength).toBe(size); // the reader's own memory, handed back
        parts.push(value.slice());
        buffer = new Uint8Array(value.buffer);
      }
      expect(Buffer.concat(parts).equals(archive)).toBe(true);
    }
  });

  test("a gzip'd layer records its uncompressed tar", async () => {
    const archive = tar([{ name: "a", data: "hello" }]);
    const dir = layerDir();
    const r = await unpackLayer(streamOf(gzipSync(archive)), join(dir, "diff"), { tarSplitDir: dir });
    expect(await bytesOf(assembleLayerTar(dir, r.diffId))).toEqual(archive);
  });

  test("a layer naming one path twice fails with its diff ID, never a wrong tar", async () => {
    const archive = tar([
      { name: "a", data: "first" },
      { name: "a", data: "other" },
    ]);
    const dir = layerDir();
    const r = await unpackLayer(streamOf(archive), join(dir, "diff"), { tarSplitDir: dir });
    expect(bytesOf(assembleLayerTar(dir, r.diffId))).rejects.toThrow(/reassembled tar has diff ID/);
  });

  test("a changed file fails at once", async () => {
    const archive = tar([{ name: "a", data: "first" }]);
    const dir = layerDir();
    const r = await unpackLayer(streamOf(archive), join(dir, "diff"), { tarSplitDir: dir });
    writeFileSync(join(dir, "diff/a"), "longer than before");
    expect(bytesOf(assembleLayerTar(dir, r.diffId))).rejects.toThrow(/is not the 5-byte file/);
  });

  test("a directory replaced by a symlink is never read through", async () => {
    const outside = join(tmp, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "f"), "secret");
    const archive = tar([
      { name: "d/", type: "5" },
      { name: "d/f", data: "public" },
    ]);
    const dir = layerDir();
    const r = await unpackLayer(streamOf(archive), join(dir, "diff"), { tarSplitDir: dir });
    rmSync(join(dir, "diff/d"), { recursive: true });
    symlinkSync(outside, join(dir, "diff/d"));
    const got = bytesOf(assembleLayerTar(dir, r.diffId));
    expect(got).rejects.toThrow(/no longer a file under a directory/);
  });

  test("a layer without a record is refused before any byte", () => {
    const dir = layerDir();
    expect(() => assembleLayerTar(dir, `sha256:${"0".repeat(64)}`)).toThrow(TarSplitMissingError);
  });
});

/** `save -o`'s writer: the layer tar written into a file (bodies by copy_file_range), checked as written. */
describe("writeLayerTar", () => {
  /** Writes the layer of `dir` at `offset` bytes into a fresh file; its bytes after the offset and its check. */
  async function written(dir: string, diffId: string, offset = 0): Promise<{ bytes: Uint8Array; checked: Promise<void> }> {
    const path = join(tmp, `out-${n++}.tar`);
    const fd = openSync(path, "wx+");
    try {
      const out = new ArchiveFile(fd);
      out.write(new Uint8Array(offset).fill(7)); // what an archive holds before the layer
      const { checked } = await writeLayerTar(dir, diffId, out);
      out.flush();
      await checked.catch(() => {}); // the thread is done with the fd before it is closed
      return { bytes: new Uint8Array(readFileSync(path)).subarray(offset), checked };
    } finally {
      closeSync(fd);
    }
  }
  // Bodies on both sides of the kernel-copy threshold (64 KiB) and of the hand-over step (4 MiB).
  const big = new Uint8Array(5 << 20).map((_, i) => (i * 31) & 0xff);
  const archive = tar([
    { name: "dir/", type: "5" },
    { name: "dir/small", data: "hello" },
    { name: "dir/empty", data: "" },
    { name: "dir/mid", data: big.subarray(0, 100_000) },
    { name: "dir/big", data: big },
    { name: "x", data: "x", pax: { "SCHILY.xattr.user.a": "1" } },
  ]);
  let dir: string;
  let diffId: string;
  beforeAll(async () => {
    dir = layerDir();
    diffId = (await unpackLayer(streamOf(archive), join(dir, "diff"), { tarSplitDir: dir })).diffId;
  });

  test("the layer's tar byte for byte, at any offset in the archive, checked against its diff ID", async () => {
    for (const offset of [0, 1536, (1 << 20) - 100]) {
      const { bytes, checked } = await written(dir, diffId, offset);
      expect(Buffer.from(bytes).equals(archive)).toBe(true);
      await expect(checked).resolves.toBeUndefined();
    }
  });

  test("where the kernel cannot copy between the files (EXDEV), the bodies go through the buffer", async () => {
    const fake = new FakeSys().failNext("copyFileRange", "EXDEV");
    const prev = useSys(fake);
    try {
      const { bytes, checked } = await written(dir, diffId);
      expect(Buffer.from(bytes).equals(archive)).toBe(true);
      await checked;
      expect(fake.callsOf("copyFileRange").length).toBe(1); // tried once, then never again for this archive
    } finally {
      useSys(prev);
    }
  });

  test("a file changed in place after it was unpacked (same size): the check fails on what was written", async () => {
    const d = layerDir();
    const r = await unpackLayer(streamOf(archive), join(d, "diff"), { tarSplitDir: d });
    const changed = Buffer.from(big);
    changed[4 << 20] ^= 1;
    writeFileSync(join(d, "diff/dir/big"), changed);
    const { checked } = await written(d, r.diffId);
    await expect(checked).rejects.toThrow(/reassembled tar has diff ID/);
  });

  test("a directory replaced by a symlink is never read through; a file grown or shrunk fails at once", async () => {
    const outside = join(tmp, "outside-w");
    mkdirSync(outside);
    writeFileSync(join(outside, "small"), "hello");
    const d = layerDir();
    const r = await unpackLayer(streamOf(archive), join(d, "diff"), { tarSplitDir: d });
    rmSync(join(d, "diff/dir"), { recursive: true });
    symlinkSync(outside, join(d, "diff/dir"));
    await expect(written(d, r.diffId)).rejects.toThrow(/no longer a file under a directory/);
    const e = layerDir();
    const s = await unpackLayer(streamOf(archive), join(e, "diff"), { tarSplitDir: e });
    writeFileSync(join(e, "diff/dir/mid"), "short");
    await expect(written(e, s.diffId)).rejects.toThrow(/is not the 100000-byte file/);
  });
});
