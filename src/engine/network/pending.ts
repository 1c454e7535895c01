/**
 * The cheap half of crash recovery, for listings: a process that changes the host's network leaves an intent
 * file named <pid>-<start time> while it works. Only when one belongs to a dead process is the networking
 * module (large) loaded to reconcile; otherwise a listing pays one readdir.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { processStartTime } from "../runtime/status.ts";
import { network } from "../lazy.ts";

let checked = false;

/** Reconciles the host's network once per process if an earlier process died mid-change. */
export async function reconcileIfPending(engine: Engine): Promise<void> {
  if (checked) return;
  checked = true;
  let names: string[];
  try {
    names = readdirSync(join(engine.config.dataRoot, "network", "intent"));
  } catch {
    return;
  }
  if (deadIntents(join(engine.config.dataRoot, "network", "intent"), names).length) network().reconcileIfNeeded(engine);
}

/**
 * The intent files among `names` (read from `dir`) whose process died in the middle of a change. The owner
 * is looked at first and the file after: a process removes its file before it exits, so a file still there
 * once its owner is gone was left by a crash, while one whose owner finished and exited after the readdir
 * is gone by then (taking that for a crash made every such listing reconcile).
 */
export function deadIntents(dir: string, names: string[]): string[] {
  return names.filter((n) => {
    const [pid, start] = n.split("-").map(Number);
    return processStartTime(pid!) !== start && existsSync(join(dir, n));
  });
}
