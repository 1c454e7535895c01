/**
 * `bunker cp`: copy files/folders between a container and the local file system, as the docker CLI's cp.go
 * with moby's archive copy rules (go-archive copy.go): the source goes as a tar, renamed so that it lands
 * under the destination's name ("/." copies a directory's contents, a trailing "/" asserts a directory),
 * extracted on the other side. `-` streams a tar from stdin or to stdout. Locally, extraction resolves
 * every path inside the destination directory (src/fs/extract.ts): an archive from a container cannot
 * write outside it, whatever symlinks it holds.
 */
import { closeSync, constants, lstatSync, openSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import type { PathStat } from "../engine/containers/archive.ts";

const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 1 << 27;
const MODE_TYPE = (2 ** 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

/** go-archive's CopyInfo: a resolved path, whether it exists and is a directory, and the name it takes. */
interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName: string;
}

/** Go's filepath.Base. */
function base(p: string): string {
  if (p === "") return ".";
  const t = p.replace(/\/+$/, "");
  return t === "" ? "/" : t.slice(t.lastIndexOf("/") + 1);
}

const specifiesCurrentDir = (p: string) => base(p) === ".";
const hasTrailingSeparator = (p: string) => p.endsWith("/");
const assertsDirectory = (p: string) => hasTrailingSeparator(p) || specifiesCurrentDir(p);

/** go-archive's PreserveTrailingDotOrSeparator. */
function preserveTrailing(cleaned: string, original: string): string {
  let out = cleaned;
  if (!specifiesCurrentDir(out) && specifiesCurrentDir(original)) out = `${hasTrailingSeparator(out) ? out : `${out}/`}.`;
  if (!hasTrailingSeparator(out) && hasTrailingSeparator(original)) out += "/";
  return out;
}

/** go-archive's SplitPathDirEntry: the parent and last element, "." kept as an element. */
function splitPathDirEntry(p: string): [string, string] {
  let cleaned = posix.normalize(p).replace(/(.)\/+$/, "$1");
  if (specifiesCurrentDir(p)) cleaned += "/.";
  return [posix.dirname(cleaned), base(cleaned)];
}

/** go-archive's GetRebaseName. */
function rebaseNameOf(path: string, resolved: string): [string, string] {
  let out = resolved;
  if (specifiesCurrentDir(path) && !specifiesCurrentDir(out)) out += "/.";
  if (hasTrailingSeparator(path) && !hasTrailingSeparator(out)) out += "/";
  return [out, base(path) !== base(out) ? base(path) : ""];
}

/** The docker CLI's splitCpArg: `container:path`, unless the argument is clearly local (absolute, or "./x:y"). */
function splitCpArg(arg: string): [string, string] {
  if (arg.startsWith("/")) return ["", arg];
  const i = arg.indexOf(":");
  if (i < 0 || arg.startsWith(".")) return ["", arg];
  return [arg.slice(0, i), arg.slice(i + 1)];
}

/** Go's error text for a failed lstat/stat ("lstat /x: no such file or directory"). */
function goStatError(op: string, path: string, e: unknown): CliError {
  const code = (e as { code?: string }).code;
  const text = code === "ENOENT" ? "no such file or directory" : code === "ENOTDIR" ? "not a directory" : code === "EACCES" ? "permission denied" : (e as Error).message;
  return new CliError(`${op} ${path}: ${text}`);
}

function tryStat(fn: () => Stats, op: string, path: string): Stats {
  try {
    return fn();
  } catch (e) {
    throw goStatError(op, path, e);
  }
}

/** go-archive's CopyInfoSourcePath of a local path (symlinks of the parent resolved; the last too with -L). */
function localSource(path: string, followLink: boolean): CopyInfo {
  let resolved: string;
  let rebaseName = "";
  if (followLink) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch (e) {
      throw goStatError("lstat", path, e);
    }
    [resolved, rebaseName] = rebaseNameOf(path, real);
  } else {
    const slash = path.lastIndexOf("/");
    const dir = path.slice(0, slash + 1);
    const last = path.slice(slash + 1);
    let realDir: string;
    try {
      realDir = realpathSync(dir || ".");
    } catch (e) {
      throw goStatError("lstat", dir, e);
    }
    resolved = `${realDir === "/" ? "" : realDir}/${last}`;
    if (hasTrailingSeparator(path) && base(path) !== base(resolved)) rebaseName = base(path);
  }
  const st = tryStat(() => lstatSync(resolved), "lstat", resolved);
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName };
}

/** go-archive's CopyInfoDestinationPath of a local path: symlinks followed (at most 10), a missing path's parent must be a directory. */
function localDestination(path: string): CopyInfo {
  let p = path;
  let st = lstatSync(p, { throwIfNoEntry: false });
  for (let n = 0; st?.isSymbolicLink(); n++) {
    if (n > 10) throw new CliError(`too many symlinks in ${path}`);
    const target = readlinkSync(p);
    p = target.startsWith("/") ? target : posix.join(splitPathDirEntry(p)[0], target);
    st = lstatSync(p, { throwIfNoEntry: false });
  }
  if (!st) {
    const parent = splitPathDirEntry(p)[0];
    const pst = tryStat(() => statSync(parent), "stat", parent);
    if (!pst.isDirectory()) throw new CliError("not a directory");
    return { path: p, exists: false, isDir: false, rebaseName: "" };
  }
  return { path: p, exists: true, isDir: st.isDirectory(), rebaseName: "" };
}

/** go-archive's PrepareArchiveCopy: the directory to extract into and the archive renamed for the destination. */
async function prepareArchiveCopy(content: ReadableStream<Uint8Array>, src: CopyInfo, dst: CopyInfo): Promise<[string, ReadableStream<Uint8Array>]> {
  const { rebaseTar } = await import("../fs/rebase.ts");
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  let srcBase = splitPathDirEntry(src.path)[1];
  if (dst.exists && dst.isDir) return [dst.path, content];
  if (dst.exists && src.isDir) throw new CliError("cannot copy directory");
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new CliError("no such directory");
  if (src.rebaseName) srcBase = src.rebaseName;
  return [dstDir, rebaseTar(content, srcBase, dstBase)];
}

/** The docker CLI's ValidateOutputPath. */
function validateOutputPath(path: string): void {
  const dir = posix.dirname(posix.normalize(path));
  if (dir !== "" && dir !== ".") {
    try {
      statSync(dir);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") throw new CliError(`invalid output path: directory "${dir}" does not exist`);
    }
  }
  const st = statSync(path, { throwIfNoEntry: false });
  if (st && !st.isDirectory() && !st.isFile()) throw new CliError(`invalid output path: "${path}" must be a directory or a regular file: got ${fileKind(st)}`);
}

function fileKind(st: Stats): string {
  return st.isCharacterDevice() || st.isBlockDevice() ? "a device file" : st.isFIFO() ? "a named pipe" : st.isSocket() ? "a socket" : "a special file";
}

/** The CLI's ValidateOutputPathFileMode for a Go file mode from the daemon. */
function checkDestinationMode(mode: number): string | null {
  const type = (mode & MODE_TYPE) >>> 0; // bit 31 (ModeDir) would make the int32 result negative
  if (type === 0 || type === MODE_DIR) return null;
  if (mode & (1 << 26)) return "got a device";
  if (mode & (1 << 27)) return "got a symlink";
  return "got an irregular file";
}

/** Counts the bytes passing through `stream` into `count.n`. */
function counted(stream: ReadableStream<Uint8Array>, count: { n: number }): ReadableStream<Uint8Array> {
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        count.n += chunk.length;
        c.enqueue(chunk);
      },
    }),
  );
}

/** The local path as absolute, with its trailing "/" or "/." kept (the CLI's resolveLocalPath). */
function absLocal(p: string): string {
  return preserveTrailing(posix.resolve(p), p);
}

/** stdin as a byte stream. */
function stdinStream(): ReadableStream<Uint8Array> {
  return Bun.stdin.stream() as ReadableStream<Uint8Array>;
}

export default defineCommand({
  meta: {
    name: "cp",
    description: "Copy files/folders between a container and the local filesystem",
    usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tbunker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    aliases: ["bunker container cp", "bunker cp"],
  },
  flags: {
    "follow-link": { type: "boolean", alias: "L", description: "Always follow symbol link in SRC_PATH" },
    archive: { type: "boolean", alias: "a", description: "Archive mode (copy all uid/gid information)" },
    quiet: { type: "boolean", alias: "q", description: "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached" },
  },
  args: { exact: 2 },
  async run({ args, flags, global }) {
    if (args[0] === "") throw new CliError("source can not be empty");
    if (args[1] === "") throw new CliError("destination can not be empty");
    const [srcContainer, srcPath] = splitCpArg(args[0]!);
    const [dstContainer, dstPath] = splitCpArg(args[1]!);
    if (srcContainer && dstContainer) throw new CliError("copying between containers is not supported");
    if (!srcContainer && !dstContainer) throw new CliError("must specify at least one container source");
    // The docker CLI: progress only when asked for or when stdout is a terminal.
    const quiet: boolean = flags.quiet !== undefined ? flags.quiet === true : !process.stdout.isTTY;
    const followLink = flags["follow-link"] === true;
    const backend = await openBackend(global);
    const count = { n: 0 };

    if (srcContainer) {
      const dst = dstPath === "-" ? "-" : absLocal(dstPath);
      validateOutputPath(dst);
      let from = srcPath;
      let rebaseName = "";
      if (followLink) {
        const st = await backend.statPath(srcContainer, from).catch(() => null);
        if (st && st.mode & MODE_SYMLINK) {
          let target = st.linkTarget;
          if (!target.startsWith("/")) target = posix.join(splitPathDirEntry(from)[0], target);
          [from, rebaseName] = rebaseNameOf(from, target);
        }
      }
      const { stat, content } = await backend.getArchive(srcContainer, from);
      if (dst === "-") {
        const { stdSink } = await import("./_stdio.ts");
        const out = stdSink(1);
        for await (const chunk of content) {
          out.write(chunk);
          out.flush();
        }
        return 0;
      }
      const src: CopyInfo = { path: from, exists: true, isDir: (stat.mode & MODE_DIR) !== 0, rebaseName };
      let archive = quiet ? content : counted(content, count);
      if (rebaseName) {
        const { rebaseTar } = await import("../fs/rebase.ts");
        archive = rebaseTar(archive, splitPathDirEntry(src.path)[1], rebaseName);
      }
      const target = localDestination(dst);
      const [dir, prepared] = await prepareArchiveCopy(archive, src, target);
      if (quiet) await extractLocal(prepared, dir);
      else {
        const { humanSize } = await import("../engine/units.ts");
        await withProgress("Copying from container - ", count, humanSize, () => extractLocal(prepared, dir));
        process.stderr.write(`Successfully copied ${humanSize(count.n, 3)} to ${dst}\n`);
      }
      return 0;
    }

    // Into the container: the destination's stat says how to name what arrives (errors: let the extraction tell).
    const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false, rebaseName: "" };
    let st: PathStat | null = await backend.statPath(dstContainer, dstPath).catch(() => null);
    if (st && st.mode & MODE_SYMLINK) {
      let target = st.linkTarget;
      if (!target.startsWith("/")) target = posix.join(splitPathDirEntry(dstPath)[0], target);
      dstInfo.path = target;
      st = await backend.statPath(dstContainer, target).catch(() => null);
    }
    if (st) {
      const bad = checkDestinationMode(st.mode);
      if (bad) throw new CliError(`destination "${dstContainer}:${dstPath}" must be a directory or a regular file: ${bad}`);
      dstInfo.exists = true;
      dstInfo.isDir = (st.mode & MODE_DIR) !== 0;
    }
    let content: ReadableStream<Uint8Array>;
    let dir: string;
    if (srcPath === "-") {
      if (!dstInfo.isDir) throw new CliError(`destination "${dstContainer}:${dstPath}" must be a directory`);
      content = stdinStream();
      dir = dstInfo.path;
    } else {
      const src = localSource(absLocal(srcPath), followLink);
      const [prepDir, prepared] = await prepareArchiveCopy(await localArchive(src), src, dstInfo);
      dir = prepDir;
      content = quiet ? prepared : counted(prepared, count);
    }
    // As the docker CLI: never replace a directory with a file or the reverse (noOverwriteDirNonDir).
    const put = () => backend.putArchive(dstContainer, dir, content, { copyUIDGID: flags.archive === true, noOverwriteDirNonDir: true });
    if (quiet) await put();
    else {
      const { humanSize } = await import("../engine/units.ts");
      await withProgress("Copying to container - ", count, humanSize, put);
      process.stderr.write(`Successfully copied ${humanSize(count.n, 3)} to ${dstContainer}:${dstInfo.path}\n`);
    }
    return 0;
  },
});

/**
 * The docker CLI's copyProgress: on a terminal stderr, "Preparing to copy...", then `header` and the bytes
 * copied so far, redrawn every 75 ms (aec escapes), erased once `work` is done.
 */
async function withProgress<T>(header: string, count: { n: number }, humanSize: (n: number, p?: number) => string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  const out = (s: string) => process.stderr.write(s);
  out("\x1b[sPreparing to copy...");
  out(`\x1b[?25l\x1b[u\x1b[2K${header}${humanSize(0, 3)}`);
  let last = 0;
  const timer = setInterval(() => {
    if (count.n === last) return;
    last = count.n;
    out(`\x1b[${header.length + 1}G\x1b[0K${humanSize(count.n, 3)}`);
  }, 75);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    out("\x1b[?25h\x1b[u\x1b[2K");
  }
}

/** go-archive's TarResource: the local source as a tar, its top entry named as the source (or its rebase name). */
async function localArchive(src: CopyInfo): Promise<ReadableStream<Uint8Array>> {
  const { packDir } = await import("../fs/pack.ts");
  const [dir, name] = splitPathDirEntry(src.path);
  if (name === ".") return packDir(dir, { as: src.rebaseName || "." });
  return packDir(dir, { only: name, as: src.rebaseName || name });
}

/**
 * Extracts into local directory `dir` as the CLI does (no chown, no directory replaced by a file or the
 * reverse), with every member resolved inside `dir`: nothing from the container lands outside it.
 */
async function extractLocal(tar: ReadableStream<Uint8Array>, dir: string): Promise<void> {
  const { extractTar, ExtractError } = await import("../fs/extract.ts");
  const { O_PATH, O_CLOEXEC } = await import("../sys/index.ts");
  const rootFd = openSync(dir, O_PATH | O_CLOEXEC | constants.O_DIRECTORY);
  try {
    await extractTar(tar, rootFd, "/", { owner: "keep", noOverwriteDirNonDir: true, devices: false });
  } catch (e) {
    if (e instanceof ExtractError) throw new CliError(e.message);
    throw e;
  } finally {
    closeSync(rootFd);
  }
}
