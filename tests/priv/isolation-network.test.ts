/**
 * Network isolation as an attacker tries it, through the compiled CLI and `bunker serve`, as root:
 * - a default container (it holds CAP_NET_RAW) sends a hand-made TCP SYN for the host's 127.0.0.1 to its
 *   bridge's MAC (tests/fixtures/rawsyn.c, compiled static here): no answer may come back, on bunker0, on a
 *   user network, and with --iptables=false; published 127.0.0.1 ports, hairpin and the userland proxy work;
 * - text meant for iptables-restore or `ip` in the API (PortBindings, ExposedPorts, network options,
 *   subnets, gateways) and the CLI's network options is refused with a 400 / an error, and nothing of it
 *   reaches iptables-save or the links; nothing of the data root outlives rm -f;
 * - a deleted data root's rule set is gone after any other engine starts;
 * - `-p 0:80` gets an ephemeral port, ExposedPorts are checked and applied.
 * Traffic goes only to 127.0.0.0/8 and to addresses on bridges the tests' engines made.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, bunkerAt, freshDataRoot, tempDir, serveAt } from "../helpers/bunker.ts";
import { freePort, get, leftovers, purgeNetworking, rootTag, sh } from "../helpers/netcheck.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
const enabled = root && Bun.which("gcc") !== null;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>; // the kernel path (iptables)
let px: ReturnType<typeof bunkerAt>; // --iptables=false: the userland proxy
let busybox: string, nginx: string;
let probe: string;
let daemon: ReturnType<typeof Bun.spawn> | undefined;
let sock: string;
const NET = "isonet";
const PXNET = "isopx";
const goneRoots: string[] = [];

/** The host loopback listener the probe aims at. */
let listener: { port: number; stop(close?: boolean): void } | undefined;

const bridgeOf = async (bk: typeof b, net: string) => {
  const n = JSON.parse(await bk.ok(["network", "inspect", net]))[0];
  return (n.Options?.["com.docker.network.bridge.name"] as string | undefined) ?? (n.Name === "bridge" ? "bunker0" : `bk-${n.Id.slice(0, 12)}`);
};
const macOf = (bridge: string) => readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim();
const gatewayOf = async (bk: typeof b, net: string) => JSON.parse(await bk.ok(["network", "inspect", net]))[0].IPAM.Config[0].Gateway as string;

/** Runs the probe in a default container on `net`: what came back for 127.0.0.1:port, then for gateway:port (a control). */
async function probeFrom(bk: typeof b, net: string, port: number): Promise<string[]> {
  const bridge = await bridgeOf(bk, net);
  const gw = await gatewayOf(bk, net);
  if (!existsSync(`/sys/class/net/${bridge}`)) await bk.ok(["run", "--rm", "--network", net, busybox, "true"]); // bunker0 comes with its first container
  const out = await bk.ok(["run", "--rm", "--network", net, "-v", `${probe}:/rawsyn:ro`, busybox, "sh", "-c", `/rawsyn eth0 $0 127.0.0.1 $1 2500; /rawsyn eth0 $0 $2 $1 2500`, macOf(bridge), String(port), gw]);
  return out.trim().split("\n");
}

/** The daemon's API over its unix socket. */
const api = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`http://x${path}`, { method, unix: sock, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) } as RequestInit);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
};
const rules = () => sh(["iptables-save"]).out;
const links = () => sh(["ip", "-o", "link"]).out;

beforeAll(async () => {
  if (!enabled) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  const dir = tempDir("bunker-rawsyn-");
  probe = join(dir, "rawsyn");
  const cc = sh(["gcc", "-static", "-O2", "-o", probe, join(import.meta.dir, "../fixtures/rawsyn.c")]);
  if (cc.code !== 0) throw new Error(cc.err);
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  px = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--iptables=false"]);
  [busybox, nginx] = ["busybox", "nginx"].map((n) => `${reg.host}/${n}`) as [string, string];
  for (const bk of [b, px]) for (const i of [busybox, nginx]) await bk.ok(["pull", "-q", i]);
  await b.ok(["network", "create", NET]);
  await px.ok(["network", "create", PXNET]);
  listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open(s) { s.end(); } } });
}, 900_000);

afterAll(async () => {
  if (!enabled) return;
  listener?.stop(true);
  if (daemon) {
    daemon.kill("SIGKILL");
    await daemon.exited;
  }
  for (const bk of [b, px]) {
    const ids = (await bk.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
    if (ids) await bk.run(["rm", "-f", ...ids.split("\n")]);
    const nets = (await bk.run(["network", "ls", "-q", "--filter", "type=custom"])).stdout.trim();
    if (nets) await bk.run(["network", "rm", ...nets.split("\n")]);
    purgeNetworking(bk.dataRoot);
  }
  for (const r of goneRoots) purgeNetworking(r);
  await reg?.stop();
}, 120_000);

describe.skipIf(!enabled)("the host's loopback from a container", () => {
  test("a raw SYN for 127.0.0.1 sent to the bridge gets no answer, on bunker0 and on a user network (the gateway's closed port answers RST)", async () => {
    const port = listener!.port;
    expect(await probeFrom(b, "bridge", port)).toEqual(["none", "rst"]);
    expect(await probeFrom(b, NET, port)).toEqual(["none", "rst"]);
    // The drop is one tagged raw rule per bridge, made with the network.
    const bridge = await bridgeOf(b, NET);
    expect(rules()).toContain(`-A PREROUTING -d 127.0.0.0/8 -i ${bridge} -m comment --comment "${rootTag(b.dataRoot)}:net:`);
  }, 120_000);

  test("with --iptables=false the bridge has no route_localnet and the SYN gets no answer either", async () => {
    const bridge = await bridgeOf(px, PXNET);
    expect(await probeFrom(px, PXNET, listener!.port)).toEqual(["none", "rst"]);
    expect(readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, "utf8").trim()).toBe("0");
  }, 120_000);

  test("-p 127.0.0.1:H:80 answers on the host; a container reaches a published port through the host's address (hairpin)", async () => {
    const lp = freePort();
    const gw = await gatewayOf(b, NET);
    const hp = freePort();
    await b.ok(["run", "-d", "--network", NET, "--name", "web", "-p", `127.0.0.1:${lp}:80`, "-p", `${gw}:${hp}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${lp}/`)).headers.get("server")).toContain("nginx");
    const r = await b.run(["run", "--rm", "--network", NET, busybox, "sh", "-c", `wget -q -S -O /dev/null http://${gw}:${hp}/ 2>&1; true`]);
    expect(r.stdout).toContain("200 OK");
    await b.ok(["rm", "-f", "web"]);
  }, 120_000);

  test("the userland proxy (--iptables=false) serves -p 127.0.0.1:H:80 and a container through the gateway", async () => {
    const lp = freePort();
    const ap = freePort();
    await px.ok(["run", "-d", "--network", PXNET, "--name", "pweb", "-p", `127.0.0.1:${lp}:80`, "-p", `${ap}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${lp}/`)).status).toBe(200);
    const gw = await gatewayOf(px, PXNET);
    const r = await px.run(["run", "--rm", "--network", PXNET, busybox, "sh", "-c", `wget -q -S -O /dev/null http://${gw}:${ap}/ 2>&1; true`]);
    expect(r.stdout).toContain("200 OK");
    await px.ok(["rm", "-f", "pweb"]);
    expect(leftovers(px.dataRoot).rules).toEqual([]);
  }, 120_000);
});

describe.skipIf(!enabled)("API and CLI text never reaches the firewall or ip", () => {
  test("PortBindings, ExposedPorts and network create bodies with rule text are refused with 400; iptables-save and the links hold none of it", async () => {
    ({ daemon, sock } = await serveAt(b.dataRoot));
    const create = (hc: object, extra: object = {}) => api("POST", "/containers/create", { Image: busybox, Cmd: ["sleep", "30"], ...extra, HostConfig: hc });
    const attempts: [object, object, string][] = [
      [{ PortBindings: { "80/tcp": [{ HostIp: "127.0.0.2/32 -m comment --comment X47 -j RETURN\n-A BUNKER -d 127.0.0.2", HostPort: "47323" }] } }, {}, "invalid IP address"],
      [{ PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "47321 -s 10.0.0.0/8" }] } }, {}, 'invalid port specification: "47321 -s 10.0.0.0/8"'],
      [{ PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "99999" }] } }, {}, 'invalid port specification: "99999"'],
      [{ PortBindings: { "80/tcp -j ACCEPT": [{ HostIp: "", HostPort: "47324" }] } }, {}, "invalid port specification"],
      [{ PortBindings: { "80/tcp": [{ HostIp: "", HostPort: 47325 }] } }, {}, "cannot unmarshal"],
      [{}, { ExposedPorts: { "abc/xyz": {} } }, 'invalid port specification: "abc"'],
      [{}, { ExposedPorts: { "80/xyz": {} } }, "invalid port specification"],
    ];
    for (const [hc, extra, msg] of attempts) {
      const r = await create(hc, extra);
      expect({ status: r.status, msg: r.body?.message }).toEqual({ status: 400, msg: expect.stringContaining(msg) });
    }
    const nets: [object, string][] = [
      [{ Name: "inj1", Options: { "com.docker.network.bridge.name": "bkinj\nlink del lo" } }, "invalid bridge name"],
      [{ Name: "inj2", Options: { "com.docker.network.driver.mtu": "1500 -j" } }, "failed to parse com.docker.network.driver.mtu"],
      [{ Name: "inj3", IPAM: { Config: [{ Subnet: "10.231.0.0/24 -j ACCEPT" }] } }, "invalid CIDR address"],
      [{ Name: "inj4", IPAM: { Config: [{ Subnet: "10.231.0.0/24", Gateway: "10.231.0.1/24 dev lo\naddr add 10.231.0.9" }] } }, "invalid IP address"],
      [{ Name: "inj5", IPAM: { Config: [{ Subnet: "10.231.0.0/24", IPRange: "10.231.0.0/25 x" }] } }, "invalid CIDR address"],
      [{ Name: "inj6", IPAM: { Config: [{ Subnet: "10.231.0.0/24", AuxiliaryAddresses: { a: "10.231.0.5 x" } }] } }, "invalid IP address"],
      [{ Name: "inj7", Options: { "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0 -j ACCEPT" } }, "invalid IP address"],
      [{ Name: "inj8", Options: { "com.docker.network.bridge.enable_icc": "no way" } }, "failed to parse"],
      [{ Name: "inj9", Labels: { a: 1 } }, "cannot unmarshal"],
    ];
    for (const [body, msg] of nets) {
      const r = await api("POST", "/networks/create", body);
      expect({ status: r.status, msg: r.body?.message }).toEqual({ status: 400, msg: expect.stringContaining(msg) });
    }
    const saved = rules();
    for (const bad of ["X47", "127.0.0.2", "47321", "47323", "47324", "47325", "10.231.0"]) expect(saved).not.toContain(bad);
    expect(links()).not.toContain("bkinj");
    expect((await api("GET", "/networks")).body.map((n: { Name: string }) => n.Name)).not.toContain("inj1");
  }, 120_000);

  test("the CLI's network options with rule or ip text are refused and leave nothing", async () => {
    for (const args of [
      ["--subnet", "10.232.0.0/24 -j ACCEPT"],
      ["--subnet", "10.232.0.0/24", "--gateway", "10.232.0.1\nlink del lo"],
      ["-o", "com.docker.network.bridge.name=bkcli;x"],
      ["-o", "com.docker.network.driver.mtu=9000\nlink del lo"],
    ]) {
      const r = await b.run(["network", "create", ...args, "clinj"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/invalid|failed to parse/);
    }
    expect(rules()).not.toContain("10.232.0");
    expect(links()).not.toContain("bkcli");
    expect((await b.run(["network", "inspect", "clinj"])).code).not.toBe(0);
  }, 60_000);

  test("run's -p and --ip with rule or path text exit 125 and leave nothing", async () => {
    const p = await b.run(["run", "--rm", "--network", NET, "-p", "127.0.0.2 -j RETURN:47326:80", busybox, "true"]);
    expect(p.code).toBe(125);
    expect(p.stderr).toContain("invalid IP address");
    const ip = await b.run(["run", "--rm", "--network", NET, "--ip", "10.200.0.9/../../isolation-x", busybox, "true"]);
    expect(ip.code).toBe(125);
    expect(ip.stderr).toContain("invalid IP address");
    expect(rules()).not.toContain("47326");
    expect(existsSync("/run/bunker/isolation-x")).toBe(false);
  }, 60_000);

  test("a start whose port bind fails leaves no rule; no rule of the data root outlives rm -f", async () => {
    const held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await b.run(["run", "-d", "--network", NET, "--name", "clash", "-p", `127.0.0.1:${held.port}:80`, nginx]);
      expect(r.code).toBe(125);
      expect(rules()).not.toContain(`--dport ${held.port} `);
    } finally {
      held.stop(true);
    }
    await b.ok(["run", "-d", "--network", NET, "--name", "ok1", "-p", "127.0.0.1::80", nginx]);
    expect(rules()).toContain(`${rootTag(b.dataRoot)}:ctr:`);
    await b.ok(["rm", "-f", "clash", "ok1"]);
    expect(rules()).not.toContain(`${rootTag(b.dataRoot)}:ctr:`);
  }, 120_000);
});

describe.skipIf(!enabled)("ports as Docker takes them", () => {
  test("-p 0:80 publishes an ephemeral host port, shown by port and inspect", async () => {
    await b.ok(["run", "-d", "--network", NET, "--name", "zero", "-p", "127.0.0.1:0:80", nginx]);
    const m = /^127\.0\.0\.1:(\d+)$/.exec((await b.ok(["port", "zero", "80"])).trim());
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    const ports = JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", "zero"]));
    expect(ports["80/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: m![1] }]);
    expect((await get(`http://127.0.0.1:${m![1]}/`)).status).toBe(200);
    await b.ok(["rm", "-f", "zero"]);
  }, 120_000);

  test("API ExposedPorts are applied (inspect shows them)", async () => {
    const r = await api("POST", "/containers/create?name=exp", { Image: busybox, Cmd: ["true"], ExposedPorts: { "8080/tcp": {}, "53/udp": {}, "9000": {} } });
    expect(r.status).toBe(201);
    const exposed = JSON.parse(await b.ok(["inspect", "-f", "{{json .Config.ExposedPorts}}", "exp"]));
    expect(Object.keys(exposed).sort()).toEqual(["53/udp", "8080/tcp", "9000/tcp"]);
    await b.ok(["rm", "-f", "exp"]);
  }, 60_000);
});

describe.skipIf(!enabled)("rule sets of deleted data roots", () => {
  test("the rules, bridge and claims of a deleted data root are gone after another engine starts", async () => {
    const gone = freshDataRoot();
    goneRoots.push(gone);
    const g = bunkerAt(gone, ["--registry-mirror", reg.url]);
    await g.ok(["network", "create", "staleNet"]);
    const tag = rootTag(gone);
    expect(leftovers(gone).rules.length).toBeGreaterThan(0);
    expect(leftovers(gone).links.length).toBe(1);
    // An empty claim an earlier build's writer left when killed between creating and writing it: the
    // address was taken for good. The same clean-up drops it once it is older than a writer could take.
    const abandoned = "/run/bunker/ipam/bunker0/10.199.255.250";
    mkdirSync("/run/bunker/ipam/bunker0", { recursive: true });
    writeFileSync(abandoned, "");
    const old = new Date(Date.now() - 60_000);
    utimesSync(abandoned, old, old);
    // And a claim a writer killed between writing it aside and removing it left there (it would keep the
    // directory for good): gone too.
    const aside = "/run/bunker/ipam/bunker0/.10.199.255.251.4242";
    writeFileSync(aside, `${gone} x`);
    utimesSync(aside, old, old);
    rmSync(gone, { recursive: true, force: true });
    expect(existsSync(gone)).toBe(false);
    await b.ok(["ps", "-q"]);
    expect(rules()).not.toContain(tag);
    expect(leftovers(gone)).toEqual({ rules: [], links: [], claims: [] });
    expect(existsSync(abandoned)).toBe(false);
    expect(existsSync(aside)).toBe(false);
  }, 60_000);
});
