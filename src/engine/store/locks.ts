/**
 * Cross-process locks on the data root, with flock(2). A lock belongs to an open file description, so the
 * kernel drops it when its process dies: a pull killed with -9 never leaves a lock behind.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { LOCK, sys } from "../../sys/index.ts";

/** A held lock; release() is idempotent. */
export interface Lock {
  release(): void;
}

function open(path: string): number {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return openSync(path, "a", 0o600);
}

/** Takes the lock at `path` if it is free right now; undefined if another process holds it. */
export function tryLock(path: string, shared = false): Lock | undefined {
  const fd = open(path);
  if (!sys().flock(fd, (shared ? LOCK.SH : LOCK.EX) | LOCK.NB)) {
    closeSync(fd);
    return undefined;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      closeSync(fd); // closing the last fd drops the flock
    },
  };
}

/**
 * Waits for the lock at `path`. Polls with LOCK_NB rather than blocking in flock(2), because a blocking
 * FFI call would stall the JS thread and with it every download in flight.
 */
export async function lock(path: string, shared = false, signal?: AbortSignal): Promise<Lock> {
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const l = tryLock(path, shared);
    if (l) return l;
    signal?.throwIfAborted();
    await Bun.sleep(delay);
  }
}
