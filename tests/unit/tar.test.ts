import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TarError, TarReader, type TarEntry } from "../../src/fs/tar.ts";
import { gnuTarArchive, header, paxBody, tar, type RawMember, type TarFormat } from "../helpers/tar-writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-tar-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Parsed = TarEntry & { sha: string };

/** Runs the reader over `bytes` pushed in `chunk`-sized pieces; returns members with a hash of their bodies. */
function parse(bytes: Uint8Array, chunk = 1 << 16): Parsed[] {
  const out: Parsed[] = [];
  let hasher: Bun.CryptoHasher | null = null;
  let current: TarEntry | null = null;
  let seen = 0;
  const reader = new TarReader({
    entry(e) {
      current = e;
      seen = 0;
      hasher = new Bun.CryptoHasher("sha256");
    },
    data(c) {
      seen += c.length;
      hasher!.update(c);
    },
    entryEnd() {
      expect(seen).toBe(current!.size);
      out.push({ ...current!, sha: hasher!.digest("hex") });
    },
  });
  for (let off = 0; off < bytes.length; off += chunk) reader.write(bytes.subarray(off, off + chunk));
  reader.end();
  return out;
}

const modeString = (e: TarEntry) => {
  const t = { file: "-", hardlink: "h", symlink: "l", char: "c", block: "b", dir: "d", fifo: "p" }[e.type];
  const m = e.mode;
  const rwx = (shift: number, special: number, letter: string) =>
    `${m & (4 << shift) ? "r" : "-"}${m & (2 << shift) ? "w" : "-"}${m & special ? (m & (1 << shift) ? letter : letter.toUpperCase()) : m & (1 << shift) ? "x" : "-"}`;
  return `${t}${rwx(6, 0o4000, "s")}${rwx(3, 0o2000, "s")}${rwx(0, 0o1000, "t")}`;
};

/** One line per member in the shape of `tar -tv --numeric-owner --full-time` (UTC, whole seconds). */
function asListing(e: TarEntry): string {
  const size = e.type === "char" || e.type === "block" ? `${e.devmajor},${e.devminor}` : String(e.size);
  const time = new Date(Math.floor(e.mtime) * 1000).toISOString().replace("T", " ").slice(0, 19);
  const link = e.type === "hardlink" ? ` link to ${e.linkname}` : e.type === "symlink" ? ` -> ${e.linkname}` : "";
  return `${modeString(e)} ${e.uid}/${e.gid} ${size} ${time} ${e.name}${link}`;
}

describe.each(["v7", "ustar", "gnu", "pax"] as TarFormat[])("GNU tar --format=%s", (format) => {
  const archive = join(tmp, `${format}.tar`);
  const src = join(tmp, `src-${format}`);
  mkdirSync(src);
  gnuTarArchive(src, format, archive);
  const bytes = readFileSync(archive);

  test("every member matches tar -tv", () => {
    const r = Bun.spawnSync(["tar", "-tv", "--numeric-owner", "--full-time", "-f", archive], { env: { ...process.env, TZ: "UTC" } });
    const expected = r.stdout
      .toString()
      .trimEnd()
      .split("\n")
      .map((l) => l.split(/\s+/).join(" ").replace(/(\d\d:\d\d:\d\d)\.\d+/, "$1"));
    expect(parse(bytes).map(asListing)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(15);
  });

  test("bodies match the source files, whatever the chunking", () => {
    const whole = parse(bytes);
    for (const e of whole.filter((e) => e.type === "file")) {
      expect(e.sha).toBe(new Bun.CryptoHasher("sha256").update(readFileSync(join(src, e.name))).digest("hex"));
    }
    for (const chunk of [1, 100, 511, 512, 513, 10_000]) expect(parse(bytes, chunk)).toEqual(whole);
  });
});

test("pax xattrs keep binary values; sub-second mtimes survive", () => {
  const entries = parse(readFileSync(join(tmp, "pax.tar")));
  const run = entries.find((e) => e.name === "./run.sh")!;
  expect(run.xattrs?.get("user.binary")).toEqual(new Uint8Array([0, 255, 10, 61, 32]));
  expect(entries.find((e) => e.name === "./empty")!.mtime).toBeCloseTo(1614834367.123456789, 6);
});

test("GNU base-256 numbers: a uid too big for octal and a negative mtime", () => {
  const src = join(tmp, "neg");
  mkdirSync(src);
  Bun.spawnSync(["touch", "-d", "1960-01-01 00:00:00Z", join(src, "old")]);
  Bun.spawnSync(["chown", "3000000:7", join(src, "old")]);
  const archive = join(tmp, "neg.tar");
  expect(Bun.spawnSync(["tar", "-c", "--format=gnu", "-f", archive, "-C", src, "old"]).exitCode).toBe(0);
  const [e] = parse(readFileSync(archive));
  expect([e!.uid, e!.gid, e!.mtime]).toEqual([3000000, 7, -315619200]);
});

const file = (m: Partial<RawMember> & { name: string }): RawMember => ({ data: "", ...m });

describe("hand-made archives", () => {
  test("global pax headers are ignored; per-member pax records override the header", () => {
    const t = tar([
      { name: "pax_global_header", type: "g", data: paxBody({ comment: "git", path: "global-must-not-apply", uid: "9" }) },
      file({ name: "short", data: "abc", pax: { path: "from-pax", uid: "4294967294", gid: "12", linkpath: "" } }),
      file({ name: "next", data: "d" }),
    ]);
    expect(parse(t).map((e) => [e.name, e.uid, e.gid, e.size])).toEqual([
      ["from-pax", 4294967294, 12, 3],
      ["next", 0, 0, 1],
    ]);
  });

  test("pax size overrides the header size", () => {
    const body = new Uint8Array(600).fill(7);
    const h = header({ name: "f" }, 0); // header claims 0 bytes
    const pax = paxBody({ size: "600" });
    const bytes = Buffer.concat([header({ name: "p", type: "x" }, pax.length), pax, new Uint8Array(512 - pax.length), h, body, new Uint8Array(424), new Uint8Array(1024)]);
    expect(parse(bytes).map((e) => e.size)).toEqual([600]);
  });

  test("GNU long names and long link targets", () => {
    const long = "x".repeat(300);
    const t = Buffer.concat([
      header({ name: "././@LongLink", type: "K" }, 301),
      new TextEncoder().encode(`${"t".repeat(300)}\0`),
      new Uint8Array(211),
      tar([{ name: "cut", type: "2", linkname: "cut", longName: long }]),
    ]);
    const [e] = parse(t);
    expect([e!.name, e!.linkname, e!.type]).toEqual([long, "t".repeat(300), "symlink"]);
  });

  test("v7 directories end in a slash; octal fields may be space-padded", () => {
    const h = header({ name: "olddir/", type: "\0", mode: 0o755 }, 0);
    h.set(new TextEncoder().encode("   1750 "), 108); // uid 1000, space-padded as some old tars write it
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    h.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
    const [e] = parse(Buffer.concat([h, new Uint8Array(1024)]));
    expect([e!.type, e!.uid, e!.mode]).toEqual(["dir", 1000, 0o755]);
  });

  test("bytes after the end-of-archive blocks are ignored", () => {
    const t = Buffer.concat([tar([file({ name: "a", data: "1" })]), new Uint8Array(777).fill(9)]);
    expect(parse(t).map((e) => e.name)).toEqual(["a"]);
  });

  const bad: [string, Uint8Array][] = [
    ["a bad checksum", tar([file({ name: "a", checksum: 1 })])],
    ["a truncated body", tar([file({ name: "a", data: "x".repeat(1000) })]).subarray(0, 1000)],
    ["a truncated header", tar([file({ name: "a" })]).subarray(0, 300)],
    ["a header after a lone zero block", Buffer.concat([new Uint8Array(512), tar([file({ name: "a" })])])],
    ["a malformed pax record", Buffer.concat([header({ name: "p", type: "x" }, 10), new TextEncoder().encode("99 path=x\n"), new Uint8Array(502), tar([file({ name: "a" })])])],
    ["a NUL inside a GNU long name", tar([file({ name: "a", longName: "ok\0evil" })])],
    ["a GNU sparse member", tar([file({ name: "a", type: "S" })])],
    ["an unknown typeflag", tar([file({ name: "a", type: "Z" })])],
    ["an extension header with no member after it", tar([file({ name: "x", longName: "y" })]).subarray(0, 1024)],
  ];
  test.each(bad)("%s is a TarError", (_, bytes) => {
    expect(() => parse(bytes)).toThrow(TarError);
  });
});
