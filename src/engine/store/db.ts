/**
 * The metadata database: one SQLite file in WAL mode, shared safely by every bunker process on the
 * data root (the CLI in-process, the daemon, concurrent pulls). Writes are short transactions; the long
 * work (downloads, unpacking) happens outside them, guarded by flock(2) locks (src/engine/store/locks.ts).
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const schema = `
CREATE TABLE IF NOT EXISTS layers (
  chain_id    TEXT PRIMARY KEY,   -- sha256 over the parent's chain ID and this diff ID (OCI ChainID)
  diff_id     TEXT NOT NULL,      -- sha256 of the uncompressed tar
  parent      TEXT,               -- chain ID of the layer below, NULL for a base layer
  cache_id    TEXT NOT NULL UNIQUE, -- overlay2/<cache_id>
  size        INTEGER NOT NULL,   -- bytes of regular files, as overlay2 reports a layer's size
  created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
  id          TEXT PRIMARY KEY,   -- the config's digest: the image ID everywhere
  config      BLOB NOT NULL,      -- the config blob, byte for byte
  top_layer   TEXT,               -- chain ID of the top layer; NULL for an image without layers
  size        INTEGER NOT NULL,   -- sum of its layers' sizes
  created_at  INTEGER NOT NULL,   -- when this store first had it
  tagged_at   INTEGER             -- Metadata.LastTagTime
);
CREATE TABLE IF NOT EXISTS image_layers (
  image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,   -- 0 = base
  chain_id    TEXT NOT NULL,
  PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
  repository  TEXT NOT NULL,      -- "docker.io/library/ubuntu"
  tag         TEXT NOT NULL,
  image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (repository, tag)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS digests (
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,      -- the manifest (or index) digest the image was pulled by
  image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  manifest    BLOB NOT NULL,
  media_type  TEXT NOT NULL,
  PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS digests_image ON digests(image_id);
`;

/** Opens (creating if needed) the metadata database at `path`. */
export function openDatabase(path: string): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o710 });
  const db = new Database(path, { create: true, strict: true });
  // WAL lets readers (ps, images) run while a writer commits; busy_timeout makes concurrent writers
  // from other processes wait instead of failing with SQLITE_BUSY.
  db.exec("PRAGMA busy_timeout = 10000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version < 1) {
    db.transaction(() => {
      db.exec(schema);
      db.exec("PRAGMA user_version = 1");
    }).immediate();
  }
  return db;
}
