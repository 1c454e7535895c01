/**
 * A container's file system for `docker cp` and `HEAD/GET/PUT /containers/{id}/archive`: stat a path, archive
 * it as a tar, extract a tar into a directory, as moby's daemon/archive*.go and containerfs_linux.go do.
 *
 * The view is the container's own, with its volumes and bind mounts at their paths:
 * - running: its root as its processes see it, /proc/<pid>/root (their mounts, tmpfs included; writes land
 *   in the overlay's upper dir or the volume, exactly as the container's own writes);
 * - stopped or created: the overlay mounted with its volumes and binds (read-only ones read-only) in a private
 *   mount namespace of this thread only (Sys.inPrivateMountNamespace), kept alive by its fd for the one
 *   operation and gone with it, or with the process: a crash leaves no mount behind on the host.
 *
 * Paths are resolved inside that root with openat2(RESOLVE_IN_ROOT) (src/fs/extract.ts openInRoot), never
 * by path text on the host: a symlink, absolute or relative, in any component, resolves as if the root
 * were "/", and cannot lead outside it, even if the container swaps components while we work. The choice
 * over walking components with O_NOFOLLOW: the kernel does the whole walk atomically, with the same rules
 * as a chroot (which is what moby uses), in one call; bunker requires Linux 5.6+ for it (the shim too).
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, readSync, statSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { EngineError, invalidParameter } from "../errors.ts";
import { eventsOf } from "../events.ts";
import type { Engine } from "../engine.ts";
import { MS, O_CLOEXEC, O_PATH, sys } from "../../sys/index.ts";
import { errCode, ExtractError, extractTar, openInRoot } from "../../fs/extract.ts";
import { packDir } from "../../fs/pack.ts";
import { mountSource } from "../volumes/index.ts";
import { mountsOf } from "../volumes/mounts.ts";
import { overlayOptions } from "../runtime/spec.ts";
import { statusOf } from "./state.ts";
import type { StoredContainer } from "./types.ts";

const { O_DIRECTORY, O_NOFOLLOW, O_WRONLY, O_CREAT } = constants;

/** moby's container.PathStat, as the X-Docker-Container-Path-Stat header carries it (mode as Go's os.FileMode). */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** moby's containerFileNotFound. */
export const fileNotFound = (path: string, container: string) => new EngineError("notFound", `Could not find the file ${path} in container ${container}`);

/** An open view of a container's file system: the root fd and how to let go of it. */
interface ContainerFs {
  rootFd: number;
  close(): void;
}

// One operation at a time per container in this process, as moby holds the container's lock (a GET until its
// archive is read): a stopped container's overlay is then never mounted twice at once by this engine.
const queues = new Map<string, Promise<void>>();

/** Waits for the container's earlier operations; resolves to the release of this one. */
async function acquire(key: string): Promise<() => void> {
  const prev = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const tail = prev.then(() => new Promise<void>((r) => (release = r)));
  queues.set(key, tail);
  await prev;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
    if (queues.get(key) === tail) queues.delete(key);
  };
}

/** Opens the container's file system as its processes see it (see the module header), its turn taken. */
async function openContainerFs(engine: Engine, c: StoredContainer): Promise<ContainerFs> {
  const release = await acquire(c.dir);
  try {
    const fs = openView(engine, c);
    return {
      rootFd: fs.rootFd,
      close() {
        try {
          fs.close();
        } finally {
          release();
        }
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}

function openView(engine: Engine, c: StoredContainer): ContainerFs {
  const st = statusOf(c);
  if (st.running && st.pid) {
    // The container's root in its own mount namespace: lookups through this fd cross its mounts.
    const rootFd = openSync(`/proc/${st.pid}/root`, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return { rootFd, close: () => closeSync(rootFd) };
  }
  const dir = engine.root.layerDir(c.cacheId);
  const lowerDirs = engine.layers.diffDirs(c.topLayer);
  const mounts = mountsOf(engine, c.id).filter((m) => m.Type !== "tmpfs");
  const sources = mounts.map((m) => mountSource(engine, m));
  const { result: rootFd, nsFd } = sys().inPrivateMountNamespace(() => {
    const merged = `${dir}/merged`;
    mkdirSync(merged, { recursive: true }); // a container never started has none yet
    // nodev: a device node in the container's files opens nothing while we work on them.
    if (lowerDirs.length) sys().mount("overlay", merged, "overlay", MS.NODEV, overlayOptions({ lowerDirs, upperDir: `${dir}/diff`, workDir: `${dir}/work`, mergedDir: merged }));
    else sys().mount(`${dir}/diff`, merged, null, MS.BIND, null); // an image without layers: the upper dir is the root
    const root = openSync(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    // Shallowest first, as the runtime mounts them, each target resolved in the root (made when missing, as moby).
    const order = mounts.map((m, i) => i).sort((a, b) => mounts[a]!.Destination.split("/").length - mounts[b]!.Destination.split("/").length);
    for (const i of order) {
      const m = mounts[i]!;
      const isDir = statSync(sources[i]!).isDirectory();
      const target = mountTarget(root, m.Destination, isDir);
      try {
        sys().mount(sources[i]!, `/proc/self/fd/${target}`, null, MS.BIND | MS.REC, null);
      } finally {
        closeSync(target);
      }
      if (!m.RW) {
        // A bind's read-only flag takes a remount of the new mount, reached by looking the target up again.
        const top = openInRoot(root, m.Destination, O_PATH);
        try {
          sys().mount("", `/proc/self/fd/${top}`, null, MS.BIND | MS.REMOUNT | MS.RDONLY, null);
        } finally {
          closeSync(top);
        }
      }
    }
    return root;
  });
  return {
    rootFd,
    close() {
      closeSync(rootFd);
      if (nsFd >= 0) closeSync(nsFd); // the namespace, and with it every mount above, goes
    },
  };
}

/** An O_PATH fd of a mount target inside the root, made (a directory, or an empty file) when missing. */
function mountTarget(rootFd: number, dest: string, isDir: boolean): number {
  try {
    return openInRoot(rootFd, dest, O_PATH);
  } catch (e) {
    if (errCode(e) !== "ENOENT") throw e;
  }
  let cur = "/";
  const parts = dest.split("/").filter(Boolean);
  parts.forEach((part, i) => {
    const dirFd = openInRoot(rootFd, cur, O_PATH | O_DIRECTORY);
    try {
      const at = `/proc/self/fd/${dirFd}/${part}`;
      if (i < parts.length - 1 || isDir) {
        try {
          mkdirSync(at, 0o755);
        } catch (e) {
          if (errCode(e) !== "EEXIST") throw e;
        }
      } else closeSync(openSync(at, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | constants.O_NONBLOCK, 0o755)); // a fifo put there: ENXIO, no hang
    } finally {
      closeSync(dirFd);
    }
    cur = posix.join(cur, part);
  });
  return openInRoot(rootFd, dest, O_PATH);
}

/** Runs `fn` with the container's file system open; closes it after (a stream's closing is the caller's). */
async function withFs<T>(engine: Engine, c: StoredContainer, fn: (fs: ContainerFs) => T): Promise<T> {
  const fs = await openContainerFs(engine, c);
  try {
    return fn(fs);
  } finally {
    fs.close();
  }
}

/** Go's os.FileMode of a stat(2) mode: the permission bits and Go's own type and special bits. */
export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m |= 1 << 23; // ModeSetuid
  if (st.mode & 0o2000) m |= 1 << 22; // ModeSetgid
  if (st.mode & 0o1000) m |= 1 << 20; // ModeSticky
  if (st.isDirectory()) m |= 2 ** 31; // ModeDir
  else if (st.isSymbolicLink()) m |= 1 << 27;
  else if (st.isFIFO()) m |= 1 << 25;
  else if (st.isSocket()) m |= 1 << 24;
  else if (st.isCharacterDevice()) m |= (1 << 26) | (1 << 21); // ModeDevice | ModeCharDevice
  else if (st.isBlockDevice()) m |= 1 << 26;
  return m >>> 0;
}

/** Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros dropped) of a stat's mtime, in UTC. */
function goTime(st: Stats): string {
  const ns = BigInt(Math.round(st.mtimeMs * 1e6)) % 1_000_000_000n;
  const base = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toISOString().slice(0, 19);
  const frac = ns ? `.${String(ns).padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${base}${frac}Z`;
}

/** Go's filepath.Base. */
function goBase(p: string): string {
  const t = p.replace(/\/+$/, "");
  if (p === "") return ".";
  if (t === "") return "/";
  return t.slice(t.lastIndexOf("/") + 1);
}

/** The lstat of in-root `path` (the last component not followed unless the path ends in "/"), with the fd's parent and base. */
function lstatInRoot(rootFd: number, path: string): Stats {
  const fd = openInRoot(rootFd, path, O_PATH | (path.endsWith("/") ? 0 : O_NOFOLLOW));
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Where the symlinks of in-root `path` lead, fully evaluated inside the root as far as they exist (moby's
 * FollowSymlinkInScope(path, "/")): an absolute path in the container.
 */
export function evalInRoot(rootFd: number, path: string): string {
  const out: string[] = [];
  const todo = path.split("/").filter(Boolean);
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      out.pop();
      continue;
    }
    const dir = `/${out.join("/")}`;
    let target: string | null = null;
    try {
      const dirFd = openInRoot(rootFd, dir, O_PATH | O_DIRECTORY);
      try {
        const at = `/proc/self/fd/${dirFd}/${part}`;
        const st = statOrNull(at);
        if (st?.isSymbolicLink()) target = readlinkSync(at);
      } finally {
        closeSync(dirFd);
      }
    } catch (e) {
      if (errCode(e) !== "ENOENT" && errCode(e) !== "ENOTDIR") throw e;
    }
    if (target === null) {
      out.push(part);
      continue;
    }
    if (++links > 255) throw new EngineError("system", `too many links in ${path}`);
    if (target.startsWith("/")) out.length = 0;
    todo.unshift(...target.split("/").filter(Boolean));
  }
  return `/${out.join("/")}`;
}

function statOrNull(at: string): Stats | null {
  try {
    return lstatSync(at);
  } catch (e) {
    if (errCode(e) === "ENOENT") return null;
    throw e;
  }
}

/** moby's PreserveTrailingDotOrSeparator(filepath.Join("/", path), path). */
function absPath(path: string): string {
  let abs = posix.join("/", path);
  if (abs !== "/" && abs.endsWith("/")) abs = abs.slice(0, -1);
  if (goBase(path) === "." && goBase(abs) !== ".") abs = abs === "/" ? "/." : `${abs}/.`;
  if (path.endsWith("/") && !abs.endsWith("/")) abs += "/";
  return abs;
}

function statOf(rootFd: number, path: string, shown: string): PathStat {
  const st = lstatInRoot(rootFd, path);
  return { name: goBase(shown), size: st.size, mode: goFileMode(st), mtime: goTime(st), linkTarget: st.isSymbolicLink() ? evalInRoot(rootFd, path) : "" };
}

/** A lookup failure as moby reports it: a missing path is "Could not find the file". */
function lookupError(e: unknown, path: string, ref: string): unknown {
  if (errCode(e) === "ENOENT") return fileNotFound(path, ref);
  if (e instanceof EngineError) return e;
  return new EngineError("system", (e as Error).message);
}

/** HEAD /containers/{id}/archive: the stat of a path in the container. */
export function containerStatPath(engine: Engine, ref: string, path: string): Promise<PathStat> {
  const c = engine.containers.resolve(ref);
  return withFs(engine, c, (fs) => {
    try {
      return statOf(fs.rootFd, absPath(path), path);
    } catch (e) {
      throw lookupError(e, path, ref);
    }
  });
}

/** GET /containers/{id}/archive: the stat of a path and a tar of it (a directory with its contents), as moby builds it. */
export async function containerArchivePath(engine: Engine, ref: string, path: string): Promise<{ stat: PathStat; stream: ReadableStream<Uint8Array> }> {
  const c = engine.containers.resolve(ref);
  const fs = await openContainerFs(engine, c);
  let dirFd = -1;
  try {
    const abs = absPath(path);
    const stat = statOf(fs.rootFd, abs, path);
    const base = goBase(abs);
    let tar: ReadableStream<Uint8Array>;
    if (stat.mode & 2 ** 31) {
      // A directory (a symlink to one when the path ends in "/"): its contents under the path's base name.
      dirFd = openInRoot(fs.rootFd, abs, O_PATH | O_DIRECTORY);
      tar = packDir(`/proc/self/fd/${dirFd}/.`, { as: base === "/" ? "." : base });
    } else {
      dirFd = openInRoot(fs.rootFd, posix.dirname(abs), O_PATH | O_DIRECTORY);
      tar = packDir(`/proc/self/fd/${dirFd}/.`, { only: base, as: base });
    }
    const held = dirFd;
    const release = () => {
      closeSync(held);
      fs.close();
    };
    eventsOf(engine).publish("container", "archive-path", c.id, { ...c.config.Labels, image: c.imageRef, name: c.name });
    return { stat, stream: whenDone(tar, release) };
  } catch (e) {
    if (dirFd >= 0) closeSync(dirFd);
    fs.close();
    throw lookupError(e, path, ref);
  }
}

/** `stream`, calling `done` once when it ended, failed or was cancelled. */
function whenDone(stream: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) (finished = true), done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          ctrl.close();
        } else ctrl.enqueue(value);
      } catch (e) {
        finish();
        ctrl.error(e);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      finish();
    },
  });
}

/** Options of PUT /containers/{id}/archive. */
export interface ExtractRequest {
  /** noOverwriteDirNonDir: refuse to replace a directory with a non-directory and the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** copyUIDGID (`docker cp -a`): files owned by the container's user (Config.User), not the archive's ids. */
  copyUIDGID?: boolean;
}

/** PUT /containers/{id}/archive: extracts a tar (plain; the API also takes it compressed) into a directory of the container. */
export async function containerExtractToDir(engine: Engine, ref: string, path: string, body: ReadableStream<Uint8Array>, req: ExtractRequest): Promise<void> {
  const c = engine.containers.resolve(ref);
  const fs = await openContainerFs(engine, c);
  try {
    // The extraction point is resolved with every symlink followed, its last component too (moby's EvalSymlinks).
    let dir: string;
    try {
      const fd = openInRoot(fs.rootFd, posix.join("/", path), O_PATH);
      const isDir = fstatSync(fd).isDirectory();
      closeSync(fd);
      if (!isDir) throw invalidParameter("extraction point is not a directory");
      dir = evalInRoot(fs.rootFd, posix.join("/", path));
    } catch (e) {
      throw lookupError(e, path, ref);
    }
    checkWritablePath(engine, c, dir);
    const owner = req.copyUIDGID && c.config.User ? containerUser(fs.rootFd, c.config.User) : ("header" as const);
    await extractTar(await decompressed(body), fs.rootFd, dir, { owner, noOverwriteDirNonDir: req.noOverwriteDirNonDir, devices: true });
  } catch (e) {
    if (e instanceof ExtractError) throw new EngineError("system", e.message);
    if (errCode(e) === "EROFS") throw new EngineError("system", `${(e as Error).message.replace(/^EROFS: /, "")}`);
    throw e;
  } finally {
    fs.close();
  }
  eventsOf(engine).publish("container", "extract-to-dir", c.id, { ...c.config.Labels, image: c.imageRef, name: c.name });
}

/** The body, gunzipped when it is gzip (moby's DecompressStream; other compressions are left to fail as tar). */
async function decompressed(body: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const first = await reader.read();
  const whole = new ReadableStream<Uint8Array>({
    start(ctrl) {
      if (first.done) ctrl.close();
      else ctrl.enqueue(first.value);
    },
    async pull(ctrl) {
      const r = await reader.read();
      if (r.done) ctrl.close();
      else ctrl.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const gzip = !first.done && first.value[0] === 0x1f && first.value[1] === 0x8b;
  return gzip ? whole.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) : whole;
}

/** moby's checkWritablePath: a read-only volume or bind, or a read-only root outside any mount, refuses writes. */
function checkWritablePath(engine: Engine, c: StoredContainer, dir: string): void {
  for (const m of mountsOf(engine, c.id)) {
    const rel = posix.relative(m.Destination, dir);
    if (rel === ".." || rel.startsWith("../")) continue;
    if (m.RW) return;
    throw invalidParameter("mounted volume is marked read-only");
  }
  if (c.hostConfig.ReadonlyRootfs) throw invalidParameter("container rootfs is marked read-only");
}

/** The uid/gid of `user[:group]` (names or numbers) from the container's own /etc/passwd and /etc/group (moby's getUIDGID). */
function containerUser(rootFd: number, spec: string): { uid: number; gid: number } {
  const [u = "", g = ""] = spec.split(":", 2);
  // The container owns these files: a fifo there must not block the engine (O_NONBLOCK, regular files only),
  // nor a huge one fill its memory (the first MiB is read, as no real passwd file is longer).
  const read = (file: string): string[][] => {
    try {
      const fd = openInRoot(rootFd, file, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) return [];
        const buf = Buffer.alloc(1 << 20);
        const n = readSync(fd, buf, 0, buf.length, 0);
        return buf.toString("utf8", 0, n).split("\n").map((l) => l.split(":"));
      } finally {
        closeSync(fd);
      }
    } catch {
      return [];
    }
  };
  const numeric = (s: string) => (/^\d+$/.test(s) && Number(s) <= 2 ** 31 - 1 ? Number(s) : null);
  let uid = 0;
  let gid = 0;
  if (u) {
    const n = numeric(u);
    const row = read("/etc/passwd").find((f) => (n === null ? f[0] === u : Number(f[2]) === n && f[2] !== ""));
    if (!row && n === null) throw invalidParameter(`failed to look up user "${u}" in container: no matching entries in passwd file`);
    uid = n ?? Number(row![2]);
    gid = row ? Number(row[3]) : 0;
  }
  if (g) {
    const n = numeric(g);
    if (n !== null) gid = n;
    else {
      const row = read("/etc/group").find((f) => f[0] === g);
      if (!row) throw invalidParameter(`failed to look up group "${g}" in container: no matching entries in group file`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}
