/**
 * The host side of networking, as mechanism: bridges (rtnetlink requests, rtnl.ts), sysctls (plain file writes), and
 * iptables rules in bunker's own chains, read with iptables-save and changed with one iptables-restore
 * --noflush batch. Every rule bunker adds carries a comment naming its owner (`bunker` for the shared jumps,
 * `bunker:<root tag>:net:<id12>` for a network's rules, `bunker:<root tag>:ctr:<id12>` for a container's
 * published ports), so removal and reconciliation delete exactly bunker's rules of this data root, whatever
 * else (Docker, another data root) uses the same tables.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants } from "node:os";
import { sys } from "../../sys/index.ts";
import { EngineError } from "../errors.ts";
import { RUN_DIR } from "./roots.ts";
import { randomHex } from "../random.ts";
import * as rtnl from "./rtnl.ts";
import { cidrString, parseBridgeName, parseIPv4, type BridgeName, type Cidr, type IPv4 } from "./ipam.ts";

/** A short tag for a data root, in rule comments and bridge aliases. */
export const rootTag = (dataRoot: string) => new Bun.CryptoHasher("sha256").update(dataRoot).digest("hex").slice(0, 8);

function sh(cmd: string[], input?: string): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(cmd, { stdin: input !== undefined ? new TextEncoder().encode(input) : "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? 1, out: r.stdout.toString(), err: r.stderr.toString() };
}

/**
 * `sh` off the event loop: while `ip` or iptables runs, the engine goes on with other containers' work (the
 * other services of a compose project, the daemon's other requests).
 */
async function run(cmd: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdin: input !== undefined ? new TextEncoder().encode(input) : "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

let usable: boolean | undefined;

/**
 * True when the kernel path (iptables) is usable here: its tools are installed and we hold CAP_NET_ADMIN (an
 * unprivileged or capability-trimmed environment has the tools but cannot change rules). Checked without a
 * spawn, once per process; a host whose iptables is present but broken takes `--iptables=false`.
 */
export function iptablesAvailable(): boolean {
  if (usable !== undefined) return usable;
  let capEff = 0n;
  try {
    capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
  } catch {}
  const CAP_NET_ADMIN = 12n;
  usable = Bun.which("iptables-restore") !== null && Bun.which("iptables-save") !== null && ((capEff >> CAP_NET_ADMIN) & 1n) === 1n;
  return usable;
}

export const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);

/** A link's index, what rtnetlink requests name it by; undefined when there is no such link. */
function linkIndex(name: BridgeName): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${parseBridgeName(name)}/ifindex`, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The ports of a bridge by the address their alias names: the shim sets a veth's alias to the address of its
 * peer. After a container's exit the kernel dismantles its netns asynchronously, tens of ms later or more on a
 * busy VM, and until then that veth stays on the bridge and its stack answers ARP for the address, with the
 * same MAC, and resets connections: whoever got the address meanwhile would lose traffic to it.
 */
export function portAddresses(bridge: string): Map<string, string> {
  const out = new Map<string, string>();
  let ports: string[] = [];
  try {
    ports = readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return out;
  }
  for (const port of ports) {
    const ip = linkAlias(port);
    if (ip) out.set(ip, port);
  }
  return out;
}

/** Links of a kind whose name passes `filter`, from sysfs (no spawn). */
export function links(filter: (name: string) => boolean): string[] {
  try {
    return readdirSync("/sys/class/net").filter(filter);
  } catch {
    return [];
  }
}

export function linkAlias(name: string): string {
  try {
    return readFileSync(`/sys/class/net/${name}/ifalias`, "utf8").trim();
  } catch {
    return "";
  }
}

export function linkMaster(name: string): string | undefined {
  try {
    return readlinkSync(`/sys/class/net/${name}/master`).split("/").pop();
  } catch {
    return undefined;
  }
}

/** Writes a sysctl under /proc/sys; returns the previous value ("" if unreadable). */
export function sysctl(path: string, value: string): string {
  const p = `/proc/sys/${path}`;
  let old = "";
  try {
    old = readFileSync(p, "utf8").trim();
    if (old !== value) writeFileSync(p, value);
  } catch {}
  return old;
}

/**
 * Creates a bridge with its gateway address, a fixed MAC (so it never changes as ports join: containers'
 * ARP entries for the gateway stay right), an alias naming its owner, and brings it up: `ip`'s four steps as
 * four rtnetlink requests (rtnl.ts), each done when the kernel acknowledges it, no process spawned. Only
 * checked values reach them; a failed step deletes the bridge again.
 */
export async function createBridge(name: BridgeName, gateway: IPv4, prefix: number, mac: string, alias: string, mtu?: number): Promise<void> {
  if (parseBridgeName(name) !== name || parseIPv4(gateway) !== gateway || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new EngineError("system", "refusing an unchecked value for ip");
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) || !TAG.test(alias) || (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535))) throw new EngineError("system", "refusing an unchecked value for ip");
  const fail = (step: string, errno: number) => new EngineError("system", `failed to create bridge ${name}: ${step}: ${errnoNames.get(errno) ?? `errno ${errno}`}`);
  const made = sys().routeRequest(rtnl.newBridge(name));
  if (made !== 0) throw fail("link add", made);
  const index = linkIndex(name) ?? 0;
  const steps: [string, () => Uint8Array][] = [
    ["link set", () => rtnl.setLink(index, mac, alias, mtu)],
    ["addr add", () => rtnl.addAddress(index, gateway, prefix)],
    ["link up", () => rtnl.linkUp(index)],
  ];
  for (const [step, request] of steps) {
    const errno = index > 0 ? sys().routeRequest(request()) : constants.errno.ENODEV;
    if (errno !== 0) {
      await run(["ip", "link", "del", name]);
      throw fail(step, errno);
    }
  }
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, n]) => [n, k]));

/**
 * route_localnet on a bridge: published ports on 127.0.0.1 are DNATed to containers through it (the kernel
 * path). Only turned on once the bridge's raw-table drop of 127.0.0.0/8 is in place (networkRules), so that
 * a container cannot address the host's loopback services through it.
 */
export function setRouteLocalnet(bridge: BridgeName, on: boolean): void {
  sysctl(`net/ipv4/conf/${parseBridgeName(bridge)}/route_localnet`, on ? "1" : "0");
}

export function deleteLinks(names: string[]): void {
  if (names.length) sh(["ip", "-force", "-batch", "-"], `${names.map((n) => `link del ${n}`).join("\n")}\n`);
}

/** The names bridges get once retired (retireBridge): never a bridge's or a veth's (`bk<hex>`), within 15 characters. */
export const RETIRED_PREFIX = "bkr-";

/**
 * Takes a bridge out of service at once and leaves its deletion to a detached `ip link del`. The kernel's
 * RTM_DELLINK of a bridge waits out RCU grace periods (30-55 ms in this VM, measured with strace -T), which
 * `network rm` and `compose down` would otherwise wait for; the shim defers a container's namespace teardown
 * for the same reason. Before this returns, what must be gone is: its gateway address (and with it the host's
 * local route, so that a network made next may take the same subnet), its routes (the link is down), and its
 * name (renamed `bkr-<hex>`, so that a network made next may take the same bridge name). Its alias stays: a
 * deletion that never completes leaves a down bridge of a gone network, which reconciliation removes as any
 * other. Any step refused: the bridge is deleted here, the slow way.
 */
export function retireBridge(name: BridgeName, gateway: IPv4 | null, prefix: number): void {
  const index = linkIndex(name);
  if (index === undefined) return; // gone already
  const retired = `${RETIRED_PREFIX}${randomHex(4)}`;
  // rtnetlink, each step acknowledged: an address the link lacks (EADDRNOTAVAIL) is no reason to stop.
  const addressGone = gateway === null || [0, constants.errno.EADDRNOTAVAIL].includes(sys().routeRequest(rtnl.deleteAddress(index, gateway, prefix)));
  if (!addressGone || sys().routeRequest(rtnl.linkDown(index)) !== 0 || sys().routeRequest(rtnl.renameLink(index, retired)) !== 0) {
    deleteLinks([name]);
    return;
  }
  // Detached: nothing waits for it, and it outlives an in-process CLI that exits now.
  Bun.spawn(["ip", "link", "del", retired], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).unref();
}

/** iptables rules by table, as iptables-save prints them. */
export interface RuleSet {
  chains: Record<string, Set<string>>;
  rules: Record<string, string[]>;
}

export function saveRules(): RuleSet {
  return parseSaved(sh(["iptables-save"]));
}

/** saveRules off the event loop. */
async function saveRulesAsync(): Promise<RuleSet> {
  return parseSaved(await run(["iptables-save"]));
}

function parseSaved(r: { code: number; out: string; err: string }): RuleSet {
  if (r.code !== 0) throw new EngineError("system", `iptables-save: ${r.err.trim()}`);
  const out: RuleSet = { chains: {}, rules: {} };
  let table = "";
  for (const line of r.out.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      out.chains[table] = new Set();
      out.rules[table] = [];
    } else if (line.startsWith(":")) out.chains[table]!.add(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A ")) out.rules[table]!.push(line);
  }
  return out;
}

/** A rule batch for restoreRules: per table, chain declarations (new chains only) then rule lines. */
export type RuleBatch = Record<string, { chains?: string[]; lines: string[] }>;

/** Applies a batch: per table, chain declarations (new chains only) then rule lines. */
export function restoreRules(batch: RuleBatch): void {
  const text = restoreText(batch);
  if (text) restored(sh(["iptables-restore", "--noflush", "-w"], text), text);
}

/** restoreRules off the event loop. */
async function restoreRulesAsync(batch: RuleBatch): Promise<void> {
  const text = restoreText(batch);
  if (text) restored(await run(["iptables-restore", "--noflush", "-w"], text), text);
}

function restoreText(batch: RuleBatch): string {
  let text = "";
  for (const [table, b] of Object.entries(batch)) {
    if (!b.lines.length && !b.chains?.length) continue;
    text += `*${table}\n${(b.chains ?? []).map((c) => `:${c} - [0:0]`).join("\n")}${b.chains?.length ? "\n" : ""}${b.lines.join("\n")}\nCOMMIT\n`;
  }
  return text;
}

function restored(r: { code: number; err: string }, text: string): void {
  if (r.code !== 0) throw new EngineError("system", `iptables-restore: ${r.err.trim()}\n${text}`);
}

// ------------------------------------------------------------------ the rules as last seen

/**
 * The rules as bunker last saw them, at an nf_tables generation (RUN_DIR/rules.json, written under the host
 * lock). Every committed change to any nf_tables table, by anyone, moves the generation on: while it has not
 * moved, the copy is exact and iptables-save need not run. A change of bunker's own moves it by one per
 * table committed; when it moved by exactly that, the copy with the change applied is exact again.
 */
const RULES_CACHE = join(RUN_DIR, "rules.json");

let nftBackend: boolean | undefined;

/** The nf_tables generation when iptables is its nft flavour (the legacy one changes rules it does not count). */
function generation(): number | undefined {
  if (nftBackend === undefined) {
    try {
      nftBackend = /nft/.test(realpathSync(Bun.which("iptables-restore") ?? ""));
    } catch {
      nftBackend = false;
    }
  }
  return nftBackend ? sys().nftGeneration() : undefined;
}

/** Rules read at a generation (undefined: not known to be exact any longer). */
export interface SeenRules {
  saved: RuleSet;
  gen?: number;
}

function readCache(gen: number): RuleSet | undefined {
  try {
    const c = JSON.parse(readFileSync(RULES_CACHE, "utf8")) as { gen: number; chains: Record<string, string[]>; rules: Record<string, string[]> };
    if (c.gen !== gen) return undefined;
    const lines = Object.values(c.rules).flat();
    if (!lines.every((l) => typeof l === "string" && l.startsWith("-A ") && !l.includes("\n"))) return undefined;
    return { chains: Object.fromEntries(Object.entries(c.chains).map(([t, cs]) => [t, new Set(cs)])), rules: c.rules };
  } catch {
    return undefined;
  }
}

function writeCache(gen: number, saved: RuleSet): void {
  try {
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    const tmp = `${RULES_CACHE}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ gen, chains: Object.fromEntries(Object.entries(saved.chains).map(([t, cs]) => [t, [...cs]])), rules: saved.rules }), { mode: 0o600 });
    renameSync(tmp, RULES_CACHE);
  } catch {
    rmSync(RULES_CACHE, { force: true });
  }
}

/** The rules as they are (the caller holds the host lock): the copy when it is still exact, else iptables-save. */
export async function currentRules(): Promise<SeenRules> {
  const gen = generation();
  const cached = gen === undefined ? undefined : readCache(gen);
  if (cached) return { saved: cached, gen };
  const saved = await saveRulesAsync();
  // Exact only if nothing changed while iptables-save ran.
  if (gen === undefined || generation() !== gen) return { saved };
  writeCache(gen, saved);
  return { saved, gen };
}

/** The copy when it is exact, without reading iptables otherwise (the caller holds the host lock). */
export function cachedRules(): SeenRules | undefined {
  const gen = generation();
  const cached = gen === undefined ? undefined : readCache(gen);
  return cached ? { saved: cached, gen } : undefined;
}

/** restoreRulesAsync from rules `before` seen exactly: the copy then becomes the rules after the batch. */
export async function restoreSeen(batch: RuleBatch, before?: SeenRules): Promise<void> {
  const text = restoreText(batch);
  if (!text) return;
  await restoreRulesAsync(batch);
  if (before?.gen === undefined) return;
  const tables = text.split("\n").filter((l) => l === "COMMIT").length;
  const after = applyBatch(before.saved, batch);
  // Moved by more: someone else changed something meanwhile, and the copy (left at its generation) is unused.
  if (after && generation() === (before.gen + tables) >>> 0) writeCache((before.gen + tables) >>> 0, after);
}

/**
 * The rules after a batch that iptables-restore applied: -A appends, "-I CHAIN 1" inserts first, -D removes,
 * chain declarations add. Undefined when the batch holds anything else, or deletes a rule the rules lack.
 */
export function applyBatch(saved: RuleSet, batch: RuleBatch): RuleSet | undefined {
  const out: RuleSet = { chains: {}, rules: {} };
  for (const [t, cs] of Object.entries(saved.chains)) out.chains[t] = new Set(cs);
  for (const [t, rs] of Object.entries(saved.rules)) out.rules[t] = [...rs];
  for (const [table, b] of Object.entries(batch)) {
    const chains = (out.chains[table] ??= new Set());
    const rules = (out.rules[table] ??= []);
    for (const c of b.chains ?? []) chains.add(c);
    for (const l of b.lines) {
      const first = /^-I (\S+) 1 (.*)$/.exec(l);
      if (l.startsWith("-A ")) rules.push(l);
      else if (first) rules.unshift(`-A ${first[1]} ${first[2]}`);
      else if (l.startsWith("-D ")) {
        const i = rules.indexOf(l.replace(/^-D /, "-A "));
        if (i < 0) return undefined;
        rules.splice(i, 1);
      } else if (!l.startsWith("-P ")) return undefined;
    }
  }
  return out;
}

/** bunker's chains, per table. */
export const CHAINS = { filter: ["BUNKER", "BUNKER-FORWARD", "BUNKER-ISOLATION-1", "BUNKER-ISOLATION-2"], nat: ["BUNKER", "BUNKER-POSTROUTING"] } as const;

/** The shared jumps into bunker's chains (comment "bunker"), in iptables-save's form. */
export const JUMPS = {
  filter: ["-A FORWARD -m comment --comment bunker -j BUNKER-FORWARD", "-A BUNKER-FORWARD -m comment --comment bunker -j BUNKER-ISOLATION-1"],
  nat: [
    "-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment bunker -j BUNKER",
    "-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment bunker -j BUNKER",
    "-A POSTROUTING -m comment --comment bunker -j BUNKER-POSTROUTING",
  ],
} as const;

/** A rule comment bunker writes: the shared "bunker" or an owner's tag (root tag, kind, 12 hex digits). */
const TAG = /^bunker:[0-9a-f]{8}:(net|ctr):[0-9a-f]{12}$/;

/** Refuses anything but a checked value at the last step before rule text (the types say so; this proves it). */
function checked(ok: boolean): void {
  if (!ok) throw new EngineError("system", "refusing an unchecked value for iptables");
}

/**
 * A network's rules, in iptables-save's form. raw: nothing addressed to 127.0.0.0/8 that comes in on the
 * bridge reaches the host (route_localnet would let it through to host sockets bound to loopback; replies
 * to DNATed 127.0.0.1 connections are still addressed to the gateway here, before conntrack un-NATs them).
 */
export function networkRules(tag: string, bridge: BridgeName, subnet: Cidr, opts: { masquerade: boolean; internal: boolean; icc?: boolean }) {
  checked(TAG.test(tag) && parseBridgeName(bridge) === bridge && Number.isInteger(subnet.network) && Number.isInteger(subnet.prefix) && subnet.prefix >= 0 && subnet.prefix <= 32);
  const net = cidrString(subnet);
  const c = `-m comment --comment "${tag}"`;
  const raw = [`-A PREROUTING -d 127.0.0.0/8 -i ${bridge} ${c} -j DROP`];
  const nat = [`-A BUNKER-POSTROUTING -o ${bridge} -m addrtype --src-type LOCAL ${c} -j MASQUERADE`, `-A BUNKER-POSTROUTING -s ${net} -o ${bridge} -m conntrack --ctstate DNAT ${c} -j MASQUERADE`];
  if (opts.masquerade && !opts.internal) nat.unshift(`-A BUNKER-POSTROUTING -s ${net} ! -o ${bridge} ${c} -j MASQUERADE`);
  const filter = [
    `-A BUNKER-FORWARD -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED ${c} -j ACCEPT`,
    `-A BUNKER-FORWARD -o ${bridge} ${c} -j BUNKER`,
    ...(opts.internal ? [] : [`-A BUNKER-FORWARD -i ${bridge} ! -o ${bridge} ${c} -j ACCEPT`]),
    `-A BUNKER-FORWARD -i ${bridge} -o ${bridge} ${c} -j ${opts.icc === false ? "DROP" : "ACCEPT"}`,
    `-A BUNKER-ISOLATION-1 -i ${bridge} ! -o ${bridge} ${c} -j BUNKER-ISOLATION-2`,
    `-A BUNKER-ISOLATION-2 -o ${bridge} ${c} -j DROP`,
  ];
  return { raw, nat, filter };
}

/** True when the saved rules still drop 127.0.0.0/8 arriving on `bridge` (anyone's copy of networkRules' raw rule). */
export const dropsLoopback = (saved: RuleSet, bridge: string) => (saved.rules.raw ?? []).some((l) => l.startsWith(`-A PREROUTING -d 127.0.0.0/8 -i ${bridge} -m comment`) && l.endsWith(" -j DROP"));

/** A published port's rules: DNAT from the host port, and the forward ACCEPT to the container. */
export function portRules(tag: string, bridge: BridgeName, ip: IPv4, m: { proto: "tcp" | "udp"; hostIp: IPv4; hostPort: number; containerPort: number }) {
  const port = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  checked(TAG.test(tag) && parseBridgeName(bridge) === bridge && parseIPv4(ip) === ip && parseIPv4(m.hostIp) === m.hostIp && (m.proto === "tcp" || m.proto === "udp") && port(m.hostPort) && port(m.containerPort));
  const c = `-m comment --comment "${tag}"`;
  const dst = m.hostIp !== "0.0.0.0" ? `-d ${m.hostIp}/32 ` : "";
  return {
    nat: [`-A BUNKER ${dst}-p ${m.proto} -m ${m.proto} --dport ${m.hostPort} ${c} -j DNAT --to-destination ${ip}:${m.containerPort}`],
    filter: [`-A BUNKER -d ${ip}/32 ! -i ${bridge} -o ${bridge} -p ${m.proto} -m ${m.proto} --dport ${m.containerPort} ${c} -j ACCEPT`],
  };
}

/** The comment of a saved rule, or undefined. */
export const ruleComment = (line: string) => /--comment "?([^" ]+)"?/.exec(line)?.[1];
