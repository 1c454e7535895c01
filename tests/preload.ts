/**
 * Test preload: every test process gets its own data root, Docker config dir and daemon.json under a temp
 * dir, so tests never touch /var/lib/bunker or ~/.docker and can run in parallel.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll } from "bun:test";
import { join } from "node:path";
import { purgeNetworking, removeStaleClaimDirs } from "./helpers/netcheck.ts";

const base = mkdtempSync(join(tmpdir(), "bunker-test-"));
process.env.BUNKER_DATA_ROOT ??= join(base, "root");
process.env.DOCKER_CONFIG ??= join(base, "docker-config");
process.env.BUNKER_CONFIG_FILE ??= join(base, "daemon.json");
// First of the hooks (they run in order): leftover containers go before bridges and rules are looked at.
afterAll(() => {
  const temps: Set<string> = (globalThis as any).__bunkerE2eTemps ?? new Set();
  for (const dir of [...temps, base]) removeContainers(dir);
}, 120_000);
// Containers in tests reach nothing beyond this machine. Forwarding stays on (hairpin through a published
// port is routed), but there is no outbound NAT, and a test-owned rule drops whatever would leave a bunker
// bridge (bunker0, bk-*) for another interface. It sits in the mangle table's FORWARD chain, which the kernel
// traverses before the filter table's, so no ACCEPT of the engine's can come first. The host's forwarding
// switch and FORWARD policy (which creating bunker0 changes, as dockerd does) are put back afterwards.
if (!existsSync(process.env.BUNKER_CONFIG_FILE)) writeFileSync(process.env.BUNKER_CONFIG_FILE, JSON.stringify({ "ip-masq": false }));
if (process.getuid?.() === 0) guardEgress();

function guardEgress() {
  const sh = (...cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  const forward = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
  const policy = /^-P FORWARD (\w+)/m.exec(sh("iptables", "-S", "FORWARD").stdout.toString())?.[1] ?? "ACCEPT";
  const rules = [
    ["FORWARD", "-i", "bunker0", "!", "-o", "bunker0", "-m", "comment", "--comment", "bunker-test-no-egress", "-j", "DROP"],
    ["FORWARD", "-i", "bk-+", "!", "-o", "bk-+", "-m", "comment", "--comment", "bunker-test-no-egress", "-j", "DROP"],
  ];
  const mangle = (op: string, r: string[]) => sh("iptables", "-t", "mangle", op, ...r);
  for (const r of rules) if (mangle("-C", r).exitCode !== 0) mangle("-I", r);
  afterAll(() => {
    // Bridges no container is attached to any more go (bunker keeps bunker0 between runs, as dockerd its
    // docker0). Another test process may still run containers: the rules go only when no bridge is left.
    const links = () => (sh("ip", "-br", "link").stdout ?? "").toString().split("\n").map((l) => l.split(/\s+/)[0]!);
    for (const br of links().filter((l) => /^(bunker0|bk-)/.test(l))) {
      if (!(sh("ip", "-br", "link", "show", "master", br).stdout ?? "").toString().trim()) sh("ip", "link", "del", br);
    }
    // Claim directories of bridges that are gone (deleted above, or with their network) hold nothing.
    removeStaleClaimDirs();
    // This process's data roots are about to go: what they own (rules in every table, the raw loopback drops
    // too, links, claims) goes by their tag now, before the shared chains are looked at, and so do their
    // entries in the engine's registry (network/roots.ts), since no later engine start may come to do it.
    purgeOwnRoots();
    if (!links().some((l) => /^(bunker0|bk-)/.test(l))) {
      for (const r of rules) mangle("-D", r);
      removeBunkerChains(sh);
    }
    writeFileSync("/proc/sys/net/ipv4/ip_forward", forward);
    sh("iptables", "-P", "FORWARD", policy);
  });
}
// A preload's afterAll runs once, after every test file (process exit handlers do not run under bun test):
// daemons the e2e helper started (tests/helpers/bunker.ts) stop first, then the temp dir goes.
afterAll(async () => {
  const daemons: Set<ReturnType<typeof Bun.spawn>> = (globalThis as any).__bunkerE2eDaemons ?? new Set();
  for (const d of daemons) d.kill("SIGTERM");
  await Promise.all([...daemons].map((d) => d.exited));
  const temps: Set<string> = (globalThis as any).__bunkerE2eTemps ?? new Set();
  for (const dir of [...temps, base]) rmSync(dir, { recursive: true, force: true });
}, 300_000); // removing dozens of data roots with unpacked images takes longer than the 5 s hook default

/** Purges the networking of every data root of this process that the engine's registry names, by its tag. */
function purgeOwnRoots() {
  const temps: Set<string> = (globalThis as any).__bunkerE2eTemps ?? new Set();
  const registry = `${process.env.BUNKER_RUN_DIR ?? "/run/bunker"}/roots`;
  let tags: string[] = [];
  try {
    tags = readdirSync(registry);
  } catch {} // none made, or not ours to read (not root)
  for (const tag of tags) {
    let target = "";
    try {
      target = readlinkSync(`${registry}/${tag}`);
    } catch {}
    if (![...temps, base].some((dir) => target.startsWith(`${dir}/`))) continue;
    purgeNetworking(target);
    rmSync(`${registry}/${tag}`, { force: true });
  }
}

/** Drops bunker's own chains and the jumps into them (what the engine keeps between networks, as dockerd its DOCKER chains). */
function removeBunkerChains(sh: (...cmd: string[]) => ReturnType<typeof Bun.spawnSync>) {
  for (const table of ["filter", "nat"]) {
    const rules = (sh("iptables", "-t", table, "-S").stdout ?? "").toString().split("\n");
    for (const r of rules) if (/^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*-j BUNKER/.test(r)) sh("iptables", "-t", table, ...r.replace(/^-A/, "-D").match(/"[^"]*"|\S+/g)!.map((w) => w.replace(/^"|"$/g, "")));
    const chains = rules.filter((r) => /^-N BUNKER/.test(r)).map((r) => r.slice(3));
    for (const c of chains) sh("iptables", "-t", table, "-F", c);
    for (const c of chains) sh("iptables", "-t", table, "-X", c);
  }
}

/**
 * Containers a failed or interrupted test left running in a data root under `dir` go before the directory
 * does: their supervisors would otherwise run on with a deleted root, holding addresses on bunker0 that
 * nothing records any more. The engine removes them (rm -f), as a user would.
 */
function removeContainers(dir: string) {
  const bin = join(import.meta.dir, "../dist/bunker");
  if (!existsSync(bin)) return;
  const roots = [dir, ...(() => {
    try {
      return readdirSync(dir).map((n) => join(dir, n));
    } catch {
      return [];
    }
  })()].filter((d) => existsSync(join(d, "bunker.db")));
  for (const root of roots) {
    const env = { ...process.env, BUNKER_E2E_MODE: undefined, BUNKER_SHIM: undefined };
    const ids = Bun.spawnSync([bin, "--data-root", root, "ps", "-aq", "--no-trunc"], { env, stderr: "ignore" }).stdout.toString().trim();
    if (ids) Bun.spawnSync([bin, "--data-root", root, "rm", "-f", ...ids.split("\n")], { env, stdout: "ignore", stderr: "ignore" });
  }
}
