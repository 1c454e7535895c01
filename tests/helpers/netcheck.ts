/**
 * What bunker leaves on the host, per data root, for the networking tests: its iptables rules (by the
 * comment tag of the data root), its links (by the tag in their ifalias), its address claims under
 * /run/bunker/ipam, and the clean-up a test file runs at the end so a failed test leaves nothing either.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";

/** Runs a command synchronously; stdin optional. */
export const sh = (cmd: string[], input?: string) => {
  const r = Bun.spawnSync(cmd, { stdin: input ? new TextEncoder().encode(input) : "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

/** A TCP port free on 127.0.0.1 right now. */
export const freePort = () => {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
};

/** The tag bunker puts on a data root's rules and links: "bunker:" + sha256(data root)[:8]. */
export const rootTag = (dataRoot: string) => `bunker:${createHash("sha256").update(dataRoot).digest("hex").slice(0, 8)}`;

/** This data root's rules (by comment tag), links and claims: what must be gone at the end. */
export const leftovers = (dataRoot: string) => {
  const t = rootTag(dataRoot);
  const rules = sh(["iptables-save"]).out.split("\n").filter((l) => l.includes(t));
  const links = readdirSync("/sys/class/net").filter((n) => {
    let alias = "";
    try {
      alias = readFileSync(`/sys/class/net/${n}/ifalias`, "utf8");
    } catch {}
    return alias.startsWith(t);
  });
  const claims: string[] = [];
  for (const br of existsSync("/run/bunker/ipam") ? readdirSync("/run/bunker/ipam") : [])
    for (const ip of readdirSync(`/run/bunker/ipam/${br}`)) if (readFileSync(`/run/bunker/ipam/${br}/${ip}`, "utf8").startsWith(`${dataRoot} `)) claims.push(`${br}/${ip}`);
  return { rules, links, claims };
};

/** veths of ours ("bk" + 12 hex) enslaved to one of the given bridges. */
export const vethsOn = (bridges: string[]) =>
  readdirSync("/sys/class/net").filter((n) => {
    if (!/^bk[0-9a-f]{12}$/.test(n)) return false;
    try {
      return bridges.includes(readlinkSync(`/sys/class/net/${n}/master`).split("/").pop()!);
    } catch {
      return false;
    }
  });

/** Claim directories under /run/bunker/ipam of bridges that are gone: they hold nothing (a claim there is somebody's, and stays). */
export function removeStaleClaimDirs(): void {
  const claimsDir = "/run/bunker/ipam";
  const present = new Set(readdirSync("/sys/class/net"));
  for (const br of existsSync(claimsDir) ? readdirSync(claimsDir) : []) {
    if (present.has(br)) continue;
    try {
      rmdirSync(`${claimsDir}/${br}`); // only an empty one
    } catch {}
  }
}

/** Polls `fn` until it holds (true) or `ms` passed (false). */
export const until = async (fn: () => Promise<boolean> | boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(50);
  }
  return false;
};

/**
 * Whatever a failed test left of one data root: its rules by tag and its links; then bunker0 and bunker's
 * chains by name, but only when no other user (another data root's container) is on bunker0.
 */
export function purgeNetworking(dataRoot: string): void {
  const t = rootTag(dataRoot);
  const saved = sh(["iptables-save"]).out.split("\n");
  let table = "";
  const del: Record<string, string[]> = {};
  for (const l of saved) {
    if (l.startsWith("*")) table = l.slice(1);
    else if (l.startsWith("-A ") && l.includes(t)) (del[table] ??= []).push(l.replace(/^-A /, "-D "));
  }
  const batch = Object.entries(del).map(([tb, ls]) => `*${tb}\n${ls.join("\n")}\nCOMMIT\n`).join("");
  if (batch) sh(["iptables-restore", "--noflush", "-w"], batch);
  for (const n of readdirSync("/sys/class/net")) {
    let alias = "";
    try {
      alias = readFileSync(`/sys/class/net/${n}/ifalias`, "utf8");
    } catch {}
    if (alias.startsWith(t)) sh(["ip", "link", "del", n]);
  }
  if (existsSync("/sys/class/net/bunker0") && vethsOn(["bunker0"]).length === 0) sh(["ip", "link", "del", "bunker0"]);
  removeStaleClaimDirs();
  // The shared chains go once no data root has a bridge or a rule left (bunker0 may have gone before).
  if (!readdirSync("/sys/class/net").some((n) => n === "bunker0" || n.startsWith("bk-"))) {
    const left = sh(["iptables-save"]).out;
    if (/comment bunker /.test(left) && !/comment "bunker:/.test(left)) {
      const flush = [
        "*filter",
        "-D FORWARD -m comment --comment bunker -j BUNKER-FORWARD",
        ...["BUNKER-FORWARD", "BUNKER", "BUNKER-ISOLATION-1", "BUNKER-ISOLATION-2"].flatMap((c) => [`-F ${c}`, `-X ${c}`]),
        "COMMIT",
        "*nat",
        "-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment bunker -j BUNKER",
        "-D OUTPUT -m addrtype --dst-type LOCAL -m comment --comment bunker -j BUNKER",
        "-D POSTROUTING -m comment --comment bunker -j BUNKER-POSTROUTING",
        ...["BUNKER", "BUNKER-POSTROUTING"].flatMap((c) => [`-F ${c}`, `-X ${c}`]),
        "COMMIT",
        "",
      ].join("\n");
      sh(["iptables-restore", "--noflush", "-w"], flush);
    }
  }
}

/** GET with retries while the server in a container starts (nginx takes a moment). */
export const get = async (url: string) => {
  for (let i = 0; ; i++) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2000) });
    } catch (e) {
      if (i > 40) throw e;
      await Bun.sleep(100);
    }
  }
};
