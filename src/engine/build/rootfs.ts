/**
 * A build step's file system: its parent's layers (read-only lowers, from the store) under a fresh upper
 * directory in the build's scratch area, mounted as overlayfs in a private mount namespace of this thread
 * (Sys.inPrivateMountNamespace, as `docker cp` mounts a stopped container). The mount is reached through an
 * O_PATH fd (`/proc/self/fd/N`), never through a host path, and lives as long as that fd and the namespace's:
 * closing them, or the process dying, drops it, so a failed or aborted build leaves no mount on the host.
 * Paths inside a root are resolved inside it (openat2 RESOLVE_IN_ROOT): an image's symlinks cannot lead out.
 */
import { closeSync, constants, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, rmdirSync, unlinkSync } from "node:fs";
import { join, posix } from "node:path";
import { MS, O_CLOEXEC, O_PATH, sys } from "../../sys/index.ts";
import { errCode, openInRoot } from "../../fs/extract.ts";
import { overlayOptions } from "../runtime/spec.ts";

const { O_DIRECTORY, O_RDONLY } = constants;

/** A mounted root: `path` reaches it (this process only); `close` unmounts it. */
export interface MountedRoot {
  path: string;
  fd: number;
  close(): void;
}

/** Overlay option paths may not hold these (the option string's separators). */
function checkPath(p: string): string {
  if (/[,:\\]/.test(p)) throw new Error(`overlay path contains a comma, colon or backslash: "${p}"`);
  return p;
}

/**
 * Mounts `lowers` (top first) under `upper` at `dir`/merged, or read-only without an upper. A root without
 * layers (scratch) gets `dir`/empty as its one lower. nodev: a device node in a layer opens nothing here.
 */
export function mountRoot(dir: string, lowers: string[], upper?: string): MountedRoot {
  const merged = join(dir, "merged");
  mkdirSync(merged, { recursive: true, mode: 0o700 });
  if (!lowers.length) {
    lowers = [join(dir, "empty")];
    mkdirSync(lowers[0]!, { recursive: true, mode: 0o755 });
  }
  const { result: fd, nsFd } = sys().inPrivateMountNamespace(() => {
    if (upper) {
      const work = join(dir, "work");
      mkdirSync(work, { recursive: true, mode: 0o700 });
      // volatile: the upper is the step's layer-to-be, which the unmount need not sync (see overlayOptions)
      sys().mount("overlay", merged, "overlay", MS.NODEV, overlayOptions({ lowerDirs: lowers, upperDir: upper, workDir: work, mergedDir: merged, volatile: true }));
    } else if (lowers.length === 1) {
      // overlayfs wants two lowers without an upper: one layer is bound read-only instead.
      sys().mount(lowers[0]!, merged, null, MS.BIND, null);
      sys().mount("", merged, null, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NODEV, null);
    } else {
      sys().mount("overlay", merged, "overlay", MS.NODEV | MS.RDONLY, `lowerdir=${lowers.map(checkPath).join(":")}`);
    }
    return openSync(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
  });
  return {
    path: `/proc/self/fd/${fd}`,
    fd,
    close() {
      closeSync(fd);
      if (nsFd >= 0) closeSync(nsFd); // the namespace, and the mount with it, goes
    },
  };
}

/** Reads a small file inside a root (its /etc/passwd), resolved in the root; null when absent. */
function readInRoot(rootFd: number, path: string): string | null {
  let fd: number;
  try {
    fd = openInRoot(rootFd, path, O_RDONLY);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(1 << 20);
    const n = readSync(fd, buf, 0, buf.length, null);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * A USER value ("name", "uid", "name:group", "uid:gid") as numbers, names looked up in the root's
 * /etc/passwd and /etc/group (as BuildKit's WORKDIR and --chown do). Throws for an unknown name.
 */
export function resolveUser(rootFd: number, user: string): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const [u, g] = user.split(":") as [string, string | undefined];
  const passwd = () => (readInRoot(rootFd, "/etc/passwd") ?? "").split("\n").map((l) => l.split(":"));
  let uid: number;
  let gid = 0;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = Number(passwd().find((f) => f[2] === u)?.[3] ?? 0);
  } else {
    const entry = passwd().find((f) => f[0] === u);
    if (!entry) throw new Error(`unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = (readInRoot(rootFd, "/etc/group") ?? "").split("\n").map((l) => l.split(":")).find((f) => f[0] === g);
      if (!entry) throw new Error(`unable to find group ${g}: no matching entries in group file`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid };
}

/**
 * `mkdir -p` of an absolute path inside a root, as BuildKit's WORKDIR makes it: symlinks on the way are followed
 * inside the root (an absolute target starts again at the root's "/", a dangling one is created where it points
 * in the root), new directories are 0755 and owned by `owner`. Every lookup is openat2(RESOLVE_IN_ROOT) and every
 * new name is made in an open parent directory fd: nothing outside the root is touched.
 */
export function mkdirInRoot(rootFd: number, path: string, owner: { uid: number; gid: number }): void {
  let parts = posix.normalize(`/${path}`).split("/").filter(Boolean);
  let done: string[] = []; // the real path so far: no symlink in it
  for (let hops = 0; parts.length; ) {
    const name = parts.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      done.pop();
      continue;
    }
    try {
      closeSync(openInRoot(rootFd, `/${[...done, name].join("/")}`, O_PATH | O_DIRECTORY));
      done.push(name);
      continue;
    } catch (e) {
      if (errCode(e) !== "ENOENT") throw e;
    }
    const parent = openInRoot(rootFd, `/${done.join("/")}`, O_PATH | O_DIRECTORY);
    try {
      const at = `/proc/self/fd/${parent}/${name}`;
      const st = lstatSync(at, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        // A dangling link: go on from its target, resolved in the root as the kernel would.
        if (++hops > 40) throw new Error(`too many levels of symbolic links: ${path}`);
        const target = readlinkSync(at);
        if (target.startsWith("/")) done = [];
        parts = [...target.split("/").filter(Boolean), ...parts];
        continue;
      }
      if (st) throw new Error(`not a directory: /${[...done, name].join("/")}`);
      mkdirSync(at, { mode: 0o755 }); // made in the parent's fd: never through a path a link could redirect
      const fd = openInRoot(rootFd, `/${[...done, name].join("/")}`, O_RDONLY | O_DIRECTORY);
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } finally {
        closeSync(fd);
      }
      done.push(name);
    } finally {
      closeSync(parent);
    }
  }
}

/** Whether `rel` (no leading "/") exists in one of `lowers`, without following symlinks on the way. */
function inLowers(lowers: string[], rel: string): boolean {
  return lowers.some((l) => lstatSync(join(l, rel), { throwIfNoEntry: false }) !== undefined);
}

/**
 * Removes from a RUN's upper dir the empty files and directories the runtime made only as mount points
 * (/etc/hosts, a --mount target, their parents) where the image had nothing: BuildKit's layers hold none.
 * Runs after the container is gone; a symlink on the way stops the walk (nothing outside the upper dir).
 */
export function removeMountStubs(upper: string, lowers: string[], targets: string[]): void {
  for (const target of targets) {
    const parts = posix.normalize(`/${target}`).split("/").filter(Boolean);
    // Deepest first: the target, then each parent the mount made.
    for (let n = parts.length; n > 0; n--) {
      const rel = parts.slice(0, n).join("/");
      const ok = parts.slice(0, n).every((_, i) => {
        const st = lstatSync(join(upper, ...parts.slice(0, i + 1)), { throwIfNoEntry: false });
        return st && !st.isSymbolicLink();
      });
      if (!ok || inLowers(lowers, rel)) break;
      const st = lstatSync(join(upper, rel));
      if (st.isDirectory()) {
        if (readdirSync(join(upper, rel)).length) break;
        rmdirSync(join(upper, rel));
      } else if (st.isFile() && st.size === 0) unlinkSync(join(upper, rel));
      else break;
    }
  }
}
