/** What `builder prune` may ask of bunker's build cache, checked once for the daemon and the in-process CLI. */
import { invalidParameter } from "../errors.ts";

/**
 * What POST /build/prune applies: `all`. Refused by name: keep-storage (and BuildKit's reserved-space,
 * max-used-space, min-free-space) and filters, which this cache does not select by.
 */
export function checkBuildPrune(req: { all?: boolean; keepStorage?: number; filters?: Record<string, string[]> }, queryKeys: string[] = []): { all: boolean } {
  for (const k of ["reserved-space", "max-used-space", "min-free-space"]) if (queryKeys.includes(k)) throw invalidParameter(`build prune option ${JSON.stringify(k)} is not supported by bunker's build cache`);
  if (req.keepStorage) throw invalidParameter('build prune option "keep-storage" is not supported by bunker\'s build cache');
  for (const k of Object.keys(req.filters ?? {})) throw invalidParameter(`build prune filter ${JSON.stringify(k)} is not supported by bunker's build cache`);
  return { all: !!req.all };
}
