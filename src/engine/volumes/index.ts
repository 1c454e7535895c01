/**
 * Local volumes and the mounts of containers, in the Docker API's shapes. A volume is a row in bunker.db
 * and a directory, <data-root>/volumes/<name>/_data (Docker's layout). Each container's mounts are rows
 * of container_mounts; a volume mount references its volume's row, so SQLite itself refuses to remove a
 * volume some container uses, atomically, whichever bunker process asks ("volume is in use").
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { randomHex } from "../random.ts";
import type { Engine } from "../engine.ts";
import { conflict, EngineError, invalidParameter } from "../errors.ts";
import { dirSize, matchLabels } from "../containers/state.ts";
import { validateVolumeName, volumePluginMissing, type MountPoint, type MountSpec } from "./spec.ts";
export { mountsByContainer, mountsOf, mountView } from "./mounts.ts";

/** The label moby puts on the volumes it names itself (VOLUME entries, `-v /path`). */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** A volume as the API shows it (volume.Volume). */
export interface Volume {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
  UsageData?: { Size: number; RefCount: number };
}

interface Row {
  name: string;
  driver: string;
  labels: string;
  options: string;
  created_at: number;
}

/** RFC 3339 at second precision in local time, as Go's time.Format(time.RFC3339) prints a volume's CreatedAt. */
function rfc3339(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const p = (n: number) => String(n).padStart(2, "0");
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${zone}`;
}

const toVolume = (engine: Engine, r: Row): Volume => ({
  CreatedAt: rfc3339(r.created_at),
  Driver: r.driver,
  Labels: JSON.parse(r.labels),
  Mountpoint: engine.root.volumeData(r.name),
  Name: r.name,
  Options: JSON.parse(r.options),
  Scope: "local",
});

const noSuchVolume = (name: string) => new EngineError("notFound", `get ${name}: no such volume`);

function row(engine: Engine, name: string): Row | undefined {
  return (engine.db.query("SELECT * FROM volumes WHERE name = ?").get(name) as Row | null) ?? undefined;
}

/** IDs of the containers that mount a volume. */
function refs(engine: Engine, name: string): string[] {
  return (engine.db.query("SELECT DISTINCT container_id AS id FROM container_mounts WHERE volume = ? ORDER BY container_id").all(name) as { id: string }[]).map((r) => r.id);
}

/** The local driver's option checks (moby's validateOpts); options that need a mount are refused for now. */
function validateOptions(name: string, opts: Record<string, string>): void {
  const keys = Object.keys(opts);
  for (const k of keys) if (!["type", "o", "device", "size"].includes(k)) throw invalidParameter(`create ${name}: invalid option: "${k}"`);
  if ("size" in opts) throw invalidParameter(`create ${name}: quota size requested but no quota support`);
  const required: Record<string, string[]> = { device: ["type"], type: ["device"], o: ["device", "type"] };
  for (const [k, needs] of Object.entries(required)) for (const n of needs) if (k in opts && !(n in opts)) throw invalidParameter(`create ${name}: missing required option: "${n}"`);
  if (keys.length) throw new EngineError("notImplemented", `create ${name}: bunker: local volumes with mount options (type, device, o) are not supported yet`);
}

/**
 * Creates a volume, or returns the one of that name (the local driver's create is idempotent; the existing
 * volume keeps its labels). A name-less request gets a random 64-hex name and the anonymous label.
 */
export function createVolume(engine: Engine, req: { Name?: string; Driver?: string; DriverOpts?: Record<string, string> | null; Labels?: Record<string, string> | null } = {}): Volume {
  // maps of strings, as Go decodes them: a number or an object is no label value (and would come back as one)
  for (const [field, m] of [["DriverOpts", req.DriverOpts], ["Labels", req.Labels]] as const) {
    for (const v of Object.values(m ?? {}) as unknown[]) {
      if (typeof v !== "string") throw invalidParameter(`invalid JSON: json: cannot unmarshal ${Array.isArray(v) ? "array" : v === null ? "null" : typeof v === "boolean" ? "bool" : typeof v} into Go struct field CreateOptions.${field} of type string`);
    }
  }
  const anonymous = !req.Name;
  const name = req.Name || randomHex();
  const driver = req.Driver || "local";
  if (driver !== "local") throw volumePluginMissing(name, driver);
  validateVolumeName(name);
  validateOptions(name, req.DriverOpts ?? {});
  const labels = anonymous ? { ...(req.Labels ?? {}), [ANONYMOUS_LABEL]: "" } : (req.Labels ?? null);
  const { volume } = ensureVolume(engine, name, labels, req.DriverOpts ?? null);
  return volume;
}

/** The volume's row and directory, created if missing; `created` tells whether this call made it. */
function ensureVolume(engine: Engine, name: string, labels: Record<string, string> | null, options: Record<string, string> | null): { volume: Volume; created: boolean } {
  // 0701 root, 0755 data, as the local driver makes them: the data dir is what containers see.
  mkdirSync(`${engine.root.volumes}/${name}`, { recursive: true, mode: 0o701 });
  mkdirSync(engine.root.volumeData(name), { recursive: true, mode: 0o755 });
  const res = engine.db.query("INSERT OR IGNORE INTO volumes (name, driver, labels, options, created_at) VALUES (?, 'local', ?, ?, ?)").run(name, JSON.stringify(labels), JSON.stringify(options), Date.now());
  const created = res.changes > 0;
  if (created) engine.events.publish({ Type: "volume", Action: "create", id: name, attributes: { driver: "local" } });
  return { volume: toVolume(engine, row(engine, name)!), created };
}

/** GET /volumes/{name}. */
export function inspectVolume(engine: Engine, name: string): Volume {
  const r = row(engine, name);
  if (!r) throw noSuchVolume(name);
  return toVolume(engine, r);
}

/** Go's filters.Match: the value matches any filter as a regular expression. */
const matchAny = (patterns: string[], value: string) => patterns.some((p) => new RegExp(p).test(value));

/** Docker's label filters (`key` or `key=value`, as containers' and networks'); `label!` negates. */
function labelsMatch(labels: Record<string, string> | null, want: string[] = [], not: string[] = []): boolean {
  return matchLabels(labels, want) && !not.some((f) => matchLabels(labels, [f]));
}

function checkFilters(filters: Record<string, string[]>, accepted: string[]) {
  for (const k of Object.keys(filters)) if (!accepted.includes(k)) throw invalidParameter(`invalid filter '${k}'`);
}

function boolFilter(key: string, values: string[]): boolean {
  const v = values.at(-1)!;
  if (/^(1|true|True|TRUE)$/.test(v)) return true;
  if (/^(0|false|False|FALSE)$/.test(v)) return false;
  throw invalidParameter(`invalid filter '${key}=${v}'`);
}

/** GET /volumes: filters `dangling`, `name`, `driver`, `label`. */
export function listVolumes(engine: Engine, filters: Record<string, string[]> = {}): { Volumes: Volume[]; Warnings: null } {
  checkFilters(filters, ["dangling", "name", "driver", "label"]);
  const dangling = filters.dangling ? boolFilter("dangling", filters.dangling) : undefined;
  const used = new Set((engine.db.query("SELECT DISTINCT volume FROM container_mounts WHERE volume IS NOT NULL").all() as { volume: string }[]).map((r) => r.volume));
  const out: Volume[] = [];
  for (const r of engine.db.query("SELECT * FROM volumes ORDER BY name").all() as Row[]) {
    const v = toVolume(engine, r);
    if (dangling !== undefined && used.has(r.name) === dangling) continue;
    if (filters.name && !matchAny(filters.name, r.name)) continue;
    if (filters.driver && !filters.driver.includes(r.driver)) continue;
    if (!labelsMatch(v.Labels, filters.label)) continue;
    out.push(v);
  }
  return { Volumes: out, Warnings: null };
}

/** DELETE /volumes/{name}: refused while a container (running or not) uses it; `force` ignores a missing volume. */
export function removeVolume(engine: Engine, name: string, opts: { force?: boolean } = {}): void {
  if (!row(engine, name)) {
    if (opts.force) return;
    throw noSuchVolume(name);
  }
  try {
    engine.db.query("DELETE FROM volumes WHERE name = ?").run(name);
  } catch (e) {
    if (!/FOREIGN KEY/i.test(String(e))) throw e;
    throw conflict(`remove ${name}: volume is in use - [${refs(engine, name).join(", ")}]`);
  }
  // The row went first: a crash here leaves a directory no row names, never a row without its data.
  rmSync(`${engine.root.volumes}/${name}`, { recursive: true, force: true });
  engine.events.publish({ Type: "volume", Action: "destroy", id: name, attributes: { driver: "local" } });
}

/**
 * POST /volumes/prune: unused local volumes, only anonymous ones unless `all=true` (API 1.42+; the route
 * adds it for older clients). Filters `label`, `label!`, `all`.
 */
export function pruneVolumes(engine: Engine, filters: Record<string, string[]> = {}): { VolumesDeleted: string[]; SpaceReclaimed: number } {
  checkFilters(filters, ["label", "label!", "all"]);
  if (filters.all && filters.all.length > 1) throw invalidParameter(`invalid filter 'all=${filters.all.join(",")}': only one value is expected`);
  const all = filters.all ? boolFilter("all", filters.all) : false;
  const want = [...(filters.label ?? []), ...(all ? [] : [ANONYMOUS_LABEL])];
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const r of engine.db.query("SELECT * FROM volumes WHERE name NOT IN (SELECT volume FROM container_mounts WHERE volume IS NOT NULL) ORDER BY name").all() as Row[]) {
    if (r.options !== "null" && r.options !== "{}") continue;
    if (!labelsMatch(JSON.parse(r.labels), want, filters["label!"])) continue;
    const size = dirSize(engine.root.volumeData(r.name));
    try {
      removeVolume(engine, r.name);
    } catch {
      continue; // taken meanwhile by a new container
    }
    deleted.push(r.name);
    reclaimed += size;
  }
  engine.events.publish({ Type: "volume", Action: "prune", id: "", attributes: { reclaimed: String(reclaimed) } });
  return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
}

/** Every volume with its size and how many containers use it (GET /system/df). */
export function volumeUsage(engine: Engine): Volume[] {
  const counts = new Map((engine.db.query("SELECT volume, count(DISTINCT container_id) AS n FROM container_mounts WHERE volume IS NOT NULL GROUP BY volume").all() as { volume: string; n: number }[]).map((r) => [r.volume, r.n]));
  return (engine.db.query("SELECT * FROM volumes ORDER BY name").all() as Row[]).map((r) => ({ ...toVolume(engine, r), UsageData: { Size: dirSize(engine.root.volumeData(r.name)), RefCount: counts.get(r.name) ?? 0 } }));
}

// ------------------------------------------------------------------ container mounts


/**
 * Records a new container's mounts (its row exists already): named volumes are created if missing,
 * anonymous ones get a fresh name. One transaction, so a concurrent `volume rm` either ran before (the
 * volume is made anew) or sees the reference. Returns the mounts with their volume names.
 */
export function recordMounts(engine: Engine, containerId: string, mounts: MountPoint[]): MountPoint[] {
  const insert = engine.db.query(
    "INSERT INTO container_mounts (container_id, destination, type, volume, source, rw, mode, propagation, copy_data, create_source, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const out = mounts.map((m) => ({ ...m }));
  engine.db.transaction(() => {
    for (const m of out) {
      if (m.Type === "volume") {
        const anonymous = !m.Name;
        if (anonymous) m.Name = randomHex();
        const vo = m.Spec.VolumeOptions;
        ensureVolume(engine, m.Name, anonymous ? { [ANONYMOUS_LABEL]: "" } : (vo?.Labels && Object.keys(vo.Labels).length ? vo.Labels : null), vo?.DriverConfig?.Options ?? null);
      }
      insert.run(containerId, m.Destination, m.Type, m.Type === "volume" ? m.Name : null, m.Source, m.RW ? 1 : 0, m.Mode, m.Propagation, m.CopyData ? 1 : 0, m.CreateSource ? 1 : 0, JSON.stringify(m.Spec));
    }
  }).immediate(); // ensureVolume reads before it writes: see ensureBuiltins in network/index.ts
  return out;
}

/** After a container's first start: its volumes are populated, later starts never copy again (moby copies at create only). */
export function markPopulated(engine: Engine, containerId: string): void {
  engine.db.query("UPDATE container_mounts SET copy_data = 0 WHERE container_id = ? AND copy_data = 1").run(containerId);
}

/** The host path a mount binds: a volume's data dir (re-made if someone removed it), or the bind's source (created for `-v`). */
export function mountSource(engine: Engine, m: MountPoint): string {
  if (m.Type === "volume") {
    const dir = engine.root.volumeData(m.Name);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return dir;
  }
  if (m.CreateSource) {
    // dockerd's MountPoint.Setup: a missing host directory is created (a file in the way is left for the runtime to report).
    try {
      statSync(m.Source);
    } catch {
      mkdirSync(m.Source, { recursive: true, mode: 0o755 });
    }
  }
  return m.Source;
}

/**
 * Removes the anonymous volumes a removed container used (rm -v, --rm), unless another container uses
 * them too (moby's removeMountPoints: named volumes always stay). Call after the container's row is gone.
 */
export function removeAnonymousVolumes(engine: Engine, mounts: MountPoint[]): void {
  for (const m of mounts) {
    if (m.Type !== "volume" || m.Spec.Source) continue;
    try {
      removeVolume(engine, m.Name);
    } catch {}
  }
}
