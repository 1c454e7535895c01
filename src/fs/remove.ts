/**
 * `rm -rf` that holds while another process deletes in the same tree. Bun 1.4.5's
 * `rmSync(path, { recursive: true, force: true })` returns without an error but leaves the directory behind
 * when an entry it was about to unlink is removed by someone else first: 10 of 60 trees raced by a concurrent
 * `rm` in tests/unit/remove.test.ts's race. A container's shim unlinks its attach.sock as it exits, just after
 * recording the exit that lets a removal go ahead, so a container directory was left with no row naming it.
 */
import { lstatSync, rmSync } from "node:fs";

/** Removes `path` and everything under it; nothing there is fine. Throws only if it is still there after repeated tries. */
export function removeAll(path: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    rmSync(path, { recursive: true, force: true });
    // lstat: a symlink left where the tree was is still something left
    if (!lstatSync(path, { throwIfNoEntry: false })) return;
  }
  throw new Error(`cannot remove ${path}: it is still there after 20 attempts`);
}
