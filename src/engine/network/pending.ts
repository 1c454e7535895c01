/**
 * The cheap half of crash recovery, for listings: a process that changes the host's network leaves an intent
 * file named <pid>-<start time> while it works. Only when one belongs to a dead process is the networking
 * module (large) loaded to reconcile; otherwise a listing pays one readdir.
 */
import { readdirSync } from "node:fs";
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
  const dead = names.some((n) => {
    const [pid, start] = n.split("-").map(Number);
    return processStartTime(pid!) !== start;
  });
  if (dead) network().reconcileIfNeeded(engine);
}
