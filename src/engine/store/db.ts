/**
 * The metadata database: one SQLite file in WAL mode, shared safely by every bunker process on the
 * data root (the CLI in-process, the daemon, concurrent pulls). Writes are short transactions; the long
 * work (downloads, unpacking) happens outside them, guarded by flock(2) locks (src/engine/store/locks.ts).
 */
import { Database, constants } from "bun:sqlite";
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

const containers = `
CREATE TABLE IF NOT EXISTS containers (
  id          TEXT PRIMARY KEY,   -- 64 hex
  name        TEXT NOT NULL UNIQUE, -- without the leading "/"; UNIQUE makes a duplicate name fail atomically
  image_id    TEXT NOT NULL,      -- no foreign key: rmi -f may delete an image a stopped container uses
  image_ref   TEXT NOT NULL,
  top_layer   TEXT,               -- keeps the image's layers alive while the container exists
  cache_id    TEXT NOT NULL UNIQUE, -- overlay2/<cache_id>: diff (upper), work, merged
  created_at  INTEGER NOT NULL,
  config      TEXT NOT NULL,      -- Docker's Config, JSON
  host_config TEXT NOT NULL,      -- Docker's HostConfig, JSON
  path        TEXT NOT NULL,
  args        TEXT NOT NULL       -- JSON array
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
CREATE INDEX IF NOT EXISTS containers_top_layer ON containers(top_layer);
`;

const networks = `
CREATE TABLE IF NOT EXISTS networks (
  id          TEXT PRIMARY KEY,   -- 64 hex
  name        TEXT NOT NULL UNIQUE,
  driver      TEXT NOT NULL,      -- bridge, host, null
  bridge      TEXT,               -- the host bridge (bunker0, bk-<id12>); NULL for host/none
  subnet      TEXT,               -- CIDR
  gateway     TEXT,
  internal    INTEGER NOT NULL DEFAULT 0,
  labels      TEXT NOT NULL,      -- JSON
  options     TEXT NOT NULL,      -- JSON, Docker's driver options
  created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
  id           TEXT PRIMARY KEY,  -- 64 hex; the host veth is "bk" + its first 12
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  network_id   TEXT NOT NULL REFERENCES networks(id),
  ip           TEXT NOT NULL,     -- kept from first start to removal, so restarts keep their address
  mac          TEXT NOT NULL,
  aliases      TEXT NOT NULL,     -- JSON array (--network-alias)
  position     INTEGER NOT NULL,  -- eth<position> inside the container
  UNIQUE (container_id, network_id),
  UNIQUE (network_id, ip)
);
CREATE INDEX IF NOT EXISTS endpoints_network ON endpoints(network_id);
CREATE TABLE IF NOT EXISTS port_mappings (
  container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  proto          TEXT NOT NULL,
  host_ip        TEXT NOT NULL,   -- 0.0.0.0 for any
  host_port      INTEGER NOT NULL,
  container_port INTEGER NOT NULL,
  PRIMARY KEY (proto, host_port, host_ip)
);
CREATE INDEX IF NOT EXISTS port_mappings_container ON port_mappings(container_id);
`;

const volumes = `
CREATE TABLE IF NOT EXISTS volumes (
  name        TEXT PRIMARY KEY,   -- volumes/<name>/_data holds the data
  driver      TEXT NOT NULL,      -- "local"
  labels      TEXT NOT NULL,      -- JSON object, or "null" as the API gave it
  options     TEXT NOT NULL,      -- JSON object or "null": the driver options
  created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS container_mounts (
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  destination  TEXT NOT NULL,
  type         TEXT NOT NULL,     -- bind, volume, tmpfs
  -- The volume a volume mount uses: the reference keeps it from removal (no ON DELETE: "volume is in use").
  volume       TEXT REFERENCES volumes(name),
  source       TEXT NOT NULL,     -- a bind's host path
  rw           INTEGER NOT NULL,
  mode         TEXT NOT NULL,
  propagation  TEXT NOT NULL,
  copy_data    INTEGER NOT NULL,  -- the image's content is still to be copied into the volume (first start)
  create_source INTEGER NOT NULL, -- -v binds: mkdir -p the host path at start
  spec         TEXT NOT NULL,     -- the API's mount.Mount, JSON
  PRIMARY KEY (container_id, destination)
);
CREATE INDEX IF NOT EXISTS container_mounts_volume ON container_mounts(volume);
`;

// Garbage collection finds a layer's children by parent: without this index, removing a chain of n
// layers cost O(n^2) lookups (2,000 layers: 62 s).
const layerParents = `
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
`;

// The build cache (src/engine/build/cache.ts): one row per step result, keyed by what the step depends on. Its
// layer is held against GC by the row (layers.ts collect), so rmi and prune leave what the cache may reuse.
// build_files memoises content digests of context files by inode and change times, build_sums whole COPY
// checksums by the lstat of what they read (the key stays the content: these only spare reading it again).
const buildCache = `
CREATE TABLE IF NOT EXISTS build_cache (
  key         TEXT PRIMARY KEY,   -- sha256 over the parent's key, the step as expanded, its env and what it reads
  chain_id    TEXT NOT NULL,      -- the layer chain after the step
  diff_id     TEXT NOT NULL,
  created     TEXT NOT NULL,      -- the history entry's time, reused on a hit (BuildKit's)
  description TEXT NOT NULL,      -- the step as progress shows it (system df -v)
  created_at  INTEGER NOT NULL,
  last_used   INTEGER NOT NULL,
  usage_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_chain ON build_cache(chain_id);
CREATE TABLE IF NOT EXISTS build_files (
  dev         INTEGER NOT NULL,
  ino         INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  mtime_ns    TEXT NOT NULL,
  ctime_ns    TEXT NOT NULL,
  digest      TEXT NOT NULL,      -- sha256 hex of the content
  PRIMARY KEY (dev, ino)
);
CREATE TABLE IF NOT EXISTS build_sums (
  fingerprint TEXT PRIMARY KEY,   -- sha256 over a COPY's options and the lstat of every path it reads
  checksum    TEXT NOT NULL,      -- the content checksum computed for it
  last_used   INTEGER NOT NULL
);
`;

// Parents of images (dockerd's imagedb parent files): the intermediate images POST /build keeps, each the
// child of the one before it. `images` hides an untagged image that has children; rmi and prune remove an
// untagged parent with its last child.
const imageParents = `
CREATE TABLE IF NOT EXISTS image_parents (
  image_id    TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
  parent      TEXT NOT NULL       -- the parent image's ID (not a foreign key: dockerd keeps the link when the parent goes)
);
CREATE INDEX IF NOT EXISTS image_parents_parent ON image_parents(parent);
`;

// The multi-platform indexes (manifest lists) tags were pulled through, and which platform manifest of each
// this store holds as which image: what containerd's image store keeps per tag, so that a push sends the
// whole index once every platform it names is here (engine/push.ts). An index goes with its last platform;
// a tag keeps naming the image it points at, and its index_digest the index that image was picked from.
const imageIndexes = `
ALTER TABLE tags ADD COLUMN index_digest TEXT;
CREATE TABLE IF NOT EXISTS indexes (
  digest      TEXT PRIMARY KEY,   -- the index's digest
  raw         BLOB NOT NULL,      -- the index, byte for byte
  media_type  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS index_manifests (
  index_digest TEXT NOT NULL REFERENCES indexes(digest),
  digest      TEXT NOT NULL,      -- the platform manifest's digest: what the index's entry names
  image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  manifest    BLOB NOT NULL,      -- the platform manifest, byte for byte
  media_type  TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (index_digest, digest)
);
CREATE INDEX IF NOT EXISTS index_manifests_image ON index_manifests(image_id);
CREATE TRIGGER IF NOT EXISTS index_manifests_last AFTER DELETE ON index_manifests
  WHEN NOT EXISTS (SELECT 1 FROM index_manifests WHERE index_digest = OLD.index_digest)
  BEGIN DELETE FROM indexes WHERE digest = OLD.index_digest; END;
`;

/** Schema migrations, applied in order; PRAGMA user_version counts how many ran. */
const migrations = [schema, containers, networks, volumes, layerParents, buildCache, imageParents, imageIndexes];

/** Opens (creating if needed) the metadata database at `path`. */
export function openDatabase(path: string): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o710 });
  const db = new Database(path, { create: true, strict: true });
  // busy_timeout makes concurrent writers from other processes wait instead of failing with SQLITE_BUSY;
  // these are per connection, so every open sets them (in one exec: each statement costs a prepare).
  db.exec("PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 1048576");
  // The -wal and -shm files outlive the last connection: SQLite otherwise deletes both when a process closes
  // the database and the next one creates them again (two file creations, two deletions, the shm's setup
  // writes and a directory fsync in every bunker command: ~1 ms of `ps`). A size limit >= 0 makes that last
  // close truncate the checkpointed WAL to zero bytes, so the next open has no stale frames to re-read.
  db.fileControl(constants.SQLITE_FCNTL_PERSIST_WAL, 1);
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  // A migrated database is in WAL mode already (a property of the file): only a new or older one needs the
  // switch (WAL lets readers such as ps run while a writer commits) and the migrations. Both can race with
  // another process doing the same, which SQLite reports as SQLITE_BUSY at once, without the busy handler:
  // retry those steps briefly.
  if (version < migrations.length) {
    whileBusy(() => {
      if ((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode !== "wal") db.exec("PRAGMA journal_mode = WAL");
    });
    whileBusy(() =>
      db
        .transaction(() => {
          // Re-read inside the write lock: another process may have migrated meanwhile.
          const now = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
          for (let v = now; v < migrations.length; v++) db.exec(migrations[v]!);
          db.exec(`PRAGMA user_version = ${migrations.length}`);
        })
        .immediate(),
    );
  }
  return db;
}

/** Runs `fn`, retrying for up to ~5 s while SQLite reports the database busy or locked. */
function whileBusy(fn: () => void): void {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (attempt >= 500 || !/SQLITE_BUSY|database is locked/i.test(`${(e as { code?: string }).code ?? ""} ${e}`)) throw e;
      Bun.sleepSync(10);
    }
  }
}
