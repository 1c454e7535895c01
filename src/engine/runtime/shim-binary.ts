/**
 * Locating the shim: the compiled engine carries it embedded and copies it to <data-root>/bin on first use
 * (an embedded file cannot be executed in place). BUNKER_SHIM overrides it (tests, development).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

/** Installed shims by data root (one process may serve several, as tests do). */
const installed = new Map<string, string>();

/** The path of an executable shim, installing the embedded one under dataRoot/bin if needed. */
export async function shimPath(dataRoot: string): Promise<string> {
  // Read each time, not cached: tests point it at a fresh build and then remove it.
  const override = process.env.BUNKER_SHIM;
  if (override) return override;
  const cached = installed.get(dataRoot);
  if (cached) return cached;
  const embedded = (await import("./embedded.ts")).default;
  // Bun names embedded files <name>-<content hash>.<ext>; outside a compiled binary, hash it ourselves.
  const name = embedded.startsWith("/$bunfs/") ? basename(embedded).replace(/\.$/, "") : `bunker-shim-${Bun.hash(readFileSync(embedded)).toString(36)}`;
  const target = join(dataRoot, "bin", name);
  if (!existsSync(target)) {
    mkdirSync(join(dataRoot, "bin"), { recursive: true, mode: 0o700 });
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, readFileSync(embedded), { mode: 0o555 });
    chmodSync(tmp, 0o555); // read-only even for its owner: nothing should ever rewrite a binary we exec
    renameSync(tmp, target);
  }
  installed.set(dataRoot, target);
  return target;
}
