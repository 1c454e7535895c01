/**
 * The build cache: one row per step result (build_cache, store/db.ts), keyed by what the step depends on
 * (its parent's key, the instruction as expanded, the environment in effect and a checksum of what it reads),
 * pointing at the layer chain it produced. The row holds its layer against GC (layers.ts collect), so rmi and
 * image prune leave what a later build may reuse; `pruneBuildCache` drops rows and frees the layers for real.
 * RUN --mount=type=cache directories live beside it, under <data-root>/build/cache-mounts.
 *
 * Content digests of context files are memoised by (dev, ino, size, mtime, ctime) in build_files: the key is
 * still the content hash, but an untouched file is not read again (a warm build of 2,000 files reads none).
 */
import { existsSync, lstatSync, readdirSync, rmSync, type Stats } from "node:fs";
import { fileSha256 } from "./context.ts";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { lock } from "../store/locks.ts";
import { invalidParameter } from "../errors.ts";
import { parseGoDuration } from "../../go/time.ts";

/** A step's result as the cache keeps it. */
export interface CacheRecord {
  key: string;
  chainId: string;
  diffId: string;
  /** The history entry's `created`, reused on a hit so an unchanged build makes the same image. */
  created: string;
}

/** One entry of `system df -v`'s build cache (Docker's types.BuildCache). */
export interface BuildCacheEntry {
  ID: string;
  Parent: string;
  Type: "regular" | "exec.cachemount";
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
  /** The full key (records) or directory name (cache mounts); with `withKeys` only. */
  key?: string;
}

/** The key of a step: sha256 over its parts as JSON (order matters). */
export function cacheKey(parts: unknown[]): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(JSON.stringify(parts)).digest("hex")}`;
}

/** Where RUN --mount=type=cache directories live, and the lock a build holds shared while it uses them. */
export const cacheMountsDir = (engine: Engine) => join(engine.root.root, "build", "cache-mounts");
export const cacheMountsLock = (engine: Engine) => engine.root.lock("build-cache-mounts");

/** Cache rows of one data root. */
export class BuildCache {
  constructor(private readonly engine: Engine) {}

  /** The record for `key` whose layer is still stored, if any. */
  get(key: string): CacheRecord | undefined {
    const row = this.engine.db.query("SELECT key, chain_id, diff_id, created FROM build_cache WHERE key = ?").get(key) as any;
    if (!row || !this.engine.layers.get(row.chain_id)) return undefined;
    this.engine.db.query("UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?").run(Date.now(), key);
    return { key: row.key, chainId: row.chain_id, diffId: row.diff_id, created: row.created };
  }

  /** Records a step's result (replacing an older one under the same key). */
  put(r: CacheRecord, description: string): void {
    const now = Date.now();
    this.engine.db
      .query("INSERT INTO build_cache (key, chain_id, diff_id, created, description, created_at, last_used, usage_count) VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (key) DO UPDATE SET chain_id = excluded.chain_id, diff_id = excluded.diff_id, created = excluded.created, last_used = excluded.last_used")
      .run(r.key, r.chainId, r.diffId, r.created, description, now, now);
  }
}

/** Content digests of files, memoised in build_files by inode and change times; `flush` writes new ones. */
export class FileDigests {
  private readonly fresh: [number, number, number, string, string, string][] = [];
  private readonly lookup;
  /** Files changed this recently are hashed but not memoised: a write in the same clock tick would go unseen. */
  private readonly settled = Date.now() - 2000;

  constructor(private readonly engine: Engine) {
    this.lookup = engine.db.query("SELECT size, mtime_ns, ctime_ns, digest FROM build_files WHERE dev = ? AND ino = ?");
  }

  /** The sha256 hex of the regular file at `path` whose lstat is `st`. */
  digest(path: string, st: Stats): string {
    const mtime = String(st.mtimeMs);
    const ctime = String(st.ctimeMs);
    const row = this.lookup.get(st.dev, st.ino) as { size: number; mtime_ns: string; ctime_ns: string; digest: string } | null;
    if (row && row.size === st.size && row.mtime_ns === mtime && row.ctime_ns === ctime) return row.digest;
    const digest = fileSha256(path);
    if (st.mtimeMs < this.settled && st.ctimeMs < this.settled) this.fresh.push([st.dev, st.ino, st.size, mtime, ctime, digest]);
    return digest;
  }

  /** Stores the digests computed since the last flush, in one transaction. */
  flush(): void {
    if (!this.fresh.length) return;
    const put = this.engine.db.query("INSERT INTO build_files (dev, ino, size, mtime_ns, ctime_ns, digest) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, digest = excluded.digest");
    this.engine.db.transaction(() => {
      for (const r of this.fresh) put.run(...r);
    })();
    this.fresh.length = 0;
  }
}

/**
 * Content checksums of COPY steps, memoised by a fingerprint of what they read: the step's options and the
 * lstat (inode, size, mode, owner, mtime, ctime) of every path under its sources. An unchanged tree is then
 * one walk and one lookup (a warm build of 2,000 files reads none of them); any change, or a file changed in
 * the last 2 s (a write within the same clock tick would keep its times), computes the checksum again.
 */
export class ChecksumMemo {
  constructor(private readonly engine: Engine) {}

  /** The checksum for `fingerprint`, or `compute()`'s (stored unless `racy`). */
  async get(fingerprint: string | null, compute: () => Promise<string>): Promise<string> {
    if (fingerprint === null) return compute();
    const row = this.engine.db.query("SELECT checksum FROM build_sums WHERE fingerprint = ?").get(fingerprint) as { checksum: string } | null;
    if (row) return row.checksum;
    const sum = await compute();
    this.engine.db.query("INSERT INTO build_sums (fingerprint, checksum, last_used) VALUES (?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET checksum = excluded.checksum, last_used = excluded.last_used").run(fingerprint, sum, Date.now());
    return sum;
  }
}

/**
 * The fingerprint of the trees at `paths` (host paths; directories walked without following symlinks,
 * `skip` leaving out what .dockerignore excludes whole) with `options`; null when a file changed in the last
 * 2 s or a path is missing. `seen` gets every lstat, for a checksum that follows to reuse.
 */
export function treeFingerprint(paths: string[], options: unknown, skip: (abs: string) => boolean, seen?: (abs: string, st: Stats) => void): string | null {
  const h = new Bun.CryptoHasher("sha256").update(JSON.stringify(options));
  const settled = Date.now() - 2000;
  let racy = false;
  const visit = (p: string): boolean => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    seen?.(p, st);
    if (st.mtimeMs >= settled || st.ctimeMs >= settled) racy = true;
    h.update(`${p}\0${st.dev}:${st.ino}:${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.ctimeMs}\n`);
    if (!st.isDirectory()) return true;
    const prefix = p.endsWith("/") ? p : `${p}/`; // concatenated, not path.join: this runs once per file
    for (const name of readdirSync(p).sort()) {
      const child = prefix + name;
      if (!skip(child)) visit(child);
    }
    return true;
  };
  for (const p of paths) if (!visit(p)) return null;
  return racy ? null : `sha256:${h.digest("hex")}`;
}

/** Bytes of the files under `path` (a cache mount's size). */
function du(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let n = 0;
  for (const name of readdirSync(path)) n += du(join(path, name));
  return n;
}

/** The build cache as `system df` reports it: step records (their layers' sizes) and cache mounts. */
export function buildCacheUsage(engine: Engine, withKeys = false): BuildCacheEntry[] {
  type Row = { key: string; chain_id: string; description: string; created_at: number; last_used: number; usage_count: number; size: number | null; shared: number };
  const rows = engine.db
    .query(
      `SELECT b.key, b.chain_id, b.description, b.created_at, b.last_used, b.usage_count, l.size,
        EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = b.chain_id) AS shared
       FROM build_cache b LEFT JOIN layers l ON l.chain_id = b.chain_id ORDER BY b.created_at`,
    )
    .all() as Row[];
  const counted = new Set<string>();
  const out: BuildCacheEntry[] = rows.map((r) => {
    // Several keys may name one layer: its bytes are counted once.
    const size = counted.has(r.chain_id) ? 0 : (r.size ?? 0);
    counted.add(r.chain_id);
    return { ID: r.key.slice(7, 32), Parent: "", Type: "regular", Description: r.description, InUse: false, Shared: !!r.shared, Size: size, CreatedAt: new Date(r.created_at).toISOString(), LastUsedAt: new Date(r.last_used).toISOString(), UsageCount: r.usage_count, ...(withKeys ? { key: r.key } : {}) };
  });
  const mounts = cacheMountsDir(engine);
  if (existsSync(mounts)) {
    for (const name of readdirSync(mounts)) {
      const st = lstatSync(join(mounts, name));
      out.push({ ID: name.slice(0, 25), Parent: "", Type: "exec.cachemount", Description: "mount from exec cache", InUse: false, Shared: false, Size: du(join(mounts, name)), CreatedAt: st.birthtime.toISOString(), LastUsedAt: st.mtime.toISOString(), UsageCount: 1, ...(withKeys ? { key: name } : {}) });
    }
  }
  return out;
}

/** What `builder prune` / POST /build/prune take. */
export interface BuildPruneOptions {
  /** Also records whose layer an image shares (Docker's --all); without it only what the cache alone holds. */
  all?: boolean;
  /** Bytes of cache to keep: the least recently used records go first until the rest fits. */
  keepStorage?: number;
  /** `until` (a Go duration: records not used for that long), `id` (a record ID prefix), `type` (regular, exec.cachemount). */
  filters?: Record<string, string[]>;
}

const PRUNE_FILTERS = new Set(["until", "id", "type"]);

/**
 * `builder prune`: drops cache records and cache mounts not in use by a running build (builds hold the
 * mounts' lock shared), then collects the layers left without a holder, so the space is really freed.
 * Returns Docker's BuildCachePruneReport: the record IDs removed and the bytes freed on disk.
 */
export async function pruneBuildCache(engine: Engine, opts: BuildPruneOptions = {}): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!PRUNE_FILTERS.has(k)) throw invalidParameter(`invalid filter '${k}'`);
  let until = 0;
  for (const u of f.until ?? []) {
    const d = parseGoDuration(u);
    if (d === undefined) throw invalidParameter(`invalid filter 'until=${u}': a duration such as 24h is expected`);
    until = Math.max(until, d / 1e6);
  }
  const types = new Set(f.type ?? ["regular", "exec.cachemount"]);
  for (const t of types) if (t !== "regular" && t !== "exec.cachemount") throw invalidParameter(`invalid filter 'type=${t}'`);
  const ids = f.id ?? [];
  const now = Date.now();
  const entries = buildCacheUsage(engine, true).filter((e) => types.has(e.Type) && (opts.all || !e.Shared) && (!until || Date.parse(e.LastUsedAt ?? e.CreatedAt) < now - until) && (!ids.length || ids.some((id) => e.ID.startsWith(id))));
  let doomed = entries;
  if (opts.keepStorage) {
    // Least recently used first, until what is left fits in keepStorage.
    let total = buildCacheUsage(engine).reduce((n, e) => n + e.Size, 0);
    doomed = [];
    for (const e of [...entries].sort((a, b) => Date.parse(a.LastUsedAt ?? a.CreatedAt) - Date.parse(b.LastUsedAt ?? b.CreatedAt))) {
      if (total <= opts.keepStorage) break;
      doomed.push(e);
      total -= e.Size;
    }
  }
  let reclaimed = 0;
  const records = doomed.filter((e) => e.Type === "regular").map((e) => e.key!);
  engine.db
    .transaction(() => {
      const del = engine.db.query("DELETE FROM build_cache WHERE key = ?");
      for (const k of records) del.run(k);
      // The checksum memos only spare reading files again: they go with any prune, so they never pile up.
      engine.db.exec("DELETE FROM build_sums; DELETE FROM build_files");
    })
    .immediate();
  const mounts = doomed.filter((e) => e.Type === "exec.cachemount");
  if (mounts.length) {
    const held = await lock(cacheMountsLock(engine));
    try {
      for (const m of mounts) {
        reclaimed += m.Size;
        rmSync(join(cacheMountsDir(engine), m.key!), { recursive: true, force: true });
      }
    } finally {
      held.release();
    }
  }
  const { layers, stagingBytes } = engine.layers.collect();
  for (const l of layers) reclaimed += l.size;
  const deleted = doomed.map((e) => e.ID);
  return { CachesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed + stagingBytes };
}
