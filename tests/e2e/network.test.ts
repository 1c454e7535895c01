/**
 * Networking through the compiled CLI, as root, with nginx, redis and busybox from the real registry:
 * published ports answer on 127.0.0.1 (fixed and random host ports), port conflicts fail with Docker's
 * messages, user networks resolve names and aliases and are isolated from each other, --network none has
 * only loopback, and nothing of bunker's (veth, bridge, address claim, iptables rule) is left after
 * removal, nor after a kill -9 of the CLI in the middle of its host changes. Traffic goes only to
 * 127.0.0.0/8 and to addresses inside network namespaces bunker created.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, DAEMON_MODE, freshDataRoot } from "../helpers/bunker.ts";
import { freePort, get, leftovers, purgeNetworking, rootTag, sh, until, vethsOn } from "../helpers/netcheck.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string, nginx: string, redis: string;
let tag: string;


beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  [busybox, nginx, redis] = ["busybox", "nginx", "redis"].map((n) => `${reg.host}/${n}`) as [string, string, string];
  for (const i of [busybox, nginx, redis]) await b.ok(["pull", "-q", i]);
  tag = rootTag(b.dataRoot);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", ...ids.split("\n")]);
  const nets = (await b.run(["network", "ls", "-q", "--filter", "type=custom"])).stdout.trim();
  if (nets) await b.run(["network", "rm", ...nets.split("\n")]);
  purgeNetworking(b.dataRoot);
  await reg?.stop();
}, 120_000);

describe.skipIf(!root)("published ports", () => {
  test("nginx with -p HOST:80 answers on 127.0.0.1; ps, port and inspect show the mapping", async () => {
    expect((await b.ok(["info", "--format", "{{.PortForwarding}}"])).trim()).toBe("iptables"); // the kernel path, no proxy
    const port = freePort();
    await b.ok(["run", "-d", "--name", "web", "-p", `${port}:80`, nginx]);
    const res = await get(`http://127.0.0.1:${port}/`);
    expect(res.headers.get("server")).toContain("nginx");
    expect(await b.ok(["port", "web"])).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(await b.ok(["port", "web", "80"])).toBe(`0.0.0.0:${port}\n`);
    const ps = await b.ok(["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    expect(ps.trim()).toBe(`0.0.0.0:${port}->80/tcp`);
    const ports = JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]));
    expect(ports).toEqual({ "80/tcp": [{ HostIp: "0.0.0.0", HostPort: String(port) }] });
    expect(JSON.parse(await b.ok(["inspect", "-f", "{{json .HostConfig.PortBindings}}", "web"]))).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });
    const ip = (await b.ok(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"])).trim();
    expect(ip).toMatch(/^10\.199\.\d+\.\d+$/);
    // The template of docker's inspect docs, and one with a variable, a map range and a comparison.
    expect(await b.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "web"])).toBe(`${ip}\n`);
    expect(await b.ok(["inspect", "-f", '{{range $net, $ep := .NetworkSettings.Networks}}{{$net}} {{if eq $ep.IPAddress "' + ip + '"}}same{{end}}{{end}}', "web"])).toBe("bridge same\n");
    // A container on the same bridge reaches nginx through the published port (hairpin through the host).
    const hostIp = (await b.ok(["inspect", "-f", "{{.NetworkSettings.Gateway}}", "web"])).trim();
    const r = await b.run(["run", "--rm", busybox, "sh", "-c", `wget -q -S -O /dev/null http://${hostIp}:${port}/ 2>&1; true`]);
    expect(r.stdout).toContain("HTTP/1.1 200 OK"); // nginx's www-data read its index page: the container's "/" is 0755
    await b.ok(["rm", "-f", "web"]);
    expect(sh(["iptables-save"]).out).not.toContain(`--dport ${port} `);
  }, 60_000);

  test("-p CONTAINER gets a free host port, -P publishes the image's EXPOSE, -p 127.0.0.1:H:C binds one address", async () => {
    await b.ok(["run", "-d", "--name", "rnd", "-p", "80", nginx]);
    const m = /^0\.0\.0\.0:(\d+)$/.exec((await b.ok(["port", "rnd", "80/tcp"])).trim());
    expect(m).not.toBeNull();
    expect((await get(`http://127.0.0.1:${m![1]}/`)).headers.get("server")).toContain("nginx");
    await b.ok(["run", "-d", "--name", "all", "-P", redis]);
    const rp = /0\.0\.0\.0:(\d+)/.exec(await b.ok(["port", "all", "6379"]))![1];
    const pong = sh(["redis-cli", "-h", "127.0.0.1", "-p", rp!, "ping"]);
    if (pong.code === 0) expect(pong.out.trim()).toBe("PONG");
    const lp = freePort();
    await b.ok(["run", "-d", "--name", "lo", "-p", `127.0.0.1:${lp}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${lp}/`)).headers.get("server")).toContain("nginx");
    expect((await b.ok(["port", "lo"])).trim()).toBe(`80/tcp -> 127.0.0.1:${lp}`);
    await b.ok(["rm", "-f", "rnd", "all", "lo"]);
  }, 60_000);

  test("conflicts: a port another container holds, and a port a host process holds, fail with Docker's messages", async () => {
    const port = freePort();
    await b.ok(["run", "-d", "--name", "holder", "-p", `${port}:80`, nginx]);
    const r = await b.run(["run", "-d", "--name", "second", "-p", `${port}:80`, nginx]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`driver failed programming external connectivity on endpoint second \\([0-9a-f]{64}\\): Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    // The holder is unaffected.
    expect((await get(`http://127.0.0.1:${port}/`)).headers.get("server")).toContain("nginx");
    const hostPort = freePort();
    const server = Bun.listen({ hostname: "127.0.0.1", port: hostPort, socket: { data() {} } });
    try {
      const h = await b.run(["run", "-d", "--name", "third", "-p", `127.0.0.1:${hostPort}:80`, nginx]);
      expect(h.code).toBe(125);
      expect(h.stderr).toContain(`driver failed programming external connectivity on endpoint third (`);
      expect(h.stderr).toContain(`Error starting userland proxy: listen tcp4 127.0.0.1:${hostPort}: bind: address already in use`);
    } finally {
      server.stop(true);
    }
    // A failed start leaves a created container with no rule.
    expect(sh(["iptables-save"]).out).not.toContain(`--dport ${hostPort} `);
    await b.ok(["rm", "-f", "holder", "second", "third"]);
  }, 60_000);
});

describe.skipIf(!root)("networks", () => {
  test("--network none has only loopback; the default bridge has eth0 and the host's resolver", async () => {
    expect(await b.ok(["run", "--rm", "--network", "none", busybox, "ls", "/sys/class/net"])).toBe("lo\n");
    const out = await b.ok(["run", "--rm", busybox, "sh", "-c", "ls /sys/class/net; ip -4 route"]);
    expect(out).toContain("eth0\nlo\n");
    expect(out).toMatch(/default via 10\.199\.0\.1 dev eth0/);
  });

  test("two containers on a user network reach each other by name and alias; not across networks", async () => {
    const idA = (await b.ok(["network", "create", "neta"])).trim();
    expect(idA).toMatch(/^[0-9a-f]{64}$/);
    await b.ok(["network", "create", "netb"]);
    const dup = await b.run(["network", "create", "neta"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe("Error response from daemon: network with name neta already exists\n");
    await b.ok(["run", "-d", "--name", "srv", "--network", "neta", "--network-alias", "cache", redis]);
    await b.ok(["run", "-d", "--name", "other", "--network", "netb", busybox, "sleep", "300"]);
    const ls = await b.ok(["network", "ls"]);
    expect(ls.split("\n")[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    for (const n of ["bridge", "host", "none", "neta", "netb"]) expect(ls).toMatch(new RegExp(`\\s${n}\\s`));
    const srvIp = (await b.ok(["inspect", "-f", "{{.NetworkSettings.Networks.neta.IPAddress}}", "srv"])).trim();
    const otherIp = (await b.ok(["inspect", "-f", "{{.NetworkSettings.Networks.netb.IPAddress}}", "other"])).trim();
    const inspect = JSON.parse(await b.ok(["network", "inspect", "neta"]))[0];
    expect(Object.values(inspect.Containers as Record<string, { Name: string; IPv4Address: string }>).map((c) => [c.Name, c.IPv4Address.split("/")[0]])).toEqual([["srv", srvIp]]);

    // Same network: names and the alias resolve through 127.0.0.11, and redis answers on its address.
    const same = await b.run(["run", "--rm", "--network", "neta", busybox, "sh", "-c",
      "cat /etc/resolv.conf; nslookup srv; nslookup cache; ping -c1 -W2 srv >/dev/null && echo ping-name-ok; ping -c1 -W2 cache >/dev/null && echo ping-alias-ok; printf 'PING\\r\\n' | nc -w 2 cache 6379"]);
    expect(same.stdout).toContain("nameserver 127.0.0.11");
    expect(same.stdout.match(new RegExp(`Address: ${srvIp.replace(/\./g, "\\.")}`, "g"))?.length).toBe(2);
    expect(same.stdout).toContain("ping-name-ok");
    expect(same.stdout).toContain("ping-alias-ok");
    expect(same.stdout).toContain("+PONG");

    // Another network: the names do not resolve, and the address is unreachable.
    const across = await b.run(["run", "--rm", "--network", "netb", busybox, "sh", "-c", `nslookup srv; ping -c1 -W1 ${srvIp} >/dev/null && echo reached || echo blocked`]);
    expect(across.stdout + across.stderr).not.toContain(`Address: ${srvIp}`);
    expect(across.stdout).toContain("blocked");
    // ... and from the default bridge neither.
    expect(await b.ok(["run", "--rm", busybox, "sh", "-c", `ping -c1 -W1 ${otherIp} >/dev/null && echo reached || echo blocked`])).toBe("blocked\n");

    // connect: the running container gets an interface on neta and reaches srv.
    await b.ok(["network", "connect", "--alias", "oth", "neta", "other"]);
    expect(await b.ok(["exec", "other", "sh", "-c", `ping -c1 -W2 ${srvIp} >/dev/null && echo reached`])).toBe("reached\n");
    const rm = await b.run(["network", "rm", "neta"]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain("has active endpoints");
    await b.ok(["network", "disconnect", "neta", "other"]);
    await b.ok(["rm", "-f", "srv", "other"]);
    const claimDirs = (await b.ok(["network", "inspect", "-f", "{{.Id}}", "neta", "netb"])).trim().split("\n").map((id) => `/run/bunker/ipam/bk-${id.slice(0, 12)}`);
    expect(claimDirs.map((d) => existsSync(d))).toEqual([true, true]);
    expect(await b.ok(["network", "rm", "neta", "netb"])).toBe("neta\nnetb\n");
    // The bridges' (empty) claim directories go with them, instead of piling up in /run until a reboot.
    expect(claimDirs.filter((d) => existsSync(d))).toEqual([]);
    expect((await b.run(["network", "rm", "bridge"])).stderr).toBe("Error response from daemon: bridge is a pre-defined network and cannot be removed\nexit status 1\n");
    expect((await b.run(["network", "inspect", "neta"])).stderr).toBe("Error response from daemon: network neta not found\n");
  }, 120_000);

  test("an address survives stop/start and restart; with --ip-masq the subnet is masqueraded and forwarding is on, without it not", async () => {
    await b.ok(["network", "create", "keepnet"]);
    await b.ok(["run", "-d", "--name", "keep", "--network", "keepnet", busybox, "sleep", "300"]);
    const ipOf = async () => (JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", "keep"])) as Record<string, { IPAddress: string }>).keepnet!.IPAddress;
    const inside = async () => (await b.ok(["exec", "keep", "ip", "-4", "-o", "addr", "show", "eth0"])).match(/inet (\S+)\//)?.[1];
    const first = await ipOf();
    expect(await inside()).toBe(first);
    await b.ok(["stop", "-t", "0", "keep"]);
    await b.ok(["start", "keep"]);
    expect([await ipOf(), await inside()]).toEqual([first, first]);
    await b.ok(["restart", "-t", "0", "keep"]);
    expect([await ipOf(), await inside()]).toEqual([first, first]);
    // This data root runs with ip-masq off (the test daemon.json): its subnet leaves unmasqueraded.
    const subnetOf = async (x: typeof b, net: string) => JSON.parse(await x.ok(["network", "inspect", net]))[0].IPAM.Config[0].Subnet as string;
    const masq = (subnet: string) => sh(["iptables-save", "-t", "nat"]).out.split("\n").some((l) => l.includes(`-s ${subnet} `) && l.includes("-j MASQUERADE") && l.includes(" ! -o "));
    expect(masq(await subnetOf(b, "keepnet"))).toBe(false);
    await b.ok(["rm", "-f", "keep"]);
    await b.ok(["network", "rm", "keepnet"]);
    // Another data root with --ip-masq: outbound NAT for its subnet and forwarding on, as dockerd's defaults
    // (tests still send nothing off the machine: the preload's mangle rule drops it).
    const m = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--ip-masq=true"]);
    try {
      await m.ok(["network", "create", "masqnet"]);
      await m.ok(["run", "--rm", "--network", "masqnet", busybox, "true"]);
      expect(masq(await subnetOf(m, "masqnet"))).toBe(true);
      expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1");
      await m.ok(["network", "rm", "masqnet"]);
    } finally {
      purgeNetworking(m.dataRoot);
    }
  });

  test("--bip sets the default bridge's subnet and gateway, --default-address-pool the subnets of user networks", async () => {
    const c = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--bip", "10.212.0.1/16", "--default-address-pool", "base=10.213.0.0/16,size=24"]);
    try {
      const ipam = async (net: string) => JSON.parse(await c.ok(["network", "inspect", net]))[0].IPAM.Config[0] as { Subnet: string; Gateway: string };
      expect(await ipam("bridge")).toEqual({ Subnet: "10.212.0.0/16", Gateway: "10.212.0.1" });
      await c.ok(["network", "create", "poolnet"]);
      expect((await ipam("poolnet")).Subnet).toMatch(/^10\.213\.\d+\.0\/24$/);
      await c.ok(["network", "rm", "poolnet"]);
    } finally {
      purgeNetworking(c.dataRoot);
    }
  });

  test("start right after stop: the old veth, which the kernel removes asynchronously, is not in the way", async () => {
    await b.ok(["run", "-d", "--name", "quick", busybox, "sleep", "300"]);
    for (let i = 0; i < 25; i++) {
      await b.ok(["stop", "-t", "0", "quick"]);
      await b.ok(["start", "quick"]);
    }
    expect(await b.ok(["exec", "quick", "cat", "/sys/class/net/eth0/operstate"])).toBe("up\n");
    await b.ok(["rm", "-f", "quick"]);
  }, 120_000);

  test("a dead container's veth, until the kernel deletes it, keeps its address from new containers; --ip takes it over", async () => {
    /** One PING over a fresh connection from the host: the reply, or the connection's error. */
    const ping = async (port: number) => {
      let reply = "";
      try {
        const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void (reply += d.toString()) } });
        s.write("PING\r\n");
        for (let i = 0; i < 100 && !reply; i++) await Bun.sleep(10);
        s.end();
      } catch (e) {
        return String(e);
      }
      return reply;
    };
    const endpoint = async (name: string) => {
      const [ep] = Object.values(JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", name]))) as { EndpointID: string; IPAddress: string }[];
      return { veth: `/sys/class/net/bk${ep!.EndpointID.slice(0, 12)}`, ip: ep!.IPAddress };
    };
    /** Redis answers inside, then at once on its published port from the host. */
    const answers = async (name: string) => {
      expect(await until(async () => (await b.run(["exec", name, "redis-cli", "ping"])).stdout === "PONG\n", 10_000)).toBe(true);
      const port = Number(/:(\d+)$/.exec((await b.ok(["port", name, "6379"])).trim())![1]);
      expect(await ping(port)).toBe("+PONG\r\n");
    };
    // Until the kernel has dismantled a dead container's netns (asynchronously, after the exit), its veth
    // stays on the bridge and answers ARP for its address, with the same MAC, and resets connections. The
    // test makes that window as long as it likes by holding the netns open: a ghost that stays.
    const haunt = async (name: string) => openSync(`/proc/${(await b.ok(["inspect", "-f", "{{.State.Pid}}", name])).trim()}/ns/net`, "r");
    for (const remove of [["stop", "-t", "0"], ["rm", "-f"]]) {
      await b.ok(["run", "-d", "--name", "ghost", redis]);
      const dead = await endpoint("ghost");
      const fd = await haunt("ghost");
      try {
        await b.ok([...remove, "ghost"]);
        if (remove[0] === "stop") await b.ok(["rm", "ghost"]);
        expect(existsSync(dead.veth)).toBe(true);
        await b.ok(["run", "-d", "--name", "next", "-p", "6379", redis]);
        expect((await endpoint("next")).ip).not.toBe(dead.ip);
        await answers("next");
      } finally {
        closeSync(fd);
      }
      // Once the netns is gone, so is its veth, and the address is free again: the lowest, as Docker gives it.
      expect(await until(() => !existsSync(dead.veth), 10_000)).toBe(true);
      await b.ok(["run", "-d", "--name", "again", redis]);
      expect((await endpoint("again")).ip).toBe(dead.ip);
      await b.ok(["rm", "-f", "next", "again"]);
    }

    // An address asked for with --ip is not skipped: the veth still answering for it is deleted.
    await b.ok(["network", "create", "--subnet", "10.251.7.0/24", "ghostnet"]);
    await b.ok(["run", "-d", "--name", "fixed0", "--network", "ghostnet", "--ip", "10.251.7.9", redis]);
    const dead = await endpoint("fixed0");
    const fd = await haunt("fixed0");
    try {
      await b.ok(["rm", "-f", "fixed0"]);
      expect(existsSync(dead.veth)).toBe(true);
      await b.ok(["run", "-d", "--name", "fixed1", "--network", "ghostnet", "--ip", "10.251.7.9", "-p", "6379", redis]);
      expect(existsSync(dead.veth)).toBe(false);
      expect((await endpoint("fixed1")).ip).toBe("10.251.7.9");
      await answers("fixed1");
    } finally {
      closeSync(fd);
    }
    await b.ok(["rm", "-f", "fixed1"]);
    await b.ok(["network", "rm", "ghostnet"]);
  }, 120_000);

  test("--add-host (host-gateway too) and --dns/--dns-search/--dns-option, with and without the embedded DNS, across a restart", async () => {
    const files = "cat /etc/hosts; echo ---; cat /etc/resolv.conf";
    const etc = { "add-host": ["foo:1.2.3.4", "gw:host-gateway", "v6=::1"], dns: ["10.9.9.9"], search: ["example.test"], opt: ["ndots:2"] };
    const flags = [...etc["add-host"].flatMap((h) => ["--add-host", h]), "--dns", etc.dns[0]!, "--dns-search", etc.search[0]!, "--dns-option", etc.opt[0]!];
    const gateway = JSON.parse(await b.ok(["network", "inspect", "bridge"]))[0].IPAM.Config[0].Gateway as string;
    for (const mode of ["none", "bridge"]) {
      const [hosts, resolv] = (await b.ok(["run", "--rm", "--network", mode, ...flags, busybox, "sh", "-c", files])).split("---\n");
      expect(hosts).toEndWith(`1.2.3.4\tfoo\n${gateway}\tgw\n::1\tv6\n`);
      expect(hosts).toContain("127.0.0.1\tlocalhost");
      expect(resolv).toBe("nameserver 10.9.9.9\nsearch example.test\noptions ndots:2\n");
    }
    // A user network keeps its resolver at 127.0.0.11 (the --dns servers are where it forwards) and ndots:0.
    await b.ok(["network", "create", "etcnet"]);
    await b.ok(["run", "-d", "--name", "etc1", "--network", "etcnet", ...flags, "--dns-option", "timeout:1", busybox, "sleep", "300"]);
    const userResolv = "nameserver 127.0.0.11\nsearch example.test\noptions ndots:2 timeout:1\n";
    expect((await b.ok(["exec", "etc1", "cat", "/etc/resolv.conf"]))).toBe(userResolv);
    await b.ok(["restart", "-t", "0", "etc1"]);
    expect((await b.ok(["exec", "etc1", "cat", "/etc/resolv.conf"]))).toBe(userResolv);
    expect((await b.ok(["exec", "etc1", "cat", "/etc/hosts"])).match(/\tfoo\n/g)).toHaveLength(1);
    const hc = JSON.parse(await b.ok(["inspect", "-f", "{{json .HostConfig}}", "etc1"]));
    expect([hc.ExtraHosts, hc.Dns, hc.DnsSearch, hc.DnsOptions]).toEqual([["foo:1.2.3.4", "gw:host-gateway", "v6:::1"], ["10.9.9.9"], ["example.test"], ["ndots:2", "timeout:1"]]);
    await b.ok(["rm", "-f", "etc1"]);
    await b.ok(["network", "rm", "etcnet"]);
    // Bad values are flag errors, as the docker CLI's validators make them.
    const bad = await b.run(["run", "--rm", "--add-host", "foo", busybox, "true"]);
    expect([bad.code, bad.stderr.trim()]).toEqual([125, 'invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"']);
    const badDns = await b.run(["run", "--rm", "--dns", "nope", busybox, "true"]);
    expect([badDns.code, badDns.stderr.trim()]).toEqual([125, 'invalid argument "nope" for "--dns" flag: nope is not an ip address']);
  });

  test("--network container:NAME shares the other container's interfaces", async () => {
    await b.ok(["run", "-d", "--name", "base", busybox, "sleep", "300"]);
    const ip = (await b.ok(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "base"])).trim();
    const out = await b.ok(["run", "--rm", "--network", "container:base", busybox, "ip", "-4", "-o", "addr", "show", "eth0"]);
    expect(out).toContain(`inet ${ip}/`);
    await b.ok(["rm", "-f", "base"]);
  });
});

describe.skipIf(!root)("cleanup and reconciliation", () => {
  // bunker0 is shared by every data root; its rules carry the tag of the root that made it. A process of
  // this root programs its copy once (a daemon already did), hence in-process only.
  test.skipIf(DAEMON_MODE)("bunker0 made by another data root whose rules are gone: this root's published ports still answer on 127.0.0.1", async () => {
    await b.ok(["run", "-d", "--name", "first", busybox, "sleep", "300"]);
    const bridgeId = (await b.ok(["network", "inspect", "-f", "{{.Id}}", "bridge"])).trim().slice(0, 12);
    const ours = `"${tag}:net:${bridgeId}"`;
    const alias = readFileSync("/sys/class/net/bunker0/ifalias", "utf8").trim();
    try {
      // Another root's bunker0 now, and none of this root's bunker0 rules left.
      expect(sh(["ip", "link", "set", "bunker0", "alias", "bunker:deadbeef:net:0123456789ab"]).code).toBe(0);
      const mine = sh(["iptables-save"]).out.split("\n");
      let table = "";
      const del: string[] = [];
      for (const l of mine) {
        if (l.startsWith("*")) table = l.slice(1);
        else if (l.startsWith("-A ") && l.includes(ours)) del.push(`*${table}\n${l.replace(/^-A /, "-D ")}\nCOMMIT\n`);
      }
      for (const d of del) sh(["iptables-restore", "--noflush", "-w"], d);
      expect(sh(["iptables-save"]).out).not.toContain(ours);
      const port = freePort();
      await b.ok(["run", "-d", "--name", "later", "-p", `127.0.0.1:${port}:80`, nginx]);
      expect(sh(["iptables-save"]).out).toContain(ours);
      expect((await get(`http://127.0.0.1:${port}/`)).headers.get("server")).toContain("nginx");
    } finally {
      sh(["ip", "link", "set", "bunker0", "alias", alias]);
      await b.run(["rm", "-f", "first", "later"]);
    }
  }, 60_000);

  // A deleted data root's unused bunker0 goes at another engine's start; a live root's container that has
  // claimed its address but whose veth the shim has not plugged in yet must keep it (it failed with "bridge
  // bunker0: No such device" when two engines raced).
  test.skipIf(DAEMON_MODE)("a deleted data root's bunker0 stays while a live root has claimed an address on it, and goes without that claim", async () => {
    await b.ok(["run", "--rm", busybox, "true"]); // bunker0 exists
    // The kernel unplugs a gone container's veth asynchronously.
    expect(await until(() => readdirSync("/sys/class/net/bunker0/brif").length === 0)).toBe(true);
    const alias = readFileSync("/sys/class/net/bunker0/ifalias", "utf8").trim();
    const goneTag = "0badc0de";
    const link = `/run/bunker/roots/${goneTag}`;
    const claimFile = "/run/bunker/ipam/bunker0/172.31.254.254";
    const other = bunkerAt(freshDataRoot());
    try {
      expect(sh(["ip", "link", "set", "bunker0", "alias", `bunker:${goneTag}:net:0123456789ab`]).code).toBe(0);
      mkdirSync("/run/bunker/roots", { recursive: true, mode: 0o700 });
      mkdirSync("/run/bunker/ipam/bunker0", { recursive: true, mode: 0o700 });
      symlinkSync(`/nonexistent/bunker-gone-${goneTag}`, link);
      writeFileSync(claimFile, `${b.dataRoot} claimed-not-plugged`);
      await other.ok(["ps"]); // an engine start: drops the gone root
      expect(existsSync(link)).toBe(false);
      expect(existsSync("/sys/class/net/bunker0")).toBe(true);
      // The same clean-up without the live claim deletes it: the claim is what kept it.
      rmSync(claimFile);
      symlinkSync(`/nonexistent/bunker-gone-${goneTag}`, link);
      await other.ok(["ps"]);
      expect(existsSync("/sys/class/net/bunker0")).toBe(false);
      // The next container makes it again.
      expect(await b.ok(["run", "--rm", busybox, "sh", "-c", "ip -4 -o addr show eth0 | wc -l"])).toBe("1\n");
    } finally {
      rmSync(claimFile, { force: true });
      rmSync(link, { force: true });
      if (existsSync("/sys/class/net/bunker0") && readFileSync("/sys/class/net/bunker0/ifalias", "utf8").startsWith(`bunker:${goneTag}:`)) sh(["ip", "link", "set", "bunker0", "alias", alias]);
    }
  }, 60_000);

  test("after removing everything no veth, bridge, address claim or rule of this data root is left", async () => {
    await b.ok(["network", "create", "tmpnet"]);
    await b.ok(["run", "-d", "--name", "c1", "--network", "tmpnet", "-p", `${freePort()}:80`, nginx]);
    await b.ok(["run", "-d", "--name", "c2", "-p", "80", nginx]);
    const during = leftovers(b.dataRoot);
    expect(during.rules.length).toBeGreaterThan(0);
    const bridge = `bk-${(await b.ok(["network", "inspect", "-f", "{{.Id}}", "tmpnet"])).trim().slice(0, 12)}`;
    expect(during.links).toContain(bridge);
    // Our veths: "bk" + the endpoint ID's first 12 (other data roots may have containers on bunker0 too).
    const veths: string[] = [];
    for (const c of ["c1", "c2"]) for (const ep of Object.values(JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", c])) as Record<string, { EndpointID: string }>)) veths.push(`bk${ep.EndpointID.slice(0, 12)}`);
    expect(veths.length).toBe(2);
    expect(veths.every((v) => vethsOn(["bunker0", bridge]).includes(v))).toBe(true);
    const ids = (await b.ok(["ps", "-aq"])).trim().split("\n");
    await b.ok(["rm", "-f", ...ids]);
    await b.ok(["network", "rm", "tmpnet"]);
    // veths go with their netns (the kernel deletes both ends), asynchronously.
    expect(await until(() => veths.every((v) => !existsSync(`/sys/class/net/${v}`)))).toBe(true);
    // The bridge's deletion finishes after `network rm` returns (retireBridge; the test below).
    expect(await until(() => leftovers(b.dataRoot).links.every((l) => l === "bunker0"))).toBe(true);
    const after = leftovers(b.dataRoot);
    expect(after.claims).toEqual([]);
    // Only bunker0's own network rules remain while the default bridge exists (as docker0's do).
    expect(after.rules.every((l) => l.includes(":net:"))).toBe(true);
  }, 60_000);

  test("network rm: the bridge is out of service when it returns (no address, down, its name free) and deleted right after", async () => {
    const opts = ["--subnet", "10.213.7.0/24", "-o", "com.docker.network.bridge.name=bkretiretest"];
    const id = (await b.ok(["network", "create", ...opts, "retnet"])).trim();
    const alias = `${tag}:net:${id.slice(0, 12)}`;
    const ours = () => readdirSync("/sys/class/net").filter((n) => existsSync(`/sys/class/net/${n}/bridge`) && readFileSync(`/sys/class/net/${n}/ifalias`, "utf8").trim() === alias);
    expect(ours()).toEqual(["bkretiretest"]);
    await b.ok(["network", "rm", "retnet"]);
    // Still being deleted, or gone: either way nothing of it is in service.
    for (const n of ours()) {
      expect(n).toMatch(/^bkr-[0-9a-f]{8}$/);
      expect(readFileSync(`/sys/class/net/${n}/operstate`, "utf8").trim()).toBe("down");
      expect(sh(["ip", "-4", "-o", "addr", "show", "dev", n]).out).toBe("");
    }
    expect(sh(["ip", "-4", "route", "show", "table", "all"]).out).not.toContain("10.213.7.");
    // The same subnet and bridge name at once, and a container on it reaches its gateway.
    const again = (await b.ok(["network", "create", ...opts, "retnet"])).trim();
    expect(await b.ok(["run", "--rm", "--network", "retnet", busybox, "sh", "-c", "ping -c1 -W2 10.213.7.1 >/dev/null && echo reached"])).toBe("reached\n");
    await b.ok(["network", "rm", again]);
    expect(await until(() => ours().length === 0 && !existsSync("/sys/class/net/bkretiretest"))).toBe(true);
  }, 60_000);

  // Removal deletes the rules it knows were added (one iptables-restore, no iptables-save); when one of them is
  // gone (deleted by hand, a crash part-way), the batch fails and the owner's rules are read and deleted instead.
  test("a rule deleted by hand: stop and network rm still leave none of the owner's rules", async () => {
    await b.ok(["network", "create", "knownnet"]);
    const net = `${tag}:net:${(await b.ok(["network", "inspect", "-f", "{{.Id}}", "knownnet"])).trim().slice(0, 12)}`;
    const id = (await b.ok(["run", "-d", "--name", "known", "--network", "knownnet", "-p", `127.0.0.1:${freePort()}:80`, nginx])).trim();
    const ctr = `${tag}:ctr:${id.slice(0, 12)}`;
    const rulesOf = (owner: string) => sh(["iptables-save"]).out.split("\n").filter((l) => l.includes(`"${owner}"`));
    try {
      expect(rulesOf(ctr).length).toBe(2);
      expect(rulesOf(net).length).toBeGreaterThan(2);
      // One filter rule of each owner goes by hand (the nat ones stay: the batch's other table).
      for (const owner of [ctr, net]) {
        const rule = rulesOf(owner).find((l) => l.startsWith("-A BUNKER ") || l.startsWith("-A BUNKER-ISOLATION-2 "))!;
        expect(sh(["iptables-restore", "--noflush", "-w"], `*filter\n${rule.replace(/^-A /, "-D ")}\nCOMMIT\n`).code).toBe(0);
      }
      await b.ok(["stop", "-t", "0", "known"]);
      expect(rulesOf(ctr)).toEqual([]);
      await b.ok(["rm", "known"]);
      await b.ok(["network", "rm", "knownnet"]);
      expect(rulesOf(net)).toEqual([]);
    } finally {
      await b.run(["rm", "-f", "known"]);
      await b.run(["network", "rm", "knownnet"]);
    }
  }, 60_000);

  // bunker keeps the rules it last saw with the nf_tables generation they were seen at, and skips iptables-save
  // while it has not moved: a rule another program adds in between moves it, so the next start still sees it.
  test("a stale DNAT rule added by another program between two commands is still found and dropped", async () => {
    const [p1, p2] = [freePort(), freePort()];
    const stale = "bunker:deadbeef:ctr:0123456789ab";
    try {
      await b.ok(["run", "-d", "--name", "seen1", "-p", `127.0.0.1:${p1}:80`, nginx]);
      expect(sh(["iptables", "-t", "nat", "-A", "BUNKER", "-d", "127.0.0.1/32", "-p", "tcp", "-m", "tcp", "--dport", String(p2), "-m", "comment", "--comment", stale, "-j", "DNAT", "--to-destination", "10.199.255.254:80"]).code).toBe(0);
      await b.ok(["run", "-d", "--name", "seen2", "-p", `127.0.0.1:${p2}:80`, nginx]);
      expect(sh(["iptables-save", "-t", "nat"]).out).not.toContain(stale);
      expect((await get(`http://127.0.0.1:${p2}/`)).headers.get("server")).toContain("nginx");
    } finally {
      sh(["iptables", "-t", "nat", "-D", "BUNKER", "-d", "127.0.0.1/32", "-p", "tcp", "-m", "tcp", "--dport", String(p2), "-m", "comment", "--comment", stale, "-j", "DNAT", "--to-destination", "10.199.255.254:80"]);
      await b.run(["rm", "-f", "seen1", "seen2"]);
    }
  }, 60_000);

  // A container that exited on its own keeps its rules until the next start, which may pick another ephemeral
  // port: that start leaves only the new port's rules (removal relies on it, deleting exactly those).
  test("a restart on another ephemeral port leaves only the new port's rules, and stop none", async () => {
    const id = (await b.ok(["run", "-d", "-p", "127.0.0.1::80", busybox, "sh", "-c", "sleep 1"])).trim();
    const ctr = `"${tag}:ctr:${id.slice(0, 12)}"`;
    const dports = () => sh(["iptables-save", "-t", "nat"]).out.split("\n").filter((l) => l.includes(ctr)).map((l) => / --dport (\d+) /.exec(l)![1]);
    try {
      const first = dports();
      expect(first.length).toBe(1);
      expect(await until(async () => (await b.ok(["inspect", "-f", "{{.State.Running}}", id])).trim() === "false", 20_000)).toBe(true);
      let now = first;
      // An ephemeral port may come again: a few starts until it differs.
      for (let i = 0; i < 5 && now[0] === first[0]; i++) {
        await b.ok(["start", id]);
        now = dports();
        await until(async () => (await b.ok(["inspect", "-f", "{{.State.Running}}", id])).trim() === "false", 20_000);
      }
      expect(now.length).toBe(1);
      expect(now[0]).not.toBe(first[0]);
      await b.ok(["start", id]);
      await b.ok(["stop", "-t", "0", id]);
      expect(dports()).toEqual([]);
    } finally {
      await b.run(["rm", "-f", id]);
    }
  }, 120_000);

  // Reconciliation (here after a crash) by one process of a data root while another creates a network: the
  // list of networks was read before waiting for the host lock, so the bridge made meanwhile was taken for a
  // gone network's and deleted, and the container started on it failed ("bridge bk-…: No such device").
  test.skipIf(DAEMON_MODE)("reconciliation keeps the bridge of a network another process created while it waited for the host lock", async () => {
    const intents = join(b.dataRoot, "network", "intent");
    const crashed = join(intents, "999999-1");
    const stray = "bk-deadbeef0001";
    const otherRun = `${b.dataRoot}.run`;
    await b.ok(["ps"]); // gone data roots dropped now, so that the reconciling command below waits only where meant
    // The host lock, held here: the reconciling command stops at it.
    const holder = Bun.spawn(["flock", "-o", "/run/bunker/network.lock", "-c", "echo locked; read x"], { stdin: "pipe", stdout: "pipe" });
    let released = false;
    const release = () => {
      if (!released) holder.stdin.end();
      released = true;
      return holder.exited;
    };
    try {
      const reader = holder.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("locked\n");
      // What reconciliation removes (proof that it ran): a bridge of a network this root no longer has.
      expect(sh(["ip", "link", "add", stray, "type", "bridge"]).code).toBe(0);
      sh(["ip", "link", "set", stray, "alias", `${tag}:net:deadbeef0001`]);
      mkdirSync(intents, { recursive: true });
      writeFileSync(crashed, "");
      const reconciling = await b.spawn(["ps"]);
      // Its intent file: it decided to reconcile and waits for the lock.
      expect(await until(() => readdirSync(intents).some((n) => n.startsWith(`${reconciling.pid}-`)), 20_000)).toBe(true);
      rmSync(crashed);
      // Another process of this data root creates a network meanwhile (a run dir of its own: it gets a lock).
      // (Its ID from its output: a command here would wait for the lock too.)
      const bridge = `bk-${(await bunkerAt(b.dataRoot, [], { BUNKER_RUN_DIR: otherRun }).ok(["network", "create", "racenet"])).trim().slice(0, 12)}`;
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(true);
      await release();
      expect(await reconciling.exited).toBe(0);
      expect(existsSync(`/sys/class/net/${stray}`)).toBe(false);
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(true);
      expect(await b.ok(["run", "--rm", "--network", "racenet", busybox, "sh", "-c", "ip -4 -o addr show eth0 | wc -l"])).toBe("1\n");
    } finally {
      await release();
      rmSync(crashed, { force: true });
      if (existsSync(`/sys/class/net/${stray}`)) sh(["ip", "link", "del", stray]);
      await b.run(["network", "rm", "racenet"]);
      rmSync(otherRun, { recursive: true, force: true });
    }
  }, 60_000);

  // The CLI changes the host only in-process; the daemon's kill -9 is serve-network.test.ts's.
  test.skipIf(DAEMON_MODE)("kill -9 of the CLI in the middle of host changes, then any command: reconciled, and removal leaves nothing", async () => {
    // A deterministic crash: a stray rule and bridge of this data root, and the intent file of a dead process.
    const stray = "bk-deadbeef0000";
    expect(sh(["ip", "link", "add", stray, "type", "bridge"]).code).toBe(0);
    sh(["ip", "link", "set", stray, "alias", `${tag}:net:deadbeef0000`]);
    expect(sh(["iptables", "-t", "nat", "-A", "BUNKER", "-p", "tcp", "--dport", "1", "-m", "comment", "--comment", `${tag}:ctr:deadbeef0000`, "-j", "DNAT", "--to-destination", "10.199.255.254:1"]).code).toBe(0);
    mkdirSync(join(b.dataRoot, "network", "intent"), { recursive: true });
    writeFileSync(join(b.dataRoot, "network", "intent", "999999-1"), "");
    await b.ok(["ps"]);
    expect(existsSync(`/sys/class/net/${stray}`)).toBe(false);
    expect(sh(["iptables-save"]).out).not.toContain(`${tag}:ctr:deadbeef0000`);
    expect(readdirSync(join(b.dataRoot, "network", "intent"))).toEqual([]);

    // Real kills at random points of `run -d -p`.
    for (let i = 0; i < 6; i++) {
      const p = await b.spawn(["run", "-d", "-p", `${freePort()}:80`, nginx]);
      await Bun.sleep(20 + i * 25);
      p.kill("SIGKILL");
      await p.exited;
    }
    await b.ok(["ps", "-a"]);
    // Every running container has its rules back; no rule names a container that is not running.
    const running = (await b.ok(["ps", "-q"])).trim().split("\n").filter(Boolean);
    const rules = leftovers(b.dataRoot).rules.filter((l) => l.includes(":ctr:"));
    for (const l of rules) expect(running.some((id) => l.includes(`:ctr:${id}`))).toBe(true);
    const all = (await b.ok(["ps", "-aq"])).trim().split("\n").filter(Boolean);
    if (all.length) await b.ok(["rm", "-f", ...all]);
    expect(await until(() => leftovers(b.dataRoot).rules.every((l) => l.includes(":net:")))).toBe(true);
    expect(await until(() => leftovers(b.dataRoot).links.every((l) => l === "bunker0"))).toBe(true);
    expect(leftovers(b.dataRoot).claims).toEqual([]);
  }, 120_000);
});
