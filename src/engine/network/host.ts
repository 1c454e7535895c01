/**
 * The host side of networking, as mechanism: bridges (ip -batch, one spawn), sysctls (plain file writes), and
 * iptables rules in bunker's own chains, read with iptables-save and changed with one iptables-restore
 * --noflush batch. Every rule bunker adds carries a comment naming its owner (`bunker` for the shared jumps,
 * `bunker:<root tag>:net:<id12>` for a network's rules, `bunker:<root tag>:ctr:<id12>` for a container's
 * published ports), so removal and reconciliation delete exactly bunker's rules of this data root, whatever
 * else (Docker, another data root) uses the same tables.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { EngineError } from "../errors.ts";

/** A short tag for a data root, in rule comments and bridge aliases. */
export const rootTag = (dataRoot: string) => new Bun.CryptoHasher("sha256").update(dataRoot).digest("hex").slice(0, 8);

function sh(cmd: string[], input?: string): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(cmd, { stdin: input !== undefined ? new TextEncoder().encode(input) : "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? 1, out: r.stdout.toString(), err: r.stderr.toString() };
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
 * ARP entries for the gateway stay right), an alias naming its owner, route_localnet (published ports on
 * 127.0.0.1 are DNATed to it, as Docker does without its userland proxy), and brings it up.
 */
export function createBridge(name: string, gatewayCidr: string, mac: string, alias: string, mtu?: number): void {
  const lines = [
    `link add name ${name} type bridge`,
    `link set dev ${name} address ${mac}${mtu ? ` mtu ${mtu}` : ""} alias ${alias}`,
    `addr add ${gatewayCidr} dev ${name}`,
    `link set dev ${name} up`,
  ];
  const r = sh(["ip", "-batch", "-"], `${lines.join("\n")}\n`);
  if (r.code !== 0) {
    sh(["ip", "link", "del", name]);
    throw new EngineError("system", `failed to create bridge ${name}: ${r.err.trim()}`);
  }
  sysctl(`net/ipv4/conf/${name}/route_localnet`, "1");
}

export function deleteLinks(names: string[]): void {
  if (names.length) sh(["ip", "-force", "-batch", "-"], `${names.map((n) => `link del ${n}`).join("\n")}\n`);
}

/** iptables rules by table, as iptables-save prints them. */
export interface RuleSet {
  chains: Record<string, Set<string>>;
  rules: Record<string, string[]>;
}

export function saveRules(): RuleSet {
  const r = sh(["iptables-save"]);
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

/** Applies a batch: per table, chain declarations (new chains only) then rule lines. */
export function restoreRules(batch: Record<string, { chains?: string[]; lines: string[] }>): void {
  let text = "";
  for (const [table, b] of Object.entries(batch)) {
    if (!b.lines.length && !b.chains?.length) continue;
    text += `*${table}\n${(b.chains ?? []).map((c) => `:${c} - [0:0]`).join("\n")}${b.chains?.length ? "\n" : ""}${b.lines.join("\n")}\nCOMMIT\n`;
  }
  if (!text) return;
  const r = sh(["iptables-restore", "--noflush", "-w"], text);
  if (r.code !== 0) throw new EngineError("system", `iptables-restore: ${r.err.trim()}\n${text}`);
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

/** A network's rules (bridge, subnet), in iptables-save's form. */
export function networkRules(tag: string, bridge: string, subnet: string, opts: { masquerade: boolean; internal: boolean }) {
  const c = `-m comment --comment "${tag}"`;
  const nat = [`-A BUNKER-POSTROUTING -o ${bridge} -m addrtype --src-type LOCAL ${c} -j MASQUERADE`, `-A BUNKER-POSTROUTING -s ${subnet} -o ${bridge} -m conntrack --ctstate DNAT ${c} -j MASQUERADE`];
  if (opts.masquerade && !opts.internal) nat.unshift(`-A BUNKER-POSTROUTING -s ${subnet} ! -o ${bridge} ${c} -j MASQUERADE`);
  const filter = [
    `-A BUNKER-FORWARD -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED ${c} -j ACCEPT`,
    `-A BUNKER-FORWARD -o ${bridge} ${c} -j BUNKER`,
    ...(opts.internal ? [] : [`-A BUNKER-FORWARD -i ${bridge} ! -o ${bridge} ${c} -j ACCEPT`]),
    `-A BUNKER-FORWARD -i ${bridge} -o ${bridge} ${c} -j ACCEPT`,
    `-A BUNKER-ISOLATION-1 -i ${bridge} ! -o ${bridge} ${c} -j BUNKER-ISOLATION-2`,
    `-A BUNKER-ISOLATION-2 -o ${bridge} ${c} -j DROP`,
  ];
  return { nat, filter };
}

/** A published port's rules: DNAT from the host port, and the forward ACCEPT to the container. */
export function portRules(tag: string, bridge: string, ip: string, m: { proto: string; hostIp: string; hostPort: number; containerPort: number }) {
  const c = `-m comment --comment "${tag}"`;
  const dst = m.hostIp && m.hostIp !== "0.0.0.0" ? `-d ${m.hostIp}/32 ` : "";
  return {
    nat: [`-A BUNKER ${dst}-p ${m.proto} -m ${m.proto} --dport ${m.hostPort} ${c} -j DNAT --to-destination ${ip}:${m.containerPort}`],
    filter: [`-A BUNKER -d ${ip}/32 ! -i ${bridge} -o ${bridge} -p ${m.proto} -m ${m.proto} --dport ${m.containerPort} ${c} -j ACCEPT`],
  };
}

/** The comment of a saved rule, or undefined. */
export const ruleComment = (line: string) => /--comment "?([^" ]+)"?/.exec(line)?.[1];
