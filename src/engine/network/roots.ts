/**
 * The host-wide registry of data roots that own firewall rules: `<run dir>/roots/<root tag>` is a symlink to
 * the data root, made when a root first adds rules. A dangling link is a data root that was deleted with its
 * rules still in the host firewall; any engine start finds those with one readdir and a stat per entry, and
 * only then loads the code that drops their rules, bridges and address claims. /run empties on reboot, and
 * so do the rules.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { network } from "../lazy.ts";

/** Host-wide state that lives until reboot (address claims, the host lock, this registry). */
export const RUN_DIR = process.env.BUNKER_RUN_DIR ?? "/run/bunker";
const ROOTS_DIR = join(RUN_DIR, "roots");

/** Records that `dataRoot` (tagged `tag`) owns rules; a no-op once recorded. */
export function registerRoot(tag: string, dataRoot: string): void {
  const link = join(ROOTS_DIR, tag);
  if (isRegistered(tag)) return;
  mkdirSync(ROOTS_DIR, { recursive: true, mode: 0o700 });
  try {
    symlinkSync(resolve(dataRoot), link); // absolute: a relative target would dangle and read as deleted
  } catch (e: any) {
    if (e?.code !== "EEXIST") throw e;
  }
}

/** True when `tag` has an entry (dangling or not). */
export function isRegistered(tag: string): boolean {
  try {
    lstatSync(join(ROOTS_DIR, tag));
    return true;
  } catch {
    return false;
  }
}

/** Tags of recorded data roots that no longer exist. */
export function goneRoots(): string[] {
  let names: string[];
  try {
    names = readdirSync(ROOTS_DIR);
  } catch {
    return [];
  }
  // existsSync follows the link: false for a deleted data root.
  return names.filter((t) => /^[0-9a-f]{8}$/.test(t) && !existsSync(join(ROOTS_DIR, t)));
}

/** Drops a gone root's entry, once its rules and claims are gone. */
export function unregisterRoot(tag: string): void {
  rmSync(join(ROOTS_DIR, tag), { force: true });
}

/**
 * At engine start: the rules, bridges and claims of data roots that were deleted go (rules only when this
 * engine may touch iptables). Costs a readdir when there is nothing to do.
 */
export function reconcileGoneRoots(opts: { iptables: boolean }): void {
  const gone = goneRoots();
  if (!gone.length) return;
  const { dropGoneRoots } = network();
  try {
    dropGoneRoots(gone, opts);
  } catch {
    // Best effort: the entries stay, and the next engine start tries again; this one's command goes on.
  }
}
