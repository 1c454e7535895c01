/**
 * The test-bed images: built offline once per recipe (scripts/testbed/build-images.ts) and cached, so the
 * first test that needs them pays for the build and every later run only reads images.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { testbedDir, TESTBED_SCRIPTS, type ImageInfo, type ImagesJson } from "../../scripts/testbed/recipe.ts";

export type { ImageInfo, ImagesJson, LayerInfo, ManifestInfo } from "../../scripts/testbed/recipe.ts";

/** A built test bed: its directories and the parsed images.json. */
export interface Testbed {
  /** <cache>/<recipe hash>. */
  dir: string;
  /** The OCI layout every image was pushed from (ref names: busybox, debian, redis, nginx, torture, ...). */
  layoutDir: string;
  /** The registry storage root holding every pushed image (treat as read-only). */
  storageDir: string;
  images: ImageInfo[];
  /** Looks up one pushed name:tag, e.g. image("library/busybox", "latest"); throws if absent. */
  image(name: string, tag: string): ImageInfo;
}

let pending: Promise<Testbed> | undefined;

/** Builds and pushes the test-bed images unless cached, then returns their paths and images.json. */
export function ensureTestbed(): Promise<Testbed> {
  pending ??= load();
  return pending;
}

async function load(): Promise<Testbed> {
  const dir = testbedDir();
  if (!existsSync(join(dir, "images.json"))) {
    // The build script takes a lock and renames its result into place, so concurrent callers are safe.
    const proc = Bun.spawn([process.execPath, join(TESTBED_SCRIPTS, "build-images.ts")], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    if ((await proc.exited) !== 0) throw new Error(`test-bed build failed (exit ${proc.exitCode})`);
  }
  const doc: ImagesJson = JSON.parse(readFileSync(join(dir, "images.json"), "utf8"));
  return {
    dir,
    layoutDir: join(dir, "oci"),
    storageDir: join(dir, "registry"),
    images: doc.images,
    image(name, tag) {
      const found = doc.images.find((i) => i.name === name && i.tag === tag);
      if (!found) throw new Error(`test bed has no image ${name}:${tag}`);
      return found;
    },
  };
}
