/**
 * Networks through `dist/bunker serve`, driven by the real docker CLI 28, with the bunker CLI beside it
 * (in-process on the same data root, and through the daemon with -H): network create/ls/inspect/connect/
 * disconnect/rm/prune print the same in all three; `docker run --network NAME --network-alias X` makes
 * containers that resolve each other by name and alias; `network inspect bridge` has the IPAM gateway that
 * testcontainers reads (and uses, unoverridden); `docker port` and `-p 127.0.0.1::80` of nginx; docker's
 * errors and exit codes; dockerode's network calls; and a kill -9 of the daemon while containers with
 * published ports run on a user network: after a restart on the same data root and removal of everything,
 * no veth, bridge, rule or address claim of this data root is left. Traffic stays on 127.0.0.0/8 and the
 * addresses of bunker's own bridges.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, bunkerAt, freshDataRoot, type Result, tempDir, waitForDaemon } from "../helpers/bunker.ts";
import { get, leftovers, purgeNetworking, rootTag, sh, until, vethsOn } from "../helpers/netcheck.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const DOCKER = "/usr/local/bin/docker";
const ready = process.getuid?.() === 0 && existsSync(DOCKER);

let reg: Registry;
let dir: string;
let sock: string;
let dataRoot: string;
let daemon: Subprocess;
let b: ReturnType<typeof bunkerAt>;
let busybox: string, nginx: string;

/** `bunker serve` on this file's socket and data root (again after a kill -9: same root, same socket path). */
async function startDaemon() {
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, "--registry-mirror", reg.url], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await waitForDaemon(sock);
}

async function exec(cmd: string[], env: Record<string, string | undefined>, stdin?: string): Promise<Result> {
  const proc = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", env, timeout: 90_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
const docker = (args: string[], stdin?: string) => exec([DOCKER, ...args], { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${sock}` }, stdin);
/** The bunker CLI through the daemon (-H). */
const viaH = (args: string[], stdin?: string) => exec([BUNKER, "-H", `unix://${sock}`, ...args], { ...process.env, BUNKER_SHIM: undefined }, stdin);
const ok = async (p: Promise<Result>) => {
  const r = await p;
  if (r.code !== 0) throw new Error(`exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
/** docker, bunker -H and in-process bunker run `args`: same stdout, stderr and exit code. */
async function same(args: string[]): Promise<Result> {
  const d = await docker(args);
  const h = await viaH(args);
  const l = await b.run(args);
  expect({ code: h.code, stdout: h.stdout, stderr: h.stderr }).toEqual({ code: d.code, stdout: d.stdout, stderr: d.stderr });
  expect({ code: l.code, stdout: l.stdout, stderr: l.stderr }).toEqual({ code: d.code, stdout: d.stdout, stderr: d.stderr });
  return d;
}
const api = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`http://x${path}`, { unix: sock, ...init } as RequestInit);
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
};
/** Network events of the daemon since `t0` (unix seconds), as `docker events` prints them. */
const networkEvents = async (t0: number, filter: string[] = []) =>
  (await ok(docker(["events", "--since", String(t0), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "type=network", ...filter.flatMap((f) => ["--filter", f]), "--format", '{{.Action}} {{index .Actor.Attributes "name"}} {{index .Actor.Attributes "container"}}'])))
    .split("\n")
    .filter(Boolean);

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = tempDir("bunker-serve-net-");
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  dataRoot = freshDataRoot();
  b = bunkerAt(dataRoot, ["--registry-mirror", reg.url]);
  [busybox, nginx] = [`${reg.host}/busybox`, `${reg.host}/nginx`];
  await startDaemon();
  for (const i of [busybox, nginx]) await ok(docker(["pull", "-q", i]));
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  const ids = (await docker(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await docker(["rm", "-f", ...ids.split("\n")]);
  const nets = (await docker(["network", "ls", "-q", "--filter", "type=custom"])).stdout.trim();
  if (nets) await docker(["network", "rm", ...nets.split("\n")]);
  daemon.kill("SIGTERM");
  await daemon.exited;
  purgeNetworking(dataRoot);
  await reg?.stop();
}, 120_000);

describe.skipIf(!ready)("docker network commands on bunker serve", () => {
  test("create, ls, inspect, rm, prune: the docker CLI's output equals bunker's, in-process and through -H", async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    const id = (await ok(docker(["network", "create", "--label", "team=a", "--subnet", "10.251.7.0/24", "--gateway", "10.251.7.254", "na"]))).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await ok(viaH(["network", "create", "--label", "team=b", "nb"]))).trim()).toMatch(/^[0-9a-f]{64}$/);
    expect((await b.ok(["network", "create", "nc"])).trim()).toMatch(/^[0-9a-f]{64}$/);
    const ls = await same(["network", "ls"]);
    expect(ls.stdout.split("\n")[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(ls.stdout.split("\n").slice(1, -1).map((l) => l.split(/\s+/)[1])).toEqual(["bridge", "host", "na", "nb", "nc", "none"]);
    for (const args of [
      ["network", "ls", "--no-trunc", "--filter", "label=team"],
      ["network", "ls", "-q", "--filter", "type=custom"],
      ["network", "ls", "--filter", "dangling=true", "--format", "{{.Name}} {{.Driver}} {{.Internal}} {{.Labels}}"],
      ["network", "ls", "--format", "json"],
      ["network", "ls", "--format", "table {{.Name}}\t{{.CreatedAt}}\t{{.IPv4}}"],
      ["network", "inspect", "na", "bridge", "host"],
      ["network", "inspect", "-f", "{{.Name}} {{json .IPAM.Config}} {{.Labels}}", "na"],
      ["inspect", "nb"],
    ])
      await same(args);
    expect(JSON.parse(await ok(docker(["network", "inspect", "na"])))[0]).toMatchObject({ Name: "na", Id: id, Driver: "bridge", Scope: "local", IPAM: { Driver: "default", Config: [{ Subnet: "10.251.7.0/24", Gateway: "10.251.7.254" }] }, Labels: { team: "a" }, Containers: {} });

    // Errors: texts and exit codes as the docker CLI prints the daemon's.
    const dup = await same(["network", "create", "na"]);
    expect([dup.code, dup.stderr]).toEqual([1, "Error response from daemon: network with name na already exists\n"]);
    expect((await same(["network", "create", "bridge"])).stderr).toBe("Error response from daemon: bridge is a pre-defined network and cannot be created\n");
    const missing = await same(["network", "inspect", "nosuch"]);
    expect(missing).toEqual({ code: 1, stdout: "[]\n", stderr: "Error response from daemon: network nosuch not found\n" });
    expect(await same(["network", "rm", "nosuch", "bridge"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "Error response from daemon: network nosuch not found\nError response from daemon: bridge is a pre-defined network and cannot be removed\nexit status 1\n",
    });
    expect(await docker(["network", "rm", "-f", "nosuch"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(await viaH(["network", "rm", "-f", "nosuch"])).toEqual({ code: 0, stdout: "", stderr: "" });

    // prune by label; the rest; then nothing to prune.
    expect(await ok(docker(["network", "prune", "-f", "--filter", "label=team=a"]))).toBe("Deleted Networks:\nna\n\n");
    expect(await ok(viaH(["network", "prune", "-f", "--filter", "label!=team=b"]))).toBe("Deleted Networks:\nnc\n\n");
    expect(await ok(docker(["network", "rm", "nb"]))).toBe("nb\n");
    expect(await ok(docker(["network", "prune", "-f"]))).toBe("");
    const bad = await docker(["network", "prune", "-f", "--filter", "driver=bridge"]);
    expect([bad.code, bad.stderr]).toEqual([1, "Error response from daemon: invalid filter 'driver'\n"]);
    // The daemon's events; the in-process CLI's create of nc is not among them (it has no event bus).
    expect(await networkEvents(t0)).toEqual(["create na ", "create nb ", "destroy na ", "prune  ", "destroy nc ", "prune  ", "destroy nb ", "prune  "]);
  }, 120_000);

  test("network inspect bridge has the IPAM gateway (GET /networks/bridge as testcontainers sends it); the API's statuses", async () => {
    const bridge = JSON.parse(await ok(docker(["network", "inspect", "bridge"])))[0];
    const gateway = bridge.IPAM.Config[0].Gateway;
    expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(bridge).toMatchObject({ Name: "bridge", Driver: "bridge", Options: { "com.docker.network.bridge.default_bridge": "true" } });
    const tc = await api("/v1.50/networks/bridge");
    expect(tc.status).toBe(200);
    expect(tc.body.IPAM.Config.find((c: { Gateway?: string }) => c.Gateway !== undefined).Gateway).toBe(gateway);
    expect((await api(`/networks/${bridge.Id.slice(0, 12)}?verbose=true&scope=local`)).body.Name).toBe("bridge");
    expect(await api("/networks/bridge?verbose=maybe")).toEqual({ status: 400, body: { message: 'invalid value for verbose: maybe: strconv.ParseBool: parsing "maybe": invalid syntax' } });
    expect(await api("/networks/bridge?scope=swarm")).toEqual({ status: 404, body: { message: "network bridge not found" } });
    expect(await api("/networks/nosuch")).toEqual({ status: 404, body: { message: "network nosuch not found" } });
    expect((await api("/networks/bridge", { method: "DELETE" })).status).toBe(403);
    expect((await api("/networks/create", { method: "POST", body: JSON.stringify({ Name: "host" }), headers: { "content-type": "application/json" } })).status).toBe(403);
    expect(await api("/networks?filters=%7B%22color%22%3A%5B%22red%22%5D%7D")).toEqual({ status: 400, body: { message: "invalid filter 'color'" } });
    // From API 1.28 on the list leaves Containers empty; inspect fills it.
    expect((await api("/v1.50/networks")).body.every((n: { Containers: object }) => Object.keys(n.Containers).length === 0)).toBe(true);
  });

  test("run --network NAME --network-alias X: two containers resolve each other by name and alias; --ip; connect and disconnect", async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    await ok(docker(["network", "create", "app"]));
    await ok(docker(["run", "-d", "--name", "srv", "--network", "app", "--network-alias", "db", busybox, "sleep", "300"]));
    await ok(docker(["run", "-d", "--name", "web", "--network", "app", "--network-alias", "front", "--network-alias", "www", busybox, "sleep", "300"]));
    const ip = async (c: string) => (await ok(docker(["inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", c]))).trim();
    const [srvIp, webIp] = [await ip("srv"), await ip("web")];
    expect(srvIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const resolve = async (from: string, name: string) => {
      const r = await docker(["exec", from, "sh", "-c", `nslookup ${name} 2>&1; ping -c1 -W2 ${name} >/dev/null && echo reached`]);
      return { address: /Name:\s+\S+\s+Address:\s+(\S+)/.exec(r.stdout)?.[1], reached: r.stdout.includes("reached") };
    };
    expect(await resolve("web", "srv")).toEqual({ address: srvIp, reached: true });
    expect(await resolve("web", "db")).toEqual({ address: srvIp, reached: true });
    expect(await resolve("srv", "web")).toEqual({ address: webIp, reached: true });
    expect(await resolve("srv", "front")).toEqual({ address: webIp, reached: true });
    expect(await resolve("srv", "www")).toEqual({ address: webIp, reached: true });
    expect(JSON.parse(await ok(docker(["inspect", "-f", "{{json .NetworkSettings.Networks.app.Aliases}}", "web"])))).toEqual(["front", "www"]);
    // What the daemon shows through the docker CLI is what bunker shows.
    await same(["network", "inspect", "app"]);
    await same(["inspect", "-f", "{{json .NetworkSettings.Networks}}", "srv"]);
    const members = JSON.parse(await ok(docker(["network", "inspect", "-f", "{{json .Containers}}", "app"]))) as Record<string, { Name: string; IPv4Address: string }>;
    expect(Object.values(members).map((m) => [m.Name, m.IPv4Address.split("/")[0]]).sort()).toEqual([["srv", srvIp], ["web", webIp]]);

    // --ip: a static address on the user network.
    const subnet = JSON.parse(await ok(docker(["network", "inspect", "-f", "{{json .IPAM.Config}}", "app"])))[0].Subnet as string;
    const fixed = subnet.replace(/\.0\/24$/, ".77");
    await ok(docker(["run", "-d", "--name", "fixed", "--network", "app", "--ip", fixed, busybox, "sleep", "300"]));
    expect(await ip("fixed")).toBe(fixed);
    expect(await resolve("srv", "fixed")).toEqual({ address: fixed, reached: true });

    // --network container:NAME shares srv's interfaces (and so its name and aliases on app).
    expect(await ok(docker(["run", "--rm", "--network", "container:srv", busybox, "sh", "-c", "ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*'"]))).toBe(`inet ${srvIp}\n`);

    // connect: a container on the default bridge joins app under an alias, at once; disconnect takes it away.
    await ok(docker(["run", "-d", "--name", "lone", busybox, "sleep", "300"]));
    expect(await ok(docker(["network", "connect", "--alias", "side", "app", "lone"]))).toBe("");
    const loneIp = (await ok(docker(["inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "lone"]))).trim();
    expect(await resolve("srv", "side")).toEqual({ address: loneIp, reached: true });
    expect(await ok(docker(["exec", "lone", "sh", "-c", `ping -c1 -W2 ${srvIp} >/dev/null && echo reached`]))).toBe("reached\n");
    const again = await same(["network", "connect", "app", "lone"]);
    expect([again.code, again.stderr]).toEqual([1, "Error response from daemon: endpoint with name lone already exists in network app\n"]);
    expect(await ok(viaH(["network", "disconnect", "app", "lone"]))).toBe("");
    expect((await resolve("srv", "side")).reached).toBe(false);
    const loneId = (await ok(docker(["inspect", "-f", "{{.Id}}", "lone"]))).trim();
    expect((await same(["network", "disconnect", "app", "lone"])).stderr).toBe(`Error response from daemon: container ${loneId} is not connected to network app\n`);
    expect((await same(["network", "connect", "nosuch", "lone"])).stderr).toBe("Error response from daemon: network nosuch not found\n");
    expect((await same(["network", "connect", "app", "nosuch"])).stderr).toBe("Error response from daemon: No such container: nosuch\n");

    // A network in use cannot go; an unknown network fails run with docker's exit code and no pull.
    const inUse = await same(["network", "rm", "app"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/^Error response from daemon: error while removing network: network app has active endpoints \(name:"srv" id:"[0-9a-f]{12}", name:"web" id:"[0-9a-f]{12}", name:"fixed" id:"[0-9a-f]{12}"\)\nexit status 1\n$/);
    const unknown = await docker(["run", "-d", "--network", "nosuch", busybox, "true"]);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toBe("docker: Error response from daemon: network nosuch not found\n\nRun 'docker run --help' for more information\n");
    const ours = await viaH(["run", "-d", "--network", "nosuch", busybox, "true"]);
    expect([ours.code, ours.stderr.replace(/^bunker: /, "docker: ").replace("'bunker run", "'docker run")]).toEqual([125, unknown.stderr]);

    const [srvId, webId, fixedId] = await Promise.all(["srv", "web", "fixed"].map(async (c) => (await ok(docker(["inspect", "-f", "{{.Id}}", c]))).trim()));
    await ok(docker(["rm", "-f", "srv", "web", "fixed", "lone"]));
    expect(await ok(docker(["network", "rm", "app"]))).toBe("app\n");
    // As moby: a start connects the container to its network, an exit disconnects it, besides the API's own.
    const events = await networkEvents(t0, ["network=app"]);
    expect(events.slice(0, 6)).toEqual(["create app ", `connect app ${srvId}`, `connect app ${webId}`, `connect app ${fixedId}`, `connect app ${loneId}`, `disconnect app ${loneId}`]);
    expect(events.slice(6, -1).sort()).toEqual([srvId, webId, fixedId].map((id) => `disconnect app ${id}`).sort());
    expect(events.at(-1)).toBe("destroy app ");
  }, 120_000);

  test("docker port; -p 127.0.0.1::80 of nginx answers curl on 127.0.0.1, on the default bridge and on a user network", async () => {
    await ok(docker(["network", "create", "pub"]));
    await ok(docker(["run", "-d", "--name", "web1", "-p", "127.0.0.1::80", "-p", "8080", nginx]));
    await ok(docker(["run", "-d", "--name", "web2", "--network", "pub", "-p", "127.0.0.1::80", nginx]));
    for (const c of ["web1", "web2"]) {
      const all = await same(["port", c]);
      const m = /^80\/tcp -> 127\.0\.0\.1:(\d+)$/m.exec(all.stdout);
      expect(m).not.toBeNull();
      expect((await same(["port", c, "80"])).stdout).toBe(`127.0.0.1:${m![1]}\n`);
      expect((await get(`http://127.0.0.1:${m![1]}/`)).headers.get("server")).toContain("nginx");
      const curl = sh(["curl", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "5", `http://127.0.0.1:${m![1]}/`]);
      expect(curl.out).toMatch(/^HTTP\/1\.1 \d{3} .*\r\nServer: nginx/);
    }
    expect((await same(["port", "web1"])).stdout).toMatch(/^80\/tcp -> 127\.0\.0\.1:\d+\n8080\/tcp -> 0\.0\.0\.0:\d+\n$/);
    expect(await same(["port", "web1", "81"])).toEqual({ code: 1, stdout: "", stderr: "Error: No public port '81' published for web1\n" });
    expect((await same(["port", "web1", "80/udp"])).stderr).toBe("Error: No public port '80/udp' published for web1\n");
    await ok(docker(["rm", "-f", "web1", "web2"]));
    await ok(docker(["network", "rm", "pub"]));
  }, 120_000);

  test("bunker -H reaches the daemon for network commands (its events show them; the in-process CLI publishes none)", async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    await ok(viaH(["network", "create", "viah"]));
    await ok(viaH(["run", "-d", "--name", "h1", busybox, "sleep", "300"]));
    await ok(viaH(["network", "connect", "viah", "h1"]));
    await ok(viaH(["network", "disconnect", "viah", "h1"]));
    expect(await ok(viaH(["network", "rm", "viah"]))).toBe("viah\n");
    await b.ok(["network", "create", "inproc"]);
    await b.ok(["network", "rm", "inproc"]);
    const h1 = (await ok(docker(["inspect", "-f", "{{.Id}}", "h1"]))).trim();
    expect(await networkEvents(t0, ["network=viah"])).toEqual(["create viah ", `connect viah ${h1}`, `disconnect viah ${h1}`, "destroy viah "]);
    expect(await networkEvents(t0, ["network=inproc"])).toEqual([]);
    await ok(docker(["rm", "-f", "h1"]));
  });

  test("dockerode: listNetworks, createNetwork, getNetwork().inspect/connect/disconnect/remove, pruneNetworks", async () => {
    const { default: Docker } = await import("dockerode");
    const d = new Docker({ socketPath: sock });
    const created = await d.createNetwork({ Name: "dode", Labels: { client: "dockerode" }, CheckDuplicate: true });
    expect(created.id).toMatch(/^[0-9a-f]{64}$/);
    const list = await d.listNetworks({ filters: { label: ["client=dockerode"] } });
    expect(list.map((n) => n.Name)).toEqual(["dode"]);
    const info = await d.getNetwork("dode").inspect();
    expect(info).toMatchObject({ Id: created.id, Name: "dode", Driver: "bridge", Labels: { client: "dockerode" } });
    expect(info.IPAM!.Config![0]!.Gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const bridge = await d.getNetwork("bridge").inspect();
    expect(bridge.IPAM!.Config![0]!.Gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await expect(d.getNetwork("nosuch").inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(d.createNetwork({ Name: "dode" })).rejects.toMatchObject({ statusCode: 409 });
    const c = await d.createContainer({ Image: busybox, Cmd: ["sleep", "300"] });
    await c.start();
    await d.getNetwork(created.id).connect({ Container: c.id, EndpointConfig: { Aliases: ["dc"] } });
    expect(Object.keys((await d.getNetwork("dode").inspect()).Containers ?? {})).toEqual([c.id]);
    await expect(d.getNetwork("dode").remove()).rejects.toMatchObject({ statusCode: 403 });
    await d.getNetwork("dode").disconnect({ Container: c.id });
    await c.remove({ force: true });
    expect(await d.pruneNetworks({ filters: { label: ["client=dockerode"] } })).toEqual({ NetworksDeleted: ["dode"] });
    expect(await d.listNetworks({ filters: { label: ["client=dockerode"] } })).toEqual([]);
  });

  test("testcontainers without a host override takes bridge's gateway from GET /networks/bridge, and the mapped port answers there", async () => {
    const script = join(dir, "tc.ts");
    writeFileSync(
      script,
      `const { GenericContainer } = await import(${JSON.stringify(Bun.resolveSync("testcontainers", import.meta.dir))});
const c = await new GenericContainer(${JSON.stringify(nginx)}).withExposedPorts(80).withStartupTimeout(60_000).start();
try {
  const host = c.getHost();
  const res = await fetch(\`http://\${host}:\${c.getMappedPort(80)}/\`, { signal: AbortSignal.timeout(5000) });
  console.log(JSON.stringify({ host, server: res.headers.get("server") }));
} finally {
  await c.stop();
}
`,
    );
    const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, TESTCONTAINERS_RYUK_DISABLED: "true", TESTCONTAINERS_HOST_OVERRIDE: undefined };
    const r = await exec([process.execPath, script], env);
    if (r.code !== 0) throw new Error(`testcontainers script failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    const gateway = JSON.parse(await ok(docker(["network", "inspect", "bridge"])))[0].IPAM.Config[0].Gateway;
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    // testcontainers uses the gateway only when it runs "in a container" (/.dockerenv), as on this machine.
    expect(out.host).toBe(existsSync("/.dockerenv") ? gateway : "localhost");
    expect(out.server).toContain("nginx");
  }, 120_000);
});

describe.skipIf(!ready)("kill -9 of the daemon", () => {
  test("kill -9 while containers with published ports run on a user network (runs in flight, and once mid-change), restart on the same data root: reconciled; after removing all, nothing of this data root is left", async () => {
    await ok(docker(["network", "create", "crash"]));
    await ok(docker(["run", "-d", "--name", "k1", "--network", "crash", "--network-alias", "kay", "-p", "127.0.0.1::80", nginx]));
    await ok(docker(["run", "-d", "--name", "k2", "--network", "crash", "-p", "127.0.0.1::80", busybox, "sleep", "300"]));
    await ok(docker(["run", "-d", "--name", "k3", "-p", "127.0.0.1::80", nginx]));
    const port = async (c: string) => /127\.0\.0\.1:(\d+)/.exec(await ok(docker(["port", c, "80"])))![1]!;
    const [p1, p3] = [await port("k1"), await port("k3")];
    expect((await get(`http://127.0.0.1:${p1}/`)).headers.get("server")).toContain("nginx");
    const net = JSON.parse(await ok(docker(["network", "inspect", "crash"])))[0];
    const bridge = net.Options["com.docker.network.bridge.name"] ?? `bk-${net.Id.slice(0, 12)}`;
    const during = leftovers(dataRoot);
    expect(during.links).toContain(bridge);
    expect(during.rules.filter((l) => l.includes(":ctr:")).length).toBeGreaterThan(0);
    expect(during.claims.length).toBeGreaterThanOrEqual(3);
    const veths: string[] = [];
    for (const c of ["k1", "k2", "k3"]) for (const ep of Object.values(JSON.parse(await ok(docker(["inspect", "-f", "{{json .NetworkSettings.Networks}}", c]))) as Record<string, { EndpointID: string }>)) veths.push(`bk${ep.EndpointID.slice(0, 12)}`);
    expect(veths.every((v) => vethsOn(["bunker0", bridge]).includes(v))).toBe(true);

    // The daemon dies by its pid, each time with a run in flight at a different point, and comes back.
    for (let i = 0; i < 4; i++) {
      const inflight = docker(["run", "-d", "--network", "crash", "-p", "127.0.0.1::80", nginx]);
      await Bun.sleep(100 + i * 60);
      process.kill(daemon.pid, "SIGKILL");
      await daemon.exited;
      await inflight;
      // The containers run on under their shims; their published ports still answer.
      expect((await get(`http://127.0.0.1:${p3}/`)).headers.get("server")).toContain("nginx");
      if (i === 3) {
        // A deterministic crash mid-change as well: what a daemon killed between its host changes and its
        // records leaves (a tagged bridge and rule no record names, and its intent file).
        expect(sh(["ip", "link", "add", "bk-deadbeef0000", "type", "bridge"]).code).toBe(0);
        sh(["ip", "link", "set", "bk-deadbeef0000", "alias", `${rootTag(dataRoot)}:net:deadbeef0000`]);
        expect(sh(["iptables", "-t", "nat", "-A", "BUNKER", "-p", "tcp", "--dport", "1", "-m", "comment", "--comment", `${rootTag(dataRoot)}:ctr:deadbeef0000`, "-j", "DNAT", "--to-destination", "10.199.255.254:1"]).code).toBe(0);
        mkdirSync(join(dataRoot, "network", "intent"), { recursive: true });
        writeFileSync(join(dataRoot, "network", "intent", "999999-1"), "");
      }
      await startDaemon();
    }
    await ok(docker(["ps"]));
    expect(existsSync("/sys/class/net/bk-deadbeef0000")).toBe(false);
    expect(sh(["iptables-save"]).out).not.toContain(":ctr:deadbeef0000");
    expect(readdirSync(join(dataRoot, "network", "intent"))).toEqual([]);
    // Every running container has its rules; no rule names a container that is not running.
    const running = (await ok(docker(["ps", "-q"]))).trim().split("\n").filter(Boolean);
    for (const l of leftovers(dataRoot).rules.filter((r) => r.includes(":ctr:"))) expect(running.some((id) => l.includes(`:ctr:${id}`))).toBe(true);
    expect((await ok(docker(["ps", "--format", "{{.Names}}", "--filter", "name=k1"]))).trim()).toBe("k1");
    expect((await get(`http://127.0.0.1:${p1}/`)).headers.get("server")).toContain("nginx");
    expect((await ok(docker(["exec", "k2", "sh", "-c", "ping -c1 -W2 kay >/dev/null && echo reached"])))).toBe("reached\n");
    const all = (await ok(docker(["ps", "-aq"]))).trim().split("\n").filter(Boolean);
    await ok(docker(["rm", "-f", ...all]));
    expect(await ok(docker(["network", "rm", "crash"]))).toBe("crash\n");
    // veths go with their netns (the kernel deletes both ends), asynchronously.
    expect(await until(() => veths.every((v) => !existsSync(`/sys/class/net/${v}`)))).toBe(true);
    expect(await until(() => leftovers(dataRoot).rules.every((l) => l.includes(":net:")))).toBe(true);
    expect(await until(() => leftovers(dataRoot).links.every((l) => l === "bunker0"))).toBe(true); // bridges are deleted just after network rm
    const after = leftovers(dataRoot);
    expect(after.claims).toEqual([]);
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    // Only bunker0's own network rules remain while the default bridge exists (as docker0's do).
    expect(after.rules.every((l) => l.includes(":net:") && !l.includes(`:net:${net.Id.slice(0, 12)}`))).toBe(true);
    expect(sh(["iptables-save"]).out).not.toMatch(new RegExp(`--dport (${p1}|${p3}) `));
  }, 180_000);
});
