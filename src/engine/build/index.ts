/** The build area's entry points, loaded through the engine's lazy seam (lazy.ts `build()`). */
export { build, platformArgs } from "./builder.ts";
export { buildCacheUsage, pruneBuildCache, type BuildCacheEntry, type BuildPruneOptions } from "./cache.ts";
export type { BuildEvent, BuildOptions, BuildResult, BuildVertex } from "./types.ts";
