/**
 * What listings need to know about a container without loading the lifecycle (manager.ts, which brings the
 * runtime and networking along): its status, Docker's state name, sizes, label filters, the image to show.
 */

import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { readContainerStatus, type ContainerStatus } from "../runtime/status.ts";
import type { StoredContainer as Stored } from "./types.ts";
import { lstatSync, readdirSync } from "node:fs";

/** The container's runtime status (never started = created). */
export function statusOf(c: { dir: string }): ContainerStatus {
  return readContainerStatus(c.dir);
}

/** Docker's State.Status: created, running, restarting, exited. */
export function stateName(st: ContainerStatus): "created" | "running" | "restarting" | "exited" {
  if (st.running) return "running";
  if (st.restarting) return "restarting";
  return st.startedAt || st.finishedAt || st.exitCode !== undefined ? "exited" : "created";
}

/** `label=key` / `label=key=value` filters. */
export function matchLabels(labels: Record<string, string> | null | undefined, filters: string[]): boolean {
  const l = labels ?? {};
  return filters.every((f) => (f.includes("=") ? l[f.slice(0, f.indexOf("="))] === f.slice(f.indexOf("=") + 1) : f in l));
}

/** Bytes of regular files under a directory (Docker's SizeRw for an upper dir), not following symlinks. */
export function dirSize(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const s = lstatSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) total += s.size;
    }
  };
  walk(dir);
  return total;
}

/**
 * The image name to show for a container: what the user typed while it still names the same image, else
 * the ID. `seen` caches lookups across one listing (containers of one image share the answer).
 */
export function displayImage(engine: Engine, c: Stored, seen = new Map<string, string | undefined>()): string {
  if (!seen.has(c.imageRef)) seen.set(c.imageRef, engine.images.idForValidatedName(c.imageRef));
  return seen.get(c.imageRef) === c.image ? c.imageRef : c.image;
}
