/**
 * The build context as COPY and ADD read it: a directory (the client's, or a tarball unpacked for the build),
 * seen through .dockerignore. Source paths are cleaned as if the context were `/` (so `../x` is `x`, never a
 * path outside), wildcards follow Go's filepath.Match one component at a time, and a symlink is never
 * followed out of the context: a source whose path goes through a symlink is resolved inside the context
 * root, as BuildKit resolves it. Checksums are of content and metadata, never mtimes, so an untouched file
 * or a change to an ignored one keeps the cache (BuildKit's contenthash).
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import { Dockerignore } from "./dockerignore.ts";

/** A source path of COPY/ADD that matched nothing (BuildKit's wording). */
export class SourceNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`"${path}": not found`);
    this.name = "SourceNotFoundError";
  }
}

const MAX_SYMLINKS = 255;

/** fileSha256's read buffer: one for the process (the hash is synchronous), not 1 MiB more per file hashed. */
let hashBuffer: Buffer | undefined;

/** The sha256 hex of a file's content, read 1 MiB at a time (a large context file is never held whole). */
export function fileSha256(path: string): string {
  const h = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = (hashBuffer ??= Buffer.allocUnsafe(1 << 20));
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** Go's filepath.Match of one path component. */
function componentMatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^")) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`${re}$`, "u").test(name);
}

const hasMeta = (s: string) => /[*?[\\]/.test(s);

/** A context directory and its .dockerignore. */
export class BuildContext {
  /** The sha256 hex of a regular file's content; the builder installs a memo (cache.ts FileDigests). */
  digestFile: (path: string, stat: Stats) => string = (path) => fileSha256(path);

  /** lstats a cache-key fingerprint just took (host path -> Stats), reused by the checksum that follows it. */
  recentStats: Map<string, Stats> | undefined;

  /** lstat of a host path under the context: the fingerprint's when it has one, else asked now. */
  lstat(host: string): Stats {
    return this.recentStats?.get(host) ?? lstatSync(host);
  }

  constructor(
    /** The context directory on this host. */
    readonly root: string,
    readonly ignore: Dockerignore = new Dockerignore([]),
  ) {}

  /**
   * The context's own path for `rel` (cleaned as if the context were "/"), with every symlink on the way
   * resolved inside the context; the last component is followed only when `followLast`. Returns the clean
   * relative path ("" for the root), or null when a component does not exist.
   */
  resolve(rel: string, followLast = true): string | null {
    let parts = posix.normalize(`/${rel}`).split("/").filter(Boolean);
    let done: string[] = [];
    let hops = 0;
    while (parts.length) {
      const name = parts.shift()!;
      if (name === "..") {
        done.pop();
        continue;
      }
      const path = join(this.root, ...done, name);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) return null;
      if (st.isSymbolicLink() && (parts.length || followLast)) {
        if (++hops > MAX_SYMLINKS) return null;
        const target = readlinkSync(path);
        // An absolute target starts again at the context's root; a relative one from the link's directory.
        if (target.startsWith("/")) done = [];
        parts = [...target.split("/").filter((p) => p && p !== "."), ...parts];
        continue;
      }
      done.push(name);
    }
    return done.join("/");
  }

  /**
   * What a COPY/ADD source names: one path, or every match of a wildcard, excluded paths left out; each as
   * the name it was asked by (its base name is the copy's name) and the context path it resolves to.
   * Throws SourceNotFoundError when nothing is left.
   */
  sources(source: string): { name: string; real: string }[] {
    const clean = posix.normalize(`/${source}`).slice(1).replace(/\/$/, "");
    if (!hasMeta(clean)) {
      const real = this.resolve(clean, true);
      if (real === null || (real !== "" && this.ignore.excludes(real))) throw new SourceNotFoundError(`/${clean}`);
      return [{ name: clean, real }];
    }
    let matches = [""];
    for (const comp of clean.split("/")) {
      const next: string[] = [];
      for (const dir of matches) {
        const real = this.resolve(dir, true);
        if (real === null) continue;
        const st = lstatSync(join(this.root, real), { throwIfNoEntry: false });
        if (!st?.isDirectory()) continue;
        if (!hasMeta(comp)) {
          next.push(dir ? `${dir}/${comp}` : comp);
          continue;
        }
        for (const name of readdirSync(join(this.root, real)).sort()) if (componentMatch(comp, name)) next.push(dir ? `${dir}/${name}` : name);
      }
      matches = next;
    }
    const found = matches.map((name) => ({ name, real: this.resolve(name, true) })).filter((m): m is { name: string; real: string } => m.real !== null && !this.ignore.excludes(m.real));
    if (!found.length) throw new SourceNotFoundError(`/${clean}`);
    return found;
  }

  /**
   * Visits `rel` and everything below it that .dockerignore does not exclude, parents before children, names
   * sorted; symlinks are visited as links, never followed.
   */
  *walk(rel: string): Generator<{ rel: string; stat: Stats }> {
    const st = lstatSync(join(this.root, rel));
    yield { rel, stat: st };
    if (!st.isDirectory()) return;
    for (const name of readdirSync(join(this.root, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      if (this.ignore.excludes(child)) {
        if (this.ignore.skipsDirectory(child)) continue;
        // An exception may include something below an excluded directory: look inside, emit only what is kept.
        const cst = lstatSync(join(this.root, child));
        if (cst.isDirectory()) for (const e of this.walk(child)) if (!this.ignore.excludes(e.rel)) yield e;
        continue;
      }
      yield* this.walk(child);
    }
  }

  /**
   * A checksum of what COPY would read at `rels`: each path's relative name, type, permission bits, owner,
   * size, link target and content digest. Mtimes and ignored files play no part.
   */
  checksum(rels: string[]): string {
    const h = new Bun.CryptoHasher("sha256");
    for (const rel of rels) {
      for (const { rel: p, stat } of this.walk(rel)) {
        const kind = stat.isDirectory() ? "d" : stat.isSymbolicLink() ? "l" : stat.isFile() ? "f" : "o";
        h.update(`${p.slice(rel.length)}\0${rel}\0${kind}\0${stat.mode & 0o7777}\0${stat.uid}:${stat.gid}\0`);
        if (kind === "f") h.update(`${stat.size}\0${this.digestFile(join(this.root, p), stat)}\n`);
        else if (kind === "l") h.update(`${readlinkSync(join(this.root, p))}\n`);
        else h.update("\n");
      }
    }
    return `sha256:${h.digest("hex")}`;
  }
}
