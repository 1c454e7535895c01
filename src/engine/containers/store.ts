/**
 * Container rows and Docker's rules for finding a container by what a user typed: full ID, exact name
 * (with or without "/"), then a unique ID prefix.
 */
import type { Database } from "bun:sqlite";
import { EngineError, conflict, noSuchContainer } from "../errors.ts";
import type { DataRoot } from "../paths.ts";
import type { ContainerRecord, StoredContainer } from "./types.ts";

const COLUMNS = "id, name, image_id, image_ref, top_layer, cache_id, created_at, config, host_config, path, args";

/** Container rows. */
export class ContainerStore {
  constructor(
    readonly db: Database,
    readonly root: DataRoot,
  ) {}

  private toRecord = (row: any): StoredContainer => ({
    id: row.id,
    name: row.name,
    image: row.image_id,
    imageRef: row.image_ref,
    topLayer: row.top_layer,
    cacheId: row.cache_id,
    created: row.created_at,
    config: JSON.parse(row.config),
    hostConfig: JSON.parse(row.host_config),
    dir: this.root.containerDir(row.id),
    path: row.path,
    args: JSON.parse(row.args),
  });

  /** Every container, newest first. */
  all(): StoredContainer[] {
    return (this.db.query(`SELECT ${COLUMNS} FROM containers ORDER BY created_at DESC, rowid DESC`).all() as any[]).map(this.toRecord);
  }

  /** Finds a container as moby does; throws "No such container" (404) or an ambiguity error. */
  resolve(ref: string): StoredContainer {
    const found = this.lookup(ref);
    if (!found) throw noSuchContainer(ref);
    return found;
  }

  /** Like resolve(), undefined when nothing matches. */
  lookup(ref: string): StoredContainer | undefined {
    if (!ref) return undefined;
    const byId = this.db.query(`SELECT ${COLUMNS} FROM containers WHERE id = ?`).get(ref);
    if (byId) return this.toRecord(byId);
    const byName = this.db.query(`SELECT ${COLUMNS} FROM containers WHERE name = ?`).get(ref.replace(/^\//, ""));
    if (byName) return this.toRecord(byName);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const rows = this.db.query(`SELECT ${COLUMNS} FROM containers WHERE id >= ? AND id < ? LIMIT 2`).all(ref, `${ref}g`) as any[];
    if (rows.length > 1) throw new EngineError("invalidParameter", `Multiple IDs found with provided prefix: ${ref}`);
    return rows[0] ? this.toRecord(rows[0]) : undefined;
  }

  /** Inserts a new container; a taken name fails as Docker's does (409). */
  insert(c: StoredContainer): void {
    try {
      this.db
        .query(`INSERT INTO containers (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(c.id, c.name, c.image, c.imageRef, c.topLayer, c.cacheId, c.created, JSON.stringify(c.config), JSON.stringify(c.hostConfig), c.path, JSON.stringify(c.args));
    } catch (e) {
      if (String(e).includes("UNIQUE constraint failed: containers.name")) throw nameInUse(c.name, this.lookup(c.name)?.id ?? "");
      throw e;
    }
  }

  /** Renames a container; a taken name fails as Docker's does. */
  rename(id: string, name: string): void {
    try {
      this.db.query("UPDATE containers SET name = ? WHERE id = ?").run(name, id);
    } catch (e) {
      if (String(e).includes("UNIQUE constraint failed")) throw nameInUse(name, this.lookup(name)?.id ?? "");
      throw e;
    }
  }

  /** Replaces a container's HostConfig (`docker update`). */
  updateHostConfig(id: string, hostConfig: StoredContainer["hostConfig"]): void {
    this.db.query("UPDATE containers SET host_config = ? WHERE id = ?").run(JSON.stringify(hostConfig), id);
  }

  /** Deletes the row; false when it was already gone (another remover got there first). */
  delete(id: string): boolean {
    return this.db.query("DELETE FROM containers WHERE id = ?").run(id).changes > 0;
  }

  /** IDs of containers created from an image. */
  usingImage(imageId: string): string[] {
    return (this.db.query("SELECT id FROM containers WHERE image_id = ?").all(imageId) as { id: string }[]).map((r) => r.id);
  }

  /** Number of containers. */
  count(): number {
    return (this.db.query("SELECT count(*) AS n FROM containers").get() as { n: number }).n;
  }
}

/** Docker's duplicate-name conflict. */
export function nameInUse(name: string, id: string) {
  return conflict(`Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
}
