/**
 * `bunker compose` (issue 16) through the compiled CLI as root with real containers, in-process or through
 * `bunker serve` (BUNKER_E2E_MODE=daemon): a real-world style project (web + db + worker + a migrations
 * job, busybox standing in for each) converges with docker compose v2's names and labels, waits for a
 * healthy db and a finished migration, recreates only the service whose configuration changed, scales,
 * runs one-offs, execs, logs with prefixes, and `down -v` leaves no container, network or volume behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, bunkerAt, removeAllAndStop, startWithBusybox, tempDir } from "../helpers/bunker.ts";
import { inPty } from "../helpers/pty.ts";
import { leftovers } from "../helpers/netcheck.ts";
import { startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let dir: string;
const P = "shop";

/** The project file: db healthy only after a second, migrate a one-shot, web after both, worker after db. */
const projectFile = (webGreeting: string) => `
services:
  db:
    image: ${busybox}
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; echo db ready; exec sleep 600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
    volumes:
      - data:/var/lib/db
  migrate:
    image: ${busybox}
    command: ["sh", "-c", "echo migrated > /var/lib/db/schema; echo migrations done"]
    volumes:
      - data:/var/lib/db
    depends_on:
      db:
        condition: service_healthy
  web:
    image: ${busybox}
    command: ["sh", "-c", "echo $$GREETING; exec sleep 600"]
    environment:
      GREETING: ${webGreeting}
    ports:
      - "127.0.0.1::8080"
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
  worker:
    image: ${busybox}
    command: ["sleep", "600"]
    depends_on: [db]
volumes:
  data: {}
`;

const compose = (...args: string[]) => b.run(["compose", "-p", P, "-f", join(dir, "compose.yaml"), ...args]);
const composeOk = async (...args: string[]) => {
  const r = await compose(...args);
  if (r.code !== 0) throw new Error(`compose ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
};
const inspect = async (name: string) => JSON.parse(await b.ok(["inspect", name]))[0];
const ids = async () => Object.fromEntries((await composeOk("ps", "-a", "--format", "{{.Name}} {{.ID}}")).stdout.trim().split("\n").map((l) => l.split(" ")));

beforeAll(async () => {
  if (!root) return;
  ({ reg, b, busybox } = await startWithBusybox());
  dir = tempDir("bunker-compose-");
  writeFileSync(join(dir, "compose.yaml"), projectFile("hello"));
}, 900_000);

afterAll(async () => {
  if (!root) return;
  await compose("down", "-v", "--remove-orphans", "-t", "0");
  await b.run(["compose", "-p", "opts", "-f", join(dir, "opts.yaml"), "down", "-v", "--remove-orphans", "-t", "0"]);
  for (const project of [P, "opts"]) {
    for (const kind of ["network", "volume"]) {
      const left = (await b.run([kind, "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`])).stdout.trim();
      if (left) await b.run([kind, "rm", ...left.split("\n")]);
    }
  }
  await removeAllAndStop(b, reg);
});

describe.skipIf(!root)("bunker compose", () => {
  test("up -d: dependency order, healthy db and finished migration first, compose v2's names and labels", async () => {
    const up = await composeOk("up", "-d");
    expect(up.stderr).toContain(` Network ${P}_default  Created`);
    expect(up.stderr).toContain(` Volume "${P}_data"  Created`);
    expect(up.stderr).toContain(` Container ${P}-db-1  Healthy`);
    expect(up.stderr).toContain(` Container ${P}-web-1  Started`);
    const db = await inspect(`${P}-db-1`);
    const migrate = await inspect(`${P}-migrate-1`);
    const web = await inspect(`${P}-web-1`);
    expect(db.State.Health.Status).toBe("healthy");
    // migrate and web start only once the db is healthy: its check cannot pass before its first second is over
    expect(Date.parse(migrate.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(db.State.StartedAt) + 1000);
    // and after its first passing check, when the log (the last 5) still holds the failing one before it
    const log: { ExitCode: number; End: string }[] = db.State.Health.Log;
    const firstPass = log.findIndex((l) => l.ExitCode === 0);
    if (firstPass > 0) expect(Date.parse(migrate.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(log[firstPass]!.End));
    // web after migrate exited 0
    expect(migrate.State.ExitCode).toBe(0);
    expect(Date.parse(web.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(migrate.State.FinishedAt));
    expect(web.Config.Labels).toMatchObject({
      "com.docker.compose.project": P,
      "com.docker.compose.service": "web",
      "com.docker.compose.container-number": "1",
      "com.docker.compose.oneoff": "False",
      "com.docker.compose.project.working_dir": dir,
      "com.docker.compose.project.config_files": join(dir, "compose.yaml"),
      "com.docker.compose.depends_on": "db:service_healthy:false,migrate:service_completed_successfully:false",
      "com.docker.compose.image": web.Image,
    });
    expect(web.Config.Labels["com.docker.compose.config-hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(web.Config.Labels["com.docker.compose.version"]).toMatch(/^2\./);
    expect(Object.keys(web.NetworkSettings.Networks)).toEqual([`${P}_default`]);
    expect(web.NetworkSettings.Networks[`${P}_default`].Aliases).toEqual(expect.arrayContaining([`${P}-web-1`, "web"]));
    const net = JSON.parse(await b.ok(["network", "inspect", `${P}_default`]))[0];
    expect(net.Labels).toMatchObject({ "com.docker.compose.project": P, "com.docker.compose.network": "default" });
    const vol = JSON.parse(await b.ok(["volume", "inspect", `${P}_data`]))[0];
    expect(vol.Labels).toMatchObject({ "com.docker.compose.project": P, "com.docker.compose.volume": "data" });
    // the migration wrote into the named volume the db mounts too
    expect((await b.ok(["exec", `${P}-db-1`, "cat", "/var/lib/db/schema"])).trim()).toBe("migrated");
  }, 120_000);

  test("ps, ls, logs, exec, port: compose v2's columns and prefixes", async () => {
    const ps = (await composeOk("ps")).stdout.split("\n");
    expect(ps[0]).toMatch(/^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS$/);
    expect(ps.filter((l) => l.startsWith(`${P}-`)).map((l) => l.split(/\s+/)[0])).toEqual([`${P}-db-1`, `${P}-web-1`, `${P}-worker-1`]);
    expect((await composeOk("ps", "-a", "--services")).stdout.trim().split("\n")).toEqual(["db", "migrate", "web", "worker"]);
    const json = (await composeOk("ps", "--format", "json", "web")).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(json).toEqual([expect.objectContaining({ Name: `${P}-web-1`, Service: "web", Project: P, State: "running" })]);
    const ls = (...args: string[]) => b.ok(["compose", "ls", "--format", "json", "--filter", `name=${P}`, ...args]).then((o) => JSON.parse(o));
    expect(await ls()).toEqual([{ Name: P, Status: "running(3)", ConfigFiles: join(dir, "compose.yaml") }]);
    expect(await ls("-a")).toEqual([{ Name: P, Status: "exited(1), running(3)", ConfigFiles: join(dir, "compose.yaml") }]);
    const logs = (await composeOk("logs", "--no-color", "web", "migrate")).stdout;
    expect(logs).toContain("web-1      | hello\n");
    expect(logs).toContain("migrate-1  | migrations done\n");
    expect((await composeOk("logs", "--no-log-prefix", "web")).stdout).toBe("hello\n");
    const exec = await compose("exec", "-T", "web", "sh", "-c", "echo in $(hostname); exit 7");
    expect([exec.code, exec.stdout]).toEqual([7, expect.stringMatching(/^in [0-9a-f]{12}\n$/)]);
    const port = (await composeOk("port", "web", "8080")).stdout.trim();
    expect(port).toMatch(/^127\.0\.0\.1:\d+$/);
  }, 120_000);

  test("a change to one service recreates only it; --force-recreate and --no-recreate", async () => {
    const before = await ids();
    writeFileSync(join(dir, "compose.yaml"), projectFile("changed"));
    const up = await composeOk("up", "-d", "-t", "0");
    expect(up.stderr).toContain(` Container ${P}-web-1  Recreated`);
    expect(up.stderr).not.toContain(`${P}-db-1  Recreate`);
    const after = await ids();
    expect(after[`${P}-web-1`]).not.toBe(before[`${P}-web-1`]);
    for (const s of ["db", "worker", "migrate"]) expect(after[`${P}-${s}-1`]).toBe(before[`${P}-${s}-1`]);
    expect((await composeOk("logs", "--no-log-prefix", "web")).stdout).toBe("changed\n");
    // unchanged: nothing recreated; --no-recreate keeps even a changed one; --force-recreate replaces the named one
    await composeOk("up", "-d", "-t", "0");
    expect(await ids()).toEqual(after);
    writeFileSync(join(dir, "compose.yaml"), projectFile("again"));
    await composeOk("up", "-d", "-t", "0", "--no-recreate");
    expect(await ids()).toEqual(after);
    await composeOk("up", "-d", "-t", "0", "--force-recreate", "--no-deps", "worker");
    const forced = await ids();
    expect(forced[`${P}-worker-1`]).not.toBe(after[`${P}-worker-1`]);
    expect(forced[`${P}-db-1`]).toBe(after[`${P}-db-1`]);
  }, 120_000);

  test("exec and run get a TTY by default in a terminal (-T turns it off); logs -f follows until the container ends", async () => {
    const env = { ...process.env, BUNKER_E2E_MODE: undefined };
    const prefix = await b.prefix();
    const base = [BUNKER, ...prefix, "compose", "-p", P, "-f", join(dir, "compose.yaml")];
    const tty = await inPty([...base, "exec", "web", "tty"], [], env);
    expect([tty.code, tty.out]).toEqual([0, expect.stringMatching(/\/dev\/pts\/\d+/)]);
    const noTty = await inPty([...base, "exec", "-T", "web", "tty"], [], env);
    expect(noTty.out).toContain("not a tty");
    const run = await inPty([...base, "run", "--rm", "--no-deps", "web", "tty"], [], env);
    expect([run.code, run.out]).toEqual([0, expect.stringMatching(/\/dev\/pts\/\d+/)]);
    const f = join(dir, "follow.yaml");
    writeFileSync(f, `services:\n  t:\n    image: ${busybox}\n    command: ["sh", "-c", "echo tick 1; sleep 1; echo tick 2"]\n`);
    try {
      await b.ok(["compose", "-p", "fol", "-f", f, "up", "-d"]);
      const logs = await b.run(["compose", "-p", "fol", "-f", f, "logs", "-f", "--no-color"]);
      expect([logs.code, logs.stdout]).toEqual([0, "t-1  | tick 1\nt-1  | tick 2\n"]);
    } finally {
      await b.run(["compose", "-p", "fol", "-f", f, "down", "-t", "0"]);
    }
  }, 120_000);

  test("--scale, run --rm, stop/start, rm", async () => {
    await composeOk("up", "-d", "--no-recreate", "--scale", "worker=3");
    expect(Object.keys(await ids()).filter((n) => n.includes("-worker-")).sort()).toEqual([`${P}-worker-1`, `${P}-worker-2`, `${P}-worker-3`]);
    await composeOk("up", "-d", "--no-recreate", "--scale", "worker=1", "-t", "0");
    expect(Object.keys(await ids()).filter((n) => n.includes("-worker-"))).toEqual([`${P}-worker-1`]);
    const run = await compose("run", "--rm", "-T", "-e", "X=42", "web", "sh", "-c", "echo run $X; exit 3");
    expect([run.code, run.stdout]).toEqual([3, "run 42\n"]);
    expect(Object.keys(await ids()).some((n) => n.includes("-run-"))).toBe(false);
    const stop = await composeOk("stop", "-t", "1", "worker");
    expect(stop.stderr).toContain(` Container ${P}-worker-1  Stopped`);
    expect((await inspect(`${P}-worker-1`)).State.Status).toBe("exited");
    // In a terminal, `auto` draws compose's view: a header, a mark, the status and the time, in place.
    const env = { ...process.env, BUNKER_E2E_MODE: undefined };
    const base = [BUNKER, ...(await b.prefix()), "compose", "-p", P, "-f", join(dir, "compose.yaml")];
    const started = await inPty([...base, "start", "worker"], [], env);
    expect([started.code, started.out]).toEqual([0, expect.stringMatching(/\[\+\] Running 1\/1[^]* ✔ Container shop-worker-1 +Started +\d+\.\ds/)]);
    expect((await inspect(`${P}-worker-1`)).State.Status).toBe("running");
    expect((await inPty([...base, "--progress", "plain", "stop", "-t", "0", "worker"], [], env)).out).toContain(` Container ${P}-worker-1  Stopped`);
    expect((await compose("--progress", "tty", "--ansi", "never", "start", "worker")).stderr).toContain("can't use --progress tty while ANSI support is disabled");
    // a bad --ansi is refused by every command that opens the project, before it does anything
    const badAnsi = await compose("--ansi", "bogus", "start", "worker");
    expect(badAnsi.code).not.toBe(0);
    expect(badAnsi.stderr).toContain("invalid --ansi value: bogus");
    expect((await inspect(`${P}-worker-1`)).State.Status).toBe("exited");
    await composeOk("--progress", "tty", "start", "worker");
    expect((await inspect(`${P}-worker-1`)).State.Status).toBe("running");
    await composeOk("stop", "-t", "0", "worker");
    // without -f it asks; no answer removes nothing
    const asked = await composeOk("rm", "worker");
    expect(asked.stdout).toBe(`? Going to remove ${P}-worker-1 [y/N] `);
    expect((await inspect(`${P}-worker-1`)).State.Status).toBe("exited");
    const rm = await composeOk("rm", "-f", "worker");
    expect([rm.stdout, rm.stderr]).toEqual([`Going to remove ${P}-worker-1\n`, expect.stringContaining(` Container ${P}-worker-1  Removed`)]);
  }, 120_000);

  test("flags: ps -q, logs --tail/-t, exec -u/-e/-w/--index, run -d/--service-ports, down --rmi all", async () => {
    const f = join(dir, "flags.yaml");
    const image = `${busybox.split("/")[0]}/busybox:flags`;
    await b.ok(["tag", busybox, image]);
    writeFileSync(f, `services:\n  w:\n    image: ${image}\n    command: ["sh", "-c", "echo one; echo two; exec sleep 60"]\n    stop_signal: SIGKILL\n    ports: ["127.0.0.1::80"]\n    scale: 2\n`);
    const fl = (...args: string[]) => b.run(["compose", "-p", "fl", "-f", f, ...args]);
    try {
      expect((await fl("up", "-d")).code).toBe(0);
      const ids = (await fl("ps", "-q")).stdout.trim().split("\n");
      expect(ids).toEqual([(await inspect("fl-w-1")).Id, (await inspect("fl-w-2")).Id]);
      expect((await fl("logs", "--no-color", "--tail", "1", "--index", "2")).stdout).toBe("w-2  | two\n");
      expect((await fl("logs", "--no-log-prefix", "-t", "--index", "1")).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z one\n\S+ two\n$/);
      const ex = await fl("exec", "-T", "-u", "1000", "-e", "X=1", "-w", "/tmp", "--index", "2", "w", "sh", "-c", "echo $(id -u) $X $(pwd) $(hostname)");
      expect(ex.stdout.trim()).toBe(`1000 1 /tmp ${(await inspect("fl-w-2")).Config.Hostname}`);
      const detached = await fl("run", "-d", "--service-ports", "w", "sleep", "60");
      const name = detached.stdout.trim();
      expect(name).toMatch(/^fl-w-run-[0-9a-f]{12}$/);
      const one = await inspect(name);
      expect([one.State.Running, one.Config.Labels["com.docker.compose.oneoff"], one.HostConfig.PortBindings]).toEqual([true, "True", { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] }]);
      const plain = await inspect((await fl("run", "-d", "w", "sleep", "60")).stdout.trim());
      expect(plain.HostConfig.PortBindings).toEqual({});
      const down = await fl("down", "-t", "0", "--remove-orphans", "--rmi", "all");
      expect([down.code, down.stderr]).toEqual([0, expect.stringContaining(` Image ${image}  Removed`)]);
      expect((await b.run(["image", "inspect", image])).code).not.toBe(0);
      expect((await b.run(["ps", "-aq", "--filter", "label=com.docker.compose.project=fl"])).stdout).toBe("");
    } finally {
      await fl("down", "-t", "0", "--remove-orphans");
    }
  }, 120_000);

  test("version, and `bunker compose` listing every subcommand", async () => {
    expect((await b.ok(["compose", "version", "--short"])).trim()).toMatch(/^2\.\d+\.\d+$/);
    expect(JSON.parse(await b.ok(["compose", "version", "--format", "json"]))).toEqual({ version: expect.stringMatching(/^v2\./) });
    const help = await b.ok(["compose"]);
    for (const sub of ["up", "down", "ps", "logs", "exec", "run", "create", "start", "stop", "restart", "kill", "rm", "pause", "unpause", "top", "port", "images", "events", "ls", "wait", "cp", "build", "pull", "push", "config", "version"]) expect(help).toMatch(new RegExp(`^  ${sub} `, "m"));
  });

  test("services the engine cannot apply are refused by name, and nothing is created", async () => {
    const bad = tempDir("bunker-compose-bad-");
    mkdirSync(join(bad, "x"));
    writeFileSync(join(bad, "compose.yaml"), `services:\n  a:\n    image: ${busybox}\n    storage_opt:\n      size: 1G\n`);
    const r = await b.run(["compose", "-p", "bad", "-f", join(bad, "compose.yaml"), "up", "-d"]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('service "a": storage_opt is not supported by bunker compose')]);
    expect((await b.run(["ps", "-aq", "--filter", "label=com.docker.compose.project=bad"])).stdout).toBe("");
  }, 60_000);

  test("down -v removes every container, network and volume of the project", async () => {
    const down = await composeOk("down", "-v", "-t", "0");
    expect(down.stderr).toContain(` Network ${P}_default  Removed`);
    expect(down.stderr).toContain(` Volume ${P}_data  Removed`);
    for (const kind of [["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]]) expect((await b.ok([...kind, "--filter", `label=com.docker.compose.project=${P}`])).trim()).toBe("");
  }, 120_000);

  // Host programming runs off the event loop under one lock for every process (and the daemon's requests):
  // two projects converging at once each get their network, rules and published port.
  test("two projects up and down at once: both published ports answer, and nothing of either is left", async () => {
    const projects = ["twina", "twinb"];
    for (const p of projects)
      writeFileSync(join(dir, `${p}.yaml`), `services:\n  web:\n    image: ${busybox}\n    command: ["httpd", "-f", "-p", "80", "-h", "/"]\n    stop_signal: SIGKILL\n    ports: ["127.0.0.1::80"]\n  app:\n    image: ${busybox}\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n    depends_on: [web]\n`);
    const twin = (p: string, ...args: string[]) => b.ok(["compose", "-p", p, "-f", join(dir, `${p}.yaml`), ...args]);
    try {
      await Promise.all(projects.map((p) => twin(p, "up", "-d")));
      const nets: string[] = [];
      for (const p of projects) {
        nets.push((await b.ok(["network", "inspect", "-f", "{{.Id}}", `${p}_default`])).trim().slice(0, 12));
        const port = (await twin(p, "port", "web", "80")).trim().split(":")[1];
        // busybox httpd answers (404 for a directory without an index): the DNAT rule is in place.
        expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      }
      await Promise.all(projects.map((p) => twin(p, "down", "-v", "-t", "0")));
      const rules = leftovers(b.dataRoot).rules;
      expect(rules.filter((l) => l.includes(":ctr:") || nets.some((n) => l.includes(`:net:${n}`)))).toEqual([]);
      for (const n of nets) expect(existsSync(`/sys/class/net/bk-${n}`)).toBe(false);
    } finally {
      for (const p of projects) await b.run(["compose", "-p", p, "-f", join(dir, `${p}.yaml`), "down", "-v", "-t", "0"]);
    }
  }, 120_000);

  test("attached up: prefixed output, --exit-code-from stops the others and returns the service's code", async () => {
    const att = join(dir, "attached.yaml");
    writeFileSync(att, `services:\n  a:\n    image: ${busybox}\n    command: ["sh", "-c", "echo from a; sleep 1; exit 3"]\n  bb:\n    image: ${busybox}\n    command: ["sh", "-c", "echo from bb; exec sleep 60"]\n    stop_signal: SIGKILL\n`);
    try {
      const r = await b.run(["compose", "-p", "att", "-f", att, "up", "--exit-code-from", "a"]);
      expect(r.code).toBe(3);
      expect(r.stdout).toStartWith("Attaching to a-1, bb-1\n");
      expect(r.stdout).toContain("a-1   | from a\n");
      expect(r.stdout).toContain("bb-1  | from bb\n");
      expect(r.stdout).toContain("a-1 exited with code 3\n");
      expect(r.stderr).toContain("Aborting on container exit...\n");
      expect(JSON.parse(await b.ok(["inspect", "att-bb-1"]))[0].State.Running).toBe(false);
    } finally {
      await b.run(["compose", "-p", "att", "-f", att, "down", "-t", "0"]);
    }
  }, 60_000);

  test("attached up follows a container its restart policy brings back", async () => {
    const f = join(dir, "restarting.yaml");
    writeFileSync(f, `services:\n  r:\n    image: ${busybox}\n    command: ["sh", "-c", "echo run; sleep 0.3; exit 2"]\n    restart: on-failure:2\n`);
    try {
      const r = await b.run(["compose", "-p", "rs", "-f", f, "up"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Attaching to r-1\n" + "r-1  | run\nr-1 exited with code 2\n".repeat(3));
    } finally {
      await b.run(["compose", "-p", "rs", "-f", f, "down", "-t", "0"]);
    }
  }, 60_000);

  test("attached up: SIGINT stops every container gracefully", async () => {
    const f = join(dir, "sigint.yaml");
    writeFileSync(f, `services:\n  a:\n    image: ${busybox}\n    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]\n  c:\n    image: ${busybox}\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n`);
    const proc = await b.spawn(["compose", "-p", "sig", "-f", f, "up"]);
    try {
      let out = "";
      const reader = proc.stdout.getReader();
      while (!out.includes("a-1  | ready")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      proc.kill("SIGINT");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      await proc.exited;
      expect(await new Response(proc.stderr).text()).toContain("Gracefully stopping... (press Ctrl+C again to force)\n");
      expect(out).toContain("a-1  | bye\n");
      for (const n of ["sig-a-1", "sig-c-1"]) expect((await inspect(n)).State.Status).toBe("exited");
      expect((await inspect("sig-a-1")).State.ExitCode).toBe(0);
    } finally {
      proc.kill("SIGKILL");
      await b.run(["compose", "-p", "sig", "-f", f, "down", "-t", "0"]);
    }
  }, 60_000);

  test("service options reach the engine: ports, expose, every volume kind, networks, healthcheck, limits, secrets...", async () => {
    mkdirSync(join(dir, "conf"), { recursive: true });
    writeFileSync(join(dir, "conf", "app.conf"), "conf\n");
    writeFileSync(join(dir, "token.txt"), "s3cret\n");
    const file = join(dir, "opts.yaml");
    writeFileSync(
      file,
      `services:
  full:
    image: ${busybox}
    entrypoint: ["/bin/sleep"]
    command: ["600"]
    environment: { A: "1" }
    ports: ["127.0.0.1::80"]
    expose: ["9000"]
    volumes:
      - data:/data
      - /anon
      - ./conf:/conf:ro
      - { type: tmpfs, target: /scratch, tmpfs: { size: 1048576 } }
    networks:
      back: { aliases: [api], ipv4_address: 10.123.0.10 }
      front: {}
    healthcheck: { test: ["CMD", "true"], interval: 1s, retries: 3 }
    restart: on-failure:2
    deploy: { resources: { limits: { memory: 64M, cpus: "0.5", pids: 50 } } }
    user: "1000:1000"
    working_dir: /tmp
    hostname: opthost
    labels: { x.y: z }
    init: true
    read_only: true
    tmpfs: [/run/t]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    sysctls: { net.ipv4.tcp_keepalive_time: "300" }
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
    shm_size: 32m
    stop_signal: SIGINT
    stop_grace_period: 3s
    logging: { driver: json-file, options: { max-size: 1m } }
    extra_hosts: ["gw:10.1.2.3"]
    dns: [10.0.0.2]
    secrets: [token]
  named:
    image: ${busybox}
    container_name: opts-custom
    command: ["sleep", "600"]
    network_mode: "service:full"
    secrets: [{ source: envtok, uid: "1000", mode: 0400 }]
    configs: [{ source: conf, target: /etc/app.conf }]
networks:
  back: { ipam: { config: [{ subnet: 10.123.0.0/24 }] } }
  front: {}
volumes:
  data: {}
secrets:
  token: { file: ./token.txt }
  envtok: { environment: OPTS_TOKEN }
configs:
  conf: { content: "from content" }
`,
    );
    process.env.OPTS_TOKEN = "from-env";
    const opts = (...args: string[]) => b.run(["compose", "-p", "opts", "-f", file, ...args]);
    const up = await opts("up", "-d");
    expect([up.code, up.stderr]).toEqual([0, expect.stringContaining(" Container opts-custom  Started")]);
    const c = await inspect("opts-full-1");
    expect(c.Config.Entrypoint).toEqual(["/bin/sleep"]);
    expect(c.Config.Cmd).toEqual(["600"]);
    expect(c.Config.Env).toContain("A=1");
    expect(c.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
    expect(Object.keys(c.Config.ExposedPorts).sort()).toEqual(["80/tcp", "9000/tcp"]);
    const mounts = Object.fromEntries(c.Mounts.map((m: { Destination: string }) => [m.Destination, m]));
    expect(mounts["/data"]).toMatchObject({ Type: "volume", Name: "opts_data", RW: true });
    expect(mounts["/anon"]).toMatchObject({ Type: "volume", RW: true });
    expect(mounts["/conf"]).toMatchObject({ Type: "bind", Source: join(dir, "conf"), RW: false });
    expect(mounts["/run/secrets/token"]).toMatchObject({ Type: "bind", Source: join(dir, "token.txt"), RW: false });
    expect(c.HostConfig.Mounts).toEqual(expect.arrayContaining([expect.objectContaining({ Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 1048576 } })]));
    expect(Object.keys(c.NetworkSettings.Networks).sort()).toEqual(["opts_back", "opts_front"]);
    expect(c.NetworkSettings.Networks.opts_back.IPAddress).toBe("10.123.0.10");
    expect(c.NetworkSettings.Networks.opts_back.Aliases).toEqual(expect.arrayContaining(["opts-full-1", "full", "api"]));
    expect(c.Config.Healthcheck).toMatchObject({ Test: ["CMD", "true"], Interval: 1e9, Retries: 3 });
    expect(c.HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 2 });
    expect([c.HostConfig.Memory, c.HostConfig.NanoCpus, c.HostConfig.PidsLimit]).toEqual([64 * 1048576, 5e8, 50]);
    expect([c.Config.User, c.Config.WorkingDir, c.Config.Hostname]).toEqual(["1000:1000", "/tmp", "opthost"]);
    expect(c.Config.Labels["x.y"]).toBe("z");
    expect([c.HostConfig.Init, c.HostConfig.ReadonlyRootfs]).toEqual([true, true]);
    expect(c.HostConfig.Tmpfs).toEqual({ "/run/t": "" });
    expect([c.HostConfig.CapAdd, c.HostConfig.CapDrop]).toEqual([["NET_ADMIN"], ["MKNOD"]]);
    expect(c.HostConfig.Sysctls).toEqual({ "net.ipv4.tcp_keepalive_time": "300" });
    expect(c.HostConfig.Ulimits).toEqual([{ Name: "nofile", Soft: 1024, Hard: 2048 }]);
    expect(c.HostConfig.ShmSize).toBe(32 * 1048576);
    expect([c.Config.StopSignal, c.Config.StopTimeout]).toEqual(["SIGINT", 3]);
    expect(c.HostConfig.LogConfig).toMatchObject({ Type: "json-file", Config: { "max-size": "1m" } });
    expect([c.HostConfig.ExtraHosts, c.HostConfig.Dns]).toEqual([["gw:10.1.2.3"], ["10.0.0.2"]]);
    expect((await b.ok(["exec", "opts-full-1", "cat", "/run/secrets/token"])).trim()).toBe("s3cret");
    // environment and content ones are written into the container with their owner and mode (a read-only
    // root refuses them, as the engine refuses any copy into it)
    expect((await b.ok(["exec", "opts-custom", "sh", "-c", "cat /run/secrets/envtok; stat -c ' %u %a' /run/secrets/envtok; cat /etc/app.conf"]))).toBe("from-env 1000 400\nfrom content");
    // the secret is read-only in the container, as is the root
    expect((await b.run(["exec", "opts-full-1", "sh", "-c", "echo x > /run/secrets/token"])).code).not.toBe(0);
    const shared = await inspect("opts-custom");
    expect(shared.HostConfig.NetworkMode).toBe(`container:${c.Id}`);
    // full replaced: the service sharing its network namespace is replaced with it, pointing at the new one
    writeFileSync(file, readFileSync(file, "utf8").replace('A: "1"', 'A: "2"'));
    const again = await opts("up", "-d", "-t", "0");
    expect([again.code, again.stderr]).toEqual([0, expect.anything()]);
    const [full2, shared2] = [await inspect("opts-full-1"), await inspect("opts-custom")];
    expect(full2.Id).not.toBe(c.Id);
    expect([shared2.HostConfig.NetworkMode, shared2.State.Status]).toEqual([`container:${full2.Id}`, "running"]);
    const down = await opts("down", "-v", "-t", "0");
    expect(down.code).toBe(0);
    for (const kind of [["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]]) expect((await b.ok([...kind, "--filter", "label=com.docker.compose.project=opts"])).trim()).toBe("");
  }, 120_000);

  test("orphans: warned about, then removed with --remove-orphans", async () => {
    const f = join(dir, "orph.yaml");
    writeFileSync(f, `services:\n  keep:\n    image: ${busybox}\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n  gone:\n    image: ${busybox}\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n`);
    const orph = (...args: string[]) => b.run(["compose", "-p", "orph", "-f", f, ...args]);
    try {
      expect((await orph("up", "-d")).code).toBe(0);
      writeFileSync(f, `services:\n  keep:\n    image: ${busybox}\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n`);
      const warned = await orph("up", "-d");
      expect(warned.stderr).toContain("Found orphan containers (orph-gone-1) for this project");
      expect((await orph("ps", "-a", "--format", "{{.Name}}")).stdout).toBe("orph-gone-1\norph-keep-1\n");
      const removed = await orph("up", "-d", "--remove-orphans");
      expect(removed.stderr).toContain(" Container orph-gone-1  Removed");
      expect((await orph("ps", "-a", "--format", "{{.Name}}")).stdout).toBe("orph-keep-1\n");
    } finally {
      await orph("down", "-t", "0", "--remove-orphans");
    }
  }, 60_000);

  test("build: sections go through the Backend's builder; an unsupported build key is refused by name", async () => {
    const ctxDir = join(dir, "app");
    mkdirSync(ctxDir, { recursive: true });
    writeFileSync(join(ctxDir, "Dockerfile"), `FROM ${busybox}\nRUN echo built > /built\nCMD ["cat", "/built"]\n`);
    const f = join(dir, "build.yaml");
    writeFileSync(f, `services:\n  app:\n    build: ./app\n`);
    const bld = (...args: string[]) => b.run(["compose", "-p", "bld", "-f", f, ...args]);
    try {
      const up = await bld("up", "-d");
      expect(up.code).toBe(0);
      expect((await b.ok(["image", "inspect", "-f", "{{.Id}}", "bld-app"])).trim()).toMatch(/^sha256:/);
      expect((await b.ok(["logs", "bld-app-1"])).trim()).toBe("built");
      const ssh = join(dir, "build-ssh.yaml");
      writeFileSync(ssh, `services:\n  app:\n    build:\n      context: ./app\n      ssh: ["default"]\n`);
      const refused = await b.run(["compose", "-p", "bldssh", "-f", ssh, "build"]);
      expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('service "app": build.ssh is not supported by bunker compose')]);
    } finally {
      await bld("down", "-t", "0", "--rmi", "local");
    }
  }, 120_000);

  test("depends_on: a failed one-shot stops up, required: false only warns, restart: true follows a recreated dependency", async () => {
    const f = join(dir, "deps.yaml");
    const file = (dbEnv: string, migrateExit: number, required: boolean) => `services:
  db:
    image: ${busybox}
    command: ["sleep", "60"]
    stop_signal: SIGKILL
    environment: { V: "${dbEnv}" }
  migrate:
    image: ${busybox}
    command: ["sh", "-c", "exit ${migrateExit}"]
  app:
    image: ${busybox}
    command: ["sleep", "60"]
    stop_signal: SIGKILL
    depends_on:
      db: { condition: service_started, restart: true }
      migrate: { condition: service_completed_successfully, required: ${required} }
`;
    const deps = (...args: string[]) => b.run(["compose", "-p", "deps", "-f", f, ...args]);
    try {
      writeFileSync(f, file("1", 1, true));
      const failed = await deps("up", "-d");
      expect([failed.code, failed.stderr]).toEqual([1, expect.stringContaining('service "migrate" didn\'t complete successfully: exit 1')]);
      expect((await inspect("deps-app-1")).State.Status).toBe("created");
      writeFileSync(f, file("1", 1, false));
      const optional = await deps("up", "-d");
      expect([optional.code, optional.stderr]).toEqual([0, expect.stringContaining('optional dependency "migrate"')]);
      expect((await inspect("deps-app-1")).State.Status).toBe("running");
      const started = (await inspect("deps-app-1")).State.StartedAt;
      // db's configuration changes: db is recreated, app (restart: true) restarted in place, not recreated
      const appId = (await inspect("deps-app-1")).Id;
      writeFileSync(f, file("2", 1, false));
      const again = await deps("up", "-d");
      expect(again.stderr).toContain(" Container deps-db-1  Recreated");
      expect(again.stderr).toContain(" Container deps-app-1  Restarted");
      const app = await inspect("deps-app-1");
      expect([app.Id, app.State.StartedAt > started]).toEqual([appId, true]);
    } finally {
      await deps("down", "-t", "0");
    }
  }, 120_000);

  test("anonymous volumes survive a recreate, -V makes them anew; --wait returns once healthy", async () => {
    const f = join(dir, "anon.yaml");
    const file = (v: string) => `services:\n  s:\n    image: ${busybox}\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n    environment: { V: "${v}" }\n    volumes: [/keep]\n    healthcheck: { test: ["CMD", "test", "-e", "/keep"], interval: 200ms }\n`;
    const anon = (...args: string[]) => b.run(["compose", "-p", "anon", "-f", f, ...args]);
    const volumes = async () => (await b.ok(["volume", "ls", "-q"])).trim();
    const before = await volumes();
    try {
      writeFileSync(f, file("1"));
      const up = await anon("up", "-d", "--wait");
      expect(up.code).toBe(0);
      expect(up.stderr).toContain(" Container anon-s-1  Healthy");
      expect((await inspect("anon-s-1")).State.Health.Status).toBe("healthy");
      await b.ok(["exec", "anon-s-1", "sh", "-c", "echo data > /keep/f"]);
      writeFileSync(f, file("2"));
      expect((await anon("up", "-d")).code).toBe(0);
      expect((await b.ok(["exec", "anon-s-1", "cat", "/keep/f"])).trim()).toBe("data");
      expect((await anon("up", "-d", "--force-recreate", "-V")).code).toBe(0);
      expect((await b.run(["exec", "anon-s-1", "cat", "/keep/f"])).code).not.toBe(0);
      // a recreate hands the volume on by name; down -v still removes it
      await b.ok(["exec", "anon-s-1", "touch", "/keep/g"]);
      writeFileSync(f, file("3"));
      expect((await anon("up", "-d")).code).toBe(0);
      expect((await anon("down", "-v", "-t", "0")).code).toBe(0);
      expect(await volumes()).toBe(before);
    } finally {
      await anon("down", "-v", "-t", "0");
    }
  }, 120_000);

  test("create, pause/unpause, kill, restart, top, images, cp, wait, events, pull and push", async () => {
    const f = join(dir, "more.yaml");
    // a registry of its own to push to (the shared one serves the test bed read-only)
    const target = await startRegistry({ storage: "empty" });
    const pushed = `${target.host}/compose-pushed:1`;
    await b.ok(["tag", busybox, pushed]);
    writeFileSync(f, `services:\n  s:\n    image: ${pushed}\n    command: ["sleep", "60"]\n  once:\n    image: ${busybox}\n    command: ["sh", "-c", "sleep 1; exit 4"]\n`);
    const more = (...args: string[]) => b.run(["compose", "-p", "more", "-f", f, ...args]);
    const since = String(Math.floor(Date.now() / 1000) - 1);
    try {
      const none = await more("start");
      expect([none.code, none.stderr]).toEqual([1, expect.stringMatching(/service "(s|once)" has no container to start/)]);
      const created = await more("create");
      expect([created.code, created.stderr]).toEqual([0, expect.stringContaining(" Container more-s-1  Created")]);
      expect((await inspect("more-s-1")).State.Status).toBe("created");
      expect((await more("start", "s")).code).toBe(0);
      expect((await more("pause", "s")).stderr).toContain(" Container more-s-1  Paused");
      expect((await inspect("more-s-1")).State.Status).toBe("paused");
      expect((await more("unpause", "s")).stderr).toContain(" Container more-s-1  Unpaused");
      const top = (await more("top", "s")).stdout;
      expect(top).toStartWith("more-s-1\nUID");
      expect(top).toContain("sleep 60");
      const images = (await more("images", "s")).stdout.split("\n");
      expect(images[0]).toMatch(/^CONTAINER\s+REPOSITORY\s+TAG\s+IMAGE ID\s+SIZE$/);
      expect(images[1]).toMatch(new RegExp(`^more-s-1\\s+${target.host}/compose-pushed\\s+1\\s+[0-9a-f]{12}\\s+`));
      writeFileSync(join(dir, "in.txt"), "copied\n");
      expect((await more("cp", join(dir, "in.txt"), "s:/tmp/in.txt")).code).toBe(0);
      expect((await b.ok(["exec", "more-s-1", "cat", "/tmp/in.txt"])).trim()).toBe("copied");
      const restarted = await more("restart", "-t", "0", "s");
      expect(restarted.stderr).toContain(" Container more-s-1  Restarting");
      expect((await more("kill", "-s", "SIGKILL", "s")).stderr).toContain(" Container more-s-1  Killed");
      expect((await inspect("more-s-1")).State.Status).toBe("exited");
      expect((await more("start", "once")).code).toBe(0);
      const wait = await more("wait", "once");
      expect(wait.code).toBe(4);
      const events = (await more("events", "--json", "--since", since, "--until", String(Math.floor(Date.now() / 1000) + 1))).stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(events.filter((e) => e.service === "s").map((e) => e.action)).toEqual(expect.arrayContaining(["create", "start", "pause", "unpause", "kill"]));
      const push = await more("push", "s");
      expect([push.code, push.stderr]).toEqual([0, expect.stringContaining(" s  Pushed")]);
      await b.ok(["rmi", "-f", pushed]);
      expect((await more("pull", "s")).stderr).toContain(" s  Pulled");
      expect((await b.ok(["image", "inspect", "-f", "{{.Id}}", pushed])).trim()).toMatch(/^sha256:/);
    } finally {
      await more("down", "-t", "0");
      await target.stop();
    }
  }, 120_000);
});
