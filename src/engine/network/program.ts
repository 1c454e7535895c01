/**
 * Host programming of a network: its bridge and iptables rules, made and removed under the host-wide
 * lock and bracketed by an intent file (so a crash in the middle is reconciled by the next engine).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { EngineError } from "../errors.ts";
import { LOCK, sys } from "../../sys/index.ts";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { processStartTime } from "../runtime/status.ts";
import { dropClaimsDir, macFor, parseBridgeName, parseCidr, parseIPv4 } from "./ipam.ts";
import * as host from "./host.ts";
import { registerRoot, RUN_DIR } from "./roots.ts";
export { containerPorts } from "./ports.ts";
import { boolOption } from "./options.ts";
import { netState, DEFAULT_BRIDGE, type Network, kernelPath, netConfig, netDir, netTag } from "./store.ts";

// ------------------------------------------------------------------ crash safety

/** This process's host changes in flight: its intent file exists while there is one. */
let intents = 0;

/**
 * Host changes (bridges, rules) are bracketed by an intent file named after this process: a process killed
 * in the middle leaves it behind, and the next engine that touches networking sees a dead owner and
 * reconciles. The common case costs one readdir. Changes in flight at once in one process share the file:
 * it goes when the last one ends.
 */
export function withIntent<T>(engine: Engine, fn: () => T): T {
  const f = beginIntent(engine);
  try {
    return fn();
  } finally {
    endIntent(f);
  }
}

/** withIntent for a change that awaits (spawns off the event loop). */
export async function withIntentAsync<T>(engine: Engine, fn: () => Promise<T>): Promise<T> {
  const f = beginIntent(engine);
  try {
    return await fn();
  } finally {
    endIntent(f);
  }
}

function beginIntent(engine: Engine): string {
  const dir = join(netDir(engine), "intent");
  const f = join(dir, `${process.pid}-${processStartTime(process.pid) ?? 0}`);
  if (intents++ === 0 || !existsSync(f)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(f, "");
  }
  return f;
}

function endIntent(f: string): void {
  if (--intents === 0) rmSync(f, { force: true });
}

const BUSY = "the host network lock is held by an asynchronous change of this process";
/** True for hostLock's refusal while this process's asynchronous change holds the lock. */
export const isHostLockBusy = (e: unknown) => e instanceof EngineError && e.message === BUSY;

/** The in-process queue of host changes: each waits for the one before, then for the host-wide flock. */
let hostQueue: Promise<unknown> = Promise.resolve();
/** True while an asynchronous host change of this process holds (or waits for) the host lock. */
let asyncHeld = 0;

function lockFile(): number {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  return openSync(join(RUN_DIR, "network.lock"), "a", 0o600);
}

/**
 * Serialises host changes across processes and data roots (bridges and iptables are host-wide). This
 * synchronous form (crash recovery) cannot wait for an asynchronous change of its own process, which needs
 * the event loop it would block: it refuses then, and its caller tries again later.
 */
export function hostLock<T>(fn: () => T): T {
  if (asyncHeld) throw new EngineError("system", BUSY);
  const fd = lockFile();
  try {
    for (let i = 0; !sys().flock(fd, LOCK.EX | LOCK.NB); i++) Bun.sleepSync(Math.min(2 ** i, 50));
    return fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * hostLock for changes that await their spawns: the event loop stays free while `ip` and iptables run and
 * while another process holds the lock. Within a process the changes queue (no polling between them); across
 * processes the flock (one per open file description) serialises them as the synchronous form does.
 */
export function hostLockAsync<T>(fn: () => Promise<T>): Promise<T> {
  asyncHeld++;
  const mine = hostQueue.then(async () => {
    const fd = lockFile();
    try {
      // A non-blocking flock polled: a blocking one would stall the event loop (why not flock(LOCK_EX)).
      for (let i = 0; !sys().flock(fd, LOCK.EX | LOCK.NB); i++) await Bun.sleep(Math.min(2 ** i, 50));
      return await fn();
    } finally {
      closeSync(fd);
    }
  });
  const settled = mine.finally(() => asyncHeld--);
  hostQueue = settled.catch(() => {});
  return settled;
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

/**
 * Creates the network's bridge and rules unless the bridge already exists. The bridge is made while the
 * rules are read (two spawns at once), and the rules go in with one iptables-restore.
 */
export async function ensureNetworkHost(engine: Engine, net: Network): Promise<void> {
  if (!net.bridge) return;
  if (host.linkExists(net.bridge)) return ensureSharedBridgeRules(engine, net);
  const bridge = parseBridgeName(net.bridge);
  const subnet = parseCidr(net.subnet!);
  const gateway = parseIPv4(net.gateway!);
  // Parsed before anything is made: a row that does not parse fails here.
  const rules = kernelPath(engine) ? rulesOf(engine, net) : undefined;
  await withIntentAsync(engine, () =>
    hostLockAsync(async () => {
      if (host.linkExists(bridge)) return;
      if (rules) registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
      const made = host.createBridge(bridge, gateway, subnet.prefix, macFor(gateway), netTag(engine, net), Number(net.options["com.docker.network.driver.mtu"]) || undefined);
      const saved = rules ? host.currentRules() : undefined;
      // Both settle before either's failure is reported: nothing of this change runs on after it.
      const [bridgeMade, savedRules] = await Promise.allSettled([made, saved]);
      if (bridgeMade.status === "rejected") throw bridgeMade.reason;
      if (savedRules.status === "rejected") throw savedRules.reason;
      if (rules) await applyNetworkRules(engine, net, rules, savedRules.value!);
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

type NetworkRules = ReturnType<typeof rulesOf>;

/** The batch that adds what `saved` lacks of the base and of a network's rules. */
function networkBatch(engine: Engine, rules: NetworkRules, saved: host.RuleSet) {
  const batch = newBatch();
  ensureBase(engine, saved, batch);
  for (const t of ["raw", "filter", "nat"] as const) for (const l of rules[t]) if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
  return batch;
}

/**
 * The chains and this data root's rules of a network, those missing, then route_localnet on its bridge (the
 * caller holds the host lock). The data root is recorded as owning rules (roots.ts) first, so that deleting
 * it cannot orphan them.
 */
export function addNetworkRules(engine: Engine, net: Network): void {
  const rules = rulesOf(engine, net);
  registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
  host.restoreRules(networkBatch(engine, rules, host.saveRules()));
  recordNetworkRules(engine, net, rules);
  host.setRouteLocalnet(parseBridgeName(net.bridge!), true);
}

/** addNetworkRules off the event loop, from rules already read (the caller holds the host lock and registered the root). */
async function applyNetworkRules(engine: Engine, net: Network, rules: NetworkRules, seen: host.SeenRules): Promise<void> {
  await host.restoreSeen(networkBatch(engine, rules, seen.saved), seen);
  recordNetworkRules(engine, net, rules);
  host.setRouteLocalnet(parseBridgeName(net.bridge!), true);
}

/** Where the rules a user network got are listed, so that its removal deletes them without reading iptables. */
const rulesFile = (engine: Engine, net: Network) => join(netDir(engine), `${net.id}.rules`);

/** Adds a network's rules to its list (a union: rules made under other settings, --ip-masq, stay listed). */
function recordNetworkRules(engine: Engine, net: Network, rules: NetworkRules): void {
  if (net.bridge === DEFAULT_BRIDGE) return; // bunker0 is never removed by `network rm`
  const known = knownNetworkRules(engine, net) ?? { raw: [], filter: [], nat: [] };
  for (const t of ["raw", "filter", "nat"] as const) for (const l of rules[t]) if (!known[t].includes(l)) known[t].push(l);
  mkdirSync(netDir(engine), { recursive: true, mode: 0o700 });
  writeFileSync(rulesFile(engine, net), JSON.stringify(known));
}

/** The rules a network's list names, or undefined (none made yet, or an older build's network). */
function knownNetworkRules(engine: Engine, net: Network): Record<"raw" | "filter" | "nat", string[]> | undefined {
  try {
    const v = JSON.parse(readFileSync(rulesFile(engine, net), "utf8"));
    const tag = netTag(engine, net);
    // Only lines of the network's own tag are ever deleted from it (a damaged file cannot name others').
    const ok = (x: unknown) => Array.isArray(x) && x.every((l) => typeof l === "string" && host.ruleComment(l) === tag && /^-A [A-Z0-9-]+ /.test(l));
    return ok(v.raw) && ok(v.filter) && ok(v.nat) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * bunker0 is every data root's, but its rules carry the tag of the root that made it and go with that root
 * (its clean-up, or its data root wiped): a root on another root's bunker0 keeps its own tagged copy of them
 * (identical rules twice are harmless), checked once per process. The maker itself pays one alias read.
 */
async function ensureSharedBridgeRules(engine: Engine, net: Network): Promise<void> {
  const st = netState(engine);
  if (st.sharedChecked || net.bridge !== DEFAULT_BRIDGE || host.linkAlias(net.bridge) === netTag(engine, net)) return;
  st.sharedChecked = true;
  if (!kernelPath(engine)) return;
  const rules = rulesOf(engine, net);
  await withIntentAsync(engine, () =>
    hostLockAsync(async () => {
      registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
      await applyNetworkRules(engine, net, rules, await host.currentRules());
    }),
  );
}

/** The batch deleting the saved rules whose comment passes `match`. */
function deletionBatch(match: (comment: string) => boolean, saved: host.RuleSet): host.RuleBatch {
  const batch: host.RuleBatch = {};
  for (const [table, rules] of Object.entries(saved.rules)) {
    const lines = rules.filter((l) => {
      const c = host.ruleComment(l);
      return c !== undefined && match(c);
    });
    if (lines.length) batch[table] = { lines: lines.map((l) => l.replace(/^-A /, "-D ")) };
  }
  return batch;
}

/** Deletes the rules whose comment passes `match` (this data root's only, by tag). */
export function deleteRules(match: (comment: string) => boolean, saved = host.saveRules()): void {
  host.restoreRules(deletionBatch(match, saved));
}

/** deleteRules off the event loop (the caller holds the host lock). */
export async function deleteRulesAsync(match: (comment: string) => boolean): Promise<void> {
  const seen = await host.currentRules();
  await host.restoreSeen(deletionBatch(match, seen.saved), seen);
}

/**
 * Deletes rules known to be there (the lines as they were added, per table) with one iptables-restore and
 * no iptables-save; if one is not there after all (deleted by hand, a crash part-way), the rules of `tag`
 * are read and deleted instead (the caller holds the host lock).
 */
export async function deleteKnownRules(known: Record<string, string[]>, tag: string): Promise<void> {
  const batch: host.RuleBatch = {};
  for (const [table, lines] of Object.entries(known)) if (lines.length) batch[table] = { lines: lines.map((l) => l.replace(/^-A /, "-D ")) };
  try {
    await host.restoreSeen(batch, host.cachedRules());
  } catch {
    // Each table commits on its own: what the failed table still has goes by its tag.
    await deleteRulesAsync((c) => c === tag);
  }
}

/** Removes a network's rules and bridge: both at once (the rules name the bridge only as text). */
export async function teardownNetworkHost(engine: Engine, net: Network): Promise<void> {
  if (!net.bridge) return;
  const tag = netTag(engine, net);
  await withIntentAsync(engine, () =>
    hostLockAsync(async () => {
      const known = knownNetworkRules(engine, net);
      const rules = kernelPath(engine) ? (known ? deleteKnownRules(known, tag) : deleteRulesAsync((c) => c === tag)) : undefined;
      // A bridge of another data root with the same name (bunker0 shared) is left alone. Its deletion
      // finishes after this returns (retireBridge); it is out of service before.
      if (host.linkExists(net.bridge!) && host.linkAlias(net.bridge!) === tag) host.retireBridge(parseBridgeName(net.bridge!), net.gateway ? parseIPv4(net.gateway) : null, net.subnet ? parseCidr(net.subnet).prefix : 32);
      dropClaimsDir(net.bridge!);
      await rules;
      rmSync(rulesFile(engine, net), { force: true });
    }),
  );
}
