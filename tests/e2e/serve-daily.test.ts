/**
 * Daily operation through `bunker serve` with the real docker CLI 28 and docker-py: the inactive swarm's
 * answers, detach keys handled by the daemon (attach and exec through a real pty), events, system prune,
 * log drivers, --runtime/--gpus refusals, and Env entries without "=".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDataRoot, type Result, serveAt } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { inPty } from "../helpers/pty.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER);
const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;

let reg: Registry;
let dir: string;
let sock: string;
let cli: ReturnType<typeof dockerCli>;
let busybox: string;
let daemon: Awaited<ReturnType<typeof serveAt>>["daemon"];

const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';



/** The docker CLI in a real pty (script(1)); `steps` written in turn. */
function dockerPty(args: string[], steps: (string | Uint8Array)[]): Promise<{ out: string; code: number }> {
  return inPty([DOCKER, ...args], steps, cli.env({ TERM: "xterm" }), 800);
}

async function python(script: string): Promise<Result> {
  const file = join(dir, `t${Date.now()}.py`);
  writeFileSync(file, script);
  const p = Bun.spawn(["python3", file, sock], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-daily-"));
  chmodSync(dir, 0o755);
  const served = await serveAt(freshDataRoot(), ["--registry-mirror", reg.url], { sock: join(dir, "bunker.sock") });
  sock = served.sock;
  cli = dockerCli(sock, dir);
  daemon = served.daemon;
  busybox = `${reg.host}/busybox`;
  await cli.dockerOk(["pull", "-q", busybox]);
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  const ids = (await cli.docker(["ps", "-aq"])).stdout.trim();
  if (ids) await cli.docker(["rm", "-f", ...ids.split("\n")]);
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("an inactive swarm, as dockerd without one", () => {
  test("docker node/service/secret/config ls fail with moby's 503 text; swarm leave says not part of a swarm; info says inactive", async () => {
    for (const args of [["node", "ls"], ["service", "ls"], ["secret", "ls"], ["config", "ls"], ["swarm", "unlock-key"]]) {
      const r = await cli.docker(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Error response from daemon: ${NOT_A_MANAGER}`);
    }
    const leave = await cli.docker(["swarm", "leave", "--force"]);
    expect(leave.code).toBe(1);
    expect(leave.stderr).toContain("Error response from daemon: This node is not part of a swarm");
    expect((await cli.dockerOk(["info", "--format", "{{.Swarm.LocalNodeState}}"])).trim()).toBe("inactive");
  });

  test.skipIf(!hasPython)("docker-py: swarm.reload, nodes/services/secrets/configs/tasks list and swarm.leave raise APIError 503", async () => {
    const r = await python(`
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
print("state", c.info()["Swarm"]["LocalNodeState"])
for name, call in [("swarm", lambda: c.swarm.reload()), ("nodes", c.nodes.list), ("services", c.services.list), ("secrets", c.secrets.list), ("configs", c.configs.list), ("tasks", lambda: c.api.tasks()), ("leave", lambda: c.swarm.leave()), ("leave-force", lambda: c.swarm.leave(force=True))]:
    try:
        call()
        print(name, "no error")
    except docker.errors.APIError as e:
        print(name, e.status_code, e.explanation)
`);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("state inactive");
    for (const n of ["swarm", "nodes", "services", "secrets", "configs", "tasks"]) expect(lines).toContain(`${n} 503 ${NOT_A_MANAGER}`);
    expect(lines).toContain("leave 503 This node is not part of a swarm");
    // docker-py ignores a 503 on a forced leave (its workaround for moby's answer there).
    expect(lines).toContain("leave-force no error");
  });
});

describe.skipIf(!ready)("detach keys handled by the daemon (docker CLI in a pty)", () => {
  test("docker attach and exec -it through a pty: the detach keys leave the container running", async () => {
    const id = (await cli.dockerOk(["run", "-dit", "--network", "none", busybox, "sh"])).trim();
    // docker attach reports a detach as its error "read escape sequence", exit 1 (docker CLI 28).
    const a = await dockerPty(["attach", id], ["echo via-docker-$((6*7))\r", Uint8Array.of(0x10, 0x11)]);
    expect(a.out).toContain("via-docker-42");
    expect(a.out).toContain("read escape sequence");
    expect(a.code).toBe(1);
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Running}}", id])).trim()).toBe("true");
    const custom = await dockerPty(["attach", "--detach-keys", "ctrl-a,x", id], ["echo custom-keys\r", Uint8Array.of(0x01, 0x78)]);
    expect(custom.out).toContain("custom-keys");
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Running}}", id])).trim()).toBe("true");
    const exec = await dockerPty(["exec", "-it", id, "sh"], ["echo in-exec\r", Uint8Array.of(0x10, 0x11)]);
    expect(exec.out).toContain("in-exec");
    expect(exec.out).toContain("read escape sequence");
    expect(exec.code).toBe(1);
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Running}}", id])).trim()).toBe("true");
    await cli.dockerOk(["rm", "-f", id]);
  });

  test.skipIf(!hasPython)("the daemon itself detaches on the keys (docker-py's raw attach and exec sockets): detach and exec_detach events", async () => {
    const r = await python(`
import sys, time, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
ctr = c.containers.run("${busybox}", ["sh"], detach=True, tty=True, stdin_open=True, network_mode="none")
def until_closed(sock, line, keys):
    sock._sock.sendall(line)
    time.sleep(1)
    sock._sock.sendall(keys)
    sock._sock.settimeout(10)
    out = b""
    while True:
        chunk = sock._sock.recv(4096)
        if not chunk:
            return out
        out += chunk
s = ctr.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-a,x"})
out = until_closed(s, b"echo daemon-side\\n", b"\\x01x")
print("attach", b"daemon-side" in out)
ctr.reload(); print("running", ctr.status)
e = c.api.exec_create(ctr.id, ["sh"], stdin=True, tty=True)
s = c.api.exec_start(e["Id"], socket=True, tty=True)
out = until_closed(s, b"echo in-exec\\n", b"\\x10\\x11")
print("exec", b"in-exec" in out)
print("exec running", c.api.exec_inspect(e["Id"])["Running"])
ctr.reload(); print("running", ctr.status)
time.sleep(1)
acts = [ev["Action"] for ev in c.events(since=int(time.time()) - 60, until=int(time.time()), filters={"container": ctr.id}, decode=True)]
print("events", "detach" in acts, "exec_detach" in acts)
ctr.remove(force=True)
`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual(["attach True", "running running", "exec True", "exec running True", "running running", "events True True"]);
  });

  test("the API refuses malformed detachKeys in moby's words", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--network", "none", busybox, "sleep", "300"])).trim();
    const attach = await fetch(`http://localhost/containers/${id}/attach?stream=1&stdout=1&detachKeys=ctrl-foo`, { method: "POST", unix: sock } as RequestInit);
    expect(attach.status).toBe(400);
    expect(((await attach.json()) as { message: string }).message).toBe("Invalid detach keys (ctrl-foo) provided");
    const exec = await fetch(`http://localhost/containers/${id}/exec`, { method: "POST", unix: sock, headers: { "content-type": "application/json" }, body: JSON.stringify({ Cmd: ["true"], DetachKeys: "ab" }) } as RequestInit);
    expect(exec.status).toBe(400);
    expect(((await exec.json()) as { message: string }).message).toBe("Invalid escape keys (ab) provided");
    await cli.dockerOk(["rm", "-f", id]);
  });
});

describe.skipIf(!ready)("docker CLI: events, system prune, log drivers, run options", () => {
  test("docker events --since/--until --filter replays what happened", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--network", "none", "--name", "ev-docker", busybox, "true"])).trim();
    await cli.dockerOk(["wait", id]);
    await cli.dockerOk(["rm", id]);
    await Bun.sleep(1100); // --until 0s is now in whole seconds, as the docker CLI computes it
    const out = await cli.dockerOk(["events", "--since", "1m", "--until", "0s", "--filter", "container=ev-docker"]);
    const actions = out.trim().split("\n").map((l) => l.split(" ")[2]);
    expect(actions).toEqual(expect.arrayContaining(["create", "start", "die", "destroy"]));
  });

  test("docker system prune -f removes stopped containers and reports the total", async () => {
    const id = (await cli.dockerOk(["create", "--network", "none", busybox, "true"])).trim();
    const out = await cli.dockerOk(["system", "prune", "-f"]);
    expect(out).toContain(`Deleted Containers:\n${id}\n`);
    expect(out).toMatch(/Total reclaimed space: \S+B\n$/);
  });

  test("--log-driver none: docker logs fails as with dockerd; the default config rotates; syslog is refused", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--network", "none", "--log-driver", "none", busybox, "echo", "hi"])).trim();
    await cli.dockerOk(["wait", id]);
    const logs = await cli.docker(["logs", id]);
    expect(logs.code).toBe(1);
    expect(logs.stderr).toContain("Error response from daemon: configured logging driver does not support reading");
    const def = (await cli.dockerOk(["create", "--network", "none", busybox, "true"])).trim();
    expect((await cli.dockerOk(["inspect", "-f", '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}} {{index .HostConfig.LogConfig.Config "max-file"}}', def])).trim()).toBe("json-file 10m 3");
    const syslog = await cli.docker(["run", "--rm", "--log-driver", "syslog", busybox, "true"]);
    expect(syslog.code).toBe(125);
    expect(syslog.stderr).toContain("logger: no log driver named 'syslog' is registered");
    await cli.dockerOk(["rm", id, def]);
  });

  test("docker run --runtime and --gpus are refused with dockerd's texts; -e NAME takes docker's caller environment", async () => {
    const rt = await cli.docker(["run", "--rm", "--runtime", "kata", busybox, "true"]);
    expect(rt.code).toBe(125);
    expect(rt.stderr).toContain("unknown or invalid runtime name: kata");
    const gpus = await cli.docker(["run", "--rm", "--gpus", "all", busybox, "true"]);
    expect(gpus.code).toBe(125);
    expect(gpus.stderr).toContain('could not select device driver "" with capabilities: [[gpu]]');
    const env = await cli.dockerOk(["run", "--rm", "--network", "none", "-e", "FROM_CALLER", "-e", "UNSET_HERE", busybox, "env"], { env: { FROM_CALLER: "docker-side" } });
    expect(env).toContain("FROM_CALLER=docker-side\n");
    expect(env).not.toContain("UNSET_HERE");
  });

  test.skipIf(!hasPython)("docker-py: an Env entry without '=' unsets the variable (the image's PATH too), as moby", async () => {
    const r = await python(`
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
ctr = c.containers.create("${busybox}", ["/bin/busybox", "env"], environment=["PATH", "KEEP=1"], network_mode="none")
print(ctr.attrs["Config"]["Env"])
ctr.start(); ctr.wait()
print(ctr.logs().decode())
ctr.remove()
`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [env, ...out] = r.stdout.split("\n");
    expect(env).toContain("'PATH'");
    expect(env).toContain("'KEEP=1'");
    expect(out.join("\n")).toContain("KEEP=1");
    expect(out.join("\n")).not.toContain("PATH=");
  });
});
