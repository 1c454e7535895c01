/**
 * Applies an image layer to an empty overlay2 diff directory, streaming: compressed bytes in, files out,
 * never the whole layer in memory. OCI whiteouts become overlayfs whiteouts (char device 0:0) and opaque
 * markers (trusted.overlay.opaque=y). Anything that would write outside the directory is refused.
 *
 * All file system work is synchronous on the JS thread: for many small files that beats the thread pool
 * (see scripts/bench/unpack.ts), and it makes the order of checks and writes obvious.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  chmodSync,
  writeSync,
} from "node:fs";
import { resolve } from "node:path";
import { S_IF, SysError, makedev, sys } from "../sys/index.ts";
import { TarError, TarReader, type TarEntry, type TarSink } from "./tar.ts";
import { TarSplitRecorder } from "./tar-split.ts";
import { ThreadHasher } from "./hash-thread.ts";

/** Options for unpackLayer. */
export interface UnpackOptions {
  /** Called as compressed bytes are consumed, with the running total (for pull progress bars). */
  onProgress?(compressedBytes: number): void;
  /** Aborting stops the unpack and rejects with the signal's reason; `dest` is left half-written. */
  signal?: AbortSignal;
  /**
   * Most uncompressed bytes to apply. Past it nothing more is written: the rest of the source is read to
   * its end (so a stream that verifies its digest there can fail), then ExpansionLimitError is thrown.
   */
  maxBytes?: number;
  /**
   * Records the layer's tar-split (src/fs/tar-split.ts) into this directory (the layer directory holding
   * `dest`), so the layer tar can be reassembled byte for byte later.
   */
  tarSplitDir?: string;
}

/** What unpackLayer learned while applying a layer. */
export interface UnpackResult {
  /** "sha256:<hex>" of the uncompressed tar, trailing bytes included: the layer's diffID. */
  diffId: string;
  /** Sum of regular-file sizes, as Docker reports a layer's size. */
  size: number;
}

/** A layer that is corrupt or hostile; nothing was written outside `dest`. */
export class LayerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LayerError";
  }
}

/** The layer expanded past `maxBytes`; its source was read to the end without an error. */
export class ExpansionLimitError extends Error {
  constructor(readonly limit: number) {
    super(`layer expands to more than ${limit} bytes`);
    this.name = "ExpansionLimitError";
  }
}

type Compression = "gzip" | "zstd" | "tar";

/**
 * Applies one image layer (gzip, zstd or plain tar, detected by magic bytes, not media type) to the empty
 * dir `dest`, as an overlay2 diff dir. On failure `dest` holds a partial layer the caller should remove.
 */
export async function unpackLayer(stream: ReadableStream<Uint8Array>, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const root = resolve(dest);
  if (!lstatSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`unpack destination "${root}" is not a directory`);
  const { signal } = opts;
  signal?.throwIfAborted();

  const source = stream.getReader();
  let sourceFailure: unknown;
  const onAbort = () => void source.cancel(signal!.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });

  const hasher = new ThreadHasher(); // the diff ID, hashed on another core while this thread writes files
  const recorder = opts.tarSplitDir ? new TarSplitRecorder(opts.tarSplitDir) : null;
  const writer = new LayerWriter(root, recorder);
  const tar = new TarReader(writer);
  let plain: Reader | undefined;
  try {
    const head = await readHead(source, 6).catch((err) => {
      throw (sourceFailure = err);
    });
    const kind = sniff(head);
    let consumed = head.length;
    if (consumed) opts.onProgress?.(consumed);
    // No read-ahead (highWaterMark 0): a plain tar's chunk is done with once the next is asked for, so a load
    // can read its archive into one reused buffer (archive/tarball.ts).
    const compressed = new ReadableStream<Uint8Array>(
      {
        start(c) {
          if (head.length) c.enqueue(head);
        },
        async pull(c) {
          const chunk = await next(source, (err) => (sourceFailure = err));
          if (!chunk) return c.close();
          consumed += chunk.length;
          opts.onProgress?.(consumed);
          c.enqueue(chunk);
        },
        cancel: (reason) => source.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    const reader = (kind === "tar" ? compressed : compressed.pipeThrough(new DecompressionStream(kind) as unknown as TransformStream<Uint8Array, Uint8Array>)).getReader();
    plain = reader;
    const corrupt = (err: unknown) => {
      if (signal?.aborted || err === sourceFailure) return err;
      return new LayerError(`layer is not valid ${kind} data: ${errorText(err)}`, { cause: err });
    };
    const max = opts.maxBytes ?? Infinity;
    let expanded = 0;
    for (let chunk; (chunk = await next(reader, corrupt)); ) {
      if ((expanded += chunk.length) > max) {
        // Stop writing, but read the source to its end: its digest check then says whether it lied.
        while (await next(source, (err) => (sourceFailure = err))) signal?.throwIfAborted();
        throw new ExpansionLimitError(max);
      }
      hasher.update(chunk);
      tar.write(chunk);
      recorder?.write(chunk);
      const behind = hasher.backlog();
      if (behind) await behind;
    }
    // A cancelled source reads as a clean end: make an abort win over "truncated".
    signal?.throwIfAborted();
    tar.end();
    writer.finish();
    recorder?.finish();
  } catch (err) {
    hasher.cancel();
    writer.abort();
    recorder?.abort();
    await (plain ?? source).cancel().catch(() => {});
    if (signal?.aborted) throw signal.reason;
    if (err instanceof TarError) throw new LayerError(`layer is not a valid tar archive: ${err.message}`, { cause: err });
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return { diffId: `sha256:${await hasher.digest()}`, size: writer.size };
}

/** The plain tar inside a layer blob (gzip, zstd or none, sniffed from magic bytes as unpackLayer does). */
export async function decompressed(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const source = stream.getReader();
  const head = await readHead(source, 6);
  const kind = sniff(head);
  const whole = new ReadableStream<Uint8Array>({
    start(c) {
      if (head.length) c.enqueue(head);
    },
    async pull(c) {
      const chunk = await next(source, (err) => err);
      if (!chunk) return c.close();
      c.enqueue(chunk);
    },
    cancel: (reason) => source.cancel(reason),
  });
  return kind === "tar" ? whole : whole.pipeThrough(new DecompressionStream(kind) as unknown as TransformStream<Uint8Array, Uint8Array>);
}

/** The part of a stream reader used here (Bun's and node:stream/web's reader types differ in extras). */
interface Reader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

/** The next chunk, or null at the end; a read error is passed through `onError` and thrown. */
async function next(reader: Reader, onError: (err: unknown) => unknown): Promise<Uint8Array | null> {
  try {
    const r = await reader.read();
    return r.done ? null : r.value!;
  } catch (err) {
    throw onError(err);
  }
}

/** Reads until `n` bytes (or the end) so the magic number can be checked, whatever the chunking. */
async function readHead(source: Reader, n: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let len = 0;
  for (let chunk; len < n && (chunk = await next(source, (err) => err)); len += chunk.length) parts.push(chunk);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Picks the decompressor from the magic number; registries' media types are not trusted for this. */
function sniff(b: Uint8Array): Compression {
  if (b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return "zstd";
  if (b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0) {
    throw new LayerError("xz layers are not supported");
  }
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) throw new LayerError("bzip2 layers are not supported");
  return "tar";
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Errors that say something about this machine (disk full, not root), not about the layer: passed on as is.
const environmental = new Set(["ENOSPC", "EDQUOT", "EIO", "EROFS", "EMFILE", "ENFILE", "ENOMEM", "EACCES", "EPERM"]);
// O_CREAT|O_EXCL never follows a symlink in the last component, and fails if anything is there.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** The TarSink that turns members into files under `root`, refusing anything that would leave it. */
class LayerWriter implements TarSink {
  /** Sum of regular-file sizes. */
  size = 0;
  // Paths (relative, "" = root) known to be real directories created or checked during this unpack, mapped
  // to the mtime to give them at the end (null: not a member, e.g. a missing parent created on the way).
  // Every parent is checked against this map, so it must forget whatever gets removed.
  readonly #dirs = new Map<string, number | null>([["", null]]);
  #fd = -1;
  #entry: TarEntry | null = null;
  #path = "";

  constructor(
    readonly root: string,
    readonly recorder: TarSplitRecorder | null = null,
  ) {}

  entry(e: TarEntry, bodyOffset: number): void {
    try {
      this.#apply(e, bodyOffset);
    } catch (err) {
      if (this.#fd >= 0) this.abort();
      throw layerFault(err, e.name);
    }
  }

  data(chunk: Uint8Array): void {
    if (this.#fd < 0) return; // the body of a whiteout or another member that keeps no data
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(this.#fd, chunk, off, chunk.length - off);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  entryEnd(): void {
    const e = this.#entry;
    if (this.#fd < 0 || !e) return;
    const fd = this.#fd;
    try {
      // chown first: it clears setuid/setgid and file capabilities, which chmod and the xattrs then restore.
      fchownSync(fd, e.uid, e.gid);
      fchmodSync(fd, e.mode);
      this.#xattrs(this.#path, e);
      futimesSync(fd, e.mtime, e.mtime);
    } catch (err) {
      this.abort();
      throw layerFault(err, e.name);
    }
    this.#fd = -1;
    closeSync(fd);
  }

  /** Gives directories their mtimes, now that nothing more will be created in them. */
  finish(): void {
    for (const [rel, mtime] of this.#dirs) if (mtime !== null) lutimesSync(this.#abs(rel), mtime, mtime);
  }

  /** Closes the open file, if any, after a failure. */
  abort(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #abs(rel: string): string {
    return rel ? `${this.root}/${rel}` : this.root;
  }

  #apply(e: TarEntry, bodyOffset: number): void {
    const rel = clean(e.name, `member "${e.name}"`);
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? "" : rel.slice(0, slash);
    const base = rel.slice(slash + 1);
    this.#entry = e;
    if (base.startsWith(".wh.")) return this.#whiteout(e, parent, base);
    this.#checkDir(parent, e.name, true);
    const path = this.#abs(rel);
    if (rel === "" && e.type !== "dir") throw new LayerError(`member "${e.name}" would replace the layer root with a ${e.type}`);

    switch (e.type) {
      case "dir": {
        if (!this.#dirs.has(rel)) {
          this.#replace(rel, path, () => mkdirSync(path, 0o700), true);
        }
        this.#dirs.set(rel, e.mtime);
        lchownSync(path, e.uid, e.gid);
        chmodSync(path, e.mode); // a real directory: #checkDir and mkdir never leave a symlink here
        this.#xattrs(path, e);
        return;
      }
      case "file":
        this.#fd = this.#replace(rel, path, () => openSync(path, CREATE_FLAGS, 0o600));
        this.#path = path;
        this.size += e.size;
        this.recorder?.file(rel, bodyOffset, e.size);
        return;
      case "hardlink": {
        const target = clean(e.linkname, `hardlink target "${e.linkname}" of "${e.name}"`);
        const tslash = target.lastIndexOf("/");
        // link(2) resolves symlinks in the target's parents, so they get the same check as a member's.
        this.#checkDir(tslash < 0 ? "" : target.slice(0, tslash), e.name, false);
        if (target === "") throw new LayerError(`hardlink "${e.name}" points at the layer root`);
        const from = this.#abs(target);
        try {
          this.#replace(rel, path, () => linkSync(from, path));
        } catch (err) {
          // EPERM: the target is a directory. ENOENT: it is not in the layer (or was just replaced by this link).
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT" || code === "EPERM") throw new LayerError(`hardlink "${e.name}" points at "${e.linkname}", which is not a file in this layer`, { cause: err });
          throw err;
        }
        return;
      }
      case "symlink":
        // The target is stored, never followed: absolute, dangling and escaping targets are legal in images.
        this.#replace(rel, path, () => symlinkSync(e.linkname, path));
        lchownSync(path, e.uid, e.gid);
        this.#xattrs(path, e);
        lutimesSync(path, e.mtime, e.mtime);
        return;
      case "char":
      case "block":
      case "fifo": {
        const kind = e.type === "char" ? S_IF.CHR : e.type === "block" ? S_IF.BLK : S_IF.FIFO;
        const dev = e.type === "fifo" ? 0 : makedev(e.devmajor, e.devminor);
        this.#replace(rel, path, () => sys().mknod(path, kind | 0o600, dev));
        lchownSync(path, e.uid, e.gid);
        chmodSync(path, e.mode); // the node was just made by mknod: not a symlink
        this.#xattrs(path, e);
        lutimesSync(path, e.mtime, e.mtime);
        return;
      }
    }
  }

  /**
   * An OCI whiteout, converted for overlayfs: ".wh..wh..opq" marks its directory opaque, ".wh.<name>" becomes
   * a 0:0 char device called <name>. The whiteout file itself is never created.
   */
  #whiteout(e: TarEntry, parent: string, base: string): void {
    this.#checkDir(parent, e.name, true);
    if (base === ".wh..wh..opq") {
      sys().lsetxattr(this.#abs(parent), "trusted.overlay.opaque", new TextEncoder().encode("y"));
      return;
    }
    // Other ".wh..wh." names are aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs), meaningless on overlayfs.
    if (base.startsWith(".wh..wh.")) return;
    const name = base.slice(4);
    if (name === "." || name === ".." || name === "") throw new LayerError(`whiteout "${e.name}" names no file`);
    const rel = parent ? `${parent}/${name}` : name;
    const path = this.#abs(rel);
    this.#replace(rel, path, () => sys().mknod(path, S_IF.CHR, 0));
    lchownSync(path, e.uid, e.gid);
  }

  /**
   * Makes sure every component of `rel` is a real directory, never a symlink: a symlink made earlier in this
   * layer must not redirect a later member outside the root. Missing directories are created (0755, as moby
   * does) when `create`, else refused. Checked directories are cached, so this costs one lookup per member.
   */
  #checkDir(rel: string, member: string, create: boolean): void {
    if (this.#dirs.has(rel)) return;
    let cur = "";
    for (const part of rel.split("/")) {
      cur = cur ? `${cur}/${part}` : part;
      if (this.#dirs.has(cur)) continue;
      const path = this.#abs(cur);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) {
        if (!create) throw new LayerError(`"${member}" needs "${cur}", which is not in this layer`);
        mkdirSync(path, 0o755);
      } else if (!st.isDirectory()) {
        throw new LayerError(`"${member}" would go through "${cur}", which is a ${st.isSymbolicLink() ? "symlink" : "non-directory"}`);
      }
      this.#dirs.set(cur, null);
    }
  }

  /**
   * Runs `make` (which creates `rel` and fails with EEXIST if something is there). A later member replaces an
   * earlier one of another kind, as moby and tar do: the old path (a whole tree, for a directory) is removed
   * first, except that a directory member merges into an existing directory.
   */
  #replace<T>(rel: string, path: string, make: () => T, isDir = false): T {
    try {
      return make();
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err; // node:fs errors and SysError both carry .code
    }
    if (isDir && lstatSync(path).isDirectory()) return undefined as T;
    rmSync(path, { recursive: true, force: true }); // unlinks symlinks; never follows them
    for (const dir of this.#dirs.keys()) if (dir === rel || dir.startsWith(`${rel}/`)) this.#dirs.delete(dir);
    return make();
  }

  /**
   * Applies pax SCHILY.xattr.* records with lsetxattr (never follows a symlink). Skipped: trusted.overlay.*
   * (only whiteouts may steer overlayfs), and any attribute this file system or this process may not set
   * (ENOTSUP, EPERM: e.g. user.* on a symlink, security.* without the capability), as moby does.
   */
  #xattrs(path: string, e: TarEntry): void {
    if (!e.xattrs) return;
    for (const [name, value] of e.xattrs) {
      if (name.startsWith("trusted.overlay.")) continue;
      try {
        sys().lsetxattr(path, name, value);
      } catch (err) {
        if (err instanceof SysError && (err.code === "ENOTSUP" || err.code === "EOPNOTSUPP" || err.code === "EPERM")) continue;
        throw new LayerError(`cannot set xattr "${name}" on "${e.name}": ${errorText(err)}`, { cause: err });
      }
    }
  }
}

/**
 * Normalises an archive path to a relative one ("" for the root): "." and empty components go, ".." pops.
 * Refuses NUL bytes, absolute paths and any ".." that climbs above the root, rather than rewriting them.
 */
function clean(name: string, what: string): string {
  if (name.includes("\0")) throw new LayerError(`${what} contains a NUL byte`);
  if (name.startsWith("/")) throw new LayerError(`${what} is an absolute path`);
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") out.push(part);
    else if (out.pop() === undefined) throw new LayerError(`${what} escapes the layer root`);
  }
  return out.join("/");
}

/** A failure while applying `member`: machine trouble passes through, anything else is the layer's fault. */
function layerFault(err: unknown, member: string): unknown {
  if (err instanceof LayerError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && environmental.has(code)) return err;
  return new LayerError(`cannot extract "${member}": ${errorText(err)}`, { cause: err });
}
