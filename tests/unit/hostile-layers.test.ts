/**
 * Layers crafted to write outside their directory. Each must be refused with a LayerError, and a sentinel
 * tree next to the destination (plus the directory holding both) must be byte-for-byte what it was.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LayerError, unpackLayer } from "../../src/fs/unpack.ts";
import { listTree, streamOf, tar, type RawMember } from "../helpers/tar-writer.ts";

const root = mkdtempSync(join(tmpdir(), "bunker-hostile-"));
const sentinel = join(root, "sentinel");
const dest = join(root, "dest");
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => {
  mkdirSync(join(sentinel, "sub"), { recursive: true });
  writeFileSync(join(sentinel, "victim"), "original");
  writeFileSync(join(sentinel, "sub", "inner"), "inner");
});

const evil = (linkname = "../sentinel"): RawMember => ({ name: "evil", type: "2", linkname });

const layers: [string, RawMember[]][] = [
  ["../ escape", [{ name: "../escape", data: "x" }]],
  ["a/../../x escape", [{ name: "a/", type: "5" }, { name: "a/../../escape", data: "x" }]],
  ["deep a/b/../../../x escape", [{ name: "a/b/../../../escape", data: "x" }]],
  ["absolute name", [{ name: `${sentinel}/pwned`, data: "x" }]],
  ["pax path that escapes", [{ name: "innocent", data: "x", pax: { path: "../escape" } }]],
  ["GNU long name that escapes", [{ name: "innocent", data: "x", longName: `${"d/".repeat(60)}${"../".repeat(61)}escape` }]],
  ["file through a symlink to outside", [evil(), { name: "evil/pwned", data: "x" }]],
  ["directory through an absolute symlink", [evil(sentinel), { name: "evil/newdir/", type: "5" }]],
  ["file through a chain of symlinks", [{ name: "a", type: "2", linkname: "b" }, { name: "b", type: "2", linkname: "../sentinel" }, { name: "a/pwned", data: "x" }]],
  ["file through a nested symlink", [{ name: "d/", type: "5" }, { name: "d/link", type: "2", linkname: "../../sentinel" }, { name: "d/link/pwned", data: "x" }]],
  ["device node through a symlink", [evil(), { name: "evil/null", type: "3", devmajor: 1, devminor: 3 }]],
  ["hardlink to ../ outside", [{ name: "hl", type: "1", linkname: "../sentinel/victim" }]],
  ["hardlink to an absolute path", [{ name: "hl", type: "1", linkname: `${sentinel}/victim` }]],
  ["hardlink through a symlink", [evil(), { name: "hl", type: "1", linkname: "evil/victim" }]],
  ["hardlink created through a symlink", [{ name: "f", data: "x" }, evil(), { name: "evil/hl", type: "1", linkname: "f" }]],
  ["whiteout that escapes", [{ name: "../sentinel/.wh.victim" }]],
  ["whiteout through a symlink", [evil(), { name: "evil/.wh.victim" }]],
  ["opaque whiteout through a symlink", [evil(), { name: "evil/.wh..wh..opq" }]],
  ["whiteout of ..", [{ name: "sub/", type: "5" }, { name: "sub/.wh..." }]],
  ["NUL in a pax path", [{ name: "innocent", data: "x", pax: { path: "ok\0/../../escape" } }]],
  ["NUL in a GNU long name", [{ name: "innocent", data: "x", longName: "ok\0/../../escape" }]],
  ["symlink replacing a checked directory, then a file through it", [{ name: "a/", type: "5" }, { name: "a/f", data: "x" }, { name: "a", type: "2", linkname: "../sentinel" }, { name: "a/pwned", data: "x" }]],
  ["the root replaced by a symlink", [{ name: "./", type: "2", linkname: "../sentinel" }, { name: "pwned", data: "x" }]],
];

test.each(layers)("%s is refused and nothing outside dest changes", async (_, members) => {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest);
  const before = listTree(root, { skip: "dest" });
  for (const chunk of [1 << 16, 512, 100]) {
    await expect(unpackLayer(streamOf(tar(members), chunk), dest)).rejects.toBeInstanceOf(LayerError);
  }
  expect(listTree(root, { skip: "dest" })).toEqual(before);
});

test("the sentinel listing notices a change (the check above can fail)", () => {
  const before = listTree(root, { skip: "dest" });
  writeFileSync(join(sentinel, "victim"), "changed");
  try {
    expect(listTree(root, { skip: "dest" })).not.toEqual(before);
  } finally {
    writeFileSync(join(sentinel, "victim"), "original");
  }
});

test("legal symlink targets (absolute, dangling, escaping) are stored, not followed", async () => {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest);
  const before = listTree(root, { skip: "dest" });
  await unpackLayer(streamOf(tar([evil(), { name: "abs", type: "2", linkname: `${sentinel}/victim` }, { name: "dangling", type: "2", linkname: "../../../../nope" }])), dest);
  const t = listTree(dest);
  expect(t["evil"]).toContain("-> ../sentinel");
  expect(t["abs"]).toContain(`-> ${sentinel}/victim`);
  expect(listTree(root, { skip: "dest" })).toEqual(before);
});
