/**
 * Networking, in the Docker API's shapes: the networks (bridge, host, none and user-defined bridges), each
 * container's endpoints (address kept from create to removal, so restarts keep it), published ports, the
 * embedded DNS's name files, and reconciliation after a crash.
 *
 * Who does what: this module decides (subnets, addresses, names, rules, kernel DNAT or the userland proxy)
 * and programs what lives as long as a network (its bridge and rules) or a running container's published
 * ports (DNAT rules). The shim does what lives exactly as long as a container (veths, held or proxied host
 * ports, the DNS socket); the kernel removes those when the container dies, so nothing per-container can
 * leak but rules, which carry owner comments.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomHex } from "../random.ts";
import { pruneUntilMs } from "../units.ts";
import type { Engine } from "../engine.ts";
import { EngineError, conflict, invalidParameter, noSuchNetwork } from "../errors.ts";
import type { ContainerRecord, StoredContainer as Stored } from "../containers/types.ts";
import { resolvConf, type ContainerPlan, type PlanNetIf } from "../runtime/spec.ts";
import { readContainerStatus, processStartTime } from "../runtime/status.ts";
import { allocate, claim, claims, cidrString, CLAIMS_DIR, hostRoutes, ipToNum, macFor, maskOf, numToIp, parseBridgeName, parseCidr, parseIPv4, pickSubnet, release, type Cidr } from "./ipam.ts";
import * as host from "./host.ts";
import { mappingsOf, resolveMappings, type PortBindings, type PortMapping, type Proto } from "./ports.ts";
import { isRegistered, registerRoot, RUN_DIR, unregisterRoot } from "./roots.ts";
export { containerPorts } from "./ports.ts";

/** Defaults: bunker0 on 10.199.0.1/16 (not Docker's 172.17/16), user networks as /24s of 10.200.0.0/14. */
export const DEFAULT_BIP = "10.199.0.1/16";
export const DEFAULT_POOLS = [{ base: "10.200.0.0/14", size: 24 }];
export const DEFAULT_BRIDGE = "bunker0";
const BUILTIN = ["bridge", "host", "none"];

/** A network row. */
export interface Network {
  id: string;
  name: string;
  driver: "bridge" | "host" | "null";
  bridge: string | null;
  subnet: string | null;
  gateway: string | null;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  created: number;
}

/** A container's attachment to a network. */
export interface Endpoint {
  id: string;
  containerId: string;
  networkId: string;
  ip: string;
  mac: string;
  aliases: string[];
  position: number;
}

const toNetwork = (r: any): Network => ({
  id: r.id,
  name: r.name,
  driver: r.driver,
  bridge: r.bridge,
  subnet: r.subnet,
  gateway: r.gateway,
  internal: !!r.internal,
  labels: JSON.parse(r.labels),
  options: JSON.parse(r.options),
  created: r.created_at,
});
const toEndpoint = (r: any): Endpoint => ({ id: r.id, containerId: r.container_id, networkId: r.network_id, ip: r.ip, mac: r.mac, aliases: JSON.parse(r.aliases), position: r.position });

const netDir = (engine: Engine) => join(engine.config.dataRoot, "network");
const namesFile = (engine: Engine, net: Network) => join(netDir(engine), `${net.id}.names`);
const owner = (engine: Engine, containerId: string) => `${engine.config.dataRoot} ${containerId}`;
const vethName = (ep: Endpoint) => `bk${ep.id.slice(0, 12)}`;
const netTag = (engine: Engine, net: Network) => `bunker:${host.rootTag(engine.config.dataRoot)}:net:${net.id.slice(0, 12)}`;
const ctrTag = (engine: Engine, id: string) => `bunker:${host.rootTag(engine.config.dataRoot)}:ctr:${id.slice(0, 12)}`;

// ------------------------------------------------------------------ config

interface NetConfig {
  bip: string;
  pools: { base: string; size: number }[];
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  userlandProxy: boolean;
}

function netConfig(engine: Engine): NetConfig {
  const c = engine.config;
  return {
    bip: c.bip ?? DEFAULT_BIP,
    pools: c.defaultAddressPools?.length ? c.defaultAddressPools : DEFAULT_POOLS,
    iptables: c.iptables ?? true,
    ipForward: c.ipForward ?? true,
    ipMasq: c.ipMasq ?? true,
    userlandProxy: c.userlandProxy ?? true,
  };
}

/** True when bunker may and can program iptables (`--iptables` not false, and iptables usable here). */
const kernelPath = (engine: Engine) => netConfig(engine).iptables && host.iptablesAvailable();

/**
 * How published ports reach containers (`info`'s PortForwarding): kernel DNAT wherever the kernel path is
 * on (it covers 127.0.0.1 and hairpin too, so no proxy runs beside it), else the supervisor's userland proxy
 * unless `--userland-proxy=false`, else none (then `-p` fails).
 */
export function portForwardingMode(engine: Engine): "iptables" | "userland-proxy" | "none" {
  return kernelPath(engine) ? "iptables" : netConfig(engine).userlandProxy ? "userland-proxy" : "none";
}

// ------------------------------------------------------------------ rows

function allNetworks(engine: Engine): Network[] {
  ensureBuiltins(engine);
  return (engine.db.query("SELECT * FROM networks ORDER BY created_at").all() as any[]).map(toNetwork);
}

function endpointsOf(engine: Engine, where: "container_id" | "network_id", id: string): Endpoint[] {
  return (engine.db.query(`SELECT * FROM endpoints WHERE ${where} = ? ORDER BY position`).all(id) as any[]).map(toEndpoint);
}

function networkById(engine: Engine, id: string): Network | undefined {
  const r = engine.db.query("SELECT * FROM networks WHERE id = ?").get(id);
  return r ? toNetwork(r) : undefined;
}

let builtinsChecked = false;

/** bridge, host and none exist in every data root, as in Docker; bridge's subnet follows --bip. */
function ensureBuiltins(engine: Engine): void {
  if (builtinsChecked) return;
  builtinsChecked = true;
  const cfg = netConfig(engine);
  const bip = parseCidr(cfg.bip);
  const want = { subnet: cidrString(bip), gateway: numToIp(bip.address === bip.network ? bip.network + 1 : bip.address) };
  // IMMEDIATE: it reads, then may write. A deferred transaction that another process writes under between
  // the two fails at once with "database is locked" (SQLite cannot wait there), as 8 parallel first creates did.
  engine.db.transaction(() => {
    const have = engine.db.query("SELECT name, subnet, gateway FROM networks WHERE name IN ('bridge','host','none')").all() as any[];
    const ins = engine.db.query("INSERT OR IGNORE INTO networks (id, name, driver, bridge, subnet, gateway, internal, labels, options, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, '{}', ?, ?)");
    const now = Date.now();
    if (!have.some((r) => r.name === "bridge")) {
      const opts = {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": String(cfg.ipMasq),
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": DEFAULT_BRIDGE,
        "com.docker.network.driver.mtu": "1500",
      };
      ins.run(randomHex(), "bridge", "bridge", DEFAULT_BRIDGE, want.subnet, want.gateway, JSON.stringify(opts), now);
    } else {
      const b = have.find((r) => r.name === "bridge");
      if (b.subnet !== want.subnet || b.gateway !== want.gateway) {
        // --bip changed: take it unless containers still hold addresses in the old subnet.
        const used = engine.db.query("SELECT count(*) AS n FROM endpoints e JOIN networks n ON n.id = e.network_id WHERE n.name = 'bridge'").get() as { n: number };
        if (used.n === 0) engine.db.query("UPDATE networks SET subnet = ?, gateway = ? WHERE name = 'bridge'").run(want.subnet, want.gateway);
      }
    }
    if (!have.some((r) => r.name === "host")) ins.run(randomHex(), "host", "host", null, null, null, "{}", now);
    if (!have.some((r) => r.name === "none")) ins.run(randomHex(), "none", "null", null, null, null, "{}", now);
  }).immediate();
}

/** Finds a network as moby does: full ID, exact name, then a unique ID prefix. */
export function lookupNetwork(engine: Engine, ref: string): Network | undefined {
  ensureBuiltins(engine);
  if (!ref) return undefined;
  for (const sql of ["SELECT * FROM networks WHERE id = ?", "SELECT * FROM networks WHERE name = ?"]) {
    const r = engine.db.query(sql).get(ref);
    if (r) return toNetwork(r);
  }
  if (!/^[0-9a-f]+$/.test(ref)) return undefined;
  const rows = engine.db.query("SELECT * FROM networks WHERE id >= ? AND id < ? LIMIT 2").all(ref, `${ref}g`) as any[];
  if (rows.length > 1) throw invalidParameter(`network ${ref} is ambiguous (${rows.length} matches found on name)`);
  return rows[0] ? toNetwork(rows[0]) : undefined;
}

export function resolveNetwork(engine: Engine, ref: string): Network {
  const n = lookupNetwork(engine, ref);
  if (!n) throw noSuchNetwork(ref);
  return n;
}

// ------------------------------------------------------------------ crash safety

/**
 * Host changes (bridges, rules) are bracketed by an intent file named after this process: a process killed
 * in the middle leaves it behind, and the next engine that touches networking sees a dead owner and
 * reconciles. The common case costs one readdir.
 */
function withIntent<T>(engine: Engine, fn: () => T): T {
  const dir = join(netDir(engine), "intent");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = join(dir, `${process.pid}-${processStartTime(process.pid) ?? 0}`);
  writeFileSync(f, "");
  try {
    return fn();
  } finally {
    rmSync(f, { force: true });
  }
}

let reconciled = false;

/** Reconciles once per process if an earlier process died while changing the host. */
export function reconcileIfNeeded(engine: Engine): void {
  if (reconciled) return;
  reconciled = true;
  // Bridges this root made while it was not recorded as owning rules (an older build, or /run emptied):
  // their rules, the loopback drop included, are brought up to date once.
  const tag = host.rootTag(engine.config.dataRoot);
  if (!isRegistered(tag) && kernelPath(engine) && host.links((n) => n === DEFAULT_BRIDGE || n.startsWith("bk-")).some((n) => host.linkAlias(n).startsWith(`bunker:${tag}:net:`))) {
    reconcileNetworking(engine);
  }
  let names: string[];
  try {
    names = readdirSync(join(netDir(engine), "intent"));
  } catch {
    return;
  }
  const dead = names.filter((n) => {
    const [pid, start] = n.split("-").map(Number);
    return processStartTime(pid!) !== start;
  });
  if (!dead.length) return;
  reconcileNetworking(engine);
  for (const n of dead) rmSync(join(netDir(engine), "intent", n), { force: true });
}

/** Serialises host changes across processes and data roots (bridges and iptables are host-wide). */
function hostLock<T>(fn: () => T): T {
  const { openSync, closeSync } = require("node:fs") as typeof import("node:fs");
  const { sys, LOCK } = require("../../sys/index.ts") as typeof import("../../sys/index.ts");
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  const fd = openSync(join(RUN_DIR, "network.lock"), "a", 0o600);
  try {
    for (let i = 0; !sys().flock(fd, LOCK.EX | LOCK.NB); i++) Bun.sleepSync(Math.min(2 ** i, 50));
    return fn();
  } finally {
    closeSync(fd);
  }
}

// ------------------------------------------------------------------ host setup of a network

/** The chains, the shared jumps and ip_forward: once per host (idempotent). */
function ensureBase(engine: Engine, saved: host.RuleSet, batch: Record<"filter" | "nat", { chains: string[]; lines: string[] }>): void {
  const cfg = netConfig(engine);
  for (const table of ["filter", "nat"] as const) {
    for (const c of host.CHAINS[table]) if (!saved.chains[table]?.has(c)) batch[table]!.chains.push(c);
    for (const j of host.JUMPS[table]) {
      if (saved.rules[table]?.includes(j)) continue;
      // FORWARD's jump and the isolation jump go first, ahead of anyone's ACCEPT/DROP.
      batch[table]!.lines.push(/^-A (FORWARD|BUNKER-FORWARD) /.test(j) ? j.replace(/^-A (\S+)/, "-I $1 1") : j);
    }
  }
  if (cfg.ipForward) {
    const was = host.sysctl("net/ipv4/ip_forward", "1");
    // As dockerd: when we turn forwarding on, forwarding stops being open to everything else.
    if (was === "0") batch.filter!.lines.push("-P FORWARD DROP");
  }
}

/** Creates the network's bridge and rules unless the bridge already exists. */
function ensureNetworkHost(engine: Engine, net: Network): void {
  if (!net.bridge) return;
  if (host.linkExists(net.bridge)) return ensureSharedBridgeRules(engine, net);
  withIntent(engine, () =>
    hostLock(() => {
      if (host.linkExists(net.bridge!)) return;
      const subnet = parseCidr(net.subnet!);
      host.createBridge(parseBridgeName(net.bridge!), parseIPv4(net.gateway!), subnet.prefix, macFor(net.gateway!), netTag(engine, net), Number(net.options["com.docker.network.driver.mtu"]) || undefined);
      if (kernelPath(engine)) addNetworkRules(engine, net);
    }),
  );
}

/** An empty batch for host.restoreRules, raw first: the loopback drop is in before anything else. */
const newBatch = () => ({ raw: { chains: [] as string[], lines: [] as string[] }, filter: { chains: [] as string[], lines: [] as string[] }, nat: { chains: [] as string[], lines: [] as string[] } });

/** A network's rules from its row, through the parsers (a row of an older build that does not parse fails here, before any rule). */
function rulesOf(engine: Engine, net: Network) {
  const opt = (k: string) => (net.options[`com.docker.network.bridge.${k}`] === undefined ? true : boolOption(k, net.options[`com.docker.network.bridge.${k}`]!));
  return host.networkRules(netTag(engine, net), parseBridgeName(net.bridge!), parseCidr(net.subnet!), { masquerade: opt("enable_ip_masquerade") && netConfig(engine).ipMasq, internal: net.internal, icc: opt("enable_icc") });
}

/**
 * The chains and this data root's rules of a network, those missing, then route_localnet on its bridge (the
 * caller holds the host lock). The data root is recorded as owning rules (roots.ts) first, so that deleting
 * it cannot orphan them.
 */
function addNetworkRules(engine: Engine, net: Network): void {
  const rules = rulesOf(engine, net);
  registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
  const saved = host.saveRules();
  const batch = newBatch();
  ensureBase(engine, saved, batch);
  for (const t of ["raw", "filter", "nat"] as const) for (const l of rules[t]) if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
  host.restoreRules(batch);
  host.setRouteLocalnet(parseBridgeName(net.bridge!), true);
}

let sharedChecked = false;

/**
 * bunker0 is every data root's, but its rules carry the tag of the root that made it and go with that root
 * (its clean-up, or its data root wiped): a root on another root's bunker0 keeps its own tagged copy of them
 * (identical rules twice are harmless), checked once per process. The maker itself pays one alias read.
 */
function ensureSharedBridgeRules(engine: Engine, net: Network): void {
  if (sharedChecked || net.bridge !== DEFAULT_BRIDGE || host.linkAlias(net.bridge) === netTag(engine, net)) return;
  sharedChecked = true;
  if (!kernelPath(engine)) return;
  withIntent(engine, () => hostLock(() => addNetworkRules(engine, net)));
}

/** Deletes the rules whose comment passes `match` (this data root's only, by tag). */
function deleteRules(match: (comment: string) => boolean, saved = host.saveRules()): void {
  const batch: Record<string, { lines: string[] }> = {};
  for (const [table, rules] of Object.entries(saved.rules)) {
    const lines = rules.filter((l) => {
      const c = host.ruleComment(l);
      return c !== undefined && match(c);
    });
    if (lines.length) batch[table] = { lines: lines.map((l) => l.replace(/^-A /, "-D ")) };
  }
  host.restoreRules(batch);
}

function teardownNetworkHost(engine: Engine, net: Network): void {
  if (!net.bridge) return;
  withIntent(engine, () =>
    hostLock(() => {
      if (kernelPath(engine)) deleteRules((c) => c === netTag(engine, net));
      // A bridge of another data root with the same name (bunker0 shared) is left alone.
      if (host.linkExists(net.bridge!) && host.linkAlias(net.bridge!) === netTag(engine, net)) host.deleteLinks([net.bridge!]);
    }),
  );
}

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
  const { matchLabels } = require("../containers/state.ts") as typeof import("../containers/state.ts");
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

/** Go's strconv.ParseBool for a driver option, with the bridge driver's error. */
function boolOption(key: string, v: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw invalidParameter(`failed to parse ${key} value: ${v} (strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax)`);
}

/**
 * The bridge driver's options, checked and applied: name, MTU, masquerade, ICC and the default host binding
 * address. Other com.docker.network.* options are refused rather than ignored; options outside that
 * namespace are kept as the network's metadata and reach nothing on the host.
 */
export function checkBridgeOptions(opts: Record<string, string>): void {
  for (const [k, v] of Object.entries(opts)) {
    switch (k) {
      case "com.docker.network.bridge.name":
        parseBridgeName(v);
        break;
      case "com.docker.network.driver.mtu": {
        if (!/^\d{1,5}$/.test(v)) throw invalidParameter(`failed to parse ${k} value: ${v} (strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax)`);
        if (Number(v) < 68 || Number(v) > 65535) throw invalidParameter(`invalid MTU number: ${v}`);
        break;
      }
      case "com.docker.network.bridge.enable_ip_masquerade":
      case "com.docker.network.bridge.enable_icc":
        boolOption(k, v);
        break;
      case "com.docker.network.bridge.host_binding_ipv4":
        parseIPv4(v);
        break;
      default:
        if (k.startsWith("com.docker.network.")) throw invalidParameter(`network option ${k} is not supported`);
    }
  }
}

/** POST /networks/create: a user-defined bridge with its own subnet; its bridge and rules are made now. */
export function createNetwork(engine: Engine, req: NetworkCreateRequest): { Id: string; Warning: string } {
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
  const net = hostLock(() => {
    const taken = [...allNetworks(engine).filter((n) => n.subnet).map((n) => parseCidr(n.subnet!)), ...hostRoutes(readFileSync("/proc/net/route", "utf8"))];
    let subnet: Cidr | undefined;
    let gateway: string;
    if (cfg.Subnet) {
      subnet = parseCidr(cfg.Subnet);
      const { overlaps } = require("./ipam.ts") as typeof import("./ipam.ts");
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
    ensureNetworkHost(engine, net);
  } catch (e) {
    engine.db.query("DELETE FROM networks WHERE id = ?").run(id);
    teardownNetworkHost(engine, net);
    throw e;
  }
  writeNames(engine, net);
  engine.events.publish({ Type: "network", Action: "create", id, name, attributes: { name, type: "bridge" } });
  return { Id: id, Warning: "" };
}

/** DELETE /networks/{id}: refused for the built-ins and while a running container is attached. */
export function removeNetwork(engine: Engine, ref: string): void {
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
  teardownNetworkHost(engine, net);
  rmSync(namesFile(engine, net), { force: true });
  engine.events.publish({ Type: "network", Action: "destroy", id: net.id, name: net.name, attributes: { name: net.name, type: "bridge" } });
}

/** POST /networks/prune: user networks no container uses. */
export function pruneNetworks(engine: Engine, opts: { filters?: Record<string, string[]> } = {}): { NetworksDeleted: string[] | null } {
  reconcileIfNeeded(engine);
  const { matchLabels } = require("../containers/state.ts") as typeof import("../containers/state.ts");
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
    removeNetwork(engine, net.id);
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
    ensureNetworkHost(engine, net);
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

// ------------------------------------------------------------------ endpoints

/** The addresses this data root's endpoints on a network hold. */
function endpointAddresses(engine: Engine, net: Network): Set<string> {
  return new Set((engine.db.query("SELECT ip FROM endpoints WHERE network_id = ?").all(net.id) as { ip: string }[]).map((r) => r.ip));
}

/**
 * What allocation skips: this data root's endpoints' addresses, and those a veth on the bridge still answers
 * for, a dead container's until the kernel has dismantled its netns (host.portAddresses). Docker deletes the
 * veth at stop instead; deleting one whose netns is alive waits for its references, 10-30 ms per stop here.
 */
function takenAddresses(engine: Engine, net: Network): Set<string> {
  const taken = endpointAddresses(engine, net);
  for (const ip of host.portAddresses(net.bridge!).keys()) taken.add(ip);
  return taken;
}

function addEndpoint(engine: Engine, c: Stored, net: Network, opts: { aliases: string[]; ip?: string }): Endpoint {
  const subnet = parseCidr(net.subnet!);
  const existing = endpointsOf(engine, "container_id", c.id);
  let ip: string;
  if (opts.ip) {
    // Canonical, so that it can name the claim file and go into `ip`'s input as is.
    const want = parseIPv4(opts.ip);
    if (net.name === "bridge") throw invalidParameter("user specified IP address is supported on user defined networks only");
    if ((ipToNum(want) & maskOf(subnet.prefix)) >>> 0 !== subnet.network) throw invalidParameter(`no configured subnet or ip-range contain the IP address ${want}`);
    if (endpointAddresses(engine, net).has(want) || !claim(net.bridge!, want, owner(engine, c.id))) throw new EngineError("forbidden", `Address already in use`);
    // Asked for by name, so not skipped: a dead container's veth still answering for it goes now.
    const ghost = host.portAddresses(net.bridge!).get(want);
    if (ghost) host.deleteLinks([ghost]);
    ip = want;
  } else ip = allocate(net.bridge!, subnet, ipToNum(net.gateway!), takenAddresses(engine, net), owner(engine, c.id));
  const ep: Endpoint = {
    id: randomHex(),
    containerId: c.id,
    networkId: net.id,
    ip,
    mac: macFor(ip),
    aliases: opts.aliases,
    position: existing.length ? Math.max(...existing.map((e) => e.position)) + 1 : 0,
  };
  try {
    engine.db
      .query("INSERT INTO endpoints (id, container_id, network_id, ip, mac, aliases, position) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(ep.id, ep.containerId, ep.networkId, ep.ip, ep.mac, JSON.stringify(ep.aliases), ep.position);
  } catch (e) {
    release(net.bridge!, ip, owner(engine, c.id));
    throw e;
  }
  writeNames(engine, net);
  return ep;
}

/** The name file the shim's resolver reads: "IP name shortid alias..." per attached container. */
function writeNames(engine: Engine, net: Network): void {
  if (net.driver !== "bridge" || net.name === "bridge") return;
  const lines: string[] = [];
  for (const ep of endpointsOf(engine, "network_id", net.id)) {
    const c = engine.containers.lookup(ep.containerId);
    if (c) lines.push(`${ep.ip} ${[c.name, c.id.slice(0, 12), ...ep.aliases].join(" ")}`);
  }
  mkdirSync(netDir(engine), { recursive: true, mode: 0o700 });
  const f = namesFile(engine, net);
  writeFileSync(`${f}.tmp`, `${lines.join("\n")}\n`);
  renameSync(`${f}.tmp`, f);
}

/**
 * At create: validates the network mode and, for bridge networks, records the endpoint (address claimed now,
 * kept until removal). Returns the normalised NetworkMode.
 */
export function attachAtCreate(engine: Engine, c: Stored, opts: { aliases?: string[]; ip?: string }): void {
  const mode = c.hostConfig.NetworkMode;
  if (mode === "host" || mode === "none" || mode.startsWith("container:")) {
    if (opts.aliases?.length) throw invalidParameter("network-scoped aliases are only supported for user-defined networks");
    return;
  }
  const net = resolveNetwork(engine, mode);
  if (net.name === "bridge" && opts.aliases?.length) throw invalidParameter("network-scoped aliases are only supported for user-defined networks");
  addEndpoint(engine, c, net, { aliases: opts.aliases ?? [], ip: opts.ip });
}

/** Checks a --network value at create time, as dockerd: a known network, host, none or container:<existing>. */
export function validateNetworkMode(engine: Engine, mode: string): string {
  if (mode === "default") return "bridge";
  if (mode === "host" || mode === "none" || mode === "bridge") return mode;
  if (mode.startsWith("container:")) {
    const ref = mode.slice("container:".length);
    if (!ref) throw invalidParameter("invalid container format container:<name|id>");
    engine.containers.resolve(ref);
    return mode;
  }
  const net = resolveNetwork(engine, mode);
  return net.name;
}

// ------------------------------------------------------------------ container start / stop / remove

function hostsFor(hostname: string, ip: string): string {
  return ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters", `${ip}\t${hostname}`, ""].join("\n");
}

function hostResolv(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/** The plan's network part for a container's next start; writes its hosts and resolv.conf. */
export async function networkPlan(engine: Engine, c: Stored): Promise<Partial<ContainerPlan>> {
  reconcileIfNeeded(engine);
  const mode = c.hostConfig.NetworkMode;
  const put = (name: string, text: string) => writeFileSync(join(c.dir, name), text);
  if (mode.startsWith("container:")) {
    const target = engine.containers.resolve(mode.slice("container:".length));
    const st = readContainerStatus(target.dir);
    if (!st.running || !st.pid) throw conflict(`cannot join network namespace of a non running container: container ${target.id} is not running`);
    for (const f of ["hosts", "resolv.conf"]) if (existsSync(join(target.dir, f))) put(f, readFileSync(join(target.dir, f), "utf8"));
    return { network: "private", netns: `/proc/${st.pid}/ns/net` };
  }
  const eps = endpointsOf(engine, "container_id", c.id);
  if (!eps.length) return {};
  const netifs: PlanNetIf[] = [];
  const dnsFiles: string[] = [];
  for (const ep of eps) {
    const net = networkById(engine, ep.networkId);
    if (!net?.bridge) continue;
    ensureNetworkHost(engine, net);
    // The address survives restarts; after a reboot the claim may be gone (or, rarely, someone else's).
    if (!claim(net.bridge, ep.ip, owner(engine, c.id))) {
      ep.ip = allocate(net.bridge, parseCidr(net.subnet!), ipToNum(net.gateway!), takenAddresses(engine, net), owner(engine, c.id));
      ep.mac = macFor(ep.ip);
      engine.db.query("UPDATE endpoints SET ip = ?, mac = ? WHERE id = ?").run(ep.ip, ep.mac, ep.id);
      writeNames(engine, net);
    }
    netifs.push({ host: vethName(ep), peer: `eth${netifs.length}`, bridge: net.bridge, mac: ep.mac, ip: ep.ip, prefix: parseCidr(net.subnet!).prefix, gateway: netifs.length ? "" : net.gateway!, mtu: Number(net.options["com.docker.network.driver.mtu"]) || undefined });
    if (net.name !== "bridge") {
      writeNames(engine, net);
      dnsFiles.push(namesFile(engine, net));
    }
  }
  const resolv = hostResolv();
  put("hosts", hostsFor(c.config.Hostname, netifs[0]?.ip ?? "127.0.1.1"));
  const plan: Partial<ContainerPlan> = { network: "private", netifs };
  if (dnsFiles.length) {
    // Docker's internal resolver: 127.0.0.11, the host's search domains, ndots:0; upstreams from the host.
    const search = resolv.split("\n").filter((l) => /^\s*search\s/.test(l));
    put("resolv.conf", ["nameserver 127.0.0.11", ...search, "options ndots:0", ""].join("\n"));
    const upstream = [...resolv.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!);
    plan.dns = { files: dnsFiles, upstream };
  } else {
    put("resolv.conf", resolvConf("private", resolv));
  }
  plan.hostPorts = await reservePorts(engine, c, eps);
  return plan;
}


function freePort(ip: string, proto: Proto): number {
  // The kernel's choice of a free ephemeral port, as Docker's allocator takes one from the same range.
  if (proto === "tcp") {
    const s = Bun.listen({ hostname: ip, port: 0, socket: { data() {} } });
    const port = s.port;
    s.stop(true);
    return port;
  }
  // No synchronous UDP bind in Bun: a random port of the ephemeral range; the shim's bind is the check.
  return 32768 + Math.floor(Math.random() * 28232);
}

/**
 * Resolves HostConfig.PortBindings into host ports for this start (free ports chosen for ""), refuses ports
 * another running container of this data root holds ("port is already allocated"), drops stale holders,
 * and records them. The shim then binds them (a host process or another data root -> "address in use").
 */
async function reservePorts(engine: Engine, c: Stored, eps: Endpoint[]): Promise<ContainerPlan["hostPorts"]> {
  const bindings = ((c.hostConfig as any).PortBindings ?? {}) as PortBindings;
  engine.db.query("DELETE FROM port_mappings WHERE container_id = ?").run(c.id);
  const keys = Object.keys(bindings);
  if (!keys.length || !eps.length) return [];
  const mode = portForwardingMode(engine);
  if (mode === "none") throw new EngineError("system", "published ports need iptables (the kernel path) or the userland proxy: iptables is unavailable or disabled, and so is --userland-proxy");
  const ep = eps[0]!;
  // A binding without an address takes the network's host_binding_ipv4, as in Docker.
  const defaultIp = networkById(engine, ep.networkId)?.options["com.docker.network.bridge.host_binding_ipv4"] || "0.0.0.0";
  const maps = resolveMappings(bindings, freePort, defaultIp);
  for (const m of maps) {
    const holders = engine.db
      .query("SELECT container_id FROM port_mappings WHERE proto = ? AND host_port = ? AND (host_ip = ? OR host_ip = '0.0.0.0' OR ? = '0.0.0.0') AND container_id != ?")
      .all(m.proto, m.hostPort, m.hostIp, m.hostIp, c.id) as { container_id: string }[];
    for (const h of holders) {
      const other = engine.containers.lookup(h.container_id);
      if (other && readContainerStatus(other.dir).running) {
        throw new EngineError("system", `driver failed programming external connectivity on endpoint ${c.name} (${ep.id}): Bind for ${m.hostIp}:${m.hostPort} failed: port is already allocated`);
      }
      releasePorts(engine, h.container_id);
    }
    engine.db.query("INSERT OR REPLACE INTO port_mappings (container_id, proto, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?)").run(c.id, m.proto, m.hostIp, m.hostPort, m.containerPort);
  }
  // Proxy mode: the supervisor listens and relays to the container's address, which restarts keep.
  return maps.map((m) => ({ proto: m.proto, ip: m.hostIp, port: m.hostPort, ...(mode === "userland-proxy" ? { to: { ip: ep.ip, port: m.containerPort } } : {}) }));
}

/** After the shim started the container: DNAT rules for its published ports, hairpin on its veth (kernel path only). */
export function networkStarted(engine: Engine, c: Stored): void {
  const maps = mappingsOf(engine, c.id);
  if (!maps.length || !kernelPath(engine)) return;
  const ep = endpointsOf(engine, "container_id", c.id)[0]!;
  const net = networkById(engine, ep.networkId)!;
  try {
    writeFileSync(`/sys/class/net/${vethName(ep)}/brport/hairpin_mode`, "1"); // a container reaching itself through its published port
  } catch {}
  const tag = ctrTag(engine, c.id);
  registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
  withIntent(engine, () =>
    hostLock(() => {
      const saved = host.saveRules();
      // The shim bound these ports, so no live container holds them: a rule still naming one is stale.
      const stale = (l: string) =>
        /:ctr:/.test(host.ruleComment(l) ?? "") && host.ruleComment(l)!.startsWith("bunker:") && maps.some((m) => l.startsWith("-A BUNKER ") && l.includes(` -p ${m.proto} `) && l.includes(`--dport ${m.hostPort} `) && / -j DNAT /.test(l) && (m.hostIp === "0.0.0.0" ? !/ -d /.test(l) : l.includes(`-d ${m.hostIp}/32 `)));
      const batch = newBatch();
      ensureBase(engine, saved, batch);
      for (const l of saved.rules.nat ?? []) if (stale(l)) batch.nat.lines.push(l.replace(/^-A /, "-D "));
      for (const m of maps) {
        const r = host.portRules(tag, parseBridgeName(net.bridge!), parseIPv4(ep.ip), m);
        for (const t of ["filter", "nat"] as const) for (const l of r[t]) if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
      }
      try {
        host.restoreRules(batch);
      } catch (e) {
        // Each table commits on its own: a table that did commit must not keep this start's rules.
        try {
          deleteRules((cm) => cm === tag);
        } catch {}
        throw e;
      }
    }),
  );
}

/** Removes a container's published-port rules and records (stop, removal, a stale holder). */
export function releasePorts(engine: Engine, containerId: string): void {
  const had = engine.db.query("SELECT count(*) AS n FROM port_mappings WHERE container_id = ?").get(containerId) as { n: number };
  engine.db.query("DELETE FROM port_mappings WHERE container_id = ?").run(containerId);
  if (!had.n || !kernelPath(engine)) return;
  const tag = ctrTag(engine, containerId);
  withIntent(engine, () => hostLock(() => deleteRules((c) => c === tag)));
}

/** Container removal: ports, address claims, name files. The rows go with the container's (ON DELETE CASCADE). */
export function containerRemoved(engine: Engine, c: Stored): void {
  releasePorts(engine, c.id);
  const eps = endpointsOf(engine, "container_id", c.id);
  engine.db.query("DELETE FROM endpoints WHERE container_id = ?").run(c.id);
  for (const ep of eps) {
    const net = networkById(engine, ep.networkId);
    if (!net?.bridge) continue;
    release(net.bridge, ep.ip, owner(engine, c.id));
    writeNames(engine, net);
  }
  // A process killed between claiming an address and recording the endpoint leaves a claim no row names:
  // the container owns it all the same.
  const me = owner(engine, c.id);
  for (const net of allNetworks(engine)) {
    if (!net.bridge) continue;
    for (const [ip, who] of claims(net.bridge)) if (who === me) release(net.bridge, ip, who);
  }
}

/** Translates the shim's port bind failure into Docker's message. */
export function startError(engine: Engine, c: Stored, e: unknown): unknown {
  const msg = (e as Error)?.message ?? "";
  if (!msg.startsWith("Error starting userland proxy")) return e;
  const ep = endpointsOf(engine, "container_id", c.id)[0];
  const err = new EngineError("system", `driver failed programming external connectivity on endpoint ${c.name} (${ep?.id ?? ""}): ${msg}`);
  (err as any).exitCode = 125;
  return err;
}

// ------------------------------------------------------------------ what ps and inspect show


/** NetworkSettings of inspect: addresses while running, Docker's empty values otherwise. */
export function networkSettings(engine: Engine, c: Stored, running: boolean, pid?: number) {
  const { networkSettingsPorts } = require("./ports.ts") as typeof import("./ports.ts");
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

// ------------------------------------------------------------------ reconciliation

/**
 * Makes the host match the database for this data root: bridges of networks that no longer exist go, rules
 * of gone networks or of containers that are not running go, running containers' port rules come back, veths
 * on this root's bridges whose endpoint is gone are deleted, and address claims of gone containers are
 * dropped. Other data roots' bridges and rules are recognised by their tags and left alone.
 */
export function reconcileNetworking(engine: Engine): { removedLinks: string[]; removedRules: number } {
  const tag = `bunker:${host.rootTag(engine.config.dataRoot)}`;
  const nets = allNetworks(engine).filter((n) => n.bridge);
  const netTags = new Set(nets.map((n) => netTag(engine, n)));
  const running = new Map<string, Stored>();
  for (const c of engine.containers.all()) if (readContainerStatus(c.dir).running) running.set(c.id.slice(0, 12), c);
  const removedLinks: string[] = [];
  let removedRules = 0;
  withIntent(engine, () =>
    hostLock(() => {
      // Bridges this data root made for networks it no longer has.
      const ours = host.links((n) => n === DEFAULT_BRIDGE || n.startsWith("bk-")).filter((n) => host.linkAlias(n).startsWith(`${tag}:net:`) && !netTags.has(host.linkAlias(n)));
      // veths on this root's bridges without a live endpoint.
      const liveVeths = new Set<string>();
      for (const c of running.values()) for (const ep of endpointsOf(engine, "container_id", c.id)) liveVeths.add(vethName(ep));
      const bridges = new Set(nets.map((n) => n.bridge!));
      const veths = host.links((n) => /^bk[0-9a-f]{12}$/.test(n)).filter((v) => {
        const m = host.linkMaster(v);
        return m !== undefined && bridges.has(m) && host.linkAlias(m).startsWith(`${tag}:`) && !liveVeths.has(v);
      });
      host.deleteLinks([...ours, ...veths]);
      removedLinks.push(...ours, ...veths);
      if (kernelPath(engine)) {
        const saved = host.saveRules();
        const wantPorts = new Set<string>();
        const batch = newBatch();
        for (const c of running.values()) {
          const maps = mappingsOf(engine, c.id);
          const ep = endpointsOf(engine, "container_id", c.id)[0];
          const net = ep && networkById(engine, ep.networkId);
          if (!maps.length || !net) continue;
          for (const m of maps) {
            const r = host.portRules(ctrTag(engine, c.id), parseBridgeName(net.bridge!), parseIPv4(ep.ip), m);
            for (const t of ["filter", "nat"] as const)
              for (const l of r[t]) {
                wantPorts.add(`${t} ${l}`);
                if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
              }
          }
        }
        for (const [table, rules] of Object.entries(saved.rules)) {
          for (const l of rules) {
            const cm = host.ruleComment(l);
            if (!cm?.startsWith(`${tag}:`)) continue;
            const stale = cm.includes(":net:") ? !netTags.has(cm) : !wantPorts.has(`${table} ${l}`);
            if (stale) {
              (batch as any)[table] ??= { chains: [], lines: [] };
              (batch as any)[table].lines.unshift(l.replace(/^-A /, "-D "));
              removedRules++;
            }
          }
        }
        host.restoreRules(batch);
        // Networks whose bridge exists but lost its rules (flushed by hand) get them back.
        for (const n of nets) if (host.linkExists(n.bridge!) && (host.linkAlias(n.bridge!) === netTag(engine, n) || n.bridge === DEFAULT_BRIDGE)) addNetworkRules(engine, n);
      }
      // Port records of containers that are not running.
      for (const r of engine.db.query("SELECT DISTINCT container_id FROM port_mappings").all() as { container_id: string }[])
        if (!running.has(r.container_id.slice(0, 12))) engine.db.query("DELETE FROM port_mappings WHERE container_id = ?").run(r.container_id);
      // Claims of this data root's containers that no longer exist.
      for (const n of nets) {
        for (const [ip, who] of claims(n.bridge!)) {
          const [root, id] = who.split(" ");
          if (root === engine.config.dataRoot && !engine.containers.lookup(id!)) release(n.bridge!, ip, who);
          else if (root && !existsSync(root)) release(n.bridge!, ip, who);
        }
      }
    }),
  );
  return { removedLinks, removedRules };
}

/**
 * Drops what data roots that were deleted left on the host (roots.ts found them): their tagged rules (when
 * this engine may touch iptables), their user networks' bridges and a bunker0 they made that nobody uses,
 * and every address claim of a data root that no longer exists. A bridge left in place without anyone's
 * loopback drop loses route_localnet.
 */
export function dropGoneRoots(tags: string[], opts: { iptables: boolean }): void {
  const mayRules = opts.iptables && host.iptablesAvailable();
  hostLock(() => {
    const prefixes = tags.map((t) => `bunker:${t}:`);
    const mine = (alias: string) => prefixes.some((p) => alias.startsWith(p));
    if (mayRules) deleteRules((cm) => mine(cm));
    const bridges = host.links((n) => n === DEFAULT_BRIDGE || n.startsWith("bk-"));
    const unused = (n: string) => {
      try {
        return readdirSync(`/sys/class/net/${n}/brif`).length === 0;
      } catch {
        return true;
      }
    };
    host.deleteLinks(bridges.filter((n) => mine(host.linkAlias(n)) && (n !== DEFAULT_BRIDGE || unused(n))));
    if (mayRules) {
      const saved = host.saveRules();
      for (const n of host.links((n) => n === DEFAULT_BRIDGE || n.startsWith("bk-"))) if (!host.dropsLoopback(saved, n)) host.setRouteLocalnet(parseBridgeName(n), false);
    }
    let dirs: string[] = [];
    try {
      dirs = readdirSync(CLAIMS_DIR);
    } catch {}
    for (const br of dirs) {
      for (const [ip, who] of claims(br)) {
        const root = who.slice(0, who.lastIndexOf(" "));
        if (root && !existsSync(root)) release(br, ip, who);
      }
    }
    // Rules stay recorded until an engine that may remove them has.
    if (mayRules) for (const t of tags) unregisterRoot(t);
  });
}
