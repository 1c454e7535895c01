/**
 * What a container takes from others, only when asked: --pid / --ipc / --uts (the host's namespace or a
 * running container's), --volumes-from (another container's mounts) and --link (its address in
 * /etc/hosts). Checked at create with moby's messages; resolved again at each start, where the other
 * container must be running, as in moby (daemon/container_operations_unix.go, oci_linux.go).
 */
import { appendFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { network } from "../lazy.ts";
import { EngineError, conflict, invalidParameter } from "../errors.ts";
import type { ContainerPlan } from "../runtime/spec.ts";
import { readContainerStatus } from "../runtime/status.ts";
import type { MountPoint } from "../volumes/spec.ts";
import { mountsOf } from "../volumes/index.ts";
import type { HostConfig, StoredContainer } from "./types.ts";

/** The namespace modes as HostConfig records them; IpcMode defaults to "private", as dockerd's default-ipc-mode. */
export type NamespaceModes = Pick<HostConfig, "PidMode" | "IpcMode" | "UTSMode">;

const containerRef = (mode: string) => (mode.startsWith("container:") ? mode.slice("container:".length) : undefined);

/** --pid, --ipc and --uts checked as moby's Valid() and validateNetMode do (its messages); the modes to record. */
export function checkNamespaceModes(opts: { pidMode?: string; ipcMode?: string; utsMode?: string; hostname?: string }): NamespaceModes {
  const pid = opts.pidMode ?? "";
  const ipc = opts.ipcMode || "private";
  const uts = opts.utsMode ?? "";
  if (!["", "host"].includes(pid) && !containerRef(pid)) throw invalidParameter(`invalid PID mode: ${pid}`);
  if (!["host", "private", "shareable", "none"].includes(ipc) && !containerRef(ipc)) throw invalidParameter(`invalid IPC mode: ${ipc}`);
  if (!["", "host"].includes(uts)) throw invalidParameter(`invalid UTS mode: ${uts}`);
  if (uts === "host" && opts.hostname) throw invalidParameter("conflicting options: hostname and the UTS mode");
  return { PidMode: pid, IpcMode: ipc, UTSMode: uts };
}

/** The running container `ref` names, for joining its `what` namespace (moby's getPIDContainer / getIPCContainer). */
function runningDonor(engine: Engine, ref: string, what: "PID" | "IPC"): { c: StoredContainer; pid: number } {
  const fail = (e: EngineError) => new EngineError(e.kind, `failed to join ${what} namespace: ${e.message}`);
  let c: StoredContainer;
  try {
    c = engine.containers.resolve(ref);
  } catch (e) {
    throw e instanceof EngineError ? fail(invalidParameter(e.message)) : e;
  }
  const st = readContainerStatus(c.dir);
  if (st.restarting) throw fail(conflict(`Container ${ref} is restarting, wait until the container is running`));
  if (!st.running || !st.pid) throw fail(conflict(`container ${ref} is not running`));
  return { c, pid: st.pid };
}

/**
 * The plan's namespaces and /dev/shm for this start. A container joins another's PID or IPC namespace only
 * by its --pid / --ipc container:X, and an IPC one only if X made it shareable (or uses the host's), as moby.
 */
export function namespacePlan(engine: Engine, hc: Partial<NamespaceModes>): Pick<ContainerPlan, "namespaces" | "shm"> {
  const namespaces: NonNullable<ContainerPlan["namespaces"]> = {};
  let shm: ContainerPlan["shm"];
  const pid = hc.PidMode ?? "";
  if (pid === "host") namespaces.pid = "host";
  else if (containerRef(pid)) namespaces.pid = `/proc/${runningDonor(engine, containerRef(pid)!, "PID").pid}/ns/pid`;
  const ipc = hc.IpcMode ?? "";
  if (ipc === "host") [namespaces.ipc, shm] = ["host", "host"];
  else if (ipc === "none") shm = "none";
  else if (containerRef(ipc)) {
    const ref = containerRef(ipc)!;
    const donor = runningDonor(engine, ref, "IPC");
    const mode = donor.c.hostConfig.IpcMode ?? "";
    // shareable, the host's, or one X itself joined (moby passes the donor's /dev/shm on)
    if (mode !== "shareable" && mode !== "host" && !containerRef(mode)) throw invalidParameter(`failed to join IPC namespace: container ${ref}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
    // X's namespace may be the host's (directly or through its own donor): then it is "host" here, sysctls included
    const ino = (path: string) => statSync(path).ino;
    if (ino(`/proc/${donor.pid}/ns/ipc`) === ino("/proc/self/ns/ipc")) [namespaces.ipc, shm] = ["host", "host"];
    else [namespaces.ipc, shm] = [`/proc/${donor.pid}/ns/ipc`, { pid: donor.pid }];
  }
  if (hc.UTSMode === "host") namespaces.uts = "host";
  return { ...(Object.keys(namespaces).length ? { namespaces } : {}), ...(shm ? { shm } : {}) };
}

/** One --volumes-from value, CONTAINER[:ro|:rw], as moby's ParseVolumesFrom; throws its messages. */
export function parseVolumesFrom(spec: string): { ref: string; readWrite: boolean } {
  if (!spec) throw invalidParameter(`malformed volumes-from specification: ${spec}`);
  const parts = spec.split(":");
  if (parts.length > 2) throw invalidParameter(`malformed volumes-from specification: ${spec}`);
  const mode = parts[1] ?? "rw";
  if (mode !== "rw" && mode !== "ro") throw invalidParameter(`invalid mode for volumes-from: ${mode}`);
  return { ref: parts[0]!, readWrite: mode === "rw" };
}

/**
 * --volumes-from: the other containers' mounts (binds, named and anonymous volumes; not tmpfs, which is
 * the other's own memory), read-only when asked or when they are; a mount of the container's own on the
 * same destination wins, as in moby's registerMountPoints.
 */
export function volumesFrom(engine: Engine, specs: string[], own: MountPoint[]): MountPoint[] {
  const taken = new Set(own.map((m) => m.Destination));
  const out = new Map<string, MountPoint>();
  for (const spec of specs) {
    const { ref, readWrite } = parseVolumesFrom(spec);
    let donor: StoredContainer;
    try {
      donor = engine.containers.resolve(ref);
    } catch (e) {
      throw e instanceof EngineError ? invalidParameter(e.message) : e;
    }
    for (const m of mountsOf(engine, donor.id)) {
      if (m.Type === "tmpfs" || taken.has(m.Destination)) continue;
      out.set(m.Destination, { ...m, RW: m.RW && readWrite, CopyData: false });
    }
  }
  return [...out.values()];
}

/** One --link value, NAME[:ALIAS], as the docker CLI's ParseLink; the alias is the name when absent. */
export function parseLink(v: string): { name: string; alias: string } {
  if (!v) throw invalidParameter("empty string specified for links");
  const parts = v.split(":");
  if (parts.length > 2) throw invalidParameter(`bad format for links: ${v}`);
  const name = parts[0]!.replace(/^\//, "");
  // a stored HostConfig.Links entry reads "/name:/container/alias"
  const alias = (parts[1] ?? parts[0]!).split("/").pop()!;
  if (!name || !alias) throw invalidParameter(`bad format for links: ${v}`);
  return { name, alias };
}

/** --link at create: each named container exists, and links need a network of their own (moby's validateNetMode). */
export function checkLinks(engine: Engine, links: string[], networkMode: string): string[] {
  if (links.length && networkMode === "host") throw invalidParameter("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
  return links.map((l) => {
    const { name, alias } = parseLink(l);
    let target: StoredContainer;
    try {
      target = engine.containers.resolve(name);
    } catch {
      throw invalidParameter(`could not get container for ${name}`);
    }
    return `/${target.name}:/${alias}`;
  });
}

/**
 * A container's links for this start: the /etc/hosts line "IP\talias hostname name" of each linked
 * container, at its address on a network both share (on the default bridge it must be running: moby's
 * "Cannot link to a non running container"); on the default bridge also the environment moby 28's links package gives
 * (ALIAS_PORT_6379_TCP=tcp://IP:6379..., ALIAS_NAME, ALIAS_ENV_*). `own` is the linking container's name and
 * its networks' ids; `addressOf` a linked container's address on one of them, and whether that is the default bridge.
 */
function linkSetup(
  engine: Engine,
  links: string[],
  own: { name: string; networks: Set<string> },
  addressOf: (c: StoredContainer, networks: Set<string>) => { ip: string; bridge: boolean } | undefined,
): { hosts: string[]; env: string[] } {
  const hosts: string[] = [];
  const env: string[] = [];
  for (const l of links) {
    const { name, alias } = parseLink(l);
    const target = engine.containers.resolve(name);
    const at = addressOf(target, own.networks);
    // a legacy link (default bridge) needs the other running; on a user-defined network it is a name only, and
    // the other's address is its endpoint's, kept from create to removal
    if ((!at || at.bridge) && !readContainerStatus(target.dir).running) throw invalidParameter(`Cannot link to a non running container: /${target.name} AS /${own.name}/${alias}`);
    if (!at) throw invalidParameter(`Cannot link to /${target.name}, as it does not belong to the default network`);
    hosts.push(`${at.ip}\t${[alias, target.config.Hostname, ...(alias !== target.name ? [target.name] : [])].join(" ")}`);
    if (at.bridge) env.push(...linkEnv(`/${own.name}/${alias}`, at.ip, target.config.Env, Object.keys(target.config.ExposedPorts ?? {})));
  }
  return { hosts, env };
}

/** --link at a start: the linked containers' /etc/hosts lines (its network wrote the file this start) and variables; the container's own variables win, as in moby. */
export function applyLinks(engine: Engine, c: StoredContainer, plan: Pick<ContainerPlan, "env">): void {
  const endpoints = (id: string) => network().endpointsOf(engine, "container_id", id);
  const bridge = network().lookupNetwork(engine, "bridge")?.id;
  const addressOf = (t: StoredContainer, on: Set<string>) => {
    const ep = endpoints(t.id).find((e) => on.has(e.networkId));
    return ep && { ip: ep.ip, bridge: ep.networkId === bridge };
  };
  const links = linkSetup(engine, c.hostConfig.Links ?? [], { name: c.name, networks: new Set(endpoints(c.id).map((e) => e.networkId)) }, addressOf);
  appendFileSync(join(c.dir, "hosts"), `${links.hosts.join("\n")}\n`);
  const own = new Set(plan.env.map((e) => e.split("=")[0]));
  plan.env.push(...links.env.filter((e) => !own.has(e.split("=")[0]!)));
}

/** moby's links.ToEnv: a link's variables, named after its alias (upper case, "-" as "_"); ports TCP first, ranges summed up. */
export function linkEnv(linkName: string, ip: string, childEnv: string[], exposed: string[]): string[] {
  const alias = linkName.split("/").pop()!.toUpperCase().replaceAll("-", "_");
  const ports = exposed.map((k) => ({ num: Number(k.split("/")[0]), proto: k.split("/")[1] ?? "tcp" }));
  ports.sort((a, b) => (a.proto === b.proto ? a.num - b.num : a.proto === "tcp" ? -1 : b.proto === "tcp" ? 1 : a.proto < b.proto ? -1 : 1));
  const env: string[] = [];
  let start = ports[0];
  let end = ports[0];
  ports.forEach((p, i) => {
    if (i === 0) env.push(`${alias}_PORT=${p.proto}://${ip}:${p.num}`);
    const prefix = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    env.push(`${prefix}=${p.proto}://${ip}:${p.num}`, `${prefix}_ADDR=${ip}`, `${prefix}_PORT=${p.num}`, `${prefix}_PROTO=${p.proto}`);
    if (p.num === end!.num + 1 && p.proto === end!.proto) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const range = `${alias}_PORT_${start!.num}_${start!.proto.toUpperCase()}`;
      env.push(`${range}_START=${start!.proto}://${ip}:${start!.num}`, `${range}_PORT_START=${start!.num}`, `${range}_END=${end!.proto}://${ip}:${end!.num}`, `${range}_PORT_END=${end!.num}`);
    }
    start = end = p;
  });
  env.push(`${alias}_NAME=${linkName}`);
  for (const v of childEnv) {
    const i = v.indexOf("=");
    if (i < 0 || ["HOME", "PATH"].includes(v.slice(0, i))) continue;
    env.push(`${alias}_ENV_${v.slice(0, i)}=${v.slice(i + 1)}`);
  }
  return env;
}
