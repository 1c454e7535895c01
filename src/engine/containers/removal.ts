/**
 * Crash safety of container removal. A removal writes an intent file, <data-root>/removing/<id>, before it
 * changes anything (before the kill of `rm -f`, before the row goes) and deletes it after the last file is
 * gone. The file names its writer (pid and start time) and what is left to remove. A process killed
 * anywhere in between leaves the intent behind; any later engine start sees it, finds its writer dead and
 * finishes the removal, as moby's restore removes containers it finds "removal in progress". The common
 * case (nothing left behind) costs, on every engine start, a readdir of a missing directory, a stat and a
 * count of rows.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { Engine } from "../engine.ts";
import { removeAll } from "../../fs/remove.ts";
import { processStartTime, readContainerStatus, signalContainer } from "../runtime/status.ts";
import type { ContainerRecord, StoredContainer } from "./types.ts";
import { network, volumes } from "../lazy.ts";

/** What a removal intent records. */
interface Intent {
  /** "<pid>-<start time>" of the process removing the container. */
  owner: string;
  cacheId: string;
  /** Anonymous volumes to remove with it (rm -v, --rm), named now: their mount rows go with the container's. */
  volumes: string[];
}

const dirOf = (engine: Engine) => `${engine.root.root}/removing`;

let self: string | undefined;
const me = () => (self ??= `${process.pid}-${processStartTime(process.pid) ?? 0}`);

/** Records that this process is about to remove a container (and these anonymous volumes). */
export function beginRemoval(engine: Engine, c: Pick<ContainerRecord, "id" | "cacheId">, volumes: string[] = []): void {
  const intent: Intent = { owner: me(), cacheId: c.cacheId, volumes };
  const dir = dirOf(engine);
  // Written aside and renamed into place, so that another engine starting meanwhile never reads a torn intent.
  const tmp = `${dir}/.${c.id}.${process.pid}`;
  try {
    writeFileSync(tmp, JSON.stringify(intent));
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify(intent));
  }
  renameSync(tmp, `${dir}/${c.id}`);
}

/** The removal of a container is complete: its intent goes. */
export function endRemoval(engine: Engine, id: string): void {
  rmSync(`${dirOf(engine)}/${id}`, { force: true });
}

/** Finishes every removal whose process died part-way (called at each engine start). */
export function reconcileRemovals(engine: Engine): void {
  let ids: string[] = [];
  try {
    ids = readdirSync(dirOf(engine));
  } catch {}
  for (const name of ids) {
    if (/^[0-9a-f]{64}$/.test(name)) finishIfAbandoned(engine, name);
    // an intent its writer never renamed into place (killed between the two)
    else if (/^\.[0-9a-f]{64}\.\d+$/.test(name) && processStartTime(Number(name.slice(66))) === undefined) rmSync(`${dirOf(engine)}/${name}`, { force: true });
  }
  // Directories no row names, left by removals older than the intents: more subdirectories (a directory's
  // link count less 2, on ext4, xfs and tmpfs) than rows. Read before the rows: a create inserts its row first.
  const links = statSync(engine.root.containers, { throwIfNoEntry: false })?.nlink ?? 0;
  if (links - 2 <= engine.containers.count()) return;
  const names = readdirSync(engine.root.containers);
  const rows = new Set((engine.db.query("SELECT id FROM containers").all() as { id: string }[]).map((r) => r.id));
  for (const id of names) if (/^[0-9a-f]{64}$/.test(id) && !rows.has(id)) finishIfAbandoned(engine, id);
}

/** Finishes a container's removal unless a live process is at it. */
function finishIfAbandoned(engine: Engine, id: string): void {
  let intent: Partial<Intent> = {};
  try {
    intent = JSON.parse(readFileSync(`${dirOf(engine)}/${id}`, "utf8"));
  } catch {}
  const [pid, start] = String(intent.owner ?? "").split("-").map(Number);
  if (pid && processStartTime(pid) === start) return; // still at work
  finishRemoval(engine, id, intent);
}

/** The rest of a removal whose process died: stop, network, row, volumes, files, cgroups, in manager.ts's order. */
function finishRemoval(engine: Engine, id: string, intent: Partial<Intent>): void {
  const dir = engine.root.containerDir(id);
  // The shims outlive the engine that was killed: the container must be down before its files go.
  for (let i = 0; i < 1000; i++) {
    const st = readContainerStatus(dir);
    if (!st.running && !st.restarting) break;
    try {
      if (i % 100 === 0) signalContainer(dir, "SIGKILL", { stop: true });
    } catch {}
    Bun.sleepSync(10);
  }
  const row = engine.containers.lookup(id);
  if (row && row.id === id) {
    if (row.hostConfig.NetworkMode !== "host" && row.hostConfig.NetworkMode !== "none") {
      network().containerRemoved(engine, row as StoredContainer);
    }
    engine.containers.delete(id);
  }
  if (intent.volumes?.length) {
    const { removeVolume } = volumes();
    for (const name of intent.volumes) {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) continue;
      try {
        removeVolume(engine, name);
      } catch {}
      // killed within removeVolume, between its row and its directory: the directory is left (random names never come back)
      if (!engine.db.query("SELECT 1 FROM volumes WHERE name = ?").get(name)) rmSync(`${engine.root.volumes}/${name}`, { recursive: true, force: true });
    }
  }
  const cacheId = intent.cacheId ?? row?.cacheId ?? id;
  if (/^[0-9a-f]{64}$/.test(cacheId)) removeAll(engine.root.layerDir(cacheId));
  removeAll(dir);
  // lazy: engine.ts loads this file at every start, and only a removal needs cgroups
  (require("../runtime/cgroups.ts") as typeof import("../runtime/cgroups.ts")).removeCgroups(id);
  endRemoval(engine, id);
}

/** Whether a removal of this container is in progress (its intent is recorded): moby's RemovalInProgress. */
export function isBeingRemoved(engine: Engine, id: string): boolean {
  return existsSync(`${dirOf(engine)}/${id}`);
}
