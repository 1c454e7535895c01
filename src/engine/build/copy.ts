/**
 * The file work of COPY and ADD, as BuildKit's file op does it (dockerfile2llb's dispatchCopy, fsutil's copy,
 * llbsolver/file's unpack, the http source): sources from the build context, another stage's root or an image,
 * a URL or a heredoc, written into the step's root.
 *
 * Destination rules: a dest ending in "/" is a directory (made, with missing parents, 0755 or the octal
 * --chmod, owned by --chown); a file onto an existing directory lands inside it under its own name; a directory
 * source copies its contents; an existing top directory keeps its mode and owner. Copied nodes keep their
 * mode, mtime and hardlinks; symlinks are copied as links, never followed (only a source path itself is
 * resolved, inside its tree). Owners are 0:0 from the context, the source's own from a stage or image,
 * --chown's when given (names read from the destination root's /etc/passwd and /etc/group).
 *
 * Where bunker parts from BuildKit, on purpose: an unknown --chown name is an error (BuildKit silently uses
 * 0); several sources onto a path that is not a directory are refused with the classic builder's error
 * (BuildKit lets the last one win, moby/buildkit#1853); --chown names with --link are refused (BuildKit fails
 * with "invalid user index: -1"); git sources and --keep-git-dir are refused (no git, no network for builds).
 *
 * The destination is hostile (its parent layers may hold any symlink): every write goes through a directory
 * fd obtained with openat2(RESOLVE_IN_ROOT) on the root (src/fs/extract.ts openInRoot), and the last
 * component is made with calls that never follow it (O_CREAT|O_EXCL, mkdir, symlink, link, lchown,
 * lutimes) through /proc/self/fd/<dir>/<name>; nothing is ever joined to the root's host path and followed.
 */
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, readSync, rmSync, symlinkSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { errCode, extractTar, openInRoot } from "../../fs/extract.ts";
import { O_CLOEXEC, O_PATH, SysError, sys } from "../../sys/index.ts";
import { archiveStream } from "./archive.ts";
import { applyChmod, parseChmod, type ChmodSpec } from "./chmod.ts";
import { BuildContext, SourceNotFoundError } from "./context.ts";
import type { Step } from "./dispatch.ts";
import { cleanPath, Dockerignore } from "./dockerignore.ts";

/** A COPY or ADD step, as the dispatcher hands it over. */
export type CopyStep = Extract<Step, { kind: "copy" }>;
/** Where a step's local sources are read: the build context, or a stage's or image's root (read-only). */
export type CopySource = { context: BuildContext } | { root: string };

/** A COPY/ADD that cannot be done as asked (BuildKit's wording where it has one). */
export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CopyError";
  }
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY } = constants;
const CHUNK = 1 << 20;

interface Owner {
  uid: number;
  gid: number;
}

/** A file to write that is not read from a tree: a heredoc's text, or a download's body on disk. */
interface Virtual {
  name: string;
  data: Uint8Array | { file: string };
  mode: number;
  mtime: number;
}

/**
 * Writes a COPY/ADD step's files into `root` (the step's mounted root: parent below, a fresh upper above; an
 * empty directory for --link). `opts.upper`: that mount's upper dir, where a directory the copy makes new is
 * filled directly (see TreeWriter.target).
 */
export async function copyInto(root: string, step: CopyStep, from: CopySource, opts: { signal?: AbortSignal; upper?: string } = {}): Promise<void> {
  const ins = step.ins;
  checkStep(step);
  const chmod = step.chmod ? parseChmod(step.chmod) : undefined;
  const dest = destination(step);
  const rootFd = openSync(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const upperFd = opts.upper ? openSync(opts.upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
  try {
    const chown = step.chown ? chownOf(step.chown, rootFd, ins.link) : undefined;
    const w = new TreeWriter(rootFd, chown, chmod, opts.signal, upperFd);
    const tree = treeOf(from);
    for (const source of step.sources) if (isGitSource(source)) throw gitRefused(source);
    const found = new Map(step.sources.filter((s) => !isHttpSource(s)).map((s) => [s, matches(tree.tree, s, ins.parents)]));
    const count = [...found.values()].reduce((n, ms) => n + ms.length, 0) + step.sources.filter(isHttpSource).length + (step.contents?.length ?? 0);
    // BuildKit would copy each source onto the same path, the last one winning (moby/buildkit#1853); the
    // classic builder's rule is kept where that would happen: several sources need a directory.
    if (count > 1 && !dest.isDir && w.kind(w.resolvePath(dest.path)) !== "dir") {
      throw new CopyError(`When using ${ins.kind.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`);
    }
    for (const source of step.sources) {
      opts.signal?.throwIfAborted();
      if (isHttpSource(source)) {
        const got = await download(source, step.checksum, opts.signal);
        try {
          const data = got.body;
          const body = () => (data instanceof Uint8Array ? new Blob([data]).stream() : Bun.file(data.file).stream());
          if (ins.unpack === true && (await isArchive(body))) await w.extract(body, dest, source);
          else w.copyVirtual({ name: got.name, data, mode: 0o600, mtime: got.mtime }, dest);
        } finally {
          discard(got);
        }
        continue;
      }
      for (const m of found.get(source)!) {
        opts.signal?.throwIfAborted();
        const host = join(tree.tree.root, m.real);
        const st = lstatSync(host);
        if (ins.kind === "add" && ins.unpack !== false && st.isFile() && (await isArchive(() => Bun.file(host).stream()))) {
          await w.extract(() => Bun.file(host).stream(), dest, m.name);
          continue;
        }
        w.copyTree(tree, m, dest, ins.parents ? m.include : undefined, step.exclude);
      }
    }
    for (const doc of step.contents ?? []) {
      // BuildKit makes the heredoc with Mkfile(name, 0644) in a scratch state, stamped now, then copies it.
      w.copyVirtual({ name: doc.name, data: new TextEncoder().encode(doc.data), mode: 0o644, mtime: Date.now() / 1000 }, dest);
    }
  } finally {
    if (upperFd >= 0) closeSync(upperFd);
    closeSync(rootFd);
  }
}

/** A checksum of everything the step reads (context files' content/modes/names, a stage root's files, a URL's content), for the cache key: equal input → equal checksum; no mtimes. */
export async function copyChecksum(step: CopyStep, from: CopySource): Promise<string> {
  checkStep(step);
  const ins = step.ins;
  const h = new Bun.CryptoHasher("sha256");
  // What shapes the result besides the sources: the dispatcher's history text does not carry the flags.
  h.update(JSON.stringify([ins.kind, step.dest, step.chown ?? "", step.chmod ?? "", step.exclude, ins.parents, ins.link, ins.unpack ?? null, step.checksum ?? ""]));
  const tree = treeOf(from);
  for (const source of step.sources) {
    h.update(`\0source\0${source}\0`);
    if (isGitSource(source)) throw gitRefused(source);
    if (isHttpSource(source)) {
      // A pinned checksum is the content's identity: no download needed to know the key.
      if (step.checksum) h.update(`pinned\0${step.checksum}\0`);
      else {
        const got = await fetchUrl(source, "memory");
        remembered = got.body ? { url: source, got: { ...got, body: got.body } } : null;
        h.update(`${got.sha256}\0${got.name}\0${got.mtime}\0`);
      }
      continue;
    }
    for (const m of matches(tree.tree, source, ins.parents)) {
      h.update(`match\0${m.name}\0${m.real}\0`);
      const filter = new Filter(tree.tree.ignore, m.real, ins.parents ? m.include : undefined, step.exclude);
      for (const e of walk(tree.tree, m.real, filter)) {
        const st = e.stat;
        const kind = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : `o${st.mode & 0o170000}:${st.rdev}`;
        h.update(`${e.rel}\0${kind}\0${st.mode & 0o7777}\0${tree.keepOwner ? `${st.uid}:${st.gid}` : ""}\0${e.included ? 1 : 0}\0`);
        if (kind === "f") h.update(`${st.size}\0${tree.tree.digestFile(e.host, st)}\n`);
        else if (kind === "l") h.update(`${readlinkSync(e.host)}\n`);
        else h.update("\n");
      }
    }
  }
  for (const doc of step.contents ?? []) h.update(`\0heredoc\0${doc.name}\0${doc.data.length}\0${doc.data}`);
  return `sha256:${h.digest("hex")}`;
}

/** BuildKit's checks of the step as a whole (dispatchCopy and the flags this builder cannot apply). */
function checkStep(step: CopyStep): void {
  const ins = step.ins;
  if (ins.keepGitDir) throw new CopyError("ADD --keep-git-dir is not supported: git sources need the network and are refused");
  if (step.checksum !== undefined && step.checksum !== "") {
    if (ins.kind !== "add") throw new CopyError("checksum can't be specified for COPY");
    if (step.sources.length !== 1) throw new CopyError("checksum can't be specified for multiple sources");
    if (!isHttpSource(step.sources[0]!) && !isGitSource(step.sources[0]!)) throw new CopyError("checksum requires HTTP(S) or Git sources");
  }
  for (const s of step.sources) {
    if (ins.kind === "copy" && isGitSource(s)) throw new CopyError("source can't be a git ref for COPY");
    if (ins.kind === "copy" && isHttpSource(s)) throw new CopyError("source can't be a URL for COPY");
  }
  if (step.chmod) parseChmod(step.chmod);
}

/** The step's destination in the root (the dispatcher made it absolute under WORKDIR), "/" kept when it names a directory. */
function destination(step: CopyStep): { path: string; isDir: boolean } {
  const raw = step.dest;
  const abs = posix.resolve("/", raw);
  // BuildKit keeps a trailing "/" or "/." (and "." itself): the destination is a directory.
  const isDir = raw.endsWith("/") || raw === "." || raw.endsWith("/.") || step.ins.dest === "." || step.ins.dest.endsWith("/.") || step.ins.dest.endsWith("/");
  return { path: abs, isDir };
}

/** The source tree and whether its owners are kept (a stage's or image's) or reset to 0:0 (the context's, as BuildKit's file sync sends them). */
function treeOf(from: CopySource): { tree: BuildContext; keepOwner: boolean } {
  return "context" in from ? { tree: from.context, keepOwner: false } : { tree: new BuildContext(from.root), keepOwner: true };
}

/** A matched source: the name it was asked by, its path in the tree, and for --parents the include pattern. */
interface Match {
  name: string;
  real: string;
  include?: Dockerignore;
}

/**
 * What a local source names in `tree`. A wildcard matching nothing copies nothing (BuildKit's
 * AllowEmptyWildcard); a plain path that does not exist is SourceNotFoundError. With --parents the part after
 * a "/./" pivot (or the whole path) becomes an include pattern below the part before it, so the copy keeps
 * the source's parent directories.
 */
function matches(tree: BuildContext, source: string, parents: boolean): Match[] {
  let base = source;
  let include: Dockerignore | undefined;
  if (parents) {
    const pivot = source.indexOf("/./");
    const pattern = pivot >= 0 ? source.slice(pivot + 3) : source;
    base = pivot >= 0 ? source.slice(0, pivot) : "/";
    const clean = posix.normalize(`/${pattern}`).slice(1).replace(/\/$/, "");
    include = new Dockerignore([clean]);
    if (!containsWildcards(base) && !containsWildcards(pattern)) {
      const required = posix.join("/", base, clean);
      if (tree.resolve(required, false) === null) throw new SourceNotFoundError(required);
    }
  }
  try {
    const found = tree.sources(base);
    return found.map((m) => ({ ...m, include }));
  } catch (e) {
    if (e instanceof SourceNotFoundError && containsWildcards(base)) return [];
    throw e;
  }
}

/** BuildKit's containsWildcards: `*`, `?` or `[` not escaped by a backslash. */
function containsWildcards(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === "*" || s[i] === "?" || s[i] === "[") return true;
  }
  return false;
}

/** Which entries below a source are copied: .dockerignore (context paths), --parents' include, --exclude (source-relative). */
class Filter {
  readonly exclude?: Dockerignore;
  constructor(
    readonly ignore: Dockerignore,
    readonly base: string,
    readonly include: Dockerignore | undefined,
    excludes: string[],
  ) {
    if (excludes.length) this.exclude = new Dockerignore(excludes.map((p) => (p.startsWith("!") ? `!${cleanPath(p.slice(1))}` : cleanPath(p))));
  }

  /** For `rel` below the source (never "", the source itself is always copied): whether it is copied, and whether a directory may be skipped whole. */
  decide(rel: string, isDir: boolean): { included: boolean; skip: boolean } {
    const inTree = this.base ? `${this.base}/${rel}` : rel;
    // With --parents the source is walked from its base: the pattern names paths relative to that base.
    if (this.ignore.excludes(inTree)) return { included: false, skip: !isDir || this.ignore.skipsDirectory(inTree) };
    let included = this.include ? this.include.excludes(rel) : true;
    const excluded = !!this.exclude?.excludes(rel);
    if (excluded) included = false;
    // fsutil's canSkip: nothing below can come back without an include pattern or an exclusion exception.
    const skip = !included && (!isDir || (!this.include && !this.exclude?.hasExceptions));
    return { included, skip };
  }
}

/** A pre-order walk of what a source's copy visits (parents before children, names sorted, links not followed). */
function* walk(tree: BuildContext, real: string, filter: Filter): Generator<{ rel: string; host: string; stat: Stats; included: boolean }> {
  const host = join(tree.root, real);
  const stat = tree.lstat(host);
  yield { rel: "", host, stat, included: true };
  if (stat.isDirectory()) yield* walkDir(tree, host, "", filter);
}

function* walkDir(tree: BuildContext, dirHost: string, rel: string, filter: Filter): Generator<{ rel: string; host: string; stat: Stats; included: boolean }> {
  for (const name of readdirSync(dirHost).sort()) {
    const childRel = rel ? `${rel}/${name}` : name;
    const host = join(dirHost, name);
    const stat = tree.lstat(host);
    const d = filter.decide(childRel, stat.isDirectory());
    if (d.skip && !d.included) continue;
    yield { rel: childRel, host, stat, included: d.included };
    if (stat.isDirectory()) yield* walkDir(tree, host, childRel, filter);
  }
}

/** A directory of the destination, opened (and made, with its source's metadata) only when something is written in it. */
class TargetDir {
  fd = -1;
  created = false;
  constructor(
    readonly parent: TargetDir | null,
    readonly name: string,
    /** Its path in the root (for messages and hardlinks). */
    readonly path: string,
    /** Opened in the upper dir, not through the overlay mount (TreeWriter.target). */
    readonly direct: boolean = parent?.direct ?? false,
  ) {}

  /** The open directory; makes it (0700 until its metadata is applied) when missing. */
  open(w: TreeWriter): number {
    if (this.fd >= 0) return this.fd;
    const pfd = this.parent!.open(w);
    const at = `/proc/self/fd/${pfd}/${this.name}`;
    const old = lstatSync(at, { throwIfNoEntry: false });
    if (!old) {
      mkdirSync(at, 0o700);
      this.created = true;
    } else if (!old.isDirectory()) throw new CopyError(`cannot copy to non-directory: ${this.path}`);
    // O_NOFOLLOW: the name was just checked or made as a directory; a symlink is never entered.
    this.fd = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return this.fd;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Writes nodes under the root through in-root directory fds. */
class TreeWriter {
  // Source inode -> in-root path of its first copy, so hardlinks stay hardlinks (fsutil's inodes map).
  private readonly inodes = new Map<string, string>();

  constructor(
    readonly rootFd: number,
    readonly chown: Owner | undefined,
    readonly chmod: ChmodSpec | undefined,
    readonly signal: AbortSignal | undefined,
    /** The mounted root's upper dir (O_PATH), -1 when the root is not an overlay mount. */
    readonly upperFd = -1,
  ) {}

  /** Parent directories a copy makes: 0755, or the octal --chmod's mode (fsutil 183e7fb); owned by --chown. */
  private get parentMode(): number {
    return this.chmod && "octal" in this.chmod ? this.chmod.octal : 0o755;
  }

  /** mkdir -p of an in-root path, every lookup in the root; made directories get `parentMode` and --chown. */
  mkdirAll(path: string): void {
    let cur = "/";
    for (const part of path.split("/").filter(Boolean)) {
      const dfd = this.openDir(cur, O_PATH);
      try {
        const at = `/proc/self/fd/${dfd}/${part}`;
        try {
          mkdirSync(at, 0o700);
        } catch (e) {
          if (errCode(e) !== "EEXIST") throw e;
          cur = posix.join(cur, part);
          continue;
        }
        const fd = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        try {
          // chown first: it clears setuid/setgid, which fchmod then sets.
          if (this.chown) fchownSync(fd, this.chown.uid, this.chown.gid);
          fchmodSync(fd, this.parentMode);
        } finally {
          closeSync(fd);
        }
      } finally {
        closeSync(dfd);
      }
      cur = posix.join(cur, part);
    }
  }

  /** Opens an in-root directory (symlinks resolved inside the root); ENOTDIR/ENOENT as BuildKit's mkdir words them. */
  openDir(path: string, flags = O_RDONLY): number {
    try {
      return openInRoot(this.rootFd, path, flags | O_DIRECTORY);
    } catch (e) {
      const code = errCode(e);
      if (code === "ENOTDIR") throw new CopyError(`mkdir ${path}: not a directory`);
      if (code === "ENOENT") throw new CopyError(`mkdir ${path}: no such file or directory`);
      throw e;
    }
  }

  /**
   * `path` with the symlinks that exist on it resolved inside the root, missing components appended as they
   * are (continuity's RootPath, which BuildKit resolves destinations with). Each component is looked at
   * through an in-root fd of its parent (lstat and readlink, which do not follow it); the result is an
   * in-root path, which every write then opens with openat2(RESOLVE_IN_ROOT) anyway.
   */
  resolvePath(path: string): string {
    let parts = path.split("/").filter(Boolean);
    let done: string[] = [];
    let hops = 0;
    let missing = false;
    while (parts.length) {
      const name = parts.shift()!;
      if (name === ".") continue;
      if (name === "..") {
        done.pop();
        continue;
      }
      if (!missing) {
        const link = this.linkAt(`/${done.join("/")}`, name);
        if (link === null) missing = true;
        else if (link !== undefined) {
          if (++hops > 255) throw new CopyError(`${path}: too many levels of symbolic links`);
          if (link.startsWith("/")) done = [];
          parts = [...link.split("/").filter(Boolean), ...parts];
          continue;
        }
      }
      done.push(name);
    }
    return `/${done.join("/")}`;
  }

  /** `name` in the in-root directory `dir`: null when missing (or `dir` is not a directory), its target when a symlink, else undefined. */
  private linkAt(dir: string, name: string): string | null | undefined {
    let dfd: number;
    try {
      dfd = openInRoot(this.rootFd, dir, O_PATH | O_DIRECTORY);
    } catch (e) {
      if (errCode(e) === "ENOENT" || errCode(e) === "ENOTDIR") return null;
      throw e;
    }
    try {
      const at = `/proc/self/fd/${dfd}/${name}`;
      const st = lstatSync(at, { throwIfNoEntry: false });
      if (!st) return null;
      return st.isSymbolicLink() ? readlinkSync(at) : undefined;
    } finally {
      closeSync(dfd);
    }
  }

  /** What an in-root path is now: a directory, something else, or nothing. */
  kind(path: string): "dir" | "other" | null {
    let fd: number;
    try {
      fd = openInRoot(this.rootFd, path, O_PATH);
    } catch (e) {
      if (errCode(e) === "ENOENT" || errCode(e) === "ENOTDIR" || errCode(e) === "ELOOP") return null;
      throw e;
    }
    try {
      return fstatSync(fd).isDirectory() ? "dir" : "other";
    } finally {
      closeSync(fd);
    }
  }

  /** The owner a copied node gets. */
  private ownerOf(st: Stats, keepOwner: boolean): Owner {
    return this.chown ?? (keepOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  }

  private modeOf(mode: number, isDir: boolean): number {
    return this.chmod ? applyChmod(this.chmod, mode & 0o7777, isDir) : mode & 0o7777;
  }

  /** The part of fsutil's Copy before the walk: the directory dest is made, then where the source lands. */
  private target(dest: { path: string; isDir: boolean }, srcIsDir: boolean, baseName: string): { dir: TargetDir; name: string } | { top: TargetDir } {
    const path = this.resolvePath(dest.path);
    this.mkdirAll(dest.isDir ? path : posix.dirname(path));
    const found = this.kind(path);
    const opened = (p: string) => {
      const d = new TargetDir(null, "", p);
      d.fd = this.openDir(p);
      return d;
    };
    if (srcIsDir) {
      if (!found) this.mkdirAll(path);
      else if (found !== "dir") throw new CopyError(`cannot copy to non-directory: ${path}`);
      // A directory the overlay just made (opaque if a lower layer whited it out) has nothing below it: its
      // files land in the upper dir as overlayfs would put them there, without its per-call cost. Its path
      // in the upper is the resolved one (the overlay made or copied up each real directory on it).
      if (!found && this.upperFd >= 0) {
        const top = new TargetDir(null, "", path, true);
        top.fd = openInRoot(this.upperFd, path, O_RDONLY | O_DIRECTORY);
        top.created = true;
        return { top };
      }
      const top = opened(path);
      top.created = !found; // made just now: empty
      return { top };
    }
    if (found === "dir") return { dir: opened(path), name: baseName };
    // A file onto a file (or onto what a symlink names, resolved in the root) replaces it.
    return { dir: opened(posix.dirname(path)), name: posix.basename(path) };
  }

  /** Copies one matched source (file, directory's contents, link) from `tree` to `dest`. */
  copyTree(tree: { tree: BuildContext; keepOwner: boolean }, m: Match, dest: { path: string; isDir: boolean }, include: Dockerignore | undefined, exclude: string[]): void {
    const host = join(tree.tree.root, m.real);
    const st = lstatSync(host);
    const filter = new Filter(tree.tree.ignore, m.real, include, exclude);
    const t = this.target(dest, st.isDirectory(), posix.basename(`/${m.name}`) || "/");
    if ("top" in t) {
      try {
        this.copyChildren(host, "", t.top, filter, tree.keepOwner);
        // fsutil restores the existing top directory's timestamps from the source (copyFileTimestamp).
        futimesSync(t.top.fd, st.atimeMs / 1000, st.mtimeMs / 1000);
      } finally {
        t.top.close();
      }
      return;
    }
    try {
      this.copyNode(host, st, t.dir, t.name, filter, "", tree.keepOwner, false);
    } finally {
      t.dir.close();
    }
  }

  private copyChildren(dirHost: string, rel: string, dir: TargetDir, filter: Filter, keepOwner: boolean): void {
    for (const name of readdirSync(dirHost).sort()) {
      this.signal?.throwIfAborted();
      const childRel = rel ? `${rel}/${name}` : name;
      const host = join(dirHost, name);
      const st = lstatSync(host);
      this.copyNode(host, st, dir, name, filter, childRel, keepOwner, true);
    }
  }

  /** One node and, for a directory, everything below it (post-order metadata, as fsutil's copy). */
  private copyNode(host: string, st: Stats, dir: TargetDir, name: string, filter: Filter, rel: string, keepOwner: boolean, overwrite: boolean): void {
    const { included, skip } = rel ? filter.decide(rel, st.isDirectory()) : { included: true, skip: false };
    if (skip && !included) return;
    const path = posix.join(dir.path, name);
    if (st.isDirectory()) {
      const sub = new TargetDir(dir, name, path);
      try {
        if (included) sub.open(this);
        this.copyChildren(host, rel, sub, filter, keepOwner);
        if (sub.fd >= 0 && (sub.created || (included && overwrite))) this.applyMeta(sub.fd, st, keepOwner, true);
      } finally {
        sub.close();
      }
      return;
    }
    const dfd = dir.open(this);
    const at = `/proc/self/fd/${dfd}/${name}`;
    // A directory this copy made holds only what it wrote, one name each (one readdir): nothing to clear,
    // and one lstat less per file of a COPY into a new directory.
    if (!dir.created) this.clearFor(at, path);
    const owner = this.ownerOf(st, keepOwner);
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.inodes.get(key) : undefined;
      if (first !== undefined) return this.hardlink(first, at, dir.direct);
      if (st.nlink > 1) this.inodes.set(key, path);
      const src = openSync(host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      try {
        // O_EXCL: whatever was there is gone; nothing put there meanwhile is followed.
        const out = openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
        try {
          pump(src, out);
          this.applyMeta(out, st, keepOwner, false);
        } finally {
          closeSync(out);
        }
      } finally {
        closeSync(src);
      }
      this.copyXattrs(host, at);
      return;
    }
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(host), at);
      lchownSync(at, owner.uid, owner.gid);
      lutimesSync(at, st.atimeMs / 1000, st.mtimeMs / 1000);
      return;
    }
    // Fifos, sockets and device nodes are made again (fsutil's copyDevice); chmod through an O_PATH fd of the new node.
    sys().mknod(at, (st.mode & 0o170000) | 0o600, st.rdev);
    lchownSync(at, owner.uid, owner.gid);
    const fd = openSync(at, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    try {
      // chmod(2) through /proc/self/fd of an O_PATH fd acts on the node itself, never on a symlink's target.
      if (!fstatSync(fd).isSymbolicLink()) chmodSync(`/proc/self/fd/${fd}`, this.modeOf(st.mode, false));
    } finally {
      closeSync(fd);
    }
    lutimesSync(at, st.atimeMs / 1000, st.mtimeMs / 1000);
  }

  /** fsutil's ensureEmptyFileTarget: a directory is never replaced by a non-directory; anything else is removed (unlink does not follow). */
  private clearFor(at: string, path: string): void {
    const old = lstatSync(at, { throwIfNoEntry: false });
    if (!old) return;
    if (old.isDirectory()) throw new CopyError(`cannot replace to directory ${path} with file`);
    unlinkSync(at);
  }

  /** A link to the first copy of an inode; `direct`: `at` is in the upper dir, where that first copy is too (the copy wrote it). */
  private hardlink(firstPath: string, at: string, direct: boolean): void {
    const pfd = direct ? openInRoot(this.upperFd, posix.dirname(firstPath), O_PATH | O_DIRECTORY) : this.openDir(posix.dirname(firstPath), O_PATH);
    try {
      // link(2) does not follow the old path's last component; its parent is an in-root fd.
      linkSync(`/proc/self/fd/${pfd}/${posix.basename(firstPath)}`, at);
    } finally {
      closeSync(pfd);
    }
  }

  /** Owner (first: chown clears setuid/setgid), mode, then times. */
  private applyMeta(fd: number, st: Stats, keepOwner: boolean, isDir: boolean): void {
    const owner = this.ownerOf(st, keepOwner);
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, this.modeOf(st.mode, isDir));
    futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
  }

  /** Extended attributes, best effort as BuildKit (its handler logs and goes on); overlayfs' own are never copied. */
  private copyXattrs(host: string, at: string): void {
    let names: string[];
    try {
      names = sys().llistxattr(host);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith("trusted.overlay.")) continue;
      try {
        const v = sys().lgetxattr(host, name);
        if (v) sys().lsetxattr(at, name, v);
      } catch (e) {
        if (!(e instanceof SysError)) throw e;
      }
    }
  }

  /** A heredoc or a download: one file, 0:0 (or --chown), its own mode unless --chmod. */
  copyVirtual(v: Virtual, dest: { path: string; isDir: boolean }): void {
    const t = this.target(dest, false, v.name);
    if ("top" in t) throw new Error("unreachable");
    try {
      const dfd = t.dir.open(this);
      const at = `/proc/self/fd/${dfd}/${t.name}`;
      this.clearFor(at, posix.join(t.dir.path, t.name));
      const out = openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
      try {
        if (v.data instanceof Uint8Array) for (let off = 0; off < v.data.length; ) off += writeSync(out, v.data, off, v.data.length - off);
        else copyFd(v.data.file, out);
        const owner = this.chown ?? { uid: 0, gid: 0 };
        fchownSync(out, owner.uid, owner.gid);
        fchmodSync(out, this.modeOf(v.mode, false));
        futimesSync(out, v.mtime, v.mtime);
      } finally {
        closeSync(out);
      }
    } finally {
      t.dir.close();
    }
  }

  /** ADD of an archive: extracted into the destination directory (made 0755, --chown's), moby's Untar rules, in the root. */
  async extract(open: () => ReadableStream<Uint8Array>, dest: { path: string; isDir: boolean }, what: string): Promise<void> {
    const path = this.resolvePath(dest.path);
    this.mkdirAll(path);
    if (this.kind(path) !== "dir") throw new CopyError(`cannot unpack ${what}: ${path} is not a directory`);
    const plain = await archiveStream(open);
    const signal = this.signal;
    // extractTar reads until the end: an abort between chunks ends it.
    const stream = signal ? plain.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, c) => (signal.throwIfAborted(), c.enqueue(chunk)) })) : plain;
    // Owners: the archive's, or --chown's for every member (BuildKit's ChownOpts); devices as moby makes them as root.
    await extractTar(stream, this.rootFd, path, { owner: this.chown ?? "header", devices: true });
  }
}

/** Whether a source is a plain http(s) URL (a git one is not). */
function isHttpSource(s: string): boolean {
  return (s.startsWith("http://") || s.startsWith("https://")) && !isGitSource(s);
}

/** BuildKit's git reference forms (dfgitutil.ParseGitRef): git@, git://, ssh://, or an http(s) URL of a `.git` repository or with a `#ref`. */
function isGitSource(s: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/|git\+)/.test(s)) return true;
  if (!/^https?:\/\//.test(s)) return false;
  try {
    const u = new URL(s);
    return u.pathname.endsWith(".git") || /\.git\//.test(u.pathname) || (u.hash !== "" && /^(github\.com|gitlab\.com|bitbucket\.org)$/.test(u.hostname));
  } catch {
    return false;
  }
}

function gitRefused(source: string): CopyError {
  return new CopyError(`ADD ${source}: git sources are not supported by this builder (no git client, no network for builds)`);
}

/** Whether the content (plain, gzip, zstd, bzip2 or xz) begins with a valid tar header (moby's isArchivePath). */
async function isArchive(open: () => ReadableStream<Uint8Array>): Promise<boolean> {
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = await archiveStream(open);
  } catch (e) {
    if (e instanceof CopyError) throw e; // a decompressor this host lacks: refused, never copied as is
    return false;
  }
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let len = 0;
  try {
    while (len < 512) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      len += value.length;
    }
  } catch {
    return false;
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (len < 512) return false;
  return validTarHeader(Buffer.concat(parts).subarray(0, 512));
}

/** A tar header block: not all zeros, and its checksum (unsigned or signed sum, as Go accepts) matches. */
function validTarHeader(b: Uint8Array): boolean {
  if (b.every((x) => x === 0)) return false;
  const field = Buffer.from(b.subarray(148, 156)).toString("latin1").replace(/[\0 ]+$/, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = Number.parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

/** `--chown=user[:group]`: ids as they are ("root" is 0); names from the destination root's /etc/passwd and /etc/group, read in the root. */
function chownOf(spec: string, rootFd: number, linked: boolean): Owner {
  const [user = "", group] = spec.split(/:(.*)/s, 2) as [string, string | undefined];
  const id = (v: string): number | null => (v === "root" ? 0 : /^\d+$/.test(v) && Number(v) <= 0x7fffffff ? Number(v) : null);
  const named = (id(user) === null && user !== "") || (group !== undefined && group !== "" && id(group) === null);
  // BuildKit runs a --link copy on an empty state: there is no /etc/passwd to read names in.
  if (named && linked) throw new CopyError(`--chown=${spec} with --link: user and group names can't be resolved in a linked layer, use numeric IDs`);
  let uid = 0;
  let gid = 0;
  const uidN = id(user);
  if (uidN !== null) {
    uid = uidN;
    gid = uidN;
  } else if (user !== "") {
    const e = readIdFile(rootFd, "/etc/passwd").find((f) => f[0] === user);
    if (!e) throw new CopyError(`unable to find user ${user}: no matching entries in passwd file`);
    uid = Number(e[2]);
    gid = Number(e[3]);
  }
  if (group !== undefined && group !== "") {
    const gidN = id(group);
    if (gidN !== null) gid = gidN;
    else {
      const e = readIdFile(rootFd, "/etc/group").find((f) => f[0] === group);
      if (!e) throw new CopyError(`unable to find group ${group}: no matching entries in group file`);
      gid = Number(e[2]);
    }
  }
  return { uid, gid };
}

/** The colon-separated lines of /etc/passwd or /etc/group, read inside the root (a symlinked /etc stays in it); none when missing. */
function readIdFile(rootFd: number, path: string): string[][] {
  let fd: number;
  try {
    fd = openInRoot(rootFd, path, O_RDONLY);
  } catch (e) {
    if (errCode(e) === "ENOENT" || errCode(e) === "ENOTDIR" || errCode(e) === "ELOOP") return [];
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) return [];
    // moby/sys/user bounds what it parses: a hostile image cannot make the builder read a huge file.
    const buf = Buffer.allocUnsafe(Math.min(fstatSync(fd).size, 16 << 20));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf
      .subarray(0, n)
      .toString("utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"))
      .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!) && (f.length < 4 || /^\d*$/.test(f[3]!)));
  } finally {
    closeSync(fd);
  }
}

/** The buffer `pump` reads through: one for the process (pump is synchronous), not 1 MiB more per file copied. */
let pumpBuffer: Buffer | undefined;

/** Copies everything from `src` to `out` (open fds), a chunk at a time. */
function pump(src: number, out: number): void {
  const buf = (pumpBuffer ??= Buffer.allocUnsafe(CHUNK));
  for (let n; (n = readSync(src, buf, 0, CHUNK, null)) > 0; ) for (let off = 0; off < n; ) off += writeSync(out, buf, off, n - off);
}

function copyFd(file: string, out: number): void {
  const src = openSync(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  try {
    pump(src, out);
  } finally {
    closeSync(src);
  }
}

/** A downloaded body: in memory (a small one copyChecksum kept), or streamed to a file in a private temporary directory. */
interface Download {
  name: string;
  body: Uint8Array | { file: string };
  /** mtime in seconds: Last-Modified, or the epoch when the server sent none (BuildKit's http source). */
  mtime: number;
  sha256: string;
}

/** Removes a download's temporary directory, if it has one. */
function discard(got: Download): void {
  if (!(got.body instanceof Uint8Array)) rmSync(dirname(got.body.file), { recursive: true, force: true });
}

// The last body copyChecksum fetched, when small, so copyInto writes the very content the cache key was made
// of without fetching it again. One slot, in memory: nothing is left behind when the key hits the cache.
const REMEMBER_MAX = 64 << 20;
let remembered: { url: string; got: Download } | null = null;

/** ADD's http source for copyInto: GET, 2xx only, the file named after the URL's last path element, --checksum verified. */
async function download(url: string, checksum: string | undefined, signal?: AbortSignal): Promise<Download> {
  const want = checksum ? parseDigest(checksum) : undefined;
  let got: Download;
  if (remembered?.url === url) {
    got = remembered.got;
    remembered = null;
  } else got = await fetchUrl(url, "file", signal);
  if (want && checksum) {
    const actual = want.algo === "sha256" ? got.sha256 : `${want.algo}:${digestOf(got.body, want.algo)}`;
    if (actual !== checksum) {
      discard(got);
      throw new CopyError(`digest mismatch for ${url}: ${actual} (expected: ${checksum})`);
    }
  }
  return got;
}

/** The body of `url` hashed as it streams, kept in a temporary file, or in memory when small enough (else not kept: null body). */
async function fetchUrl(url: string, keep: "file", signal?: AbortSignal): Promise<Download>;
async function fetchUrl(url: string, keep: "memory", signal?: AbortSignal): Promise<Omit<Download, "body"> & { body: Uint8Array | null }>;
async function fetchUrl(url: string, keep: "file" | "memory", signal?: AbortSignal): Promise<Omit<Download, "body"> & { body: Download["body"] | null }> {
  const res = await fetch(url, { signal, redirect: "follow" });
  if (res.status < 200 || res.status >= 300 || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new CopyError(`invalid response status ${res.status}`);
  }
  const h = new Bun.CryptoHasher("sha256");
  let body: Download["body"] | null;
  if (keep === "memory") {
    let parts: Uint8Array[] | null = [];
    let size = 0;
    for await (const chunk of res.body) {
      h.update(chunk);
      size += chunk.length;
      if (parts && size <= REMEMBER_MAX) parts.push(chunk);
      else parts = null;
    }
    body = parts ? new Uint8Array(Buffer.concat(parts)) : null;
  } else {
    const dir = mkdtempSync(join(tmpdir(), "bunker-add-"));
    const file = join(dir, "body");
    try {
      const fd = openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
      try {
        for await (const chunk of res.body) {
          h.update(chunk);
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        }
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    body = { file };
  }
  const lm = res.headers.get("last-modified");
  const t = lm ? Date.parse(lm) : Number.NaN;
  let name = "__unnamed__";
  try {
    const base = posix.basename(new URL(url).pathname);
    if (base !== "" && base !== "." && base !== "/") name = decodeURIComponent(base);
  } catch {
    // keep BuildKit's default name
  }
  return { name, body, mtime: Number.isNaN(t) ? 0 : t / 1000, sha256: `sha256:${h.digest("hex")}` };
}

function digestOf(body: Download["body"], algo: "sha384" | "sha512"): string {
  const h = new Bun.CryptoHasher(algo);
  if (body instanceof Uint8Array) return h.update(body).digest("hex");
  const fd = openSync(body.file, O_RDONLY | O_CLOEXEC);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** go-digest's Parse: `algo:hex` with a known algorithm and the right length. */
function parseDigest(d: string): { algo: "sha256" | "sha384" | "sha512" } {
  const i = d.indexOf(":");
  if (i <= 0 || i + 1 === d.length) throw new CopyError("invalid checksum digest format");
  const algo = d.slice(0, i);
  const hex = d.slice(i + 1);
  const len = { sha256: 64, sha384: 96, sha512: 128 }[algo];
  if (len === undefined) throw new CopyError("unsupported digest algorithm");
  if (!/^[a-f0-9]+$/.test(hex)) throw new CopyError("invalid checksum digest format");
  if (hex.length !== len) throw new CopyError("invalid checksum digest length");
  return { algo: algo as "sha256" | "sha384" | "sha512" };
}
