/**
 * Published ports through the userland proxy (the supervisor's, in C), with `--iptables=false` as the global
 * flag, as root, through the compiled CLI: nginx answers on 127.0.0.1 and on all addresses (from the host and
 * from another container: hairpin), random ports and -P, a large response arrives intact to a reader that
 * stalls (back-pressure: the supervisor's memory stays flat), half-close both ways, UDP echo, conflicts with
 * Docker's messages, a restart by the restart policy, the port released after stop and rm, no fd left behind
 * after 200 connections, and not one iptables rule of this data root. The containers sit on a user network
 * (see NET). Traffic goes only to 127.0.0.0/8 and to addresses inside network namespaces bunker created.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { bunkerAt, freshDataRoot } from "../helpers/bunker.ts";
import { freePort, get, rootTag, sh, until } from "../helpers/netcheck.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { RETIRED_PREFIX } from "../../src/engine/network/host.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string, nginx: string;
let tag: string;
/**
 * The containers' network: a bridge of this data root's own. On the shared bunker0 an address can still be
 * answered by a stray container of another data root whose directory was deleted while it ran (its address
 * claim is then released): seen on this shared machine, it made nginx replies come from somebody else's nginx.
 */
const NET = "pxnet";

/** True when a host process can bind the TCP port on 127.0.0.1 (nobody holds it). */
const bindable = (port: number) => {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
};
/** The container's status.json (pids of the container, its supervisor and guardian). */
const status = async (name: string) => {
  const id = (await b.ok(["inspect", "-f", "{{.Id}}", name])).trim();
  return JSON.parse(readFileSync(join(b.dataRoot, "containers", id, "status.json"), "utf8")) as { pid: number; supervisorPid: number; guardianPid: number; restartCount: number; running: boolean };
};
/** "80/tcp" -> ["0.0.0.0:8080", ...] from inspect (`port` reads the local engine only, so not in daemon mode). */
const published = async (name: string) => {
  const ports = JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", name])) as Record<string, { HostIp: string; HostPort: string }[] | null>;
  return Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, (v ?? []).map((x) => `${x.HostIp}:${x.HostPort}`).sort()]));
};
/** The container's gateway on NET (the host's address on that bridge). */
const gateway = async (name: string) => (JSON.parse(await b.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", name])) as Record<string, { Gateway: string }>)[NET]!.Gateway;
const pss = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))![1]);
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const ourRules = () => sh(["iptables-save"]).out.split("\n").filter((l) => l.includes(tag));
/** One TCP exchange: connect, write, optionally half-close, read to EOF. */
const exchange = async (port: number, data: string | Buffer, opts: { end?: boolean } = {}) => {
  const s = connect(port, "127.0.0.1");
  await once(s, "connect");
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  const ended = once(s, "end");
  if (opts.end) s.end(data);
  else s.write(data);
  await ended;
  s.destroy();
  return Buffer.concat(chunks);
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--iptables=false"]);
  [busybox, nginx] = ["busybox", "nginx"].map((n) => `${reg.host}/${n}`) as [string, string];
  for (const i of [busybox, nginx]) await b.ok(["pull", "-q", i]);
  await b.ok(["network", "create", NET]);
  tag = rootTag(b.dataRoot);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  try {
    await cleanUp();
  } finally {
    await reg?.stop(); // also when the clean-up fails: a registry left running outlives the suite
  }
}, 120_000);

/** Removes this file's containers, network and any bridge of its data root that no veth uses. */
async function cleanUp() {
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", ...ids.split("\n")]);
  await b.run(["network", "rm", NET]);
  // Without iptables there are no rules to remove; a bridge this data root made goes once no veth uses it.
  // A retired bridge (bkr-, being deleted by bunker in the background) can vanish between the listing and the
  // reads: it is left to that deletion.
  for (const n of readdirSync("/sys/class/net")) {
    if (n.startsWith(RETIRED_PREFIX)) continue;
    let alias = "";
    let ports: string[] = [];
    try {
      alias = readFileSync(`/sys/class/net/${n}/ifalias`, "utf8");
      ports = existsSync(`/sys/class/net/${n}/brif`) ? readdirSync(`/sys/class/net/${n}/brif`) : [];
    } catch {
      continue; // gone meanwhile
    }
    if (alias.startsWith(tag) && ports.length === 0) sh(["ip", "link", "del", n]);
  }
}

describe.skipIf(!root)("published ports through the userland proxy (--iptables=false)", () => {
  test("info says userland-proxy; nginx on -p 127.0.0.1:H:80 and -p H:80 answers; no iptables rule of this data root", async () => {
    expect((await b.ok(["info", "--format", "{{.PortForwarding}}"])).trim()).toBe("userland-proxy");
    expect(await b.ok(["info"])).toContain(" Port Forwarding: userland-proxy (each container's supervisor relays its published ports)");
    const lp = freePort();
    const ap = freePort();
    await b.ok(["run", "-d", "--network", NET, "--name", "web", "-p", `127.0.0.1:${lp}:80`, "-p", `${ap}:80`, nginx]);
    const res = await get(`http://127.0.0.1:${lp}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("server")).toContain("nginx");
    expect(await res.text()).toContain("Welcome to nginx");
    expect((await get(`http://127.0.0.1:${ap}/`)).status).toBe(200);
    expect(await published("web")).toEqual({ "80/tcp": [`0.0.0.0:${ap}`, `127.0.0.1:${lp}`] });
    // The proxy listens (the kernel path only holds the port): ss shows the supervisor's listening sockets.
    const { supervisorPid } = await status("web");
    const listening = sh(["ss", "-tlnpH", `( sport = :${lp} or sport = :${ap} )`]).out;
    expect(listening).toContain(`127.0.0.1:${lp}`);
    expect(listening).toContain(`0.0.0.0:${ap}`);
    expect(listening).toContain(`pid=${supervisorPid},`);
    // Hairpin: another container reaches nginx through the port published on all addresses, via the gateway.
    const gw = await gateway("web");
    const r = await b.run(["run", "--rm", "--network", NET, busybox, "sh", "-c", `wget -q -O - http://${gw}:${ap}/ | grep -c '<title>Welcome to nginx'`]);
    expect(r.stdout.trim()).toBe("1");
    expect(ourRules()).toEqual([]);
  }, 60_000);

  test("-p CONTAINER gets a random host port and -P publishes EXPOSE, both through the proxy", async () => {
    await b.ok(["run", "-d", "--network", NET, "--name", "rnd", "-p", "80", nginx]);
    const m = /^0\.0\.0\.0:(\d+)$/.exec((await published("rnd"))["80/tcp"]![0]!);
    expect(m).not.toBeNull();
    expect((await get(`http://127.0.0.1:${m![1]}/`)).status).toBe(200);
    await b.ok(["run", "-d", "--network", NET, "--name", "all", "-P", nginx]);
    const p = /^0\.0\.0\.0:(\d+)$/.exec((await published("all"))["80/tcp"]![0]!)![1];
    expect((await get(`http://127.0.0.1:${p}/`)).status).toBe(200);
    expect(ourRules()).toEqual([]);
    await b.ok(["rm", "-f", "rnd", "all"]);
  }, 60_000);

  test("an 8 MB response arrives intact, also to a reader that stalls (the supervisor holds one buffer, not the file)", async () => {
    const sum = (await b.ok(["exec", "web", "sh", "-c", "head -c 8000000 /dev/urandom > /var/www/html/big.bin && sha256sum /var/www/html/big.bin"])).split(" ")[0];
    const port = Number((await published("web"))["80/tcp"]!.find((a) => a.startsWith("127.0.0.1:"))!.split(":")[1]);
    const res = await get(`http://127.0.0.1:${port}/big.bin`);
    expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(sum!);
    // A client that asks and does not read for a while: the kernel's buffers fill, then the proxy stops
    // reading from nginx; its memory grows by at most its buffers.
    const { supervisorPid } = await status("web");
    const before = pss(supervisorPid);
    const s: Socket = connect(port, "127.0.0.1");
    await once(s, "connect");
    s.pause();
    s.write("GET /big.bin HTTP/1.0\r\n\r\n");
    await Bun.sleep(1500);
    const stalled = sh(["ss", "-tnH", "state", "established", `( sport = :${port} )`]).out;
    const sendQ = Math.max(0, ...stalled.trim().split("\n").map((l) => Number(l.trim().split(/\s+/)[1] ?? 0)));
    expect(sendQ).toBeGreaterThan(100_000); // the proxy's socket to the client is full: back-pressure is on
    expect(pss(supervisorPid) - before).toBeLessThan(256);
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    const ended = once(s, "end");
    s.resume();
    await ended;
    const body = Buffer.concat(chunks);
    expect(sha(body.subarray(body.indexOf("\r\n\r\n") + 4))).toBe(sum!);
    // The connection's buffers are unmapped at close.
    expect(await until(() => pss(supervisorPid) - before < 64)).toBe(true);
  }, 60_000);

  test("half-close: the client's EOF reaches the container as EOF and the answer still comes back", async () => {
    const port = freePort();
    // busybox nc runs `wc -c` per connection: it answers only once its input ends.
    await b.ok(["run", "-d", "--network", NET, "--name", "wc", "-p", `127.0.0.1:${port}:9000`, busybox, "nc", "-ll", "-p", "9000", "-e", "wc", "-c"]);
    const payload = Buffer.alloc(300_000, 7);
    let out = "";
    expect(await until(async () => (out = (await exchange(port, payload, { end: true }).catch(() => Buffer.alloc(0))).toString().trim()) !== "")).toBe(true);
    expect(out).toBe("300000");
    await b.ok(["rm", "-f", "wc"]);
  }, 60_000);

  test("UDP: datagrams go through -p H:C/udp and the answers come back from the address the client used", async () => {
    const port = freePort();
    // The nginx image is Debian: perl-base's IO::Socket::INET makes a UDP echo server.
    const echo = 'my $s = IO::Socket::INET->new(LocalPort => 7, Proto => "udp") or die "udp: $!"; while (1) { my $p = $s->recv(my $m, 65535); $s->send("echo:$m", 0, $p) }';
    await b.ok(["run", "-d", "--network", NET, "--name", "udp", "-p", `${port}:7/udp`, "--entrypoint", "perl", nginx, "-MIO::Socket::INET", "-e", echo]);
    expect((await published("udp"))["7/udp"]).toEqual([`0.0.0.0:${port}`]);
    const gw = await gateway("udp");
    for (const dst of ["127.0.0.1", gw]) {
      const sock = createSocket("udp4");
      const answers: { msg: string; from: string }[] = [];
      sock.on("message", (m, r) => answers.push({ msg: m.toString(), from: `${r.address}:${r.port}` }));
      await new Promise<void>((res) => sock.bind(0, "0.0.0.0", () => res()));
      // The first datagrams may arrive before perl listens: resend until answered.
      expect(await until(() => (answers.length ? true : (sock.send(`ping-${dst}`, port, dst), false)), 15_000)).toBe(true);
      expect(answers[0]).toEqual({ msg: `echo:ping-${dst}`, from: `${dst}:${port}` });
      const big = Buffer.alloc(60_000, 65);
      answers.length = 0;
      sock.send(big, port, dst);
      expect(await until(() => answers.length > 0)).toBe(true);
      expect(answers[0]!.msg.length).toBe(60_005);
      sock.close();
    }
    await b.ok(["rm", "-f", "udp"]);
  }, 60_000);

  test("conflicts: a port another container holds, and a port a host process holds, fail with Docker's messages", async () => {
    const port = freePort();
    await b.ok(["run", "-d", "--network", NET, "--name", "holder", "-p", `${port}:80`, nginx]);
    const r = await b.run(["run", "-d", "--network", NET, "--name", "second", "-p", `${port}:80`, nginx]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`driver failed programming external connectivity on endpoint second \\([0-9a-f]{64}\\): Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const hostPort = freePort();
    const server = Bun.listen({ hostname: "127.0.0.1", port: hostPort, socket: { data() {} } });
    try {
      const h = await b.run(["run", "-d", "--network", NET, "--name", "third", "-p", `127.0.0.1:${hostPort}:80`, nginx]);
      expect(h.code).toBe(125);
      expect(h.stderr).toContain(`driver failed programming external connectivity on endpoint third (`);
      expect(h.stderr).toContain(`Error starting userland proxy: listen tcp4 127.0.0.1:${hostPort}: bind: address already in use`);
    } finally {
      server.stop(true);
    }
    await b.ok(["rm", "-f", "holder", "second", "third"]);
  }, 60_000);

  test("a container restarted by its restart policy, and a supervisor killed with -9, keep serving the port", async () => {
    const port = freePort();
    await b.ok(["run", "-d", "--network", NET, "--name", "rs", "--restart", "always", "-p", `127.0.0.1:${port}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const first = await status("rs");
    process.kill(first.pid, "SIGKILL");
    expect(await until(async () => (await status("rs")).restartCount === 1 && (await status("rs")).running)).toBe(true);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    // The guardian takes over the supervisor's job, the proxy included (same listening socket).
    process.kill(first.supervisorPid, "SIGKILL");
    expect(await until(async () => (await status("rs")).supervisorPid === first.guardianPid)).toBe(true);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await b.ok(["rm", "-f", "rs"]);
  }, 60_000);

  test("the port is released after stop and after rm, and a new container can take it", async () => {
    const port = freePort();
    await b.ok(["run", "-d", "--network", NET, "--name", "rel", "-p", `127.0.0.1:${port}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(bindable(port)).toBe(false);
    await b.ok(["stop", "-t", "2", "rel"]);
    expect(await until(() => bindable(port))).toBe(true);
    await b.ok(["start", "rel"]);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await b.ok(["rm", "-f", "rel"]);
    expect(await until(() => bindable(port))).toBe(true);
    await b.ok(["run", "-d", "--network", NET, "--name", "rel2", "-p", `127.0.0.1:${port}:80`, nginx]);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await b.ok(["rm", "-f", "rel2"]);
    expect(ourRules()).toEqual([]);
  }, 60_000);

  test("200 connections (complete, aborted, reset, concurrent) leave no fd behind in the supervisor", async () => {
    const port = Number((await published("web"))["80/tcp"]!.find((a) => a.startsWith("127.0.0.1:"))!.split(":")[1]);
    const { supervisorPid } = await status("web");
    const before = fdCount(supervisorPid);
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.on("connect", () => {
          if (i % 4 === 0) s.end("GET / HTTP/1.0\r\n\r\n"); // complete, with a half-close
          else if (i % 4 === 1) s.destroy(); // aborted at once
          else if (i % 4 === 2) s.write("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", () => setTimeout(() => s.resetAndDestroy(), 20)); // reset mid-transfer
          else s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); // complete, server closes first
        });
        s.on("data", () => {});
        s.on("close", () => resolve());
        s.on("error", () => resolve());
      });
    // 20 idle connections stay open meanwhile: each is two sockets in the supervisor (client and container).
    const idle: Socket[] = [];
    for (let i = 0; i < 20; i++) idle.push(connect(port, "127.0.0.1").on("error", () => {}));
    expect(await until(() => fdCount(supervisorPid) === before + 40)).toBe(true);
    for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 50 }, (_, i) => one(round * 50 + i)));
    expect(fdCount(supervisorPid)).toBeGreaterThanOrEqual(before + 40);
    for (const s of idle) s.destroy();
    expect(await until(() => fdCount(supervisorPid) === before)).toBe(true);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
  }, 60_000);

  test("--userland-proxy=false with the kernel path off: info says none and -p fails; nothing is held", async () => {
    const off = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--iptables=false", "--userland-proxy=false"]);
    await off.ok(["pull", "-q", nginx]);
    expect((await off.ok(["info", "--format", "{{.PortForwarding}}"])).trim()).toBe("none");
    const port = freePort();
    const r = await off.run(["run", "-d", "--name", "noproxy", "-p", `127.0.0.1:${port}:80`, nginx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("published ports need iptables (the kernel path) or the userland proxy");
    expect(bindable(port)).toBe(true);
    await off.run(["rm", "-f", "noproxy"]);
    expect(sh(["iptables-save"]).out).not.toContain(rootTag(off.dataRoot));
  }, 60_000);
});
