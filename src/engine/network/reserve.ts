/**
 * Published host ports: picked (an ephemeral port for `-p 80`), reserved in the database, and released.
 */
import type { Engine } from "../engine.ts";
import type { StoredContainer } from "../containers/types.ts";
import { EngineError } from "../errors.ts";
import type { ContainerPlan } from "../runtime/spec.ts";
import { readContainerStatus } from "../runtime/status.ts";
import { mappingsOf, resolveMappings, type PortBindings, type Proto } from "./ports.ts";
export { containerPorts } from "./ports.ts";
import { deleteKnownRules, deleteRules, deleteRulesAsync, hostLock, hostLockAsync, withIntent, withIntentAsync } from "./program.ts";
import { type Endpoint, ctrTag, endpointsOf, kernelPath, networkById, portForwardingMode } from "./store.ts";
import * as host from "./host.ts";
import { parseBridgeName, parseIPv4 } from "./ipam.ts";

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
export async function reservePorts(engine: Engine, c: StoredContainer, eps: Endpoint[]): Promise<ContainerPlan["hostPorts"]> {
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
      await releasePortsAsync(engine, h.container_id);
    }
    engine.db.query("INSERT OR REPLACE INTO port_mappings (container_id, proto, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?)").run(c.id, m.proto, m.hostIp, m.hostPort, m.containerPort);
  }
  // Proxy mode: the supervisor listens and relays to the container's address, which restarts keep.
  return maps.map((m) => ({ proto: m.proto, ip: m.hostIp, port: m.hostPort, ...(mode === "userland-proxy" ? { to: { ip: ep.ip, port: m.containerPort } } : {}) }));
}

/** Removes a container's published-port rules and records (crash recovery's synchronous form). */
export function releasePorts(engine: Engine, containerId: string): void {
  const had = engine.db.query("SELECT count(*) AS n FROM port_mappings WHERE container_id = ?").get(containerId) as { n: number };
  engine.db.query("DELETE FROM port_mappings WHERE container_id = ?").run(containerId);
  if (!had.n || !kernelPath(engine)) return;
  const tag = ctrTag(engine, containerId);
  withIntent(engine, () => hostLock(() => deleteRules((c) => c === tag)));
}

/**
 * Removes a container's published-port rules and records (stop, removal, a stale holder). Its rules are
 * those of its records (networkStarted keeps them so): deleted as known, with one iptables-restore.
 */
export async function releasePortsAsync(engine: Engine, containerId: string): Promise<void> {
  const maps = mappingsOf(engine, containerId);
  engine.db.query("DELETE FROM port_mappings WHERE container_id = ?").run(containerId);
  if (!maps.length || !kernelPath(engine)) return;
  const tag = ctrTag(engine, containerId);
  const ep = endpointsOf(engine, "container_id", containerId)[0];
  const net = ep && networkById(engine, ep.networkId);
  const known: Record<string, string[]> = { filter: [], nat: [] };
  try {
    for (const m of maps) {
      const r = host.portRules(tag, parseBridgeName(net!.bridge!), parseIPv4(ep!.ip), m);
      known.filter!.push(...r.filter);
      known.nat!.push(...r.nat);
    }
  } catch {
    // No endpoint, or a record that does not parse: the rules are found by their tag instead.
    known.filter = known.nat = [];
  }
  await withIntentAsync(engine, () => hostLockAsync(() => (known.nat!.length ? deleteKnownRules(known, tag) : deleteRulesAsync((c) => c === tag))));
}
