/**
 * Extracts a tar archive from a client (`docker cp` into a container, `PUT /containers/{id}/archive`, or the
 * CLI's copy out to a local directory) into a directory of a root, as moby's archive.Untar does, treating
 * the archive as hostile and the tree as changing under us (a running container's processes write to it).
 *
 * Every path is looked up with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the root: the
 * kernel resolves symlinks and ".." as if that fd were "/", in one call, so neither a symlink in the archive
 * nor one a container swaps in mid-copy can lead outside the root. The last component is then created or
 * changed through /proc/self/fd/<parent fd>/<name> with calls that never follow it (O_CREAT|O_EXCL, mkdir,
 * symlink, link, lchown, lutimes, lsetxattr); chmod goes through an O_PATH|O_NOFOLLOW fd of the node itself.
 *
 * Not layer unpacking (unpack.ts): `.wh.` names are plain files here. Refused (ExtractError): NUL bytes,
 * names whose ".." climbs above the extraction directory, symlinks whose relative target climbs above it and
 * hardlinks to paths outside it (moby's breakout checks); absolute member names are taken relative to the
 * extraction directory, as moby does. Device nodes are made, as moby does as root, only on the root's own
 * file system (a container's overlay, mounted nodev, with the devices cgroup in front of it), never in a
 * volume, bind mount or tmpfs where the host could open them.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmdirSync, symlinkSync, unlinkSync, writeSync, chmodSync } from "node:fs";
import { posix } from "node:path";
import { O_CLOEXEC, O_PATH, RESOLVE, S_IF, SysError, makedev, sys } from "../sys/index.ts";
import { TarError, TarReader, type TarEntry, type TarSink } from "./tar.ts";

/** How extracted files are owned and what may be replaced. */
export interface ExtractOptions {
  /** "header": the archive's uid/gid (moby as root); {uid,gid}: everything owned by them (cp -a); "keep": no chown (the CLI's local side). */
  owner: "header" | "keep" | { uid: number; gid: number };
  /** moby's NoOverwriteDirNonDir: a directory may not replace a non-directory, nor the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Whether char/block device members may be made (on the root's own file system only). */
  devices?: boolean;
}

/** The archive is malformed or hostile, or asks for something the target refuses; nothing was written outside the root. */
export class ExtractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExtractError";
  }
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_RDONLY } = constants;
const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;

/** Opens `path` (absolute or not, always inside the root) under `rootFd` by the kernel's in-root rules. */
export function openInRoot(rootFd: number, path: string, flags: number): number {
  return sys().openat2(rootFd, path.replace(/^\/+/, "") || ".", flags | O_CLOEXEC, IN_ROOT);
}

/** The errno code of a node:fs or Sys error. */
export function errCode(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** Removes `name` in the open directory `dirFd`, a whole tree for a directory, through directory fds only. */
export function removeTree(dirFd: number, name: string): void {
  const at = `/proc/self/fd/${dirFd}/${name}`;
  const st = lstatSync(at, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) return unlinkSync(at); // unlink never follows the last component
  // O_NOFOLLOW: a directory swapped for a symlink since the lstat is not entered.
  const fd = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const child of readdirSync(`/proc/self/fd/${fd}`)) removeTree(fd, child);
  } finally {
    closeSync(fd);
  }
  rmdirSync(at);
}

/**
 * Extracts `stream` (a plain tar) into the directory `dir` of the tree under `rootFd` (both in-root paths;
 * `dir` must exist). Resolves when the archive is applied; rejects with ExtractError or the system error.
 */
export async function extractTar(stream: ReadableStream<Uint8Array>, rootFd: number, dir: string, opts: ExtractOptions): Promise<void> {
  const writer = new CopyWriter(rootFd, posix.resolve("/", dir), opts);
  const tar = new TarReader(writer);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      tar.write(value);
    }
    tar.end();
    writer.finish();
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof TarError) throw new ExtractError(`not a valid tar archive: ${e.message}`);
    throw e;
  } finally {
    writer.close();
  }
}

/** The TarSink that applies members under the extraction directory, resolving every lookup in the root. */
class CopyWriter implements TarSink {
  #fd = -1;
  #entry: TarEntry | null = null;
  #parentFd = -1;
  #base = "";
  readonly #rootDev: number;
  // Directories to give their mtimes once nothing more is created in them (in-root paths).
  readonly #dirTimes: [string, number][] = [];

  constructor(
    readonly rootFd: number,
    readonly dir: string,
    readonly opts: ExtractOptions,
  ) {
    this.#rootDev = fstatSync(rootFd).dev;
  }

  entry(e: TarEntry): void {
    try {
      this.#apply(e);
    } catch (err) {
      this.close();
      if (err instanceof ExtractError) throw err;
      const code = errCode(err);
      if (code === "EROFS" || code === "ENOSPC" || code === "EDQUOT") throw err;
      throw new ExtractError(`cannot extract "${e.name}": ${(err as Error).message}`);
    }
  }

  data(chunk: Uint8Array): void {
    if (this.#fd < 0) return;
    for (let off = 0; off < chunk.length; ) off += writeSync(this.#fd, chunk, off, chunk.length - off);
  }

  entryEnd(): void {
    const e = this.#entry;
    const fd = this.#fd;
    if (fd < 0 || !e) return;
    this.#fd = -1;
    try {
      // chown first: it clears setuid/setgid and file capabilities, which chmod and the xattrs then restore.
      const owner = this.#owner(e);
      if (owner) fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, e.mode);
      this.#xattrs(e);
      futimesSync(fd, e.mtime, e.mtime);
    } finally {
      closeSync(fd);
      this.#closeParent();
    }
  }

  /** Gives the extracted directories their mtimes (deepest last-made first, as moby does at the end). */
  finish(): void {
    for (const [path, mtime] of this.#dirTimes.reverse()) {
      const { dirFd, base } = this.#parent(path);
      try {
        lutimesSync(`/proc/self/fd/${dirFd}/${base}`, mtime, mtime);
      } catch {
        // gone or replaced meanwhile: nothing to date
      } finally {
        closeSync(dirFd);
      }
    }
  }

  /** Closes whatever a failed member left open. */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#closeParent();
  }

  #closeParent(): void {
    if (this.#parentFd >= 0) closeSync(this.#parentFd);
    this.#parentFd = -1;
  }

  #owner(e: TarEntry): { uid: number; gid: number } | null {
    const o = this.opts.owner;
    return o === "keep" ? null : o === "header" ? { uid: e.uid, gid: e.gid } : o;
  }

  /** The open parent directory of in-root `path` (made, 0755, when missing, as moby makes missing parents) and the last name. */
  #parent(path: string): { dirFd: number; base: string } {
    const parent = posix.dirname(path);
    let dirFd: number;
    try {
      dirFd = openInRoot(this.rootFd, parent, O_PATH | O_DIRECTORY);
    } catch (e) {
      if (errCode(e) !== "ENOENT") throw e;
      this.#mkdirAll(parent);
      dirFd = openInRoot(this.rootFd, parent, O_PATH | O_DIRECTORY);
    }
    return { dirFd, base: posix.basename(path) };
  }

  #mkdirAll(path: string): void {
    let cur = "/";
    for (const part of path.split("/").filter(Boolean)) {
      const dirFd = openInRoot(this.rootFd, cur, O_PATH | O_DIRECTORY);
      try {
        mkdirSync(`/proc/self/fd/${dirFd}/${part}`, 0o755);
      } catch (e) {
        if (errCode(e) !== "EEXIST") throw e;
      } finally {
        closeSync(dirFd);
      }
      cur = posix.join(cur, part);
    }
  }

  /** A member's in-root path; refuses what would leave the extraction directory (moby's breakout check). */
  #target(name: string, what: string): string {
    if (name.includes("\0")) throw new ExtractError(`${what} contains a NUL byte`);
    const rel = posix.normalize(`./${name}`); // an absolute name counts from the extraction directory, as in moby
    if (rel === ".." || rel.startsWith("../")) throw new ExtractError(`${what} is outside of "${this.dir}"`);
    return posix.join(this.dir, rel);
  }

  #apply(e: TarEntry): void {
    const path = this.#target(e.name, `"${e.name}"`);
    this.#entry = e;
    if (path === this.dir) {
      if (e.type !== "dir") throw new ExtractError(`"${e.name}" would replace the extraction directory with a ${e.type}`);
      return; // moby: the directory itself exists already, its metadata is left as it is
    }
    const { dirFd, base } = this.#parent(path);
    this.#parentFd = dirFd;
    this.#base = base;
    const at = `/proc/self/fd/${dirFd}/${base}`;
    const old = lstatSync(at, { throwIfNoEntry: false });
    if (old) {
      // moby's words: the path, then the extraction directory.
      if (this.opts.noOverwriteDirNonDir && old.isDirectory() && e.type !== "dir") throw new ExtractError(`cannot overwrite directory "${path}" with non-directory "${this.dir}"`);
      if (this.opts.noOverwriteDirNonDir && !old.isDirectory() && e.type === "dir") throw new ExtractError(`cannot overwrite non-directory "${path}" with directory "${this.dir}"`);
      if (!old.isDirectory() || e.type !== "dir") removeTree(dirFd, base);
    }
    const owner = this.#owner(e);
    switch (e.type) {
      case "dir": {
        if (!old?.isDirectory()) mkdirSync(at, 0o700);
        const fd = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        try {
          if (owner) fchownSync(fd, owner.uid, owner.gid);
          fchmodSync(fd, e.mode);
        } finally {
          closeSync(fd);
        }
        this.#xattrs(e);
        this.#dirTimes.push([path, e.mtime]);
        break;
      }
      case "file":
        // O_EXCL: whatever was there is gone, and nothing a container makes meanwhile is followed.
        this.#fd = openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
        return; // parent stays open until entryEnd
      case "symlink": {
        // moby: a relative target may not climb out of the extraction directory (an absolute one is the root's).
        const resolved = posix.join(posix.dirname(path), e.linkname);
        if (!e.linkname.startsWith("/") && resolved !== this.dir && !resolved.startsWith(this.dir === "/" ? "/" : `${this.dir}/`)) {
          throw new ExtractError(`invalid symlink "${path}" -> "${e.linkname}"`);
        }
        symlinkSync(e.linkname, at);
        if (owner) lchownSync(at, owner.uid, owner.gid);
        this.#xattrs(e);
        lutimesSync(at, e.mtime, e.mtime);
        break;
      }
      case "hardlink": {
        const target = this.#target(e.linkname, `hardlink target "${e.linkname}" of "${e.name}"`);
        const t = this.#parent(target);
        try {
          // link(2) does not follow a symlink in the old path's last component; its parent is an in-root fd.
          linkSync(`/proc/self/fd/${t.dirFd}/${t.base}`, at);
        } catch (err) {
          if (errCode(err) === "ENOENT" || errCode(err) === "EPERM" || errCode(err) === "EXDEV") throw new ExtractError(`hardlink "${e.name}" points at "${e.linkname}", which is not a file here`);
          throw err;
        } finally {
          closeSync(t.dirFd);
        }
        break;
      }
      case "char":
      case "block":
      case "fifo": {
        if (e.type !== "fifo") {
          if (!this.opts.devices) throw new ExtractError(`refusing to create device node "${e.name}"`);
          if (fstatSync(dirFd).dev !== this.#rootDev) throw new ExtractError(`refusing to create device node "${e.name}" outside the container's root file system`);
        }
        const kind = e.type === "char" ? S_IF.CHR : e.type === "block" ? S_IF.BLK : S_IF.FIFO;
        sys().mknod(at, kind | 0o600, e.type === "fifo" ? 0 : makedev(e.devmajor, e.devminor));
        if (owner) lchownSync(at, owner.uid, owner.gid);
        this.#chmodNode(at, e.mode);
        this.#xattrs(e);
        lutimesSync(at, e.mtime, e.mtime);
        break;
      }
    }
    this.#closeParent();
  }

  /** chmod without following: through an O_PATH fd of the node itself (a symlink put there meanwhile is left alone). */
  #chmodNode(at: string, mode: number): void {
    const fd = openSync(at, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    try {
      if (!fstatSync(fd).isSymbolicLink()) chmodSync(`/proc/self/fd/${fd}`, mode);
    } finally {
      closeSync(fd);
    }
  }

  /** SCHILY.xattr.* records, as moby: attributes this file system or process may not set are skipped. */
  #xattrs(e: TarEntry): void {
    if (!e.xattrs) return;
    const at = `/proc/self/fd/${this.#parentFd}/${this.#base}`;
    for (const [name, value] of e.xattrs) {
      if (name.startsWith("trusted.overlay.")) continue; // never steer the container's overlayfs
      try {
        sys().lsetxattr(at, name, value);
      } catch (err) {
        if (err instanceof SysError && ["ENOTSUP", "EOPNOTSUPP", "EPERM"].includes(err.code)) continue;
        throw err;
      }
    }
  }
}
