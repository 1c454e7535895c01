import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Hex } from "../../src/fs/digest.ts";
import { assembleLayerTar, recordedTarSize, TarSplitMissingError } from "../../src/fs/tar-split.ts";
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
