/**
 * A tiny tar writer for tests: it writes exactly what it is told, including what no honest tar would
 * (escaping names, NUL bytes, bad checksums), so hostile layers can be crafted byte by byte.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { sys } from "../../src/sys/index.ts";

/** One member to write. Fields default to a 0644 root-owned regular file with mtime 1700000000. */
export interface RawMember {
  name: string;
  /** The typeflag character: "0" file, "1" hardlink, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo, or any other. */
  type?: string;
  data?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** Written first as a pax 'x' header describing this member. */
  pax?: Record<string, string | Uint8Array>;
  /** Written first as a GNU 'L' header (the name, NUL-terminated). */
  longName?: string;
  /** Replaces the computed header checksum. */
  checksum?: number;
}

const enc = new TextEncoder();
const bytes = (v: string | Uint8Array) => (typeof v === "string" ? enc.encode(v) : v);

function octal(h: Uint8Array, off: number, len: number, v: number): void {
  h.set(enc.encode(`${v.toString(8).padStart(len - 1, "0")}\0`), off);
}

/** One 512-byte ustar header (name bytes beyond 100 are cut: use `pax` or `longName` for long ones). */
export function header(m: RawMember, size: number): Uint8Array {
  const h = new Uint8Array(512);
  h.set(bytes(m.name).subarray(0, 100), 0);
  octal(h, 100, 8, m.mode ?? 0o644);
  octal(h, 108, 8, m.uid ?? 0);
  octal(h, 116, 8, m.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, m.mtime ?? 1700000000);
  h[156] = (m.type ?? "0").charCodeAt(0);
  h.set(bytes(m.linkname ?? "").subarray(0, 100), 157);
  h.set(enc.encode("ustar\x0000"), 257);
  octal(h, 329, 8, m.devmajor ?? 0);
  octal(h, 337, 8, m.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  octal(h, 148, 7, m.checksum ?? sum);
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return [data, new Uint8Array(pad)];
}

/** The body of a pax header: "<len> <key>=<value>\n" records. */
export function paxBody(records: Record<string, string | Uint8Array>): Uint8Array {
  const out: Uint8Array[] = [];
  for (const [k, v] of Object.entries(records)) {
    const rest = [enc.encode(` ${k}=`), bytes(v), enc.encode("\n")];
    const n = rest.reduce((a, b) => a + b.length, 0);
    let len = n + String(n).length;
    if (String(len).length !== String(n).length) len++;
    out.push(enc.encode(String(len)), ...rest);
  }
  return Buffer.concat(out);
}

/** A whole archive: each member's extension headers, header and padded body, then two zero blocks. */
export function tar(members: RawMember[], { end = true } = {}): Uint8Array {
  const out: Uint8Array[] = [];
  for (const m of members) {
    if (m.longName !== undefined) {
      const body = enc.encode(`${m.longName}\0`);
      out.push(header({ name: "././@LongLink", type: "L" }, body.length), ...padded(body));
    }
    if (m.pax) {
      const body = paxBody(m.pax);
      out.push(header({ name: "PaxHeader", type: "x" }, body.length), ...padded(body));
    }
    const data = bytes(m.data ?? "");
    out.push(header(m, data.length), ...padded(data));
  }
  if (end) out.push(new Uint8Array(1024));
  return Buffer.concat(out);
}

/** A ReadableStream of `data` in chunks of `chunk` bytes (to exercise every split of headers and bodies). */
export function streamOf(data: Uint8Array, chunk = 65536): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + chunk));
      off += chunk;
    },
  });
}

// ---- GNU tar as the oracle -------------------------------------------------------------------------

/** The archive formats GNU tar can write, from oldest to richest. */
export type TarFormat = "v7" | "ustar" | "gnu" | "pax";

function sh(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
}

/**
 * Builds a source tree in `dir` with everything `format` can hold (v7: files, dirs, links; ustar adds devices,
 * fifos and prefix-split names; gnu and pax add names over 255 bytes, long link targets and a uid too big for
 * octal; pax adds xattrs and sub-second mtimes), then archives it with GNU tar into `archive`.
 */
export function gnuTarArchive(dir: string, format: TarFormat, archive: string): void {
  const rich = format === "gnu" || format === "pax";
  const files: [string, string | Uint8Array, number, number?, number?][] = [
    ["hello.txt", "hello\n", 0o644],
    ["run.sh", "#!/bin/sh\necho hi\n", 0o755],
    ["empty", "", 0o600],
    ["setuid", "s", 0o4755],
    ["setgid", "g", 0o2711],
    ["user1000.txt", "mine", 0o640, 1000, 1000],
    ["big.bin", crypto.getRandomValues(new Uint8Array(1 << 20)).subarray(0, 1_000_123), 0o644],
    ["sub/dir/deep/file", "deep", 0o444],
  ];
  if (format !== "v7") files.push([`${"p".repeat(90)}/${"q".repeat(90)}`, "prefix-split name", 0o644]);
  if (rich) {
    files.push([`${"n".repeat(120)}`, "long name", 0o644]);
    files.push([`${"a".repeat(200)}/${"b".repeat(150)}`, "over 255", 0o644]);
    files.push(["biguid", "base-256 or pax uid", 0o644, 3_000_000, 2_500_000]);
  }
  for (const [name, data, mode, uid, gid] of files) {
    const path = `${dir}/${name}`;
    sh(["mkdir", "-p", path.slice(0, path.lastIndexOf("/"))]);
    writeFileSync(path, data);
    sh(["chown", `${uid ?? 0}:${gid ?? 0}`, path]);
    sh(["chmod", mode.toString(8), path]);
  }
  sh(["mkdir", "-p", `${dir}/sticky`, `${dir}/sgid-dir`, `${dir}/owned-dir`]);
  sh(["chmod", "1777", `${dir}/sticky`]);
  sh(["chmod", "2775", `${dir}/sgid-dir`]);
  sh(["chown", "1000:1000", `${dir}/owned-dir`]);
  sh(["ln", `${dir}/hello.txt`, `${dir}/hardlink`]);
  sh(["ln", `${dir}/hello.txt`, `${dir}/sub/dir/hardlink2`]);
  sh(["ln", "-s", "hello.txt", `${dir}/symlink`]);
  sh(["ln", "-s", "/etc/passwd", `${dir}/abs-symlink`]);
  sh(["ln", "-s", "../../../nowhere", `${dir}/sub/escaping-symlink`]);
  sh(["chown", "-h", "1000:1000", `${dir}/sub/escaping-symlink`]);
  if (format !== "v7") {
    sh(["mkfifo", "-m", "0620", `${dir}/fifo`]);
    sh(["mknod", "-m", "0666", `${dir}/null`, "c", "1", "3"]);
    sh(["mknod", "-m", "0660", `${dir}/loop200`, "b", "7", "200"]);
  }
  if (rich) {
    sh(["ln", "-s", "t".repeat(150), `${dir}/long-target-symlink`]);
    sh(["ln", `${dir}/${"n".repeat(120)}`, `${dir}/link-to-long-name`]);
  }
  if (format === "pax") {
    sys().lsetxattr(`${dir}/hello.txt`, "user.greeting", enc.encode("hi there"));
    sys().lsetxattr(`${dir}/run.sh`, "user.binary", new Uint8Array([0, 255, 10, 61, 32]));
    sys().lsetxattr(`${dir}/sub`, "trusted.dirattr", enc.encode("d"));
    sh(["touch", "-h", "-d", "2021-03-04 05:06:07.123456789Z", `${dir}/empty`]);
  }
  // Fixed mtimes (directories last, children first, so nothing bumps them again).
  sh(["find", dir, "-mindepth", "1", "-not", "-name", "empty", "-exec", "touch", "-h", "-d", "2020-01-02 03:04:05Z", "{}", "+"]);
  sh(["find", dir, "-type", "d", "-exec", "touch", "-d", "2019-05-06 07:08:09Z", "{}", "+"]);
  const args = ["tar", "-c", `--format=${format}`, "--sort=name", "--numeric-owner", "-f", archive, "-C", dir, "."];
  if (format === "pax") args.splice(2, 0, "--xattrs");
  sh(args);
}

/** GNU tar's own extraction of `archive` into `dir`, keeping owners, modes and every xattr. */
export function gnuTarExtract(archive: string, dir: string): void {
  sh(["tar", "-x", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-p", "-f", archive, "-C", dir]);
}

/**
 * Everything observable about a tree, one line per path (lstat, never following links): type, mode with
 * special bits, owner, size, content hash, link target, device numbers, mtime in ms, xattrs, and which
 * paths share an inode. Two trees are the same layer iff their listings are equal.
 */
export function listTree(root: string, { skip }: { skip?: string } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    const path = rel ? `${root}/${rel}` : root;
    const st = lstatSync(path);
    const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : "other";
    const parts = [type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
    if (type === "file") {
      parts.push(`size=${st.size}`, new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex").slice(0, 16));
      const first = inodes.get(st.ino);
      if (first !== undefined && st.nlink > 1) parts.push(`same-inode-as=${first}`);
      else inodes.set(st.ino, rel);
    }
    if (type === "symlink") parts.push(`-> ${readlinkSync(path)}`);
    if (type === "char" || type === "block") parts.push(`rdev=${st.rdev}`);
    parts.push(`mtime=${Math.floor(st.mtimeMs)}`);
    for (const name of sys().llistxattr(path).sort()) parts.push(`xattr ${name}=${Buffer.from(sys().lgetxattr(path, name) ?? []).toString("hex")}`);
    out[rel || "."] = parts.join(" ");
    if (type === "dir") for (const name of readdirSync(path).sort()) if (`${rel ? `${rel}/` : ""}${name}` !== skip) walk(rel ? `${rel}/${name}` : name);
  };
  walk("");
  return out;
}
