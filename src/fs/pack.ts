/**
 * A directory tree as a tar stream: the layer writer (an overlay upper dir becomes a layer with `.wh.`
 * whiteouts), and the archive of export and cp. Members come in moby's order (each directory's entries sorted
 * by name, a directory before its contents) with moby's headers: relative names, directories ending in "/",
 * mtimes in whole seconds, no user or group names, hardlinks to the first name of an inode, xattrs as pax
 * records (overlay's own trusted.overlay.* never).
 *
 * The tree may belong to a running container that changes it while it is archived. Nothing is looked up
 * through a path a container could swap for a symlink: every directory is opened with O_NOFOLLOW and its
 * children are reached through /proc/self/fd/<dir fd>/<name> (the kernel resolves the fd link to the open
 * directory itself, then looks up one name), files are opened with O_NOFOLLOW, and a directory replaced
 * by anything else between its lstat and its open is skipped. So the archive holds only what was inside.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { sys } from "../sys/index.ts";
import type { EntryType } from "./tar.ts";
import { tarStream, type TarMember } from "./tar-write.ts";

/** What to archive and how. */
export interface PackOptions {
  /** The tree is an overlay upper dir: whiteout devices (char 0:0) become `.wh.<name>` files and opaque
   * directories get a `.wh..wh..opq` member, as moby's overlay2 driver writes a layer diff. */
  overlay?: boolean;
  /** Archive only this child of the root (one path component), e.g. cp's source file or directory. */
  only?: string;
  /** The name the archived root (or `only`) gets: "" (the default) archives the root's contents as top-level
   * names with no member for the root; a name archives the root (or `only`) itself under that name. */
  as?: string;
  /** Paths relative to the root (no "./", no trailing "/") left out with everything under them: export's mounts. */
  skip?: (rel: string) => boolean;
  /** Lower layers (overlay2 diff dirs, top first) merged under the root as overlayfs shows them, without a
   * mount: the topmost entry of a name wins, whiteouts hide the name below, an opaque directory hides the
   * lower directories' contents. Export's view of a container whose root is not mounted on the host. */
  lower?: string[];
}

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;
/** Not in node's constants; Linux's value on x86-64 and arm64. Bunker spawns shims: no fd of a tree may leak. */
const O_CLOEXEC = 0o2000000;
const OPAQUE = "trusted.overlay.opaque";

function typeOf(st: Stats): EntryType | null {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return null; // sockets are not archived, as moby skips them
}

/** Linux's major/minor split of a dev_t (glibc's gnu_dev_major/minor). */
const major = (rdev: number) => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));

/** xattrs of a path, without overlay's own; null when there are none. */
function xattrsOf(path: string): Map<string, Uint8Array> | null {
  let names: string[];
  try {
    names = sys().llistxattr(path);
  } catch {
    return null; // a file system without xattrs
  }
  const out = new Map<string, Uint8Array>();
  for (const n of names.sort()) {
    if (n.startsWith("trusted.overlay.")) continue;
    const v = sys().lgetxattr(path, n);
    if (v) out.set(n, v);
  }
  return out.size ? out : null;
}

/** overlayfs's whiteout: a 0:0 character device. */
const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/** Whether a directory is opaque (overlayfs hides what lower layers hold under it). */
const opaque = (dirPath: string) => sys().lgetxattr(dirPath, OPAQUE)?.[0] === 0x79; /* y */

function lstatOrNone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (["ENOENT", "ENOTDIR"].includes((e as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw e;
  }
}

/**
 * The directories `child` continues into below an upper directory, opened, top first: down to the first
 * layer where it is absent-and-whited-out or not a directory, or through an opaque one (included, then stop).
 */
function lowerDirs(parents: number[], child: string): number[] {
  const out: number[] = [];
  for (const p of parents) {
    const path = `/proc/self/fd/${p}/${child}`;
    const st = lstatOrNone(path);
    if (!st) continue;
    if (!st.isDirectory()) break; // a file or a whiteout hides everything further down
    let fd: number;
    try {
      fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } catch {
      break;
    }
    out.push(fd);
    if (opaque(`/proc/self/fd/${fd}/.`)) break;
  }
  return out;
}

/** The members of a tree, produced as they are read (see the module header for the rules). */
export function* packMembers(root: string, opts: PackOptions = {}): Generator<TarMember> {
  const links = new Map<string, string>(); // "dev:ino" of a file with other links -> its first archived name
  const prefix = opts.as ?? "";
  const rootFd = openSync(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const rootFds = [rootFd];
  try {
    for (const l of opts.lower ?? []) rootFds.push(openSync(l, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (opts.only !== undefined) {
      if (opts.only.includes("/") || opts.only === "." || opts.only === ".." || opts.only === "") throw new Error(`not one path component: ${opts.only}`);
      yield* member(rootFds, opts.only, prefix || opts.only, opts.only);
    } else {
      if (prefix) {
        const st = lstatSync(`/proc/self/fd/${rootFd}/.`);
        yield { header: { name: `${prefix}/`, type: "dir", mode: st.mode & 0o7777, size: 0, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: xattrsOf(`/proc/self/fd/${rootFd}/.`) } };
      }
      yield* children(rootFds, prefix, "");
    }
  } finally {
    for (const fd of rootFds) closeSync(fd);
  }

  /** The members under the open directories `dirFds` (one, or one per merged layer, top first), archived
   * under `name` ("" for top level), relative path `rel`. */
  function* children(dirFds: number[], name: string, rel: string): Generator<TarMember> {
    const entries = dirFds.length === 1 ? readdirSync(`/proc/self/fd/${dirFds[0]}`) : [...new Set(dirFds.flatMap((fd) => readdirSync(`/proc/self/fd/${fd}`)))];
    for (const e of entries.sort()) yield* member(dirFds, e, name ? `${name}/${e}` : e, rel ? `${rel}/${e}` : e);
  }

  /** The member(s) for child `child` of `dirFds`: itself, its whiteout form, or a directory and all below it. */
  function* member(dirFds: number[], child: string, name: string, rel: string): Generator<TarMember> {
    if (opts.skip?.(rel)) return;
    let st: Stats | undefined;
    let layer = 0;
    for (; layer < dirFds.length && !st; layer++) st = lstatOrNone(`/proc/self/fd/${dirFds[layer]}/${child}`); // removed while archived: none
    if (!st) return;
    const dirFd = dirFds[--layer]!;
    const path = `/proc/self/fd/${dirFd}/${child}`;
    if (opts.lower && isWhiteout(st)) return; // merged: deleted in an upper layer
    const type = typeOf(st);
    if (!type) return;
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (opts.overlay && isWhiteout(st)) {
      // overlayfs's whiteout: a 0:0 character device. In a layer it is an empty `.wh.` file (moby: mode 0600).
      const slash = name.lastIndexOf("/");
      yield { header: { name: `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`, type: "file", size: 0, mode: 0o600, uid: st.uid, gid: st.gid, mtime: base.mtime } };
      return;
    }
    if (type === "dir") {
      // Opened without following, so a directory swapped for a symlink since the lstat is not entered.
      let fd: number;
      try {
        fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      } catch (e) {
        if (["ENOENT", "ENOTDIR", "ELOOP"].includes((e as NodeJS.ErrnoException).code ?? "")) return;
        throw e;
      }
      try {
        const fdPath = `/proc/self/fd/${fd}/.`; // "/." so the l* calls act on the directory, not on the fd link
        yield { header: { name: `${name}/`, type, size: 0, ...base, xattrs: xattrsOf(fdPath) } };
        if (opts.overlay && opaque(fdPath)) {
          yield { header: { name: `${name}/.wh..wh..opq`, type: "file", size: 0, mode: base.mode & 0o777, uid: st.uid, gid: st.gid, mtime: 0 } };
        }
        const below = opts.lower && !opaque(fdPath) ? lowerDirs(dirFds.slice(layer + 1), child) : [];
        try {
          yield* children([fd, ...below], name, rel);
        } finally {
          for (const b of below) closeSync(b);
        }
      } finally {
        closeSync(fd);
      }
      return;
    }
    if (type !== "symlink" && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield { header: { name, type: "hardlink", size: 0, ...base, linkname: first } };
        return;
      }
      links.set(key, name);
    }
    const xattrs = type === "symlink" ? null : xattrsOf(path);
    if (type === "symlink") {
      yield { header: { name, type, size: 0, ...base, linkname: readlinkSync(path) } };
    } else if (type === "file") {
      let fd: number;
      try {
        // O_NONBLOCK: if a fifo took the file's place since the lstat, the open must not hang.
        fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      } catch (e) {
        if (["ENOENT", "ELOOP"].includes((e as NodeJS.ErrnoException).code ?? "")) return;
        throw e;
      }
      const now = fstatSync(fd);
      if (!now.isFile() || now.ino !== st.ino) {
        closeSync(fd); // replaced since the lstat: archive only what was looked at
        return;
      }
      yield { header: { name, type, size: st.size, ...base, xattrs }, body: { fd } };
    } else {
      yield { header: { name, type, size: 0, ...base, xattrs, devmajor: major(st.rdev), devminor: minor(st.rdev) } };
    }
  }
}

/** A tree as a tar stream (see PackOptions); hash it for a layer's diff ID, compress it for its blob. */
export function packDir(root: string, opts: PackOptions & { onFileBody?: (name: string, offset: number, size: number) => void } = {}): ReadableStream<Uint8Array> {
  return tarStream(packMembers(root, opts), { onFileBody: opts.onFileBody });
}
