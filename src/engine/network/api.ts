/**
 * The Engine API's network routes (list, inspect, create, remove, prune, connect, disconnect) and the
 * NetworkSettings that ps and inspect show.
 */
import { readFileSync, rmSync } from "node:fs";
import { randomHex } from "../random.ts";
import { pruneUntilMs } from "../units.ts";
import type { Engine } from "../engine.ts";
import type { StoredContainer } from "../containers/types.ts";
import { EngineError, conflict, invalidParameter } from "../errors.ts";
import { readContainerStatus } from "../runtime/status.ts";
import { type BridgeName, cidrString, hostRoutes, ipToNum, maskOf, numToIp, overlaps, parseBridgeName, parseCidr, parseIPv4, pickSubnet, release, type Cidr } from "./ipam.ts";
import * as host from "./host.ts";
import { mappingsOf, networkSettingsPorts, type PortMapping } from "./ports.ts";
import { matchLabels } from "../containers/state.ts";
export { containerPorts } from "./ports.ts";
import { addEndpoint, writeNames } from "./endpoints.ts";
import { checkBridgeOptions } from "./options.ts";
import { ensureNetworkHost, hostLockAsync, teardownNetworkHost } from "./program.ts";
import { reconcileIfNeeded } from "./reconcile.ts";
import { BUILTIN, type Network, allNetworks, endpointsOf, lookupNetwork, namesFile, netConfig, networkById, owner, resolveNetwork, vethName } from "./store.ts";

// ------------------------------------------------------------------ API: networks

/** GET /networks/{id} shape (moby's NetworkResource). */
export interface NetworkResource {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: "default"; Options: Record<string, string> | null; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

function resource(engine: Engine, net: Network, withContainers: boolean): NetworkResource {
  const containers: NetworkResource["Containers"] = {};
  if (withContainers) {
    for (const ep of endpointsOf(engine, "network_id", net.id)) {
      const c = engine.containers.lookup(ep.containerId);
      if (!c || !readContainerStatus(c.dir).running) continue;
      containers[c.id] = { Name: c.name, EndpointID: ep.id, MacAddress: ep.mac, IPv4Address: `${ep.ip}/${parseCidr(net.subnet!).prefix}`, IPv6Address: "" };
    }
  }
  return {
    Name: net.name,
    Id: net.id,
    Created: new Date(net.created).toISOString(),
    Scope: "local",
    Driver: net.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: net.driver === "bridge" && net.name !== "bridge" ? {} : null, Config: net.subnet ? [{ Subnet: net.subnet, Gateway: net.gateway! }] : [] },
    Internal: net.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: net.options,
    Labels: net.labels,
  };
}

const NET_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"];

/** GET /networks, with moby's filters (driver, id, label, name, scope, type=builtin|custom, dangling). */
export function listNetworks(engine: Engine, opts: { filters?: Record<string, string[]> } = {}): NetworkResource[] {
  reconcileIfNeeded(engine);
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!NET_FILTERS.includes(k)) throw invalidParameter(`invalid filter '${k}'`);
  for (const t of f.type ?? []) if (t !== "builtin" && t !== "custom") throw invalidParameter(`invalid filter: 'type'='${t}'`);
  return allNetworks(engine)
    .filter((n) => !f.driver || f.driver.includes(n.driver))
    .filter((n) => !f.id || f.id.some((i) => n.id.startsWith(i)))
    .filter((n) => !f.name || f.name.some((x) => n.name.includes(x)))
    .filter((n) => !f.scope || f.scope.includes("local"))
    .filter((n) => !f.type || f.type.includes(BUILTIN.includes(n.name) ? "builtin" : "custom"))
    .filter((n) => !f.label || matchLabels(n.labels, f.label))
    .filter((n) => !f.dangling || f.dangling.includes(String(!BUILTIN.includes(n.name) && endpointsOf(engine, "network_id", n.id).length === 0)))
    .map((n) => resource(engine, n, true));
}

/** GET /networks/{id}. */
export function inspectNetwork(engine: Engine, ref: string): NetworkResource {
  reconcileIfNeeded(engine);
  return resource(engine, resolveNetwork(engine, ref), true);
}

/** POST /networks/create body (the fields bunker honours). */
export interface NetworkCreateRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Labels?: Record<string, string>;
  Options?: Record<string, string>;
  IPAM?: { Driver?: string; Options?: Record<string, string> | null; Config?: { Subnet?: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> | null }[] | null } | null;
  EnableIPv6?: boolean;
}

/** A string map of the body (Labels, Options), or Go's decoding error naming the field. */
function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) throw invalidParameter(`invalid JSON: json: cannot unmarshal into Go struct field CreateRequest.${field} of type map[string]string`);
  return v as Record<string, string>;
}

/**
 * POST /networks/create: a user-defined bridge with its own subnet; its bridge and rules are made now. The
 * request is refused (thrown) before anything is recorded; what follows settles in the promise.
 */
export function createNetwork(engine: Engine, req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
  reconcileIfNeeded(engine);
  const name = req.Name ?? "";
  if (!name) throw invalidParameter("network name must not be empty");
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidParameter(`invalid network name "${name}"`);
  const driver = req.Driver || "bridge";
  if (BUILTIN.includes(name)) throw new EngineError("forbidden", `${name} is a pre-defined network and cannot be created`);
  if (lookupNetwork(engine, name)?.name === name) throw conflict(`network with name ${name} already exists`);
  if (driver !== "bridge") throw new EngineError("notFound", `plugin "${driver}" not found`);
  if (req.EnableIPv6) throw invalidParameter("IPv6 networks are not supported");
  // Every value that reaches `ip` or a rule is parsed here, before anything is recorded or made.
  const labels = stringMap(req.Labels, "Labels");
  const options = stringMap(req.Options, "Options");
  checkBridgeOptions(options);
  const ipamDriver = req.IPAM?.Driver || "default";
  if (ipamDriver !== "default") throw new EngineError("notFound", `plugin "${ipamDriver}" not found`);
  const cfgs = req.IPAM?.Config ?? [];
  if (!Array.isArray(cfgs)) throw invalidParameter("invalid JSON: json: cannot unmarshal into Go struct field IPAM.IPAM.Config of type []network.IPAMConfig");
  if (cfgs.length > 1) throw invalidParameter("only one IPv4 IPAM config is supported");
  const cfg = cfgs[0] ?? {};
  if (cfg.IPRange) {
    parseCidr(cfg.IPRange);
    throw invalidParameter("IPRange is not supported: addresses come from the whole subnet");
  }
  if (cfg.AuxiliaryAddresses && Object.keys(cfg.AuxiliaryAddresses).length) {
    for (const a of Object.values(cfg.AuxiliaryAddresses)) parseIPv4(a);
    throw invalidParameter("AuxiliaryAddresses are not supported");
  }
  if (cfg.Gateway && !cfg.Subnet) throw invalidParameter("every ip-range or gateway must have a corresponding subnet");
  const id = randomHex();
  const bridge = parseBridgeName(options["com.docker.network.bridge.name"] ?? `bk-${id.slice(0, 12)}`);
  return recordAndMake(engine, req, { id, name, bridge, cfg, labels, options });
}

/** createNetwork once refused or not: the row (its subnet chosen under the host lock), then the bridge and rules. */
async function recordAndMake(engine: Engine, req: NetworkCreateRequest, v: { id: string; name: string; bridge: BridgeName; cfg: { Subnet?: string; Gateway?: string }; labels: Record<string, string>; options: Record<string, string> }): Promise<{ Id: string; Warning: string }> {
  const { id, name, bridge, cfg, labels, options } = v;
  const net = await hostLockAsync(async () => {
    const taken = [...allNetworks(engine).filter((n) => n.subnet).map((n) => parseCidr(n.subnet!)), ...hostRoutes(readFileSync("/proc/net/route", "utf8"))];
    let subnet: Cidr | undefined;
    let gateway: string;
    if (cfg.Subnet) {
      subnet = parseCidr(cfg.Subnet);
      if (taken.some((t) => overlaps(t, subnet!))) throw new EngineError("forbidden", `invalid pool request: Pool overlaps with other one on this address space`);
      gateway = cfg.Gateway ? parseIPv4(cfg.Gateway) : numToIp(subnet.network + 1);
      if ((ipToNum(gateway) & maskOf(subnet.prefix)) >>> 0 !== subnet.network) throw invalidParameter(`no matching subnet for gateway ${gateway}`);
    } else {
      subnet = pickSubnet(netConfig(engine).pools, taken);
      if (!subnet) throw new EngineError("forbidden", "all predefined address pools have been fully subnetted");
      gateway = numToIp(subnet.network + 1);
    }
    if (host.linkExists(bridge)) throw conflict(`bridge ${bridge} already exists on the host`);
    const row: Network = {
      id,
      name,
      driver: "bridge",
      bridge,
      subnet: cidrString(subnet),
      gateway,
      internal: !!req.Internal,
      labels,
      options,
      created: Date.now(),
    };
    try {
      engine.db
        .query("INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal, labels, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(row.id, row.name, row.driver, row.bridge, row.subnet, row.gateway, row.internal ? 1 : 0, JSON.stringify(row.labels), JSON.stringify(row.options), row.created);
    } catch (e) {
      if (String(e).includes("UNIQUE")) throw conflict(`network with name ${name} already exists`);
      throw e;
    }
    return row;
  });
  try {
    await ensureNetworkHost(engine, net);
  } catch (e) {
    engine.db.query("DELETE FROM networks WHERE id = ?").run(id);
    await teardownNetworkHost(engine, net);
    throw e;
  }
  writeNames(engine, net);
  engine.events.publish({ Type: "network", Action: "create", id, name, attributes: { name, type: "bridge" } });
  return { Id: id, Warning: "" };
}

/** DELETE /networks/{id}: refused for the built-ins and while a running container is attached. */
export async function removeNetwork(engine: Engine, ref: string): Promise<void> {
  reconcileIfNeeded(engine);
  const net = resolveNetwork(engine, ref);
  if (BUILTIN.includes(net.name)) throw new EngineError("forbidden", `${net.name} is a pre-defined network and cannot be removed`);
  const eps = endpointsOf(engine, "network_id", net.id);
  const active = eps.filter((ep) => {
    const c = engine.containers.lookup(ep.containerId);
    return c && readContainerStatus(c.dir).running;
  });
  if (active.length) {
    const list = active.map((ep) => `name:"${engine.containers.lookup(ep.containerId)?.name}" id:"${ep.id.slice(0, 12)}"`).join(", ");
    throw new EngineError("forbidden", `error while removing network: network ${net.name} has active endpoints (${list})`);
  }
  // Stopped containers lose the attachment, as in Docker (their endpoints went at stop there).
  for (const ep of eps) release(net.bridge!, ep.ip, owner(engine, ep.containerId));
  engine.db.transaction(() => {
    engine.db.query("DELETE FROM endpoints WHERE network_id = ?").run(net.id);
    engine.db.query("DELETE FROM networks WHERE id = ?").run(net.id);
  }).immediate();
  await teardownNetworkHost(engine, net);
  rmSync(namesFile(engine, net), { force: true });
  engine.events.publish({ Type: "network", Action: "destroy", id: net.id, name: net.name, attributes: { name: net.name, type: "bridge" } });
}

/** POST /networks/prune: user networks no container uses. */
export async function pruneNetworks(engine: Engine, opts: { filters?: Record<string, string[]> } = {}): Promise<{ NetworksDeleted: string[] | null }> {
  reconcileIfNeeded(engine);
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!["label", "label!", "until"].includes(k)) throw invalidParameter(`invalid filter '${k}'`);
  const until = f.until?.length ? pruneUntilMs(f.until[0]!) : undefined;
  const deleted: string[] = [];
  for (const net of allNetworks(engine)) {
    if (BUILTIN.includes(net.name)) continue;
    if (f.label && !matchLabels(net.labels, f.label)) continue;
    if (f["label!"]?.some((l) => matchLabels(net.labels, [l]))) continue;
    if (until !== undefined && !(net.created < until)) continue;
    if (endpointsOf(engine, "network_id", net.id).length) continue;
    await removeNetwork(engine, net.id);
    deleted.push(net.name);
  }
  return { NetworksDeleted: deleted.length ? deleted : null };
}

/** POST /networks/{id}/connect. A running container gets its interface at once. */
export async function connectNetwork(engine: Engine, netRef: string, containerRef: string, cfg: { Aliases?: string[]; IPAddress?: string } = {}): Promise<void> {
  reconcileIfNeeded(engine);
  const net = resolveNetwork(engine, netRef);
  const c = engine.containers.resolve(containerRef);
  const mode = c.hostConfig.NetworkMode;
  if (net.driver !== "bridge") throw new EngineError("forbidden", `container cannot be disconnected from host network or connected to host network`);
  if (mode === "host" || mode === "none" || mode.startsWith("container:")) throw new EngineError("forbidden", `container sharing network namespace with another container or host cannot be connected to any other network`);
  if (endpointsOf(engine, "container_id", c.id).some((e) => e.networkId === net.id)) throw new EngineError("forbidden", `endpoint with name ${c.name} already exists in network ${net.name}`);
  const ep = addEndpoint(engine, c, net, { aliases: cfg.Aliases ?? [], ip: cfg.IPAddress });
  const st = readContainerStatus(c.dir);
  if (st.running && st.pid) {
    await ensureNetworkHost(engine, net);
    const r = (cmd: string[], input: string) => {
      const p = Bun.spawnSync(cmd, { stdin: new TextEncoder().encode(input), stdout: "ignore", stderr: "pipe" });
      if (p.exitCode !== 0) throw new EngineError("system", `failed to connect ${c.name} to ${net.name}: ${p.stderr.toString().trim()}`);
    };
    const peer = `eth${ep.position}`;
    // The alias names the peer's address, as the shim's veths do (host.portAddresses); `link add` ignores one.
    const veth = vethName(ep);
    r(["ip", "-batch", "-"], `link add ${veth} mtu 1500 master ${net.bridge!} up type veth peer name ${peer} address ${ep.mac} netns ${st.pid}\nlink set ${veth} alias ${ep.ip}\n`);
    const batch = `addr add ${ep.ip}/${parseCidr(net.subnet!).prefix} dev ${peer}\nlink set ${peer} up\n`;
    const p = Bun.spawnSync(["nsenter", "-t", String(st.pid), "-n", "ip", "-batch", "-"], { stdin: new TextEncoder().encode(batch), stderr: "pipe" });
    if (p.exitCode !== 0) throw new EngineError("system", `failed to connect ${c.name} to ${net.name}: ${p.stderr.toString().trim()}`);
  }
  engine.events.publish({ Type: "network", Action: "connect", id: net.id, name: net.name, attributes: { container: c.id, name: net.name, type: "bridge" } });
}

/** POST /networks/{id}/disconnect. */
export function disconnectNetwork(engine: Engine, netRef: string, containerRef: string, _force = false): void {
  reconcileIfNeeded(engine);
  const net = resolveNetwork(engine, netRef);
  const c = engine.containers.resolve(containerRef);
  const ep = endpointsOf(engine, "container_id", c.id).find((e) => e.networkId === net.id);
  if (!ep) throw new EngineError("forbidden", `container ${c.id} is not connected to network ${net.name}`);
  const st = readContainerStatus(c.dir);
  if (st.running && host.linkExists(vethName(ep))) host.deleteLinks([vethName(ep)]);
  engine.db.query("DELETE FROM endpoints WHERE id = ?").run(ep.id);
  release(net.bridge!, ep.ip, owner(engine, c.id));
  writeNames(engine, net);
  // A later start must not recreate it: the plan is rebuilt from the rows at every start.
  engine.events.publish({ Type: "network", Action: "disconnect", id: net.id, name: net.name, attributes: { container: c.id, name: net.name, type: "bridge" } });
}

// ------------------------------------------------------------------ what ps and inspect show


/** NetworkSettings of inspect: addresses while running, Docker's empty values otherwise. */
export function networkSettings(engine: Engine, c: StoredContainer, running: boolean, pid?: number) {
  const eps = endpointsOf(engine, "container_id", c.id);
  const networks: Record<string, object> = {};
  const blank = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: "", DriverOpts: null, GwPriority: 0, NetworkID: "", EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, DNSNames: null };
  let primary: { ip: string; prefix: number; gateway: string; mac: string; bridge: string } | undefined;
  for (const ep of eps) {
    const net = networkById(engine, ep.networkId);
    if (!net) continue;
    const prefix = parseCidr(net.subnet!).prefix;
    networks[net.name] = {
      ...blank,
      Aliases: ep.aliases.length ? ep.aliases : null,
      NetworkID: net.id,
      ...(running ? { MacAddress: ep.mac, EndpointID: ep.id, Gateway: net.gateway!, IPAddress: ep.ip, IPPrefixLen: prefix } : {}),
      DNSNames: net.name === "bridge" ? null : [c.name, c.id.slice(0, 12), ...ep.aliases],
    };
    if (running && !primary) primary = { ip: ep.ip, prefix, gateway: net.gateway!, mac: ep.mac, bridge: net.bridge! };
  }
  const mode = c.hostConfig.NetworkMode;
  if (!eps.length && !mode.startsWith("container:")) {
    const net = lookupNetwork(engine, mode);
    networks[mode] = { ...blank, NetworkID: net?.id ?? "" };
  }
  const onDefault = eps.length && networkById(engine, eps[0]!.networkId)?.name === "bridge";
  return {
    Bridge: "",
    SandboxID: running && pid ? String(pid) : "",
    SandboxKey: running && pid ? `/proc/${pid}/ns/net` : "",
    Ports: running ? networkSettingsPorts(c.config.ExposedPorts, mappingsOf(engine, c.id)) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: onDefault && running ? eps[0]!.id : "",
    Gateway: onDefault ? (primary?.gateway ?? "") : "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: onDefault ? (primary?.ip ?? "") : "",
    IPPrefixLen: onDefault ? (primary?.prefix ?? 0) : 0,
    IPv6Gateway: "",
    MacAddress: onDefault ? (primary?.mac ?? "") : "",
    Networks: networks,
  };
}

/** Published ports of a container for `port`: "80/tcp" -> ["0.0.0.0:8080"]. */
export function portsOf(engine: Engine, ref: string): PortMapping[] {
  const c = engine.containers.resolve(ref);
  if (!readContainerStatus(c.dir).running) return [];
  return mappingsOf(engine, c.id);
}
