/**
 * Real client libraries against `dist/bunker serve`: dockerode 5 (attach with its JSON body and stdin,
 * demuxed output, wait, logs, exec hijacked and not, exec inspect), testcontainers-node 10.28 (a redis
 * GenericContainer resolved through --registry-mirror, exec, logs, stop; the reaper disabled and the host
 * given, a log-message wait strategy), and docker-py
 * 7 (Debian's python3-docker: pull, run, logs, exec_run, remove); testcontainers again with a published
 * port and its default wait strategy, and with its reaper on: the test bed's Ryuk (scripts/testbed/ryuk.c),
 * bound to the daemon's socket, removes a session's containers once the session's process is gone.
 * Loopback and unix sockets only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { Subprocess } from "bun";
import { BUNKER, freshDataRoot, waitForDaemon } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;

let reg: Registry;
let dir: string;
let sock: string;
let daemon: Subprocess<"ignore", "pipe", "pipe">;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-clients-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", freshDataRoot(), "--registry-mirror", reg.url], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  await waitForDaemon(sock);
}, 900_000);

// testcontainers reads its daemon from DOCKER_HOST and friends, set below; every test file shares this
// process's env, so they are put back for the files that run after this one.
const envBefore = Object.fromEntries(["DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED", "TESTCONTAINERS_HOST_OVERRIDE"].map((k) => [k, process.env[k]]));
afterAll(async () => {
  for (const [k, v] of Object.entries(envBefore)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (!root) return;
  try {
    const list = (await (await fetch("http://x/containers/json?all=1", { unix: sock } as RequestInit)).json()) as { Id: string }[];
    for (const c of list) await fetch(`http://x/containers/${c.Id}?force=1`, { unix: sock, method: "DELETE" } as RequestInit);
  } catch {}
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const collect = (s: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(Buffer.from(d)));
  return () => Buffer.concat(chunks).toString();
};

describe.skipIf(!root)("dockerode", () => {
  test("pull, create, attach with stdin, start, wait, logs, remove", async () => {
    const { default: Docker } = await import("dockerode");
    const docker = new Docker({ socketPath: sock });
    const pull = await docker.pull("alpine:latest");
    await new Promise((resolve, reject) => docker.modem.followProgress(pull, (err: unknown) => (err ? reject(err) : resolve(undefined))));
    const c = await docker.createContainer({ Image: "alpine", Cmd: ["sh", "-c", "echo out; echo err >&2; cat; exit 3"], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, Labels: { client: "dockerode" } });
    expect(c.id).toMatch(/^[0-9a-f]{64}$/);
    // dockerode writes its options as a JSON body before the upgrade: none of it may reach stdin.
    const s = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const out = new PassThrough();
    const err = new PassThrough();
    const stdout = collect(out);
    const stderr = collect(err);
    docker.modem.demuxStream(s, out, err);
    const ended = new Promise((r) => s.on("end", r));
    await c.start();
    s.write("from stdin\n");
    s.end();
    expect(await c.wait()).toEqual({ StatusCode: 3, Error: null });
    await ended;
    expect(stdout()).toBe("out\nfrom stdin\n");
    expect(stderr()).toBe("err\n");
    const logs = (await c.logs({ stdout: true, stderr: true, timestamps: false })) as unknown as Buffer;
    const lo = new PassThrough();
    const le = new PassThrough();
    const lout = collect(lo);
    const lerr = collect(le);
    const src = new PassThrough();
    docker.modem.demuxStream(src, lo, le);
    src.end(logs);
    await Bun.sleep(50);
    expect([lout(), lerr()]).toEqual(["out\nfrom stdin\n", "err\n"]);
    const listed = await docker.listContainers({ all: true, filters: { label: ["client=dockerode"] } });
    expect(listed.map((x) => [x.Id, x.Names[0], x.State])).toEqual([[c.id, expect.stringMatching(/^\/[a-z]+_[a-z]+\d?$/), "exited"]]);
    await c.remove();
    await expect(c.inspect()).rejects.toThrow(/No such container/);
  });

  test("exec: hijacked and plain 200 streams, exit codes from exec inspect; stop 304 as an error", async () => {
    const { default: Docker } = await import("dockerode");
    const docker = new Docker({ socketPath: sock });
    const c = await docker.createContainer({ Image: "alpine", Cmd: ["sleep", "1000"] });
    await c.start();
    const ex = await c.exec({ Cmd: ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"], AttachStdout: true, AttachStderr: true });
    const es = await ex.start({ hijack: true, stdin: false });
    const o = new PassThrough();
    const e = new PassThrough();
    const eo = collect(o);
    const ee = collect(e);
    docker.modem.demuxStream(es, o, e);
    await new Promise((r) => es.on("end", r));
    expect([eo(), ee()]).toEqual(["exec-out\n", "exec-err\n"]);
    const info = await ex.inspect();
    expect(info).toMatchObject({ ExitCode: 5, Running: false, ContainerID: c.id, ProcessConfig: { entrypoint: "sh", tty: false } });
    // testcontainers' form: no Upgrade header, the 200 response body is the stream.
    const ex2 = await c.exec({ Cmd: ["nope"], AttachStdout: true, AttachStderr: true });
    const es2 = await ex2.start({ stdin: true, Detach: false, Tty: false } as never);
    const raw = collect(es2 as unknown as NodeJS.ReadableStream);
    await new Promise((r) => (es2 as unknown as NodeJS.ReadableStream).on("end", r));
    expect(raw()).toContain("executable file not found");
    expect((await ex2.inspect()).ExitCode).toBe(127);
    await c.stop({ t: 0 });
    await expect(c.stop()).rejects.toThrow(/304/);
    await c.remove();
  });
});

describe.skipIf(!root)("testcontainers", () => {
  test("a redis GenericContainer: start (log wait), exec, logs, stop", async () => {
    process.env.DOCKER_HOST = `unix://${sock}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
    process.env.TESTCONTAINERS_HOST_OVERRIDE = "localhost";
    const { GenericContainer, Wait } = await import("testcontainers");
    const c = await new GenericContainer("redis:latest").withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/)).withStartupTimeout(60_000).withLabels({ client: "testcontainers" }).start();
    try {
      expect(c.getId()).toMatch(/^[0-9a-f]{64}$/);
      expect(await c.exec(["redis-cli", "ping"])).toMatchObject({ exitCode: 0, output: "PONG\n" });
      expect(await c.exec(["redis-cli", "set", "k", "v"])).toMatchObject({ exitCode: 0 });
      expect((await c.exec(["redis-cli", "get", "k"])).output).toBe("v\n");
      expect((await c.exec(["sh", "-c", "exit 7"])).exitCode).toBe(7);
      const logs = await c.logs();
      let text = "";
      logs.on("data", (d) => (text += d));
      const deadline = Date.now() + 5000;
      while (!text.includes("Ready to accept connections") && Date.now() < deadline) await Bun.sleep(50);
      (logs as unknown as { destroy(): void }).destroy();
      expect(text).toContain("Ready to accept connections");
    } finally {
      await c.stop();
    }
    // stop removes it (DELETE without force after stop?t=...).
    const list = (await (await fetch(`http://x/containers/json?all=1&filters=${encodeURIComponent('{"label":["client=testcontainers"]}')}`, { unix: sock } as RequestInit)).json()) as unknown[];
    expect(list).toEqual([]);
  }, 120_000);
});

describe.skipIf(!root)("testcontainers with a published port", () => {
  test("withExposedPorts and the default wait strategy (host port + in-container probes): redis answers on the mapped port", async () => {
    process.env.DOCKER_HOST = `unix://${sock}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
    process.env.TESTCONTAINERS_HOST_OVERRIDE = "localhost";
    const { GenericContainer } = await import("testcontainers");
    const c = await new GenericContainer("redis:latest").withExposedPorts(6379).withStartupTimeout(60_000).start();
    try {
      const port = c.getMappedPort(6379);
      expect(port).toBeGreaterThan(0);
      let reply = "";
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void (reply += new TextDecoder().decode(d)) } });
      s.write("PING\r\n");
      for (let i = 0; i < 100 && !reply; i++) await Bun.sleep(20);
      s.end();
      expect(reply).toBe("+PONG\r\n");
    } finally {
      await c.stop();
    }
  }, 120_000);
});

describe.skipIf(!root)("testcontainers with the reaper on", () => {
  test("a process starts a container and exits without stopping it: the reaper removes it, then exits and goes itself", async () => {
    const script = join(dir, "reaper-client.mjs");
    writeFileSync(
      script,
      `const { GenericContainer } = await import(${JSON.stringify(require.resolve("testcontainers"))});
const c = await new GenericContainer("busybox").withCommand(["sleep", "1000"]).withLabels({ client: "reaper-on" }).start();
console.log(c.getId());
process.exit(0); // no stop(): only the reaper can clean up now
`,
    );
    const env: Record<string, string | undefined> = { ...process.env, DOCKER_HOST: `unix://${sock}`, TESTCONTAINERS_HOST_OVERRIDE: "127.0.0.1" };
    delete env.TESTCONTAINERS_RYUK_DISABLED;
    const t0 = Math.floor(Date.now() / 1000) - 1;
    const p = Bun.spawn([process.execPath, script], { env, cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`testcontainers client failed (${code}):\n${err}`);
    const exitedAt = Date.now();
    const id = out.trim().split("\n").at(-1)!;
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const api = async (path: string) => (await fetch(`http://x${path}`, { unix: sock } as RequestInit)).json() as Promise<any>;
    const listed = (f: Record<string, string[]>) => api(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(f))}`);
    const labelled = (l: string) => listed({ label: [l] });
    // testcontainers 10.28 names its reaper (and labels it with the session only, so Ryuk must skip itself).
    const reapers = () => listed({ name: ["^/testcontainers-ryuk-"] });
    // Right after the client's exit the reaper still waits (RYUK_RECONNECTION_TIMEOUT=2s in the test bed's image).
    const [reaper] = await reapers();
    expect(reaper).toMatchObject({ Image: "testcontainers/ryuk:0.11.0", State: "running" });
    const info = await api(`/containers/${reaper.Id}/json`);
    expect(info.HostConfig.Binds).toEqual([`${sock}:/var/run/docker.sock:rw`]);
    expect(info.Mounts).toEqual([{ Type: "bind", Source: sock, Destination: "/var/run/docker.sock", Mode: "rw", RW: true, Propagation: "rprivate" }]);
    expect((await labelled("client=reaper-on")).map((c: { Id: string }) => c.Id)).toEqual([id]);

    let gone = 0;
    for (let i = 0; i < 150 && !gone; i++) {
      if (!(await labelled("client=reaper-on")).length && !(await reapers()).length) gone = Date.now();
      else await Bun.sleep(100);
    }
    expect(gone).toBeGreaterThan(0);
    console.log(`[reaper] session container and reaper gone ${gone - exitedAt} ms after the client exited`);
    // The reaper removed the container (force, with volumes), then exited 0 and went with AutoRemove.
    // (A row goes before its destroy event is published: read the events until both destroys are in.)
    type Ev = { Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
    let events: Ev[] = [];
    const of = (cid: string) => events.filter((e) => e.Actor.ID === cid).map((e) => (e.Action === "die" ? `die ${e.Actor.Attributes.exitCode}` : e.Action));
    for (let i = 0; i < 30 && !(of(id).includes("destroy") && of(reaper.Id).includes("destroy")); i++) {
      if (i) await Bun.sleep(100);
      const until = Math.floor(Date.now() / 1000);
      const res = await fetch(`http://x/events?since=${t0}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ type: ["container"] }))}`, { unix: sock } as RequestInit);
      events = (await res.text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Ev);
    }
    expect(of(id)).toEqual(expect.arrayContaining(["create", "start", "kill", "die 137", "destroy"]));
    expect(of(reaper.Id).slice(-2)).toEqual(["die 0", "destroy"]);
  }, 120_000);
});

describe.skipIf(!root || !hasPython)("docker-py", () => {
  test("pull, run (attached and detached), logs, exec_run, stop, remove", async () => {
    const script = join(dir, "client.py");
    writeFileSync(
      script,
      `import sys, json, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
r = {}
img = c.images.pull("busybox", tag="latest")
r["pulled"] = "busybox:latest" in img.tags
r["run"] = c.containers.run("busybox", ["sh", "-c", "echo hello-py; echo err-py >&2"], stderr=True, remove=True).decode()
d = c.containers.run("busybox", ["sh", "-c", "echo bg; sleep 100"], detach=True, name="pyc")
import time
for _ in range(100):
    if d.logs(): break
    time.sleep(0.05)
r["logs"] = d.logs().decode()
e = d.exec_run(["sh", "-c", "echo ex; exit 2"])
r["exec"] = [e.exit_code, e.output.decode()]
d.reload(); r["status"] = d.status
d.stop(timeout=0); r["wait"] = d.wait()["StatusCode"]
d.remove()
try:
    c.containers.get("pyc"); r["removed"] = False
except docker.errors.NotFound:
    r["removed"] = True
try:
    c.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
except docker.errors.ContainerError as err:
    r["exit"] = err.exit_status
r["left"] = [(x.name, x.status) for x in c.containers.list(all=True)]
print(json.dumps(r))
`,
    );
    const p = Bun.spawn(["python3", script, sock], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`docker-py script failed (${code}):\n${err}`);
    expect(JSON.parse(out)).toEqual({ pulled: true, run: "hello-py\nerr-py\n", logs: "bg\n", exec: [2, "ex\n"], status: "running", wait: 137, removed: true, exit: 4, left: [] });
  }, 120_000);
});
