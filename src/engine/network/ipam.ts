/**
 * IPv4 address management. Subnets and addresses are plain numbers here (pure, unit-tested); which address a
 * container holds is recorded in the database (endpoints) and claimed host-wide in /run/bunker/ipam, because
 * a bridge and its subnet are host-wide while each data root has its own database: two data roots (or two
 * engines) sharing bunker0 must never hand out the same address. A claim is a file linked into place with
 * its owner written (link(2) fails if the name exists), so it is atomic across processes without a lock and
 * never seen empty, and /run empties on reboot, when no container runs anyway.
 */
import { linkSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { invalidParameter } from "../errors.ts";

/** Four decimal octets and nothing else: what may reach `ip` or a rule as an address. */
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** "10.1.2.3" -> number; anything but four decimal octets 0-255 is refused. */
export function ipToNum(ip: string): number {
  const m = typeof ip === "string" ? DOTTED.exec(ip) : null;
  const p = m ? m.slice(1).map(Number) : [];
  if (!m || p.some((x) => x > 255)) throw invalidParameter(`invalid IP address: ${ip}`);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

/** An IPv4 address in canonical dotted form, only ever made by parseIPv4. */
export type IPv4 = string & { readonly __ipv4: unique symbol };

/** Parses an IPv4 address (refused with moby's "invalid IP address" otherwise) into its canonical form. */
export const parseIPv4 = (ip: string): IPv4 => numToIp(ipToNum(ip)) as IPv4;

/** A Linux interface name bunker may create (IFNAMSIZ-1 characters, no separators or blanks). */
export type BridgeName = string & { readonly __bridge: unique symbol };

/** Checks a bridge name as the kernel and `ip` take it; refused with a 400 otherwise. */
export function parseBridgeName(name: string): BridgeName {
  if (typeof name !== "string" || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidParameter(`invalid bridge name: ${JSON.stringify(name)}`);
  if (name.length > 15) throw invalidParameter(`bridge name ${name} is longer than 15 characters`);
  return name as BridgeName;
}

/** number -> "10.1.2.3". */
export function numToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** A parsed CIDR: network address, prefix length, and the address as written (for --bip's gateway). */
export interface Cidr {
  network: number;
  prefix: number;
  address: number;
}

/** Parses "a.b.c.d/n" strictly (net.ParseCIDR's "invalid CIDR address" otherwise). */
export function parseCidr(cidr: string): Cidr {
  const m = typeof cidr === "string" ? /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/.exec(cidr) : null;
  if (!m || Number(m[2]) > 32 || m[1]!.split(".").some((o) => Number(o) > 255)) throw invalidParameter(`invalid CIDR address: ${cidr}`);
  const prefix = Number(m[2]);
  const address = ipToNum(m[1]!);
  return { network: (address & maskOf(prefix)) >>> 0, prefix, address };
}

export const maskOf = (prefix: number) => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
export const cidrString = (c: { network: number; prefix: number }) => `${numToIp(c.network)}/${c.prefix}`;

/** True when two subnets share any address. */
export function overlaps(a: { network: number; prefix: number }, b: { network: number; prefix: number }): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0);
}

/** The first subnet of `size` bits from the pools that overlaps none of `taken`, as libnetwork picks one. */
export function pickSubnet(pools: { base: string; size: number }[], taken: { network: number; prefix: number }[]): Cidr | undefined {
  for (const pool of pools) {
    const base = parseCidr(pool.base);
    if (pool.size < base.prefix || pool.size > 30) continue;
    const count = 2 ** (pool.size - base.prefix);
    for (let i = 0; i < count; i++) {
      const cand = { network: (base.network + i * 2 ** (32 - pool.size)) >>> 0, prefix: pool.size, address: 0 };
      if (!taken.some((t) => overlaps(t, cand))) return { ...cand, address: cand.network + 1 };
    }
  }
  return undefined;
}

/** Subnets the host already routes (/proc/net/route: little-endian hex), so a new network avoids them. */
export function hostRoutes(text: string): { network: number; prefix: number }[] {
  const out: { network: number; prefix: number }[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (h: string) => {
      const n = parseInt(h, 16);
      return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
    };
    const dst = le(f[1]!);
    const mask = le(f[7]!);
    if (mask === 0) continue; // the default route overlaps everything and means nothing here
    const prefix = Math.clz32(~mask >>> 0); // a contiguous mask: its inverse's leading zeros are its ones
    out.push({ network: dst, prefix });
  }
  return out;
}

/** Docker's MAC for an address: 02:42 then the four address bytes. */
export function macFor(ip: string): string {
  const n = ipToNum(ip);
  return ["02", "42", ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** Where claims live: one directory per bridge, one file per claimed address. */
export const CLAIMS_DIR = process.env.BUNKER_RUN_DIR ? join(process.env.BUNKER_RUN_DIR, "ipam") : "/run/bunker/ipam";

/** Claims `ip` on `bridge` for an owner ("<data root> <container id>"); true if it is now ours (or already was). */
export function claim(bridge: string, ip: string, owner: string): boolean {
  const dir = join(CLAIMS_DIR, bridge);
  const path = join(dir, ip);
  // Already ours (every start claims its address again): no claim written aside, linked and removed.
  try {
    if (readFileSync(path, "utf8") === owner) return true;
  } catch {}
  // Written aside, then linked into place (link fails with EEXIST if the address is taken): a claim is never
  // seen empty. One made by open(O_EXCL) and then written stayed empty, and its address taken, for good when
  // its process was killed in between (abandonedClaim).
  const tmp = join(dir, `.${ip}.${process.pid}`);
  for (let attempt = 0; ; attempt++) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(tmp, owner, { mode: 0o600 });
      linkSync(tmp, path);
      return true;
    } catch (e: any) {
      // The directory went between mkdir and link (dropClaimsDir, as another network on this bridge went).
      if (e?.code === "ENOENT" && attempt < 3) continue;
      if (e?.code !== "EEXIST") throw e;
      try {
        return readFileSync(path, "utf8") === owner;
      } catch {
        return false;
      }
    } finally {
      rmSync(tmp, { force: true });
    }
  }
}

/**
 * Removes a bridge's claims directory once it holds no claim, as the bridge goes: otherwise every network
 * ever created would leave an empty directory in /run/bunker/ipam until the host reboots. Claims a killed
 * writer left aside (abandonedTemps) are no claims: they go first.
 */
export function dropClaimsDir(bridge: string): void {
  dropAbandonedTemps(bridge);
  try {
    // rmdir(2), not rm -r: a claim made meanwhile keeps the directory (ENOTEMPTY), and claim() remakes one
    // that went between its mkdir and its link.
    rmdirSync(join(CLAIMS_DIR, bridge));
  } catch {}
}

/**
 * An empty claim left by an earlier build's writer, killed between creating and writing it (claims are
 * linked into place written now, so none is empty for longer than that). For the clean-up under the host
 * lock; a claim newer than a few seconds is left to a writer that may still be at it.
 */
export function abandonedClaim(bridge: string, ip: string): boolean {
  const st = statSync(join(CLAIMS_DIR, bridge, ip), { throwIfNoEntry: false });
  return st !== undefined && st.size === 0 && Date.now() - st.mtimeMs > 10_000;
}

/**
 * Claims written aside (`.<ip>.<pid>`, claim()) that a writer killed between writing and removing one left:
 * any older than a few seconds (a writer holds one for microseconds). Left there, one keeps its bridge's
 * directory from ever going (dropClaimsDir). For the clean-up under the host lock.
 */
export function abandonedTemps(bridge: string): string[] {
  const dir = join(CLAIMS_DIR, bridge);
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith("."));
  } catch {}
  return names.filter((n) => Date.now() - (statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 10_000);
}

/** Removes a bridge's abandonedTemps (the caller holds the host lock). */
export function dropAbandonedTemps(bridge: string): void {
  for (const t of abandonedTemps(bridge)) rmSync(join(CLAIMS_DIR, bridge, t), { force: true });
}

/** Drops a claim if `owner` holds it. */
export function release(bridge: string, ip: string, owner: string): void {
  const path = join(CLAIMS_DIR, bridge, ip);
  try {
    if (readFileSync(path, "utf8") === owner) rmSync(path, { force: true });
  } catch {}
}

/** Every claim on a bridge: ip -> owner. */
export function claims(bridge: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(join(CLAIMS_DIR, bridge));
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith(".")) continue; // a claim being written (claim)
    try {
      out.set(n, readFileSync(join(CLAIMS_DIR, bridge, n), "utf8"));
    } catch {}
  }
  return out;
}

/**
 * A free address in the subnet, claimed for `owner`: the lowest not used in this data root and claimable
 * host-wide (network, gateway and broadcast excluded).
 */
export function allocate(bridge: string, subnet: Cidr, gateway: number, used: Set<string>, owner: string): string {
  const size = 2 ** (32 - subnet.prefix);
  for (let i = 1; i < size - 1; i++) {
    const n = (subnet.network + i) >>> 0;
    if (n === gateway) continue;
    const ip = numToIp(n);
    if (used.has(ip)) continue;
    if (claim(bridge, ip, owner)) return ip;
  }
  throw invalidParameter(`no available IPv4 addresses on this network's address pools: ${cidrString(subnet)}`);
}
