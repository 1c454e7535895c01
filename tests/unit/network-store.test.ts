/**
 * The network store (src/engine/network): built-in network rows, create's refusals, endpoint rows and IPAM
 * (addresses claimed host-wide under CLAIMS_DIR, kept from create to removal), the embedded DNS's name file,
 * and published-port reservation at a start's plan. Nothing is programmed on the host: the engine runs with
 * iptables off, user networks are rows whose bridge does not exist (used only where no start is planned) or
 * is an existing link, `lo` (where a start is planned: the network's "bridge" exists, so none is created,
 * and with the kernel path off ports go through the userland proxy, i.e. only recorded here).
 * Root is not needed when BUNKER_RUN_DIR points at a writable dir (CLAIMS_DIR is read at load).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../../src/engine/engine.ts";
import { createContainer, removeContainer } from "../../src/engine/containers/manager.ts";
import { createNetwork, lookupNetwork, networkPlan, networkSettings } from "../../src/engine/network/index.ts";
import { abandonedClaim, abandonedTemps, claim, claims, CLAIMS_DIR, dropClaimsDir, release } from "../../src/engine/network/ipam.ts";
import { mappingsOf } from "../../src/engine/network/ports.ts";
import { processStartTime } from "../../src/engine/runtime/status.ts";
import { UnitBed } from "../helpers/unit-engine.ts";

const bed = new UnitBed();
const fakeBridge = `bku${Math.random().toString(16).slice(2, 10)}`; // no such link on the host
const sleepers: ReturnType<typeof Bun.spawn>[] = [];
let e: Engine;
let image: string;
afterAll(async () => {
  for (const c of e?.containers.all() ?? []) await removeContainer(e, c.id, { force: true }).catch(() => {});
  for (const p of sleepers) p.kill("SIGKILL");
  rmSync(join(CLAIMS_DIR, fakeBridge), { recursive: true, force: true });
  try {
    rmdirSync(join(CLAIMS_DIR, "lo")); // only if empty: another run may hold claims there
  } catch {}
  bed.stop();
});
beforeAll(async () => {
  e = bed.engine({ bip: "10.231.7.1/24" });
  await bed.image(e, "lib/img", "1", [{ "x": "x" }], { Cmd: ["/x"], ExposedPorts: { "80/tcp": {} } });
  image = `${bed.registry.host}/lib/img:1`;
});

/** A user network row as createNetwork records it, on `bridge` (no host side). */
function networkRow(name: string, bridge: string, subnet: string, gateway: string): string {
  const id = new Bun.CryptoHasher("sha256").update(name + bridge).digest("hex");
  e.db.query("INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal, labels, options, created_at) VALUES (?, ?, 'bridge', ?, ?, ?, 0, '{}', '{}', ?)").run(id, name, bridge, subnet, gateway, Date.now());
  return id;
}

/** Plays a running container for status readers: a live process recorded in status.json as the shim records it. */
function markRunning(dir: string) {
  const p = Bun.spawn(["sleep", "60"]);
  sleepers.push(p);
  Bun.write(join(dir, "status.json"), JSON.stringify({ running: true, restarting: false, pid: p.pid, pidStart: processStartTime(p.pid), supervisorPid: process.pid, guardianPid: 0, startedAt: new Date().toISOString(), finishedAt: "", exitCode: null, restartCount: 0, error: "" }));
}

// Fails while the built-ins are checked once per process (network/index.ts's module-level builtinsChecked)
// and another engine in this process looked at networks first (e.g. monitor.test.ts in the same bun test run).
test("a new data root has bridge (on --bip), host and none", async () => {
  const bridge = lookupNetwork(e, "bridge")!;
  expect(bridge).toMatchObject({ name: "bridge", driver: "bridge", bridge: "bunker0", subnet: "10.231.7.0/24", gateway: "10.231.7.1" });
  expect(lookupNetwork(e, "host")).toMatchObject({ name: "host", driver: "host", bridge: null });
  expect(lookupNetwork(e, "none")).toMatchObject({ name: "none", driver: "null", subnet: null });
  expect(lookupNetwork(e, bridge.id.slice(0, 12))?.id).toBe(bridge.id);
  await expect(createContainer(e, { image, networkMode: "bridge", networkAliases: ["x"] })).rejects.toThrow("network-scoped aliases are only supported for user-defined networks");
  expect(e.containers.all()).toEqual([]);
});

test.each([
  [{ Name: "" }, "network name must not be empty"],
  [{ Name: "bad name" }, 'invalid network name "bad name"'],
  [{ Name: "host" }, "host is a pre-defined network and cannot be created"],
  [{ Name: "n1", Driver: "overlay" }, 'plugin "overlay" not found'],
  [{ Name: "n1", EnableIPv6: true }, "IPv6 networks are not supported"],
  [{ Name: "n1", IPAM: { Config: [{ Gateway: "10.9.0.1" }] } }, "every ip-range or gateway must have a corresponding subnet"],
  [{ Name: "n1", IPAM: { Config: [{ Subnet: "10.9.0.0/24", IPRange: "10.9.0.0/25" }] } }, "IPRange is not supported"],
  [{ Name: "n1", Options: { "com.docker.network.bridge.name": "x;rm -rf /" } }, "invalid bridge name"],
] as [Record<string, unknown>, string][])("network create refuses %j before touching anything", (req, message) => {
  const before = (e.db.query("SELECT count(*) AS n FROM networks").get() as { n: number }).n;
  expect(() => createNetwork(e, req as any)).toThrow(message);
  expect((e.db.query("SELECT count(*) AS n FROM networks").get() as { n: number }).n).toBe(before);
});

test("endpoints on a user network: lowest free addresses, --ip, aliases, the DNS name file, release at removal", async () => {
  const id = networkRow("unet", fakeBridge, "10.232.9.0/29", "10.232.9.1");
  const a = await createContainer(e, { image, name: "alpha", networkMode: "unet", networkAliases: ["db"] });
  const b = await createContainer(e, { image, name: "beta", networkMode: "unet", ipv4Address: "10.232.9.5" });
  const c = await createContainer(e, { image, name: "gamma", networkMode: "unet" });
  const ips = [a, b, c].map((x) => (networkSettings(e, x, true).Networks.unet as { IPAddress: string }).IPAddress);
  expect(ips).toEqual(["10.232.9.2", "10.232.9.5", "10.232.9.3"]);
  expect(networkSettings(e, a, true).Networks.unet).toMatchObject({ NetworkID: id, Gateway: "10.232.9.1", IPPrefixLen: 29, MacAddress: "02:42:0a:e8:09:02", Aliases: ["db"], DNSNames: ["alpha", a.id.slice(0, 12), "db"] });
  // Stopped: the address is kept but not shown, as Docker shows it.
  expect(networkSettings(e, a, false).Networks.unet).toMatchObject({ IPAddress: "", NetworkID: id });
  // The claims are host-wide files naming the owner.
  expect(readFileSync(join(CLAIMS_DIR, fakeBridge, "10.232.9.5"), "utf8")).toBe(`${e.config.dataRoot} ${b.id}`);
  const names = () => readFileSync(join(e.config.dataRoot, "network", `${id}.names`), "utf8");
  expect(names()).toBe(`10.232.9.2 alpha ${a.id.slice(0, 12)} db\n10.232.9.5 beta ${b.id.slice(0, 12)}\n10.232.9.3 gamma ${c.id.slice(0, 12)}\n`);
  await expect(createContainer(e, { image, networkMode: "unet", ipv4Address: "10.232.9.5" })).rejects.toThrow("Address already in use");
  await expect(createContainer(e, { image, networkMode: "unet", ipv4Address: "10.9.9.9" })).rejects.toThrow("no configured subnet or ip-range contain the IP address 10.9.9.9");
  await expect(createContainer(e, { image, networkMode: "nosuch" })).rejects.toThrow("network nosuch not found");
  // 10.232.9.0/29: .2-.6 usable; two left, then the pool is exhausted and the failed create leaves no row.
  await createContainer(e, { image, name: "delta", networkMode: "unet" });
  await createContainer(e, { image, name: "epsilon", networkMode: "unet" });
  const count = e.containers.all().length;
  await expect(createContainer(e, { image, networkMode: "unet" })).rejects.toThrow("no available IPv4 addresses on this network's address pools: 10.232.9.0/29");
  expect(e.containers.all().length).toBe(count);
  await removeContainer(e, b.id);
  expect(existsSync(join(CLAIMS_DIR, fakeBridge, "10.232.9.5"))).toBe(false);
  expect(names()).not.toContain("beta");
  const again = await createContainer(e, { image, networkMode: "unet" });
  expect((networkSettings(e, again, true).Networks.unet as { IPAddress: string }).IPAddress).toBe("10.232.9.5");
  for (const x of e.containers.all()) await removeContainer(e, x.id);
  expect(readFileSync(join(e.config.dataRoot, "network", `${id}.names`), "utf8")).toBe("\n");
});

test("a start's plan reserves published ports, refuses one a running container holds, and takes over a stopped holder's", async () => {
  networkRow("lonet", "lo", "10.233.4.0/24", "10.233.4.1");
  const one = await createContainer(e, { image, networkMode: "lonet", portBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } });
  const plan = await networkPlan(e, one);
  const port = plan.hostPorts![0]!.port;
  const ip = (networkSettings(e, one, true).Networks.lonet as { IPAddress: string }).IPAddress;
  expect(plan.hostPorts).toEqual([{ proto: "tcp", ip: "127.0.0.1", port, to: { ip, port: 80 } }]);
  expect(port).toBeGreaterThan(0);
  expect(plan.netifs).toEqual([{ host: expect.stringMatching(/^bk[0-9a-f]{12}$/), peer: "eth0", bridge: "lo", mac: expect.any(String), ip, prefix: 24, gateway: "10.233.4.1", mtu: undefined }]);
  expect(plan.dns?.files).toEqual([join(e.config.dataRoot, "network", `${lookupNetwork(e, "lonet")!.id}.names`)]);
  expect(readFileSync(join(one.dir, "resolv.conf"), "utf8")).toContain("nameserver 127.0.0.11");
  expect(readFileSync(join(one.dir, "hosts"), "utf8")).toContain(`${ip}\t${one.config.Hostname}`);
  expect(mappingsOf(e, one.id)).toEqual([{ proto: "tcp", hostIp: "127.0.0.1" as any, hostPort: port, containerPort: 80 }]);

  const two = await createContainer(e, { image, name: "two", networkMode: "lonet", portBindings: { "80/tcp": [{ HostIp: "", HostPort: String(port) }] } });
  markRunning(one.dir);
  // 0.0.0.0 (the default host_binding_ipv4) overlaps 127.0.0.1.
  await expect(networkPlan(e, two)).rejects.toThrow(`driver failed programming external connectivity on endpoint two (`);
  await expect(networkPlan(e, two)).rejects.toThrow(`Bind for 0.0.0.0:${port} failed: port is already allocated`);
  expect(mappingsOf(e, two.id)).toEqual([]);
  // The holder is stopped: its stale reservation goes, the new one is recorded.
  rmSync(join(one.dir, "status.json"));
  const plan2 = await networkPlan(e, two);
  expect(plan2.hostPorts?.map((h) => [h.ip, h.port])).toEqual([["0.0.0.0", port]]);
  expect(mappingsOf(e, one.id)).toEqual([]);
  expect(mappingsOf(e, two.id)).toHaveLength(1);
  for (const x of [one, two]) await removeContainer(e, x.id, { force: true });
  expect(mappingsOf(e, two.id)).toEqual([]);
});

test("claims: one owner per address, linked into place written (never seen empty), nothing left aside; abandoned empty and aside ones recognised", () => {
  const dir = join(CLAIMS_DIR, fakeBridge);
  expect(claim(fakeBridge, "10.9.0.2", "/root/a c1")).toBe(true);
  expect(claim(fakeBridge, "10.9.0.2", "/root/b c2")).toBe(false);
  expect(claim(fakeBridge, "10.9.0.2", "/root/a c1")).toBe(true); // already ours
  expect(readFileSync(join(dir, "10.9.0.2"), "utf8")).toBe("/root/a c1");
  expect(readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]);
  // A claim being written elsewhere is not one yet; one its writer, killed, left aside is abandoned once old.
  writeFileSync(join(dir, ".10.9.0.3.4242"), "/root/b c2");
  expect([...claims(fakeBridge).keys()]).toEqual(["10.9.0.2"]);
  expect(abandonedTemps(fakeBridge)).toEqual([]);
  const long = new Date(Date.now() - 60_000);
  utimesSync(join(dir, ".10.9.0.3.4242"), long, long);
  expect(abandonedTemps(fakeBridge)).toEqual([".10.9.0.3.4242"]);
  rmSync(join(dir, ".10.9.0.3.4242"));
  // What an earlier build's writer, killed between open(O_EXCL) and write, left: empty, and taken.
  writeFileSync(join(dir, "10.9.0.4"), "");
  expect(claim(fakeBridge, "10.9.0.4", "/root/a c3")).toBe(false);
  expect(abandonedClaim(fakeBridge, "10.9.0.4")).toBe(false); // new: its writer may be at it still
  const old = new Date(Date.now() - 60_000);
  utimesSync(join(dir, "10.9.0.4"), old, old);
  expect(abandonedClaim(fakeBridge, "10.9.0.4")).toBe(true);
  expect(abandonedClaim(fakeBridge, "10.9.0.2")).toBe(false); // written
  rmSync(join(dir, "10.9.0.4"));
  release(fakeBridge, "10.9.0.2", "/root/a c1");
  expect(existsSync(join(dir, "10.9.0.2"))).toBe(false);
  // The bridge's directory goes once empty (its network removed), never with a claim in it.
  expect(claim(fakeBridge, "10.9.0.5", "/root/a c4")).toBe(true);
  dropClaimsDir(fakeBridge);
  expect(claims(fakeBridge).get("10.9.0.5")).toBe("/root/a c4");
  release(fakeBridge, "10.9.0.5", "/root/a c4");
  // A claim a killed writer left aside is no claim: the directory goes with it.
  writeFileSync(join(dir, ".10.9.0.7.4242"), "/root/a c6");
  utimesSync(join(dir, ".10.9.0.7.4242"), long, long);
  dropClaimsDir(fakeBridge);
  expect(existsSync(dir)).toBe(false);
  // A claim after that makes it again.
  expect(claim(fakeBridge, "10.9.0.6", "/root/a c5")).toBe(true);
  expect(readFileSync(join(dir, "10.9.0.6"), "utf8")).toBe("/root/a c5");
  release(fakeBridge, "10.9.0.6", "/root/a c5");
});
