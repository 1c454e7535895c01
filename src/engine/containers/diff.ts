/**
 * `docker diff CONTAINER`: the changes of a container's overlay upper dir against its image's layers, as
 * moby's overlay2 driver computes them (pkg/archive OverlayChanges -> changes()).
 *
 * The upper dir is walked as Go's filepath.Walk does (depth first, names in byte order, a directory
 * before its contents), and each entry becomes:
 * - D when it is a whiteout (character device 0:0), or a directory marked opaque
 *   (trusted.overlay.opaque = "y": the container removed the directory and made a new one; moby reports
 *   the directory as deleted and then walks into it, so its entries follow as A, or C when the same path
 *   exists in a lower dir);
 * - C when the path exists in one of the lower dirs — except a directory whose size, mode and mtime
 *   equal the lower one's (copied up only because something below it changed): not reported itself;
 * - A otherwise.
 * The parent of an A or D that was not itself reported (and is not "/") is reported as C just before it:
 * `C /etc` then `A /etc/foo`. The result is in walk order, which is what `docker diff` prints (moby does
 * not sort it).
 *
 * Kinds as the API's: 0 = Modified ("C"), 1 = Added ("A"), 2 = Deleted ("D").
 *
 * Differences from moby: lower paths are looked up with lstat (moby uses stat, which follows a symlink of
 * the image, possibly to the host's files); entries that vanish while walking a running container are
 * skipped instead of failing. Names are handled as bytes; a name that is not UTF-8 is shown with U+FFFD.
 */
import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { sys, SysError } from "../../sys/index.ts";

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;

/** "C", "A" or "D", as `docker diff` prints a change. */
export function changeLetter(kind: 0 | 1 | 2): "C" | "A" | "D" {
  return kind === 0 ? "C" : kind === 1 ? "A" : "D";
}

const SLASH = Buffer.from("/");

function lstat(path: Buffer): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true });
  } catch (e: any) {
    if (e?.code === "ENOENT" || e?.code === "ENOTDIR") return undefined;
    throw e;
  }
}

function isOpaque(path: Buffer): boolean {
  let v: Uint8Array | null;
  try {
    v = sys().lgetxattr(path.toString(), "trusted.overlay.opaque"); // Sys takes strings: a non-UTF-8 name reads as not opaque
  } catch (e) {
    if (e instanceof SysError && (e.code === "ENOTSUP" || e.code === "EOPNOTSUPP" || e.code === "ENOENT")) return false;
    throw e;
  }
  return !!v && v.length === 1 && v[0] === 121; // "y"
}

/** Go's sameFsTime: equal, or the same second with either side lacking nanoseconds (tar-extracted layers). */
function sameFsTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  const s = 1_000_000_000n;
  return a / s === b / s && (a % s === 0n || b % s === 0n);
}

/** The changes of `upperDir` against `lowerDirs` (any order; moby passes them top-most first). */
export function containerChanges(upperDir: string, lowerDirs: string[]): Change[] {
  const upper = Buffer.from(upperDir);
  const lowers = lowerDirs.map((d) => Buffer.from(d));
  const changes: Change[] = [];
  const changedDirs = new Set<string>();

  const visit = (rel: Buffer, f: BigIntStats) => {
    const path = rel.toString("utf8");
    const full = Buffer.concat([upper, rel]);
    let kind: 0 | 1 | 2;
    if ((f.isCharacterDevice() && f.rdev === 0n) || (f.isDirectory() && isOpaque(full))) kind = 2;
    else {
      kind = 1;
      for (const lower of lowers) {
        const st = lstat(Buffer.concat([lower, rel]));
        if (!st) continue;
        if (st.isDirectory() && f.isDirectory() && f.size === st.size && f.mode === st.mode && sameFsTime(f.mtimeNs, st.mtimeNs)) return;
        kind = 0;
        break;
      }
    }
    if (f.isDirectory()) changedDirs.add(path);
    if (kind !== 0) {
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      if (parent !== "/" && !changedDirs.has(parent)) {
        changes.push({ Path: parent, Kind: 0 });
        changedDirs.add(parent);
      }
    }
    changes.push({ Path: path, Kind: kind });
  };

  const walk = (rel: Buffer) => {
    let names: Buffer[];
    try {
      names = readdirSync(Buffer.concat([upper, rel]), { encoding: "buffer" });
    } catch (e: any) {
      if (rel.length && (e?.code === "ENOENT" || e?.code === "ENOTDIR")) return;
      throw e;
    }
    names.sort(Buffer.compare);
    for (const name of names) {
      const child = Buffer.concat([rel, SLASH, name]);
      const st = lstat(Buffer.concat([upper, child]));
      if (!st) continue;
      visit(child, st);
      if (st.isDirectory()) walk(child);
    }
  };
  walk(Buffer.alloc(0));
  return changes;
}
