/**
 * Reconciliation: the host made to match the database after a crash, and what deleted data roots left.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import type { StoredContainer } from "../containers/types.ts";
import { readContainerStatus } from "../runtime/status.ts";
import { deadIntents } from "./pending.ts";
import { abandonedClaim, claims, CLAIMS_DIR, dropAbandonedTemps, dropClaimsDir, parseBridgeName, parseIPv4, release } from "./ipam.ts";
import * as host from "./host.ts";
import { mappingsOf } from "./ports.ts";
import { isRegistered, unregisterRoot } from "./roots.ts";
export { containerPorts } from "./ports.ts";
import { addNetworkRules, deleteRules, hostLock, isHostLockBusy, newBatch, withIntent } from "./program.ts";
import { type Endpoint, netState, DEFAULT_BRIDGE, allNetworks, ctrTag, endpointsOf, kernelPath, netDir, netTag, networkById, vethName } from "./store.ts";

/** A bridge bunker may have made, by its name: the default one, a network's `bk-<id12>`, one being deleted (`bkr-<hex>`). */
const bunkerBridge = (n: string) => n === DEFAULT_BRIDGE || n.startsWith("bk-") || n.startsWith(host.RETIRED_PREFIX);

/** Reconciles once per process if an earlier process died while changing the host. */
export function reconcileIfNeeded(engine: Engine): void {
  const st = netState(engine);
  if (st.reconciled) return;
  st.reconciled = true;
  try {
    reconcileOnce(engine);
  } catch (e) {
    // This process's own change in flight holds the host lock (the daemon, between two awaits): next time.
    if (!isHostLockBusy(e)) throw e;
    st.reconciled = false;
  }
}

function reconcileOnce(engine: Engine): void {
  // Bridges this root made while it was not recorded as owning rules (an older build, or /run emptied):
  // their rules, the loopback drop included, are brought up to date once.
  const tag = host.rootTag(engine.config.dataRoot);
  if (!isRegistered(tag) && kernelPath(engine) && host.links(bunkerBridge).some((n) => host.linkAlias(n).startsWith(`bunker:${tag}:net:`))) {
    reconcileNetworking(engine);
  }
  let names: string[];
  try {
    names = readdirSync(join(netDir(engine), "intent"));
  } catch {
    return;
  }
  const dead = deadIntents(join(netDir(engine), "intent"), names);
  if (!dead.length) return;
  reconcileNetworking(engine);
  for (const n of dead) rmSync(join(netDir(engine), "intent", n), { force: true });
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
  const removedLinks: string[] = [];
  let removedRules = 0;
  withIntent(engine, () =>
    hostLock(() => {
      // Read under the lock: another process of this data root commits a network's row before it makes the
      // bridge (both under this lock), so every bridge seen here has its row seen here too. A list read
      // before waiting for the lock misses a network created meanwhile, and its new bridge went.
      const nets = allNetworks(engine).filter((n) => n.bridge);
      const netTags = new Set(nets.map((n) => netTag(engine, n)));
      const running = new Map<string, StoredContainer>();
      for (const c of engine.containers.all()) if (readContainerStatus(c.dir).running) running.set(c.id.slice(0, 12), c);
      // Bridges this data root made for networks it no longer has.
      const ours = host.links(bunkerBridge).filter((n) => host.linkAlias(n).startsWith(`${tag}:net:`) && !netTags.has(host.linkAlias(n)));
      // veths on this root's bridges whose endpoint is gone. Not those of containers that merely do not run:
      // one that another process is starting has its veth plugged in before it runs (deleting it failed that
      // start), and a stopped one's goes with its netns.
      const liveVeths = new Set((engine.db.query("SELECT id FROM endpoints").all() as { id: string }[]).map((r) => vethName({ id: r.id } as Endpoint)));
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
      // Port records of containers that are not running stay: one that another process is starting has them
      // before it runs (its rules come from them once it does), and a dead holder's give way at the next
      // reservation of the port (reservePorts) or go with its stop or removal.
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
 * every address claim of a data root that no longer exists, empty claims an earlier build's killed
 * writer abandoned, and claims a killed writer left written aside. A bridge left in place without anyone's loopback drop loses route_localnet.
 */
export function dropGoneRoots(tags: string[], opts: { iptables: boolean }): void {
  const mayRules = opts.iptables && host.iptablesAvailable();
  hostLock(() => {
    const prefixes = tags.map((t) => `bunker:${t}:`);
    const mine = (alias: string) => prefixes.some((p) => alias.startsWith(p));
    if (mayRules) deleteRules((cm) => mine(cm));
    const bridges = host.links(bunkerBridge);
    // In use: a port plugged in, or an address claimed by a live data root (or build step) whose container's
    // veth is not plugged in yet (claims come before the bridge is ensured, see networkPlan).
    const unused = (n: string) => {
      for (const who of claims(n).values()) {
        const root = who.slice(0, who.lastIndexOf(" "));
        if (root && existsSync(root)) return false;
      }
      try {
        return readdirSync(`/sys/class/net/${n}/brif`).length === 0;
      } catch {
        return true;
      }
    };
    host.deleteLinks(bridges.filter((n) => mine(host.linkAlias(n)) && (n !== DEFAULT_BRIDGE || unused(n))));
    if (mayRules) {
      const saved = host.saveRules();
      for (const n of host.links(bunkerBridge)) if (!host.dropsLoopback(saved, n)) host.setRouteLocalnet(parseBridgeName(n), false);
    }
    let dirs: string[] = [];
    try {
      dirs = readdirSync(CLAIMS_DIR);
    } catch {}
    for (const br of dirs) {
      for (const [ip, who] of claims(br)) {
        const root = who.slice(0, who.lastIndexOf(" "));
        if (root && !existsSync(root)) release(br, ip, who);
        else if (who === "" && abandonedClaim(br, ip)) rmSync(join(CLAIMS_DIR, br, ip), { force: true });
      }
      // The directory of a bridge that is gone (removed with its data root, or before networks dropped theirs);
      // of one still there, the claims a killed writer left aside.
      if (!host.linkExists(br)) dropClaimsDir(br);
      else dropAbandonedTemps(br);
    }
    // Rules stay recorded until an engine that may remove them has.
    if (mayRules) for (const t of tags) unregisterRoot(t);
  });
}
