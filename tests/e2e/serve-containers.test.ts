/**
 * Containers through `dist/bunker serve`, driven by the real docker CLI 28 (/usr/local/bin/docker): run
 * (pulling first, -d, --rm with the exit code, a missing or non-executable command, -i with piped stdin,
 * -it through a pty), ps, logs -f, exec (-it, -d, exit codes, 127), stop, start, restart, kill, rm -f,
 * inspect, top, rename, wait, container prune, system df, events, and volumes (run -v, volume create, ls,
 * inspect, rm, prune). Where the in-process `dist/bunker`
 * shows the same data, the outputs must be equal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, bunkerAt, freshDataRoot, waitForDaemon } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER) && existsSync("/usr/bin/script");

let reg: Registry;
let dir: string;
let sock: string;
let cli: ReturnType<typeof dockerCli>;
let daemon: Subprocess<"ignore", "pipe", "pipe">;
let b: ReturnType<typeof bunkerAt>;
let t0: number;




/** Runs a docker command on a pty (script(1)), typing `input` once it started; returns the exit code and what the terminal showed. */
async function dockerOnPty(cmd: string, input: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["script", "-qfec", `${DOCKER} ${cmd}`, "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...cli.env(), TERM: "xterm" }, timeout: 60_000 });
  const out = new Response(proc.stdout).text();
  for (const line of input) {
    await Bun.sleep(600);
    proc.stdin.write(line);
    await proc.stdin.flush();
  }
  const code = await proc.exited;
  return { code, out: await out };
}

/** Output of two commands that show times ("2 seconds ago"): equal, allowing a retry across a second boundary. */
async function sameOutput(viaDaemon: () => Promise<string>, inProcess: () => Promise<string>) {
  let a = "";
  let c = "";
  for (let i = 0; i < 3; i++) {
    [a, c] = [await viaDaemon(), await inProcess()];
    if (a === c) break;
  }
  expect(a).toBe(c);
}


async function until(cond: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await Bun.sleep(50);
  }
  throw new Error("condition not met in time");
}

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-ctr-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  cli = dockerCli(sock, dir);
  const dataRoot = freshDataRoot();
  b = bunkerAt(dataRoot, ["--registry-mirror", reg.url]);
  t0 = Math.floor(Date.now() / 1000) - 1;
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, "--registry-mirror", reg.url], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  await waitForDaemon(sock);
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  const ids = (await cli.docker(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await cli.docker(["rm", "-f", ...ids.split("\n")]);
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("docker CLI runs containers on bunker serve", () => {
  test("run pulls a missing image, then --rm passes the exit code and leaves nothing", async () => {
    const r = await cli.docker(["run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toContain("Unable to find image 'alpine:latest' locally");
    expect(r.stderr).toEndWith("err\n");
    expect((await cli.docker(["run", "--rm", "alpine", "true"])).code).toBe(0);
    expect(await cli.dockerOk(["ps", "-aq"])).toBe("");
  });

  test("the docker CLI's --init, --read-only, -m/--cpus/--pids-limit, --ulimit, --shm-size and --security-opt seccomp reach the container", async () => {
    const script = "grep '^Seccomp:' /proc/self/status | tr -d '\\t'; tr '\\0' ' ' </proc/1/cmdline; echo; touch /x 2>/dev/null || echo ro; ulimit -n; df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2; cat /proc/self/cgroup | grep -c /bunker/";
    const out = await cli.dockerOk(["run", "--rm", "--init", "--read-only", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "--ulimit", "nofile=512:1024", "--shm-size", "32m", "alpine", "sh", "-c", script]);
    const [seccomp, init, ro, nofile, shm, cgroups] = out.trim().split("\n");
    expect([seccomp, init!.trim(), ro, nofile, shm]).toEqual(["Seccomp:2", "/sbin/docker-init --", "ro", "512", "32768"]);
    expect(Number(cgroups)).toBeGreaterThanOrEqual(1); // memory, cpu and pids on cgroup v1; one on v2
    expect((await cli.dockerOk(["run", "--rm", "--security-opt", "seccomp=unconfined", "alpine", "grep", "^Seccomp:", "/proc/self/status"])).replace(/\s+/g, "")).toBe("Seccomp:0");
    const small = await cli.docker(["run", "--rm", "-m", "1m", "alpine", "true"]);
    expect([small.code, small.stderr]).toEqual([125, expect.stringContaining("Minimum memory limit allowed is 6MB")]);
  });

  test("run errors: missing command 127, not executable 126, missing image with --pull never 125; --rm removes them", async () => {
    const missing = await cli.docker(["run", "--rm", "alpine", "nope"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('executable file not found in $PATH');
    const ours = await b.run(["run", "--rm", "alpine", "nope"]);
    expect(ours.code).toBe(127);
    expect(missing.stderr.split("\n")[0]!.replace(/^docker: /, "")).toBe(ours.stderr.split("\n")[0]!.replace(/^bunker: /, ""));
    expect((await cli.docker(["run", "--rm", "alpine", "/etc"])).code).toBe(126);
    const never = await cli.docker(["run", "--pull", "never", "--rm", "nosuchimage"]);
    expect(never.code).toBe(125);
    expect(never.stderr).toContain("No such image: nosuchimage:latest");
    expect(await cli.dockerOk(["ps", "-aq"])).toBe("");
  });

  test("run -i with piped stdin; run -it through a pty", async () => {
    const piped = await cli.docker(["run", "-i", "--rm", "alpine", "sh", "-c", "cat; echo done"], { stdin: "line1\nline2\n" });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe("line1\nline2\ndone\n");
    const it = await dockerOnPty("run -it --rm alpine sh", ["echo tty-$((6*7))\r", "exit 5\r"]);
    expect(it.code).toBe(5);
    expect(it.out).toContain("tty-42");
    expect(await cli.dockerOk(["ps", "-aq"])).toBe("");
  });

  test("run -d, ps, inspect, logs (and -f) as the in-process CLI shows them", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--name", "ticker", "-l", "app=ticker", "alpine", "sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; echo tock $i >&2; sleep 0.2; done"])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    // logs -f follows until the container exits.
    const f = await cli.docker(["logs", "-f", "ticker"]);
    expect(f.stdout).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    expect(f.stderr).toBe("tock 1\ntock 2\ntock 3\ntock 4\ntock 5\n");
    for (const args of [["logs", "ticker"], ["logs", "--tail", "2", "-t", "ticker"], ["logs", "--since", "1h", "ticker"]]) {
      const [d, o] = [await cli.docker(args), await b.run(args)];
      expect(d.stdout).toBe(o.stdout);
      expect(d.stderr).toBe(o.stderr);
    }
    await cli.dockerOk(["run", "-d", "--name", "sleeper", "alpine", "sleep", "1000"]);
    await cli.dockerOk(["create", "--name", "fresh", "alpine", "echo"]);
    await sameOutput(() => cli.dockerOk(["ps", "-a"]), () => b.ok(["ps", "-a"]));
    await sameOutput(() => cli.dockerOk(["ps"]), () => b.ok(["ps"]));
    await sameOutput(() => cli.dockerOk(["ps", "-a", "--no-trunc", "-s", "--filter", "label=app=ticker"]), () => b.ok(["ps", "-a", "--no-trunc", "-s", "--filter", "label=app=ticker"]));
    expect((await cli.dockerOk(["ps", "-q", "--filter", "status=exited"])).trim()).toBe(id.slice(0, 12)); // a status filter shows all states
    expect((await cli.dockerOk(["ps", "-aq", "--filter", "status=exited", "--no-trunc"])).trim()).toBe(id);
    for (const ref of ["ticker", "sleeper", "fresh"]) expect(JSON.parse(await cli.dockerOk(["inspect", ref]))).toEqual(JSON.parse(await b.ok(["inspect", ref])));
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Config.Labels.app}}", "ticker"])).trim()).toBe("exited 0 ticker");
    const none = await cli.docker(["inspect", "nothing-here"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("No such object: nothing-here");
  });

  test("exec: output, exit codes, 127 for a missing command, -d, -e/-w/-u, -it through a pty", async () => {
    const r = await cli.docker(["exec", "sleeper", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([4, "out\n", "err\n"]);
    const missing = await cli.docker(["exec", "sleeper", "nope"]);
    expect(missing.code).toBe(127);
    expect(missing.stdout + missing.stderr).toContain("executable file not found");
    expect((await cli.dockerOk(["exec", "-e", "A=1", "-w", "/tmp", "-u", "1000:1000", "sleeper", "sh", "-c", "echo $A $(pwd) $(id -u):$(id -g)"])).trim()).toBe("1 /tmp 1000:1000");
    expect((await cli.docker(["exec", "-d", "sleeper", "sh", "-c", "echo bg > /tmp/bg"])).code).toBe(0);
    await until(async () => (await cli.docker(["exec", "sleeper", "cat", "/tmp/bg"])).stdout === "bg\n");
    expect((await cli.docker(["exec", "-i", "sleeper", "sh", "-c", "wc -l"], { stdin: "a\nb\nc\n" })).stdout.trim()).toBe("3");
    const it = await dockerOnPty("exec -it sleeper sh", ["tty; echo pty-$((2*21))\r", "exit 6\r"]);
    expect(it.code).toBe(6);
    expect(it.out).toContain("pty-42");
    expect(it.out).toContain("/dev/pts/");
    const stopped = await cli.docker(["exec", "fresh", "true"]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/is not running/);
  });

  test("top, rename, stop/start/restart/kill, wait", async () => {
    const top = await cli.dockerOk(["top", "sleeper"]);
    expect(top.split("\n")[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(top).toContain("sleep 1000");
    expect(await cli.dockerOk(["top", "sleeper", "-o", "pid,args"])).toContain("sleep 1000");
    expect(await cli.dockerOk(["rename", "sleeper", "napper"])).toBe("");
    expect((await cli.docker(["inspect", "sleeper"])).code).toBe(1);
    expect(await cli.dockerOk(["stop", "-t", "1", "napper"])).toBe("napper\n");
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "napper"])).trim()).toBe("exited 137");
    expect(await cli.dockerOk(["stop", "napper"])).toBe("napper\n"); // 304: already stopped
    expect(await cli.dockerOk(["start", "napper"])).toBe("napper\n");
    expect(await cli.dockerOk(["restart", "-t", "0", "napper"])).toBe("napper\n");
    expect((await cli.dockerOk(["inspect", "-f", "{{.State.Running}}", "napper"])).trim()).toBe("true");
    const waiting = cli.docker(["wait", "napper"]);
    await Bun.sleep(300);
    expect(await cli.dockerOk(["kill", "napper"])).toBe("napper\n");
    expect(await waiting).toMatchObject({ code: 0, stdout: "137\n" });
    const again = await cli.docker(["kill", "napper"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error response from daemon: cannot kill container: napper: container [0-9a-f]{64} is not running/);
    expect((await cli.docker(["wait", "ticker"])).stdout).toBe("0\n");
    const missing = await cli.docker(["wait", "nothing-here"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No such container: nothing-here");
  });

  test("rm -f of a running container, rm of a running one without -f, rm of a missing one", async () => {
    await cli.dockerOk(["run", "-d", "--name", "doomed", "alpine", "sleep", "1000"]);
    const refused = await cli.docker(["rm", "doomed"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cannot remove container "/doomed": container is running: stop the container before removing or force remove');
    expect(refused.stderr).toBe((await b.run(["rm", "doomed"])).stderr);
    expect(await cli.dockerOk(["rm", "-f", "doomed"])).toBe("doomed\n");
    const missing = await cli.docker(["rm", "-f", "doomed"]);
    expect(missing.code).toBe(0); // docker rm -f of a missing container prints the error and exits 0
    expect(missing.stderr).toContain("No such container: doomed");
  });

  test("system df counts containers; container prune removes the stopped ones", async () => {
    // The images line as bunker's own (its containers line is the CLI's to fill in).
    const imagesLine = (t: string) => t.split("\n").find((l) => l.startsWith("Images"));
    expect(imagesLine(await cli.dockerOk(["system", "df"]))).toBe(imagesLine(await b.ok(["system", "df"])));
    const df = await cli.dockerOk(["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    expect(df).toContain("Containers 3 0");
    expect(df).toContain("Images 1 1");
    const out = await cli.dockerOk(["container", "prune", "-f"]);
    expect(out).toMatch(/^Deleted Containers:\n([0-9a-f]{64}\n){3}\nTotal reclaimed space: /);
    expect(await cli.dockerOk(["ps", "-aq"])).toBe("");
  });

  test("volumes: run -v with a bind and a named volume; volume create, ls, inspect, rm (in use), prune as bunker shows them", async () => {
    const src = join(dir, "bind-src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f"), "from the host\n");
    expect(await cli.dockerOk(["run", "--rm", "-v", `${src}:/mnt:ro`, "-v", "dvol:/data", "alpine", "sh", "-c", "cat /mnt/f; echo kept > /data/k"])).toBe("from the host\n");
    expect(await cli.dockerOk(["run", "--rm", "-v", "dvol:/data", "alpine", "cat", "/data/k"])).toBe("kept\n");
    expect(await cli.dockerOk(["volume", "create", "--label", "a=b", "dvol2"])).toBe("dvol2\n");
    expect(await cli.dockerOk(["volume", "ls"])).toBe("DRIVER    VOLUME NAME\nlocal     dvol\nlocal     dvol2\n");
    expect(await cli.dockerOk(["volume", "ls"])).toBe(await b.ok(["volume", "ls"]));
    expect(await cli.dockerOk(["volume", "inspect", "dvol", "dvol2"])).toBe(await b.ok(["volume", "inspect", "dvol", "dvol2"]));
    expect(JSON.parse(await cli.dockerOk(["volume", "inspect", "dvol2"]))[0]).toMatchObject({ Name: "dvol2", Driver: "local", Labels: { a: "b" }, Scope: "local" });

    const id = (await cli.dockerOk(["run", "-d", "-v", "dvol:/data", "-v", `${src}:/src`, "alpine", "sleep", "60"])).trim();
    expect(await cli.dockerOk(["inspect", "--format", "{{json .Mounts}}", id])).toBe(await b.ok(["inspect", "--format", "{{json .Mounts}}", id]));
    expect(await cli.docker(["volume", "rm", "dvol"])).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: remove dvol: volume is in use - [${id}]\n` });
    const bad = await cli.docker(["run", "--rm", "--mount", `type=bind,src=${join(dir, "nope")},dst=/x`, "alpine", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toStartWith(`docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${join(dir, "nope")}`);
    await cli.dockerOk(["rm", "-f", "-v", id]);
    expect(await cli.dockerOk(["volume", "rm", "dvol"])).toBe("dvol\n");
    expect(await cli.dockerOk(["volume", "prune", "-af"])).toBe("Deleted Volumes:\ndvol2\n\nTotal reclaimed space: 0B\n");
    expect(await cli.dockerOk(["volume", "ls", "-q"])).toBe("");
  });

  test("events: the container lifecycle with full IDs, exit codes and signals", async () => {
    const id = (await cli.dockerOk(["run", "-d", "--name", "evt", "-l", "team=x", "alpine", "sleep", "1000"])).trim();
    await cli.dockerOk(["exec", "evt", "true"]);
    await cli.dockerOk(["stop", "-t", "0", "evt"]);
    await cli.dockerOk(["rm", "evt"]);
    await cli.dockerOk(["run", "--rm", "--name", "quick", "alpine", "sh", "-c", "exit 2"]).catch(() => {});
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const out = await cli.dockerOk(["events", "--since", String(t0), "--until", until, "--filter", "container=evt", "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.team}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.signal}}"]);
    const lines = out.trim().split("\n");
    expect(lines.map((l) => l.split(" ")[0])).toEqual(["create", "start", "exec_create:", "exec_start:", "exec_die", "kill", "die", "stop", "destroy"]);
    expect(lines.every((l) => l.split(" ").includes(id))).toBe(true);
    expect(lines.find((l) => l.startsWith("kill"))).toBe(`kill ${id} evt x <no value> 15`);
    expect(lines.find((l) => l.startsWith("die"))).toBe(`die ${id} evt x 137 <no value>`);
    const quick = await cli.dockerOk(["events", "--since", String(t0), "--until", until, "--filter", "container=quick", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"]);
    expect(quick.trim().split("\n")).toEqual(["create <no value>", "attach <no value>", "start <no value>", "die 2", "destroy <no value>"]);
  });
});
