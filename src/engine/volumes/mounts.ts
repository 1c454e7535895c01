/**
 * Reading a container's mount rows, for inspect and listings. Apart from the volume store (index.ts) so
 * that `ps` loads neither it nor the mount-spec parsers.
 */
import type { Engine } from "../engine.ts";
import type { MountPoint, MountSpec } from "./spec.ts";

/** A container_mounts row. */
export interface MountRow {
  container_id: string;
  destination: string;
  type: MountPoint["Type"];
  volume: string | null;
  source: string;
  rw: number;
  mode: string;
  propagation: string;
  copy_data: number;
  create_source: number;
  spec: string;
}

/** A container's mounts, shallowest first. */
export function mountsOf(engine: Engine, containerId: string): MountPoint[] {
  return toMounts(engine.db.query("SELECT * FROM container_mounts WHERE container_id = ?").all(containerId) as MountRow[]);
}

/** Every container's mounts by container ID, in one query (listings). */
export function mountsByContainer(engine: Engine): Map<string, MountPoint[]> {
  const rows = new Map<string, MountRow[]>();
  for (const r of engine.db.query("SELECT * FROM container_mounts").all() as MountRow[]) {
    const list = rows.get(r.container_id);
    if (list) list.push(r);
    else rows.set(r.container_id, [r]);
  }
  return new Map([...rows].map(([id, list]) => [id, toMounts(list)]));
}

function toMounts(rows: MountRow[]): MountPoint[] {
  const list = rows.map((r) => ({
    Type: r.type,
    Name: r.volume ?? "",
    Source: r.source,
    Destination: r.destination,
    Driver: r.type === "volume" ? "local" : "",
    Mode: r.mode,
    RW: !!r.rw,
    Propagation: r.propagation,
    CopyData: !!r.copy_data,
    CreateSource: !!r.create_source,
    Spec: JSON.parse(r.spec) as MountSpec,
  }));
  return list.sort((a, b) => a.Destination.split("/").length - b.Destination.split("/").length || a.Destination.localeCompare(b.Destination));
}

/** A mount as inspect and ps show it (moby's types.MountPoint: a volume's Source is its data dir). */
export function mountView(engine: Engine, m: MountPoint) {
  return {
    Type: m.Type,
    ...(m.Name ? { Name: m.Name } : {}),
    Source: m.Type === "volume" ? engine.root.volumeData(m.Name) : m.Source,
    Destination: m.Destination,
    ...(m.Driver ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  };
}

