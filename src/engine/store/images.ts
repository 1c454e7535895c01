/**
 * Image metadata: image rows keyed by config digest (the image ID), their layers, tags and repo digests,
 * and Docker's rules for finding an image by what a user typed.
 */
import type { Database } from "bun:sqlite";
import type { Descriptor, ImageConfig, Index } from "../image/types.ts";
import { indexEntries } from "../image/validate.ts";
import { noSuchImage } from "../errors.ts";
import { type Reference, parseReference, withDefaultTag, familiarString, repositoryName, normalizeValidated } from "../registry/reference.ts";

/** An image as stored. */
export interface ImageRecord {
  id: string;
  config: ImageConfig;
  rawConfig: Uint8Array;
  topLayer: string | null;
  size: number;
  createdAt: number;
  taggedAt: number | null;
}

/** A tag or digest that names an image. */
export interface ImageName {
  repository: string;
  /** The tag, or the digest for a repo digest. */
  tag?: string;
  digest?: string;
}

/** What commit() records. */
export interface NewImage {
  id: string;
  rawConfig: Uint8Array;
  chainIds: string[];
  size: number;
  /** The tag to point at the image, if pulled by tag. */
  tag?: { repository: string; tag: string };
  /** The repo digest (index or manifest digest) and that manifest. */
  digest?: { repository: string; digest: string; manifest: Uint8Array; mediaType: string };
  /** The image it was built on, step by step (POST /build's intermediate images). */
  parent?: string;
  /** The multi-platform index the image was picked from, and the digest of its manifest (`digest.manifest`) there. */
  fromIndex?: { index: { digest: string; raw: Uint8Array; mediaType: string }; manifestDigest: string };
}

/** A multi-platform index as the store has it: the index, byte for byte, and the platform manifests of it held here. */
export interface StoredIndex {
  digest: string;
  raw: Uint8Array;
  mediaType: string;
  /** The index's entries (platform manifests, attestations), in its order. */
  entries: Descriptor[];
  /** By manifest digest: the image each platform manifest is, and that manifest byte for byte. */
  manifests: Map<string, { imageId: string; manifest: Uint8Array; mediaType: string }>;
}

const ID_RE = /^(sha256:)?[a-f0-9]{64}$/;

function toRecord(row: any): ImageRecord {
  const rawConfig = new Uint8Array(row.config);
  return { id: row.id, rawConfig, config: JSON.parse(new TextDecoder().decode(rawConfig)), topLayer: row.top_layer, size: row.size, createdAt: row.created_at, taggedAt: row.tagged_at };
}

/** Image rows and names. */
export class ImageStore {
  constructor(readonly db: Database) {}

  /** The image with this exact ID. */
  get(id: string): ImageRecord | undefined {
    const row = this.db.query("SELECT * FROM images WHERE id = ?").get(id);
    return row ? toRecord(row) : undefined;
  }

  /** Whether the store has the image with this exact ID (no config parsed). */
  has(id: string): boolean {
    return this.db.query("SELECT 1 FROM images WHERE id = ?").get(id) !== null;
  }

  /** Every image, newest first. */
  all(): ImageRecord[] {
    return (this.db.query("SELECT * FROM images").all() as any[]).map(toRecord).sort((a, b) => imageCreated(b) - imageCreated(a));
  }

  /** Number of images. */
  count(): number {
    return (this.db.query("SELECT count(*) AS n FROM images").get() as { n: number }).n;
  }

  /**
   * Finds an image as moby's GetImage does: a full ID (with or without "sha256:"), a name@digest,
   * a name[:tag] (default tag latest), then a unique ID prefix. Throws "No such image" (404).
   */
  resolve(refOrId: string): ImageRecord {
    const found = this.lookup(refOrId);
    if (found) return found;
    let shown = refOrId;
    try {
      if (!ID_RE.test(refOrId)) shown = familiarString(withDefaultTag(parseReference(refOrId)));
    } catch {}
    throw noSuchImage(shown);
  }

  /** Like resolve() but undefined when nothing matches. */
  lookup(refOrId: string): ImageRecord | undefined {
    if (ID_RE.test(refOrId)) return this.get(refOrId.startsWith("sha256:") ? refOrId : `sha256:${refOrId}`);
    let ref: Reference | undefined;
    try {
      ref = parseReference(refOrId);
    } catch {}
    if (ref) {
      const byName = this.byReference(ref);
      if (byName) return byName;
    }
    const prefix = refOrId.replace(/^sha256:/, "");
    if (/^[a-f0-9]+$/.test(prefix)) {
      const rows = this.db.query("SELECT * FROM images WHERE id >= ? AND id < ? LIMIT 2").all(`sha256:${prefix}`, `sha256:${prefix}g`) as any[];
      if (rows.length === 1) return toRecord(rows[0]);
    }
    return undefined;
  }

  /** The image ID a name that parsed once already (a container's image) names; see normalizeValidated. */
  idForValidatedName(name: string): string | undefined {
    if (ID_RE.test(name)) return this.get(name.startsWith("sha256:") ? name : `sha256:${name}`)?.id;
    const ref = normalizeValidated(name);
    const repo = repositoryName(ref);
    // only the ID: a listing asks this once per image name, and a full record parses the image config
    const row = (ref.digest
      ? this.db.query("SELECT image_id FROM digests WHERE repository = ? AND digest = ?").get(repo, ref.digest)
      : this.db.query("SELECT image_id FROM tags WHERE repository = ? AND tag = ?").get(repo, ref.tag ?? "latest")) as { image_id: string } | null;
    return row?.image_id;
  }

  /** The image a parsed reference names (tag defaulting to latest), if stored. */
  byReference(ref: Reference): ImageRecord | undefined {
    const repo = repositoryName(ref);
    if (ref.digest) {
      const row = this.db.query("SELECT image_id FROM digests WHERE repository = ? AND digest = ?").get(repo, ref.digest) as any;
      return row ? this.get(row.image_id) : undefined;
    }
    const row = this.db.query("SELECT image_id FROM tags WHERE repository = ? AND tag = ?").get(repo, ref.tag ?? "latest") as any;
    return row ? this.get(row.image_id) : undefined;
  }

  /** Chain IDs of an image's layers, base first. */
  chainIds(id: string): string[] {
    return (this.db.query("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position").all(id) as { chain_id: string }[]).map((r) => r.chain_id);
  }

  /** Tags of an image, as "repository:tag" in canonical form, sorted. */
  tags(id: string): { repository: string; tag: string }[] {
    return this.db.query("SELECT repository, tag FROM tags WHERE image_id = ? ORDER BY repository, tag").all(id) as any[];
  }

  /** Every tag and repo digest, grouped by image ID: one pass for listings instead of two queries an image. */
  allNames(): Map<string, { tags: { repository: string; tag: string }[]; digests: { repository: string; digest: string }[] }> {
    const out = new Map<string, { tags: { repository: string; tag: string }[]; digests: { repository: string; digest: string }[] }>();
    const entry = (id: string) => out.get(id) ?? out.set(id, { tags: [], digests: [] }).get(id)!;
    for (const r of this.db.query("SELECT image_id, repository, tag FROM tags ORDER BY repository, tag").all() as any[]) entry(r.image_id).tags.push({ repository: r.repository, tag: r.tag });
    for (const r of this.db.query("SELECT image_id, repository, digest FROM digests ORDER BY repository, digest").all() as any[]) entry(r.image_id).digests.push({ repository: r.repository, digest: r.digest });
    return out;
  }

  /** Repo digests of an image. */
  digests(id: string): { repository: string; digest: string }[] {
    return this.db.query("SELECT repository, digest FROM digests WHERE image_id = ? ORDER BY repository, digest").all(id) as any[];
  }

  /** Tags of one repository (canonical name), sorted. */
  repositoryTags(repository: string): string[] {
    return (this.db.query("SELECT tag FROM tags WHERE repository = ? ORDER BY tag").all(repository) as { tag: string }[]).map((r) => r.tag);
  }

  /** Repo digests of an image with the manifest each was pulled with (byte for byte) and its media type. */
  manifests(id: string): { repository: string; digest: string; manifest: Uint8Array; mediaType: string }[] {
    const rows = this.db.query("SELECT repository, digest, manifest, media_type FROM digests WHERE image_id = ? ORDER BY repository, digest").all(id) as any[];
    return rows.map((r) => ({ repository: r.repository, digest: r.digest, manifest: new Uint8Array(r.manifest), mediaType: r.media_type }));
  }

  /** The index repository:tag was pulled through, with every platform manifest of it held here; undefined for a tag no index names. */
  tagIndex(repository: string, tag: string): StoredIndex | undefined {
    const row = this.db.query("SELECT i.digest, i.raw, i.media_type FROM tags t JOIN indexes i ON i.digest = t.index_digest WHERE t.repository = ? AND t.tag = ?").get(repository, tag) as any;
    if (!row) return undefined;
    const manifests = new Map<string, { imageId: string; manifest: Uint8Array; mediaType: string }>();
    for (const m of this.db.query("SELECT digest, image_id, manifest, media_type FROM index_manifests WHERE index_digest = ?").all(row.digest) as any[]) {
      manifests.set(m.digest, { imageId: m.image_id, manifest: new Uint8Array(m.manifest), mediaType: m.media_type });
    }
    const raw = new Uint8Array(row.raw);
    const entries = indexEntries((JSON.parse(new TextDecoder().decode(raw)) as Index).manifests); // an index pull checked it has the list
    return { digest: row.digest, raw, mediaType: row.media_type, entries, manifests };
  }

  /** Adds a repo digest (a push's manifest digest) to an image, as moby's addDigestReference. */
  addDigest(repository: string, digest: string, id: string, manifest: Uint8Array, mediaType: string): void {
    this.db
      .query("INSERT INTO digests (repository, digest, image_id, manifest, media_type) VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET image_id = excluded.image_id, manifest = excluded.manifest, media_type = excluded.media_type")
      .run(repository, digest, id, manifest, mediaType);
  }

  /** Records a pulled (or loaded) image, its layers and names in one transaction. Returns the ID a moved tag left behind. */
  commit(img: NewImage): { previous?: string } {
    let previous: string | undefined;
    this.db
      .transaction(() => {
        const now = Date.now();
        const exists = this.db.query("SELECT 1 FROM images WHERE id = ?").get(img.id);
        if (!exists) {
          this.db.query("INSERT INTO images (id, config, top_layer, size, created_at, tagged_at) VALUES (?, ?, ?, ?, ?, NULL)").run(img.id, img.rawConfig, img.chainIds.at(-1) ?? null, img.size, now);
          img.chainIds.forEach((c, i) => this.db.query("INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)").run(img.id, i, c));
        }
        if (img.parent && img.parent !== img.id) this.db.query("INSERT OR IGNORE INTO image_parents (image_id, parent) VALUES (?, ?)").run(img.id, img.parent);
        if (img.tag) previous = this.setTag(img.tag.repository, img.tag.tag, img.id, now, img.fromIndex?.index.digest);
        if (img.digest) {
          this.db
            .query("INSERT INTO digests (repository, digest, image_id, manifest, media_type) VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET image_id = excluded.image_id, manifest = excluded.manifest, media_type = excluded.media_type")
            .run(img.digest.repository, img.digest.digest, img.id, img.digest.manifest, img.digest.mediaType);
          if (img.fromIndex) {
            const { index, manifestDigest } = img.fromIndex;
            this.db.query("INSERT OR IGNORE INTO indexes (digest, raw, media_type) VALUES (?, ?, ?)").run(index.digest, index.raw, index.mediaType);
            this.db
              .query("INSERT INTO index_manifests (index_digest, digest, image_id, manifest, media_type, recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (index_digest, digest) DO UPDATE SET image_id = excluded.image_id, manifest = excluded.manifest, media_type = excluded.media_type, recorded_at = excluded.recorded_at")
              .run(index.digest, manifestDigest, img.id, img.digest.manifest, img.digest.mediaType, now);
          }
        }
      })
      .immediate();
    return { previous };
  }

  /**
   * Points repository:tag at an image (picked from the index `indexDigest`, when pulled through one); returns
   * the image it pointed at before, if another.
   */
  setTag(repository: string, tag: string, id: string, now = Date.now(), indexDigest?: string): string | undefined {
    const old = this.db.query("SELECT image_id FROM tags WHERE repository = ? AND tag = ?").get(repository, tag) as any;
    this.db
      .query("INSERT INTO tags (repository, tag, image_id, created_at, index_digest) VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, tag) DO UPDATE SET image_id = excluded.image_id, created_at = excluded.created_at, index_digest = excluded.index_digest")
      .run(repository, tag, id, now, indexDigest ?? null);
    this.db.query("UPDATE images SET tagged_at = ? WHERE id = ?").run(now, id);
    return old && old.image_id !== id ? old.image_id : undefined;
  }

  /** Removes one tag; true if it existed. */
  removeTag(repository: string, tag: string): boolean {
    return this.db.query("DELETE FROM tags WHERE repository = ? AND tag = ?").run(repository, tag).changes > 0;
  }

  /** Removes one repo digest; true if it existed. */
  removeDigest(repository: string, digest: string): boolean {
    return this.db.query("DELETE FROM digests WHERE repository = ? AND digest = ?").run(repository, digest).changes > 0;
  }

  /** The image's parent ID, when it was built on one (intermediate images). */
  parent(id: string): string | undefined {
    return (this.db.query("SELECT parent FROM image_parents WHERE image_id = ?").get(id) as { parent: string } | null)?.parent;
  }

  /** Whether other images name this one as their parent. */
  hasChildren(id: string): boolean {
    return this.db.query("SELECT 1 FROM image_parents WHERE parent = ? LIMIT 1").get(id) !== null;
  }

  /** Every image → parent link, for listings (one query instead of one an image). */
  allParents(): Map<string, string> {
    return new Map((this.db.query("SELECT image_id, parent FROM image_parents").all() as { image_id: string; parent: string }[]).map((r) => [r.image_id, r.parent]));
  }

  /** Deletes the image row (its layer references and names go with it). */
  delete(id: string): void {
    this.db.query("DELETE FROM images WHERE id = ?").run(id);
  }
}

/** The image's creation time from its config, in ms (0 when absent). */
export function imageCreated(img: ImageRecord): number {
  const t = img.config.created ? Date.parse(img.config.created) : NaN;
  return Number.isNaN(t) ? 0 : t;
}
