/**
 * Host programming of a network: its bridge and iptables rules, made and removed under the host-wide
 * lock and bracketed by an intent file (so a crash in the middle is reconciled by the next engine).
 */
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { LOCK, sys } from "../../sys/index.ts";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { processStartTime } from "../runtime/status.ts";
import { macFor, parseBridgeName, parseCidr, parseIPv4 } from "./ipam.ts";
import * as host from "./host.ts";
import { registerRoot, RUN_DIR } from "./roots.ts";
export { containerPorts } from "./ports.ts";
import { boolOption } from "./options.ts";
import { netState, DEFAULT_BRIDGE, type Network, kernelPath, netConfig, netDir, netTag } from "./store.ts";

// ------------------------------------------------------------------ crash safety

/**
 * Host changes (bridges, rules) are bracketed by an intent file named after this process: a process killed
 * in the middle leaves it behind, and the next engine that touches networking sees a dead owner and
 * reconciles. The common case costs one readdir.
 */
export function withIntent<T>(engine: Engine, fn: () => T): T {
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
/** Serialises host changes across processes and data roots (bridges and iptables are host-wide). */
export function hostLock<T>(fn: () => T): T {
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
export function ensureBase(engine: Engine, saved: host.RuleSet, batch: Record<"filter" | "nat", { chains: string[]; lines: string[] }>): void {
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
export function ensureNetworkHost(engine: Engine, net: Network): void {
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
export const newBatch = () => ({ raw: { chains: [] as string[], lines: [] as string[] }, filter: { chains: [] as string[], lines: [] as string[] }, nat: { chains: [] as string[], lines: [] as string[] } });

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
export function addNetworkRules(engine: Engine, net: Network): void {
  const rules = rulesOf(engine, net);
  registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
  const saved = host.saveRules();
  const batch = newBatch();
  ensureBase(engine, saved, batch);
  for (const t of ["raw", "filter", "nat"] as const) for (const l of rules[t]) if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
  host.restoreRules(batch);
  host.setRouteLocalnet(parseBridgeName(net.bridge!), true);
}

/**
 * bunker0 is every data root's, but its rules carry the tag of the root that made it and go with that root
 * (its clean-up, or its data root wiped): a root on another root's bunker0 keeps its own tagged copy of them
 * (identical rules twice are harmless), checked once per process. The maker itself pays one alias read.
 */
function ensureSharedBridgeRules(engine: Engine, net: Network): void {
  const st = netState(engine);
  if (st.sharedChecked || net.bridge !== DEFAULT_BRIDGE || host.linkAlias(net.bridge) === netTag(engine, net)) return;
  st.sharedChecked = true;
  if (!kernelPath(engine)) return;
  withIntent(engine, () => hostLock(() => addNetworkRules(engine, net)));
}

/** Deletes the rules whose comment passes `match` (this data root's only, by tag). */
export function deleteRules(match: (comment: string) => boolean, saved = host.saveRules()): void {
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

export function teardownNetworkHost(engine: Engine, net: Network): void {
  if (!net.bridge) return;
  withIntent(engine, () =>
    hostLock(() => {
      if (kernelPath(engine)) deleteRules((c) => c === netTag(engine, net));
      // A bridge of another data root with the same name (bunker0 shared) is left alone.
      if (host.linkExists(net.bridge!) && host.linkAlias(net.bridge!) === netTag(engine, net)) host.deleteLinks([net.bridge!]);
    }),
  );
}
