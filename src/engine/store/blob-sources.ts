/**
 * Where each layer's compressed blob is known to live, as dockerd's V2 metadata service: per diff ID, the
 * compressed digest and the repositories (registry host + path) it was pulled from or pushed to. A push
 * uses it to skip compression (the digest of a layer compressed once is remembered), to find the blob in
 * the target repository with one HEAD, and to mount it from another repository of the same registry.
 */
import type { Database } from "bun:sqlite";

/** One known place of a layer's compressed blob. */
export interface BlobSource {
  diffId: string;
  digest: string;
  size: number;
  mediaType: string;
  /** Canonical repository, "127.0.0.1:5000/library/busybox"; "" when only the compression is known. */
  repository: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS blob_sources (
  diff_id     TEXT NOT NULL,      -- sha256 of the uncompressed tar
  digest      TEXT NOT NULL,      -- sha256 of the compressed blob
  size        INTEGER NOT NULL,   -- bytes of the compressed blob
  media_type  TEXT NOT NULL,
  repository  TEXT NOT NULL,      -- canonical repository it is in ("" = compressed here, never seen in a registry)
  seen_at     INTEGER NOT NULL,
  PRIMARY KEY (diff_id, digest, repository)
);
CREATE INDEX IF NOT EXISTS blob_sources_digest ON blob_sources(digest);
`;

/** The blob-source table on the engine's database. */
export class BlobSources {
  constructor(private readonly db: Database) {
    db.exec(schema);
  }

  /** Remembers that `digest` (compressing `diffId`) is in `repository`. */
  add(s: BlobSource): void {
    this.db
      .query("INSERT INTO blob_sources (diff_id, digest, size, media_type, repository, seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (diff_id, digest, repository) DO UPDATE SET seen_at = excluded.seen_at")
      .run(s.diffId, s.digest, s.size, s.mediaType, s.repository, Date.now());
  }

  /** Forgets one place (the registry no longer has the blob there). */
  remove(s: { diffId: string; digest: string; repository: string }): void {
    this.db.query("DELETE FROM blob_sources WHERE diff_id = ? AND digest = ? AND repository = ?").run(s.diffId, s.digest, s.repository);
  }

  /** Every known place of a layer's blob, newest first. */
  forDiffId(diffId: string): BlobSource[] {
    return (this.db.query("SELECT diff_id, digest, size, media_type, repository FROM blob_sources WHERE diff_id = ? ORDER BY seen_at DESC").all(diffId) as any[]).map((r) => ({
      diffId: r.diff_id,
      digest: r.digest,
      size: r.size,
      mediaType: r.media_type,
      repository: r.repository,
    }));
  }
}

const tables = new WeakMap<Database, BlobSources>();

/** The blob-source table of a database (created on first use). */
export function blobSourcesOf(db: Database): BlobSources {
  let t = tables.get(db);
  if (!t) tables.set(db, (t = new BlobSources(db)));
  return t;
}
