/**
 * Where the test bed lives on disk. The cache key is a hash of the files that define the images, so editing
 * a recipe builds a fresh set beside the old one, and an unchanged recipe reuses what an earlier run built.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The files whose contents define the built images (not the serving or test helpers). */
export const RECIPE_FILES = ["build-images.ts", "oci.ts", "recipe.ts", "registry-run.ts", "ryuk.c"] as const;

/** Directory of the test-bed scripts. */
export const TESTBED_SCRIPTS = import.meta.dir;

/** Every timestamp in the built images: 2023-11-14T22:13:20Z. */
export const SOURCE_DATE_EPOCH = 1700000000;

/** Root of all cached builds: $BUNKER_TESTBED_CACHE or /var/cache/bunker-testbed. */
export function cacheRoot(): string {
  return process.env.BUNKER_TESTBED_CACHE || "/var/cache/bunker-testbed";
}

/** First 16 hex digits of the SHA-256 over the recipe files' names and contents. */
export function recipeHash(): string {
  const h = createHash("sha256");
  for (const name of RECIPE_FILES) {
    h.update(`${name}\0`);
    h.update(readFileSync(join(TESTBED_SCRIPTS, name)));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** The finished build for the current recipe: <cache>/<hash>. */
export function testbedDir(): string {
  return join(cacheRoot(), recipeHash());
}

/** One layer of a pushed image, as listed in images.json. */
export interface LayerInfo {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
}

/** One platform image (a manifest, not an index) as pushed. */
export interface ManifestInfo {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  configDigest: string;
  layers: LayerInfo[];
}

/** One pushed name:tag, as listed in images.json. */
export interface ImageInfo {
  /** Repository path in the registry, e.g. "library/busybox". */
  name: string;
  tag: string;
  /** Media type the registry serves for the tag. */
  mediaType: string;
  /** Digest of the tag's manifest (or index / list). */
  digest: string;
  /** The OCI layout it was pushed from and the ref name in that layout. */
  layout: string;
  layoutRef: string;
  /** Set when the tag is a single manifest. */
  configDigest?: string;
  layers?: LayerInfo[];
  /** Set when the tag is an index or list: every entry, attestation entries included. */
  manifests?: (ManifestInfo & { annotations?: Record<string, string> })[];
}

/** Shape of <testbed>/images.json. */
export interface ImagesJson {
  recipe: string;
  builtAt: string;
  images: ImageInfo[];
}
