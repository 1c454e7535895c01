/**
 * Daily operation through the compiled CLI, in-process and (BUNKER_E2E_MODE=daemon) through `bunker serve`:
 * attach, events and system prune; docker commands bunker lacks named as such; management-command help;
 * detach keys through a real pty (script(1)); log drivers and default rotation; `-e NAME`, --runtime,
 * --gpus, --stop-timeout; and a non-root user told that the data root needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, bunkerAt, DAEMON_MODE, freshDataRoot, tempDir, removeAllAndStop } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { inPty as ptyRun } from "../helpers/pty.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let configDir: string;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  configDir = tempDir("bunker-daily-cfg-");
  // daemon.json's log defaults: the daemon reads them in daemon mode, the in-process engine otherwise.
  writeFileSync(join(configDir, "daemon.json"), JSON.stringify({ "log-opts": { "max-file": "4" } }));
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url, "--config-file", join(configDir, "daemon.json")], { DOCKER_CONFIG: join(configDir, "docker") });
  busybox = `${reg.host}/busybox`;
  await b.ok(["pull", "-q", busybox]);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  await removeAllAndStop(b, reg);
});

const inspect = async (ref: string, fmt: string) => (await b.ok(["inspect", "--format", fmt, ref])).trim();

/** Runs bunker (with this file's data root or daemon) inside a real pty; `steps` are written in turn, `pause` ms apart. */
async function inPty(args: string[], steps: (string | Uint8Array)[], opts: { pause?: number; env?: Record<string, string> } = {}): Promise<{ out: string; code: number }> {
  return ptyRun([BUNKER, ...(await b.prefix()), ...args], steps, { ...process.env, DOCKER_CONFIG: join(configDir, "docker"), ...opts.env }, opts.pause);
}

const CTRL_P_Q = Uint8Array.of(0x10, 0x11);

describe.skipIf(!root)("commands bunker has, and those it does not", () => {
  test("a docker command bunker lacks says so, exit 1, not 'unknown command'", async () => {
    for (const name of ["search", "swarm", "service", "stack", "node", "secret", "config", "plugin", "trust", "context", "manifest", "buildx", "checkpoint"]) {
      const r = await b.run([name, "x"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toStartWith(`bunker ${name} is not supported yet\n`);
      expect(r.stderr).not.toContain("unknown command");
    }
    const typo = await b.run(["serch"]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("unknown command: bunker serch");
  });

  test("--help lists serve, attach and events; a management command lists each subcommand once with its description", async () => {
    const help = await b.ok(["--help"]);
    for (const c of ["serve", "attach", "events"]) expect(help).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
    const image = (await b.ok(["image", "--help"])).split("\n");
    expect(image).toContain("  ls          List images");
    expect(image).toContain("  rm          Remove one or more images");
    expect(image.some((l) => /^  (list|remove) /.test(l))).toBe(false);
    const container = await b.ok(["container", "--help"]);
    expect(container).toContain("  attach      Attach local standard input, output, and error streams to a running container");
    expect(container).toContain("  ls          List containers");
    expect(container).not.toMatch(/^  (ps|list|remove) /m);
    for (const g of ["network", "volume"]) expect(await b.ok([g, "--help"])).toMatch(/^  ls {10}\S.*\n(?![\s\S]*^  list )/m);
    const system = await b.ok(["system", "--help"]);
    for (const c of ["df", "events", "info", "prune"]) expect(system).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
    expect(await b.ok(["info"])).toContain("\n Swarm: inactive\n");
    // The aliases still run.
    expect((await b.run(["container", "ls", "-q"])).code).toBe(0);
    expect((await b.run(["image", "ls", "-q"])).code).toBe(0);
    expect((await b.run(["network", "list", "-q"])).code).toBe(0);
  });
});

describe.skipIf(!root)("system prune", () => {
  test("the confirmation prompt is docker's; answering no removes nothing", async () => {
    const id = (await b.ok(["create", "--network", "none", busybox, "true"])).trim();
    const r = await b.run(["system", "prune", "--volumes", "--filter", "label=x=y"], { stdin: "n\n" });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "WARNING! This will remove:",
        "  - all stopped containers",
        "  - all networks not used by at least one container",
        "  - all anonymous volumes not used by at least one container",
        "  - all dangling images",
        "  - unused build cache",
        "",
        "  Items to be pruned will be filtered with:",
        "  - label=x=y",
        "",
        "Are you sure you want to continue? [y/N] ",
      ].join("\n"),
    );
    expect(await inspect(id, "{{.State.Status}}")).toBe("created");
    await b.ok(["rm", id]);
  });

  test("-f removes stopped containers, unused networks and (--volumes) anonymous volumes, keeps running ones, and totals", async () => {
    const stopped = (await b.ok(["create", "--network", "none", "-v", "/data", busybox, "true"])).trim();
    const running = (await b.ok(["run", "--network", "none", "-d", busybox, "sleep", "300"])).trim();
    await b.ok(["network", "create", "prune-me"]);
    const vol = (await b.ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", stopped])).trim();
    const r = await b.run(["system", "prune", "-f", "--volumes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Deleted Containers:\n${stopped}\n`);
    expect(r.stdout).toContain("Deleted Networks:\nprune-me\n");
    expect(r.stdout).toContain(`Deleted Volumes:\n${vol}\n`);
    expect(r.stdout).toMatch(/\nTotal reclaimed space: \d+(\.\d+)?[kMG]?B\n$/);
    expect((await b.run(["inspect", stopped])).code).toBe(1);
    expect(await inspect(running, "{{.State.Running}}")).toBe("true");
    const until = await b.run(["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    expect(until.code).toBe(1);
    expect(until.stderr).toContain('ERROR: The "until" filter is not supported with "--volumes"');
    await b.ok(["rm", "-f", running]);
  });

  test("filters are applied or refused, never dropped: until keeps a new container; system prune refuses what image prune cannot apply", async () => {
    const fresh = (await b.ok(["create", "--network", "none", "--label", "keep=no", busybox, "true"])).trim();
    const kept = await b.run(["container", "prune", "-f", "--filter", "until=1h"]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).not.toContain(fresh);
    const notLabel = await b.run(["container", "prune", "-f", "--filter", "label!=keep=no"]);
    expect(notLabel.stdout).not.toContain(fresh);
    const bad = await b.run(["container", "prune", "-f", "--filter", "colour=red"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid filter 'colour'");
    const sys = await b.run(["system", "prune", "-f", "--filter", "until=1h"]);
    expect(sys.code).toBe(1);
    expect(sys.stderr).toContain("the until and label! filters are not supported for images yet");
    expect(await inspect(fresh, "{{.State.Status}}")).toBe("created");
    const img = await b.run(["image", "prune", "-f", "--filter", "until=1h"]);
    expect(img.code).toBe(1);
    expect(img.stderr).toContain("image prune filters until and label! is not supported by bunker yet");
    await b.ok(["rm", fresh]);
  });
});

describe.skipIf(!root)("events", () => {
  test("--since/--until replay in docker's line format; --filter; --format json and templates", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const id = (await b.ok(["run", "--network", "none", "-d", "--network", "none", "--name", "evented", "--label", "team=blue", busybox, "true"])).trim();
    await b.ok(["wait", id]);
    await b.ok(["rm", id]);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    await Bun.sleep(1200); // until must be in the past for the replay to end by itself
    const plain = await b.run(["events", "--since", since, "--until", until, "--filter", "container=evented"], { timeout: 20_000 });
    expect(plain.code).toBe(0);
    const lines = plain.stdout.trim().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}(Z|[+-]\\d\\d:\\d\\d) container create ${id} \\(image=${busybox.replace(/[.]/g, "\\.")}, name=evented, .*team=blue\\)$`));
    const actions = lines.map((l) => l.split(" ")[2]);
    expect(actions).toContain("start");
    expect(actions).toContain("destroy");
    const json = await b.ok(["events", "--since", since, "--until", until, "--filter", "event=destroy", "--filter", "type=container", "--format", "json"]);
    const events = json.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.some((e) => e.Actor.ID === id && e.Action === "destroy" && e.Type === "container" && e.status === "destroy")).toBe(true);
    expect(events.every((e) => e.Action === "destroy")).toBe(true);
    expect(json).toMatch(/"timeNano":\d{19}\}/);
    const tpl = await b.ok(["system", "events", "--since", since, "--until", until, "--filter", "container=evented", "--format", "{{.Type}}/{{.Action}}/{{.Actor.Attributes.name}}"]);
    expect(tpl.split("\n")).toContain("container/create/evented");
    // Every container event carries the labels, as moby's: destroy's too, though the row is gone by then.
    const labelled = await b.ok(["events", "--since", since, "--until", until, "--filter", "label=team=blue", "--format", "{{.Action}} {{index .Actor.Attributes \"team\"}}"]);
    const byLabel = labelled.trim().split("\n");
    for (const a of ["create", "start", "destroy"]) expect(byLabel).toContain(`${a} blue`);
  });

  test("live events arrive while `events` runs; a bad filter is refused", async () => {
    const p = await b.spawn(["events", "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}"]);
    await Bun.sleep(1000);
    const id = (await b.ok(["create", "--network", "none", "--name", "live-one", busybox, "true"])).trim();
    const reader = p.stdout.getReader();
    let seen = "";
    const deadline = Date.now() + 15_000;
    while (!seen.includes("live-one") && Date.now() < deadline) {
      const { value, done } = await Promise.race([reader.read(), Bun.sleep(500).then(() => ({ value: undefined, done: false }))]);
      if (done) break;
      if (value) seen += new TextDecoder().decode(value);
    }
    p.kill();
    await p.exited;
    expect(seen).toContain("live-one");
    await b.ok(["rm", id]);
    const bad = await b.run(["events", "--filter", "colour=red", "--until", "0s"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid filter 'colour'");
  });
});

describe.skipIf(!root)("attach and detach keys (real pty)", () => {
  test("attach relays a tty both ways; ctrl-p ctrl-q detaches (docker's \"read escape sequence\", exit 1) and leaves it running", async () => {
    const id = (await b.ok(["run", "--network", "none", "-dit", busybox, "sh"])).trim();
    // As the docker CLI's attach: the detach is reported as "read escape sequence", exit 1.
    const r = await inPty(["attach", id], ["echo attached-$((6*7))\r", CTRL_P_Q]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("read escape sequence");
    expect(r.out).toContain("attached-42");
    expect(await inspect(id, "{{.State.Running}}")).toBe("true");
    // --detach-keys: ctrl-a,x instead; ctrl-p ctrl-q then reach the container as plain bytes.
    const custom = await inPty(["attach", "--detach-keys", "ctrl-a,x", id], ["echo custom-$((7*7))\r", Uint8Array.of(0x01, 0x78)]);
    expect(custom.code).toBe(1);
    expect(custom.out).toContain("custom-49");
    expect(await inspect(id, "{{.State.Running}}")).toBe("true");
    // The end of the container ends the attach with its exit code.
    const exit = await inPty(["attach", id], ["exit 7\r"]);
    expect(exit.code).toBe(7);
    await b.ok(["rm", "-f", id]);
  });

  test("attach --no-stdin prints output and exits with the container's code; a stopped container is refused", async () => {
    const id = (await b.ok(["run", "--network", "none", "-d", busybox, "sh", "-c", "sleep 1; echo from-attach; exit 3"])).trim();
    const r = await b.run(["attach", "--no-stdin", id]);
    expect(r.stdout).toContain("from-attach");
    expect(r.code).toBe(3);
    const stopped = await b.run(["attach", id]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain("You cannot attach to a stopped container, start it first");
    await b.ok(["rm", id]);
  });

  test("attach proxies signals to a container without a tty; --sig-proxy=false does not", async () => {
    const script = "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done";
    const id = (await b.ok(["run", "-d", "--network", "none", busybox, "sh", "-c", script])).trim();
    const waitFor = async (p: ReturnType<typeof Bun.spawn>, text: string) => {
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      let seen = "";
      const deadline = Date.now() + 15_000;
      while (!seen.includes(text) && Date.now() < deadline) {
        const { value, done } = await Promise.race([reader.read(), Bun.sleep(300).then(() => ({ value: undefined, done: false }))]);
        if (done) break;
        if (value) seen += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      return seen;
    };
    // --sig-proxy=false: the attach itself ends on SIGTERM; the container goes on.
    const quiet = await b.spawn(["attach", "--no-stdin", "--sig-proxy=false", id]);
    await Bun.sleep(1500);
    quiet.kill("SIGTERM");
    await quiet.exited;
    expect(await inspect(id, "{{.State.Running}}")).toBe("true");
    const loud = await b.spawn(["attach", "--no-stdin", id]);
    await Bun.sleep(1500);
    loud.kill("SIGTERM");
    expect(await waitFor(loud, "got-term")).toContain("got-term");
    expect(await loud.exited).toBe(9);
    await b.ok(["rm", "-f", id]);
  });

  test("run -it and exec -it detach with --detach-keys and with config.json's detachKeys", async () => {
    const name = `dk-${Date.now()}`;
    const run = await inPty(["run", "--network", "none", "-it", "--name", name, "--detach-keys", "ctrl-x,ctrl-y", busybox, "sh"], ["echo in-run\r", Uint8Array.of(0x18, 0x19)]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("in-run");
    expect(await inspect(name, "{{.State.Running}}")).toBe("true");
    mkdirSync(join(configDir, "docker"), { recursive: true });
    writeFileSync(join(configDir, "docker", "config.json"), JSON.stringify({ detachKeys: "ctrl-e,e" }));
    try {
      const exec = await inPty(["exec", "-it", name, "sh"], ["echo in-exec\r", Uint8Array.of(0x05, 0x65)]);
      expect(exec.code).toBe(1); // docker exec reports the detach as attach does
      expect(exec.out).toContain("in-exec");
      expect(exec.out).toContain("read escape sequence");
      // The exec's shell goes on after the detach: two shells in the container.
      expect((await b.ok(["exec", name, "ps", "-o", "comm"])).split("\n").filter((l) => l.trim() === "sh").length).toBe(2);
    } finally {
      writeFileSync(join(configDir, "docker", "config.json"), "{}");
    }
    await b.ok(["stop", "-t", "0", name]);
    const start = await inPty(["start", "-ai", name], ["echo restarted\r", CTRL_P_Q]);
    expect(start.out).toContain("restarted");
    expect(start.code).toBe(0);
    expect(await inspect(name, "{{.State.Running}}")).toBe("true");
    await b.ok(["rm", "-f", name]);
  });

  test("invalid detach keys are refused in the daemon's words", async () => {
    const run = await b.run(["run", "--network", "none", "--rm", "-i", "--detach-keys", "ctrl-foo", busybox, "true"]);
    expect(run.code).toBe(125);
    expect(run.stderr).toContain("Invalid detach keys (ctrl-foo) provided");
    const id = (await b.ok(["run", "--network", "none", "-d", busybox, "sleep", "300"])).trim();
    const exec = await b.run(["exec", "-i", "--detach-keys", "a,bc", id, "true"]);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain("Invalid escape keys (a,bc) provided");
    await b.ok(["rm", "-f", id]);
  });
});

describe.skipIf(!root)("log drivers", () => {
  test("json-file rotates by default (10m x 3, daemon.json's max-file over it); max-size=-1 is unbounded", async () => {
    const id = (await b.ok(["create", "--network", "none", busybox, "true"])).trim();
    expect(await inspect(id, "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}")).toBe("json-file 10m 4");
    const unbounded = (await b.ok(["create", "--network", "none", "--log-opt", "max-size=-1", busybox, "true"])).trim();
    expect(await inspect(unbounded, '{{index .HostConfig.LogConfig.Config "max-size"}}')).toBe("-1");
    await b.ok(["rm", id, unbounded]);
  });

  test("rotation happens: a chatty container keeps at most max-file files of about max-size", async () => {
    const id = (await b.ok(["run", "--network", "none", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", busybox, "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"])).trim();
    await b.ok(["wait", id]);
    const dir = readdirSync(join(b.dataRoot, "containers", id)).filter((f) => f.includes("-json.log"));
    expect(dir.sort()).toEqual([`${id}-json.log`, `${id}-json.log.1`]);
    const logs = await b.ok(["logs", id]);
    expect(logs).toContain("line-399");
    expect(logs).not.toContain("line-0\n");
    await b.ok(["rm", id]);
  });

  test("system df counts a container's log files in the Containers row", async () => {
    const id = (await b.ok(["run", "-d", "--network", "none", busybox, "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789012345678; i=$((i+1)); done"])).trim();
    await b.ok(["wait", id]);
    const row = (await b.ok(["system", "df"])).split("\n").find((l) => l.startsWith("Containers"))!;
    const [, total, active, size, unit] = /^Containers\s+(\d+)\s+(\d+)\s+([\d.]+)(B|kB|MB)\s/.exec(row) ?? [];
    expect(Number(total)).toBeGreaterThanOrEqual(1);
    expect(Number(active)).toBeGreaterThanOrEqual(0);
    // ~2000 records of ~100 bytes: at least 150 kB, all of it in the log (the container wrote no file).
    expect(unit === "MB" || (unit === "kB" && Number(size) >= 150)).toBe(true);
    await b.ok(["rm", id]);
  });

  test("--log-driver none keeps no file and logs fails as dockerd's; local is accepted; others and unknown options are refused", async () => {
    const none = (await b.ok(["run", "--network", "none", "-d", "--log-driver", "none", busybox, "echo", "hi"])).trim();
    await b.ok(["wait", none]);
    const r = await b.run(["logs", none]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error response from daemon: configured logging driver does not support reading");
    expect(existsSync(join(b.dataRoot, "containers", none, `${none}-json.log`))).toBe(false);
    const local = (await b.ok(["run", "--network", "none", "-d", "--log-driver", "local", busybox, "echo", "local-hi"])).trim();
    await b.ok(["wait", local]);
    expect(await b.ok(["logs", local])).toBe("local-hi\n");
    expect(await inspect(local, '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}}')).toBe("local 20m");
    const syslog = await b.run(["run", "--network", "none", "--rm", "--log-driver", "syslog", busybox, "true"]);
    expect(syslog.code).toBe(125);
    expect(syslog.stderr).toContain("logger: no log driver named 'syslog' is registered");
    const opt = await b.run(["run", "--network", "none", "--rm", "--log-driver", "none", "--log-opt", "max-size=1m", busybox, "true"]);
    expect(opt.code).toBe(125);
    expect(opt.stderr).toContain("unknown log opt 'max-size' for none log driver");
    const bad = await b.run(["run", "--network", "none", "--rm", "--log-opt", "max-size=0", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("max-size must be a positive number");
    await b.ok(["rm", none, local]);
  });
});

describe.skipIf(!root)("run options", () => {
  test("-e NAME takes the caller's value and is dropped when the caller has none", async () => {
    const proc = Bun.spawn([BUNKER, ...(await b.prefix()), "run", "--rm", "--network", "none", "-e", "FROM_CALLER", "-e", "NOT_SET_ANYWHERE", busybox, "env"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, FROM_CALLER: "caller-value", NOT_SET_ANYWHERE: undefined } });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(out).toContain("FROM_CALLER=caller-value\n");
    expect(out).not.toContain("NOT_SET_ANYWHERE");
  });

  test("--runtime other than runc and --gpus are refused with dockerd's words; runc is accepted", async () => {
    const rt = await b.run(["run", "--network", "none", "--rm", "--runtime", "kata", busybox, "true"]);
    expect(rt.code).toBe(125);
    expect(rt.stderr).toContain("Error response from daemon: unknown or invalid runtime name: kata");
    expect((await b.run(["run", "--network", "none", "--rm", "--runtime", "runc", busybox, "true"])).code).toBe(0);
    const gpus = await b.run(["run", "--network", "none", "--rm", "--gpus", "all", busybox, "true"]);
    expect(gpus.code).toBe(125);
    expect(gpus.stderr).toContain('could not select device driver "" with capabilities: [[gpu]]');
  });

  test("--stop-timeout is recorded and used by stop", async () => {
    const id = (await b.ok(["run", "--network", "none", "-d", "--stop-timeout", "1", busybox, "sleep", "300"])).trim();
    expect(await inspect(id, "{{.Config.StopTimeout}}")).toBe("1");
    const t0 = Date.now();
    await b.ok(["stop", id]); // sleep as PID 1 ignores SIGTERM: killed after 1 s, not the default 10
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(await inspect(id, "{{.State.ExitCode}}")).toBe("137");
    await b.ok(["rm", id]);
  });
});

describe.skipIf(!root)("a user who may not use the data root or the daemon's socket", () => {
  test.skipIf(DAEMON_MODE)("ps and run as nobody name the data root and the permission error (exit 1; run 126 as docker's)", async () => {
    const dataRoot = freshDataRoot();
    await bunkerAt(dataRoot).ok(["ps"]); // created, root-only
    chmodSync(join(dataRoot, ".."), 0o755);
    const asNobody = (args: string[]) => Bun.spawnSync(["runuser", "-u", "nobody", "--", BUNKER, "--data-root", dataRoot, ...args], { stdout: "pipe", stderr: "pipe" });
    const ps = asNobody(["ps"]);
    expect(ps.exitCode).toBe(1);
    expect(ps.stderr.toString()).toContain(`permission denied while trying to open the bunker data root at ${dataRoot}: access ${dataRoot}: permission denied`);
    expect(ps.stderr.toString()).not.toContain("unable to open database file");
    const run = asNobody(["run", "--network", "none", "--rm", busybox, "true"]);
    expect(run.exitCode).toBe(126);
    expect(run.stderr.toString()).toStartWith(`bunker: permission denied while trying to open the bunker data root at ${dataRoot}`);
  });

  test.skipIf(!DAEMON_MODE)("ps and run as nobody against the daemon: docker's 'permission denied while trying to connect' (exit 1; run 126)", async () => {
    const prefix = await b.prefix(); // -H unix://<socket in a root-only directory>
    const asNobody = (args: string[]) => Bun.spawnSync(["runuser", "-u", "nobody", "--", BUNKER, ...prefix, ...args], { stdout: "pipe", stderr: "pipe" });
    const ps = asNobody(["ps"]);
    expect(ps.exitCode).toBe(1);
    expect(ps.stderr.toString()).toBe(`permission denied while trying to connect to the bunker daemon socket at ${prefix[1]}: connect: permission denied\n`);
    const run = asNobody(["run", "--rm", busybox, "true"]);
    expect(run.exitCode).toBe(126);
    expect(run.stderr.toString()).toStartWith(`bunker: permission denied while trying to connect to the bunker daemon socket at ${prefix[1]}`);
  });
});
