/**
 * Networks and endpoints as rows of the engine's database, the built-in networks, lookup by moby's rules,
 * the daemon options that shape networking, and what networking checks once per engine.
 */
import { join } from "node:path";
import { randomHex } from "../random.ts";
import type { Engine } from "../engine.ts";
import { EngineError, invalidParameter, noSuchNetwork } from "../errors.ts";
import { cidrString, numToIp, parseCidr } from "./ipam.ts";
import * as host from "./host.ts";
export { containerPorts } from "./ports.ts";



/** Defaults: bunker0 on 10.199.0.1/16 (not Docker's 172.17/16), user networks as /24s of 10.200.0.0/14. */
export const DEFAULT_BIP = "10.199.0.1/16";
export const DEFAULT_POOLS = [{ base: "10.200.0.0/14", size: 24 }];
export const DEFAULT_BRIDGE = "bunker0";
export const BUILTIN = ["bridge", "host", "none"];

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

export const netDir = (engine: Engine) => join(engine.config.dataRoot, "network");
export const namesFile = (engine: Engine, net: Network) => join(netDir(engine), `${net.id}.names`);
export const owner = (engine: Engine, containerId: string) => `${engine.config.dataRoot} ${containerId}`;
export const vethName = (ep: Endpoint) => `bk${ep.id.slice(0, 12)}`;
export const netTag = (engine: Engine, net: Network) => `bunker:${host.rootTag(engine.config.dataRoot)}:net:${net.id.slice(0, 12)}`;
export const ctrTag = (engine: Engine, id: string) => `bunker:${host.rootTag(engine.config.dataRoot)}:ctr:${id.slice(0, 12)}`;

// ------------------------------------------------------------------ per-engine state

/** What networking checks once per engine (each engine of a process has its own data root and host view). */
interface NetState {
  /** bridge, host and none are in this engine's database. */
  builtinsChecked: boolean;
  /** A crashed process's half-done host changes were looked for (reconcileIfNeeded). */
  reconciled: boolean;
  /** This data root's copy of the rules of a bunker0 another root made was checked. */
  sharedChecked: boolean;
}

const states = new WeakMap<Engine, NetState>();

/** The engine's networking state, made on first use. */
export function netState(engine: Engine): NetState {
  let s = states.get(engine);
  if (!s) states.set(engine, (s = { builtinsChecked: false, reconciled: false, sharedChecked: false }));
  return s;
}

// ------------------------------------------------------------------ config

interface NetConfig {
  bip: string;
  pools: { base: string; size: number }[];
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  userlandProxy: boolean;
}

export function netConfig(engine: Engine): NetConfig {
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
export const kernelPath = (engine: Engine) => netConfig(engine).iptables && host.iptablesAvailable();

/**
 * How published ports reach containers (`info`'s PortForwarding): kernel DNAT wherever the kernel path is
 * on (it covers 127.0.0.1 and hairpin too, so no proxy runs beside it), else the supervisor's userland proxy
 * unless `--userland-proxy=false`, else none (then `-p` fails).
 */
export function portForwardingMode(engine: Engine): "iptables" | "userland-proxy" | "none" {
  return kernelPath(engine) ? "iptables" : netConfig(engine).userlandProxy ? "userland-proxy" : "none";
}

// ------------------------------------------------------------------ rows

export function allNetworks(engine: Engine): Network[] {
  ensureBuiltins(engine);
  return (engine.db.query("SELECT * FROM networks ORDER BY created_at").all() as any[]).map(toNetwork);
}

export function endpointsOf(engine: Engine, where: "container_id" | "network_id", id: string): Endpoint[] {
  return (engine.db.query(`SELECT * FROM endpoints WHERE ${where} = ? ORDER BY position`).all(id) as any[]).map(toEndpoint);
}

/**
 * What the network's names file lists, one row per attached container: its address, name, ID and aliases. One
 * join, not a container lookup per endpoint: each lookup parses the whole stored record, and the file is
 * rewritten at every create and checked at every start on the network.
 */
export function namedEndpoints(engine: Engine, networkId: string): { ip: string; name: string; containerId: string; aliases: string[] }[] {
  const rows = engine.db.query("SELECT e.ip, c.name, e.container_id, e.aliases FROM endpoints e JOIN containers c ON c.id = e.container_id WHERE e.network_id = ? ORDER BY e.position, e.rowid").all(networkId) as { ip: string; name: string; container_id: string; aliases: string }[];
  return rows.map((r) => ({ ip: r.ip, name: r.name, containerId: r.container_id, aliases: JSON.parse(r.aliases) }));
}

export function networkById(engine: Engine, id: string): Network | undefined {
  const r = engine.db.query("SELECT * FROM networks WHERE id = ?").get(id);
  return r ? toNetwork(r) : undefined;
}

/** bridge, host and none exist in every data root, as in Docker; bridge's subnet follows --bip. */
function ensureBuiltins(engine: Engine): void {
  const st = netState(engine);
  if (st.builtinsChecked) return;
  st.builtinsChecked = true;
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
