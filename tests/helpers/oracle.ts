/**
 * The reference for layer application: GNU tar extracts each layer of an image in order while the OCI
 * whiteout rules are applied here, and treeListing() prints a tree in a form that an overlay-mounted
 * container root can be compared against line by line.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { dirname, join, posix } from "node:path";

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/** Resolves a ref name in an OCI layout to the layer blob paths of its linux/`arch` manifest. */
function layerBlobs(layoutDir: string, ref: string, arch: string): string[] {
  const blob = (digest: string) => join(layoutDir, "blobs", "sha256", digest.replace(/^sha256:/, ""));
  const index = JSON.parse(readFileSync(join(layoutDir, "index.json"), "utf8"));
  let desc = index.manifests.find((m: any) => m.annotations?.["org.opencontainers.image.ref.name"] === ref);
  if (!desc) throw new Error(`no ref ${ref} in ${layoutDir}`);
  while (INDEX_TYPES.has(desc.mediaType)) {
    const list = JSON.parse(readFileSync(blob(desc.digest), "utf8"));
    desc = list.manifests.find((m: any) => m.platform?.os === "linux" && m.platform?.architecture === arch);
    if (!desc) throw new Error(`${ref} has no linux/${arch} entry`);
  }
  const manifest = JSON.parse(readFileSync(blob(desc.digest), "utf8"));
  return manifest.layers.map((l: { digest: string }) => blob(l.digest));
}

/** Decodes a GNU tar --quoting-style=c string body (octal escapes are bytes of UTF-8). */
function unquoteC(s: string): string {
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, b: 8, a: 7, "\\": 92, '"': 34, "?": 63 };
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "\\") {
      bytes.push(...new TextEncoder().encode(s[i]));
      continue;
    }
    const next = s[++i];
    if (/[0-7]/.test(next)) {
      const oct = /^[0-7]{1,3}/.exec(s.slice(i))![0];
      bytes.push(parseInt(oct, 8));
      i += oct.length - 1;
    } else bytes.push(simple[next] ?? next.charCodeAt(0));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** One entry of a layer: normalised path and tar type letter (d, -, h, l, c, b, p). */
interface Entry {
  path: string;
  type: string;
}

/** Lists a layer's entries with their types, via `tar -tv` (GNU tar reads gzip by itself). */
async function listLayer(blob: string): Promise<Entry[]> {
  const proc = Bun.spawn(["tar", "-tv", "--quoting-style=c", "-f", blob], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`tar -tv ${blob}: ${await new Response(proc.stderr).text()}`);
  const entries: Entry[] = [];
  const re = /^(\S)\S*\s+\S+\s+(?:\d+,\s*\d+|\d+)\s+\S+\s+\S+\s+"((?:[^"\\]|\\.)*)"/;
  for (const line of text.split("\n")) {
    if (!line) continue;
    const m = re.exec(line);
    if (!m) throw new Error(`unparsed tar listing line: ${line}`);
    const path = posix.normalize(unquoteC(m[2])).replace(/^\.?\/+/, "").replace(/\/+$/, "");
    if (path && path !== ".") entries.push({ type: m[1], path });
  }
  return entries;
}

/** lstat that returns undefined for a missing path. */
function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** True when no ancestor of `rel` under `root` is a symlink (so an operation cannot escape the root). */
function parentsAreReal(root: string, rel: string): boolean {
  const parts = rel.split("/").slice(0, -1);
  let p = root;
  for (const part of parts) {
    p = join(p, part);
    const st = lstatOrNull(p);
    if (!st) return true;
    if (!st.isDirectory()) return false;
  }
  return true;
}

/**
 * Builds the merged root filesystem of `ref` (linux/amd64 by default for an index) from an OCI layout into
 * `dest` (created if missing): layers in order, `.wh.X` removes X from lower layers, `.wh..wh..opq` empties
 * its directory's lower contents, an entry replaces a lower entry of another type, and whiteout files
 * themselves never appear.
 */
export async function expectedRootfs(layoutDir: string, ref: string, dest: string, arch = "amd64"): Promise<void> {
  mkdirSync(dest, { recursive: true });
  for (const blob of layerBlobs(layoutDir, ref, arch)) {
    const entries = await listLayer(blob);
    // Whiteouts apply to lower layers only, so all of them run before this layer is extracted.
    for (const { path } of entries) {
      const base = posix.basename(path);
      if (!base.startsWith(".wh.") || !parentsAreReal(dest, path)) continue;
      const parent = join(dest, dirname(path));
      if (base === ".wh..wh..opq") {
        if (lstatOrNull(parent)?.isDirectory()) {
          for (const child of readdirSync(parent)) rmSync(join(parent, child), { recursive: true, force: true });
        }
      } else {
        rmSync(join(parent, base.slice(4)), { recursive: true, force: true });
      }
    }
    // tar would refuse to put a file over a non-empty dir and would descend through a symlink to a dir.
    for (const { path, type } of entries) {
      if (posix.basename(path).startsWith(".wh.") || !parentsAreReal(dest, path)) continue;
      const st = lstatOrNull(join(dest, path));
      if (st && (type === "d") !== st.isDirectory()) rmSync(join(dest, path), { recursive: true, force: true });
    }
    const proc = Bun.spawn(
      ["tar", "-x", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-p",
        "--exclude=.wh.*", "-f", blob, "-C", dest],
      { stdout: "ignore", stderr: "pipe" },
    );
    const err = await new Response(proc.stderr).text();
    if ((await proc.exited) !== 0) throw new Error(`tar -x ${blob}: ${err}`);
  }
}

/** Major/minor of a Linux dev_t (glibc's encoding, enough for 32-bit values). */
function devNumbers(rdev: number): string {
  return `${(rdev >>> 8) & 0xfff},${(rdev & 0xff) | ((rdev >>> 12) & 0xfff00)}`;
}

/**
 * Lists a tree comparably, one sorted line per path (the root itself excluded): type, mode with
 * setuid/setgid/sticky, uid, gid, then size and sha256 for files, the target for symlinks, major,minor for
 * devices, and `link=<first path>` for files sharing an inode within the tree. No times: directory mtimes
 * and atimes differ between any two extractions.
 */
export async function treeListing(dir: string): Promise<string[]> {
  const paths: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      paths.push(child);
      if (lstatSync(join(dir, child)).isDirectory()) walk(child);
    }
  };
  if (!existsSync(dir)) throw new Error(`${dir} does not exist`);
  walk("");
  paths.sort();

  const stats = new Map(paths.map((p) => [p, lstatSync(join(dir, p))]));
  const inodeLeader = new Map<string, string>();
  const inodeCount = new Map<string, number>();
  for (const p of paths) {
    const st = stats.get(p)!;
    if (!st.isFile() || st.nlink < 2) continue;
    const key = `${st.dev}:${st.ino}`;
    if (!inodeLeader.has(key)) inodeLeader.set(key, p);
    inodeCount.set(key, (inodeCount.get(key) ?? 0) + 1);
  }

  const lines: string[] = [];
  for (const p of paths) {
    const st = stats.get(p)!;
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    let type: string;
    let extra = "";
    if (st.isDirectory()) type = "dir";
    else if (st.isSymbolicLink()) {
      type = "symlink";
      extra = ` -> ${readlinkSync(join(dir, p))}`;
    } else if (st.isFile()) {
      type = "file";
      const h = new Bun.CryptoHasher("sha256");
      for await (const chunk of Bun.file(join(dir, p)).stream()) h.update(chunk);
      extra = ` size=${st.size} sha256=${h.digest("hex")}`;
      const key = `${st.dev}:${st.ino}`;
      if ((inodeCount.get(key) ?? 0) > 1) extra += ` link=${inodeLeader.get(key)}`;
    } else if (st.isFIFO()) type = "fifo";
    else if (st.isSocket()) type = "socket";
    else {
      type = st.isCharacterDevice() ? "char" : "block";
      extra = ` dev=${devNumbers(st.rdev)}`;
    }
    lines.push(`${p} ${type} mode=${mode} uid=${st.uid} gid=${st.gid}${extra}`);
  }
  return lines;
}
