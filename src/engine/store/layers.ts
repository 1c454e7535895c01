/**
 * The layer store: image layers unpacked once each, keyed by chain ID, as overlay2 directories.
 *
 * Consistency rules (every process on the data root follows them):
 * - A layer is unpacked under tmp/ and renamed into overlay2/ before its row is inserted, so a row always
 *   names a complete directory. Its own flock(2) lock makes a second process wait and then reuse it.
 * - A pull holds the GC lock shared; garbage collection takes it exclusively, so it never sees the window
 *   between a rename and its row. A container create commits its row (checking its top layer in the same
 *   write transaction) before it makes its directories, and GC deletes layer rows in a write transaction
 *   before their directories, so the two need no lock between them. Anything on disk that no row names is
 *   then garbage from a process that died, and GC may remove it.
 */
import type { Database } from "bun:sqlite";
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, randomHex } from "../random.ts";
import type { DataRoot } from "../paths.ts";
import { lock, tryLock, type Lock } from "./locks.ts";
import { checkSha256 } from "../image/validate.ts";

/** A stored layer. */
export interface LayerRecord {
  chainId: string;
  diffId: string;
  parent: string | null;
  cacheId: string;
  size: number;
}

/** OCI ChainIDs for a list of diff IDs: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out.at(-1);
    out.push(prev === undefined ? d : `sha256:${new Bun.CryptoHasher("sha256").update(`${prev} ${d}`).digest("hex")}`);
  }
  return out;
}

const hex = (digest: string) => digest.replace(/^sha256:/, "");

/** Docker's short link names under overlay2/l/: 26 characters of [A-Z0-9]. */
function shortId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  return [...randomBytes(26)].map((b) => alphabet[b & 31]).join("");
}

/** Unpacks a layer's stream into an empty directory; returns its diff ID and size. */
export type Unpacker = (dir: string) => Promise<{ diffId: string; size: number }>;

/** Staging directories of this process's unpacks in flight, removed if the process is told to stop. */
const staging = new Set<string>();
const STAGING_NAME = /^([a-f0-9]{64})-[a-f0-9]{8}$/;

function removeStagingSync(): void {
  for (const dir of staging) rmSync(dir, { recursive: true, force: true });
  staging.clear();
}

/**
 * SIGINT/SIGTERM while a layer unpacks: the staging data goes before the process does. Installed only
 * while staging exists and only where nobody else handles the signal (the daemon stops gracefully, and
 * its exit runs the "exit" hook); the signal is then raised again so the exit status is the usual one.
 */
function onStopSignal(sig: NodeJS.Signals): void {
  removeStagingSync();
  watchSignals(false);
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
const onSigint = () => onStopSignal("SIGINT");
const onSigterm = () => onStopSignal("SIGTERM");
let watching = false;

function watchSignals(on: boolean): void {
  if (on === watching) return;
  watching = on;
  if (on) {
    process.on("exit", removeStagingSync);
    if (process.listenerCount("SIGINT") === 0) process.on("SIGINT", onSigint);
    if (process.listenerCount("SIGTERM") === 0) process.on("SIGTERM", onSigterm);
  } else {
    process.off("exit", removeStagingSync);
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
  }
}

/** Bytes of the files under `path` (as layer sizes count), for what prune reports. */
function diskUsage(path: string): number {
  let n = 0;
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (st.isFile()) n += st.size;
  if (st.isDirectory()) for (const name of readdirSync(path)) n += diskUsage(join(path, name));
  return n;
}

/** Layers on disk and their rows. */
export class LayerStore {
  constructor(
    readonly root: DataRoot,
    readonly db: Database,
  ) {}

  /** The stored layer with this chain ID, if any. */
  get(chainId: string): LayerRecord | undefined {
    const row = this.db.query("SELECT chain_id, diff_id, parent, cache_id, size FROM layers WHERE chain_id = ?").get(chainId) as any;
    return row ? { chainId: row.chain_id, diffId: row.diff_id, parent: row.parent, cacheId: row.cache_id, size: row.size } : undefined;
  }

  /** The layer's directory (overlay2/<cache>): diff/ and its tar-split record. */
  dir(record: LayerRecord): string {
    return this.root.layerDir(record.cacheId);
  }

  /** Shared hold on the GC lock: taken by a pull while its layer directories have no rows yet. */
  holdAgainstGc(): Promise<Lock> {
    return lock(this.root.lock("gc"), true);
  }

  /**
   * Makes sure the layer exists, unpacking it with `unpack` if no process has yet. Returns the record and
   * whether this call unpacked it. The diff ID the unpacker computed must equal the expected one.
   * Layers of one image unpack in parallel, but a layer commits only after `parentCommitted` settles,
   * because its overlay2 `lower` file names its parent's short link.
   */
  async ensure(chainId: string, diffId: string, parent: string | null, unpack: Unpacker, parentCommitted: Promise<unknown> = Promise.resolve()): Promise<{ record: LayerRecord; created: boolean }> {
    // The chain ID names a lock file and a staging directory: never a path from an unchecked value.
    checkSha256(chainId, "chain ID");
    checkSha256(diffId, "diff ID");
    if (parent !== null) checkSha256(parent, "parent chain ID");
    const existing = this.get(chainId);
    if (existing) return { record: existing, created: false };
    const held = await lock(this.root.lock(`layer-${hex(chainId)}`));
    try {
      const again = this.get(chainId);
      if (again) return { record: again, created: false };
      const cacheId = randomHex();
      const stagingDir = join(this.root.tmp, `${hex(chainId)}-${cacheId.slice(0, 8)}`);
      staging.add(stagingDir);
      watchSignals(true);
      mkdirSync(join(stagingDir, "diff"), { recursive: true, mode: 0o700 });
      try {
        const result = await unpack(join(stagingDir, "diff"));
        if (result.diffId !== diffId) throw new Error(`layer ${chainId}: content has diff ID ${result.diffId}, the image config says ${diffId}`);
        await parentCommitted;
        return { record: this.commitStaged(stagingDir, cacheId, chainId, diffId, parent, result.size), created: true };
      } catch (e) {
        rmSync(stagingDir, { recursive: true, force: true });
        throw e;
      } finally {
        staging.delete(stagingDir);
        if (!staging.size) watchSignals(false);
      }
    } finally {
      held.release();
    }
  }

  /**
   * Stores a layer whose diff ID is known only once its tar has gone through `unpack` (commit, import): it
   * is staged under a random key (locked and named like every staging area, so removeStaleStaging takes
   * what a killed process leaves), then committed under its chain ID as `ensure` commits, or dropped for
   * the stored layer with that chain ID. The caller holds the GC lock shared until an image references it.
   */
  async register(parent: string | null, unpack: Unpacker): Promise<{ record: LayerRecord; created: boolean }> {
    if (parent !== null) checkSha256(parent, "parent chain ID");
    const key = randomHex();
    const keyHeld = await lock(this.root.lock(`layer-${key}`));
    const cacheId = randomHex();
    const stagingDir = join(this.root.tmp, `${key}-${cacheId.slice(0, 8)}`);
    staging.add(stagingDir);
    watchSignals(true);
    try {
      mkdirSync(join(stagingDir, "diff"), { recursive: true, mode: 0o700 });
      const result = await unpack(join(stagingDir, "diff"));
      checkSha256(result.diffId, "diff ID");
      // chainIds([parent, diff]) hashes "parent diff": the parent chain ID stands where a first diff ID would.
      const chainId = parent === null ? result.diffId : chainIds([parent, result.diffId])[1]!;
      const held = await lock(this.root.lock(`layer-${hex(chainId)}`));
      try {
        const existing = this.get(chainId);
        if (existing) return { record: existing, created: false };
        return { record: this.commitStaged(stagingDir, cacheId, chainId, result.diffId, parent, result.size), created: true };
      } finally {
        held.release();
      }
    } finally {
      rmSync(stagingDir, { recursive: true, force: true }); // gone already when committed
      staging.delete(stagingDir);
      if (!staging.size) watchSignals(false);
      rmSync(this.root.lock(`layer-${key}`), { force: true }); // a one-off name: no lock file left per commit
      keyHeld.release();
    }
  }

  /** Moves a complete staging directory into overlay2/<cacheId> and inserts its row: the layer is stored. */
  private commitStaged(stagingDir: string, cacheId: string, chainId: string, diffId: string, parent: string | null, size: number): LayerRecord {
    this.linkUp(stagingDir, parent);
    mkdirSync(this.root.overlay, { recursive: true, mode: 0o710 });
    renameSync(stagingDir, this.root.layerDir(cacheId));
    staging.delete(stagingDir);
    this.publishLink(cacheId);
    this.db.query("INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(chainId, diffId, parent, cacheId, size, Date.now());
    return { chainId, diffId, parent, cacheId, size };
  }

  /** Writes overlay2's `link` and `lower` files and the l/<short> symlink for a layer being committed. */
  private linkUp(dir: string, parent: string | null) {
    writeFileSync(join(dir, "link"), shortId());
    if (parent) {
      const p = this.get(parent);
      if (!p) throw new Error(`parent layer ${parent} is missing`);
      const pLink = readFileSync(join(this.root.layerDir(p.cacheId), "link"), "utf8");
      const pLower = existsSync(join(this.root.layerDir(p.cacheId), "lower")) ? readFileSync(join(this.root.layerDir(p.cacheId), "lower"), "utf8") : "";
      writeFileSync(join(dir, "lower"), [`l/${pLink}`, pLower].filter(Boolean).join(":"));
      mkdirSync(join(dir, "work"), { mode: 0o700 });
    }
  }

  /** Diff directories of a chain, top layer first (overlayfs lowerdir order). */
  diffDirs(topChainId: string | null): string[] {
    const dirs: string[] = [];
    for (let id = topChainId; id; ) {
      const rec = this.get(id);
      if (!rec) throw new Error(`layer ${id} is missing from the store`);
      dirs.push(this.root.layerDiff(rec.cacheId));
      id = rec.parent;
    }
    return dirs;
  }

  /**
   * Removes staging directories whose unpack died with its process (kill -9): their layer lock is free.
   * Run at every engine start, so it costs one readdir of tmp/ (absent or empty but for a crash).
   */
  removeStaleStaging(): void {
    let names: string[];
    try {
      names = readdirSync(this.root.tmp);
    } catch {
      return;
    }
    for (const name of names) {
      const m = STAGING_NAME.exec(name);
      // A load's staging (archive/load.ts), live while its lock is held.
      const load = /^load-([a-f0-9]{16})$/.exec(name);
      if (!m && !load) continue;
      const held = tryLock(this.root.lock(m ? `layer-${m[1]}` : `load-${load![1]}`));
      if (!held) continue; // a live unpack
      try {
        rmSync(join(this.root.tmp, name), { recursive: true, force: true });
      } finally {
        held.release();
      }
    }
  }

  /**
   * Removes layers no image or container references, stale staging data, and directories no row names.
   * Skips (returns nothing) when another process holds the GC lock shared, i.e. a pull is adding rows
   * right now; the next collection gets what this one leaves. Returns the layers removed with their sizes,
   * and the bytes of staging data removed.
   */
  collect(): { layers: { chainId: string; size: number }[]; stagingBytes: number } {
    const gc = tryLock(this.root.lock("gc"));
    if (!gc) return { layers: [], stagingBytes: 0 };
    try {
      // Unreferenced layers, and then each freed layer's parent once its last child is gone: one pass, each
      // check an indexed lookup (layers.parent, image_layers.chain_id, containers.top_layer), so the cost is
      // linear in the number of layers. A build cache row holds its layer as an image does. Rows go in one write transaction and directories after it: a
      // container create (which checks its top layer in its own write transaction, without this lock) either
      // committed first and is seen here, or sees the layer gone.
      const unreferenced = `NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)
        AND NOT EXISTS (SELECT 1 FROM containers c WHERE c.top_layer = l.chain_id)
        AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)
        AND NOT EXISTS (SELECT 1 FROM build_cache b WHERE b.chain_id = l.chain_id)`;
      type Row = { chain_id: string; cache_id: string; parent: string | null; size: number };
      const rows = this.db
        .transaction(() => {
          const queue = this.db.query(`SELECT chain_id, cache_id, parent, size FROM layers l WHERE ${unreferenced}`).all() as Row[];
          const one = this.db.query(`SELECT chain_id, cache_id, parent, size FROM layers l WHERE l.chain_id = ? AND ${unreferenced}`);
          const del = this.db.query("DELETE FROM layers WHERE chain_id = ?");
          const out: Row[] = [];
          for (let r = queue.pop(); r; r = queue.pop()) {
            del.run(r.chain_id);
            out.push(r);
            const p = r.parent === null ? null : (one.get(r.parent) as Row | null);
            if (p) queue.push(p);
          }
          return out;
        })
        .immediate();
      for (const r of rows) this.removeDir(r.cache_id);
      const deleted = rows.map((r) => ({ chainId: r.chain_id, size: r.size }));
      // Directories and staging areas left by processes that died before committing. The listing comes
      // before the rows: a container's row is committed before its directory is made, so a directory made
      // after this listing is not in it, and one in it has its row by the time the rows are read.
      if (existsSync(this.root.overlay)) {
        const names = readdirSync(this.root.overlay);
        const known = new Set((this.db.query("SELECT cache_id FROM layers UNION ALL SELECT cache_id FROM containers").all() as { cache_id: string }[]).map((r) => r.cache_id));
        for (const name of names) if (name !== "l" && !known.has(name)) this.removeDir(name);
        this.pruneShortLinks();
      }
      let stagingBytes = 0;
      if (existsSync(this.root.tmp)) {
        for (const name of readdirSync(this.root.tmp)) {
          stagingBytes += diskUsage(join(this.root.tmp, name));
          rmSync(join(this.root.tmp, name), { recursive: true, force: true });
        }
      }
      return { layers: deleted, stagingBytes };
    } finally {
      gc.release();
    }
  }

  private removeDir(cacheId: string) {
    const dir = this.root.layerDir(cacheId);
    try {
      const link = readFileSync(join(dir, "link"), "utf8").trim();
      if (/^[A-Z0-9]{26}$/.test(link)) rmSync(join(this.root.shortLinks, link), { force: true });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }

  /** Removes l/ symlinks whose layer is gone. */
  private pruneShortLinks() {
    if (!existsSync(this.root.shortLinks)) return;
    for (const name of readdirSync(this.root.shortLinks)) if (!existsSync(join(this.root.shortLinks, name))) rmSync(join(this.root.shortLinks, name), { force: true });
  }

  /** Creates the l/<short> symlink once the layer directory has its final name (a relative target survives moves). */
  private publishLink(cacheId: string) {
    mkdirSync(this.root.shortLinks, { recursive: true, mode: 0o700 });
    const link = readFileSync(join(this.root.layerDir(cacheId), "link"), "utf8");
    const target = join("..", cacheId, "diff");
    try {
      symlinkSync(target, join(this.root.shortLinks, link));
    } catch (e: any) {
      if (e.code !== "EEXIST") throw e;
    }
  }
}
