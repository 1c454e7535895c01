/**
 * `compose up -d` and `down -v` of a 4-service project (issue 16): a redis-like store with a healthcheck, an
 * nginx-like httpd with a bind mount and a published port, an app depending on the store, a one-shot job
 * (busybox standing in for each). Contenders, interleaved A B C A B C: `bunker compose` in-process, `bunker
 * compose -H` to `bunker serve`, and Debian's docker-compose 1.29 to the same `bunker serve`. `up -d` is
 * timed with the app on `service_started` (the targets exclude the healthcheck wait), and once more with
 * `service_healthy` for bunker in-process. Targets: up -d <= 150 ms, down -v <= 150 ms. With BUNKER_BASE set to
 * another build of bunker (the one before a change), that build in-process is one more contender: the ratio
 * of before and after, measured in the same interleaved run. Each contender is timed alone: the project the
 * previous one left up is taken down (untimed) first.
 *
 *   [BUNKER_BASE=/path/to/old/bunker] bun scripts/bench/compose.ts [rounds=10]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, machineWatch, tearDown, timed, waitForPath } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 10);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-compose-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
/** Takes every project down (also after a failure: in-process containers outlive the CLI). */
let downAll = () => {};
try {
  mkdirSync(join(work, "www"));
  writeFileSync(join(work, "www", "index.html"), "hello\n");
  const image = `${reg.host}/busybox`;
  const project = (condition: string, port: number) => `version: "2.4"
services:
  store:
    image: ${image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
  web:
    image: ${image}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    stop_signal: SIGKILL
    ports: ["${port}:80"]
    volumes: ["${join(work, "www")}:/www:ro"]
  app:
    image: ${image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      store:
        condition: ${condition}
  job:
    image: ${image}
    command: ["true"]
`;
  // One file per contender: each publishes its own host port, as the projects are up side by side.
  for (const [i, f] of ["bi", "br", "dc", "bb"].entries()) writeFileSync(join(work, `${f}.yml`), project("service_started", 18480 + i));
  writeFileSync(join(work, "healthy.yml"), project("service_healthy", 18490));

  const inproc = [bunker, "--data-root", join(work, "inproc"), "--registry-mirror", reg.url];
  const base = process.env.BUNKER_BASE ? [resolve(process.env.BUNKER_BASE), "--data-root", join(work, "base"), "--registry-mirror", reg.url] : undefined;
  const sock = join(work, "serve.sock");
  procs.push(Bun.spawn([bunker, "serve", "-H", `unix://${sock}`, "--data-root", join(work, "served"), "--registry-mirror", reg.url], { stdout: "ignore", stderr: "ignore" }));
  await waitForPath(sock);
  const remote = [bunker, "-H", `unix://${sock}`];
  Bun.spawnSync([...inproc, "pull", "-q", image]);
  if (base) Bun.spawnSync([...base, "pull", "-q", image]);
  Bun.spawnSync([...remote, "pull", "-q", image]);
  const v1env = { DOCKER_HOST: `unix://${sock}` };
  const quiet = (cmd: string[], env: Record<string, string> = {}) => void Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore", env: { ...process.env, ...env }, cwd: work });

  const bunkerCompose = (cli: string[], file: string, project: string) => (...args: string[]) => [...cli, "compose", "-p", project, "-f", join(work, file), ...args];
  const v1 = (file: string, project: string) => (...args: string[]) => ["docker-compose", "-p", project, "-f", join(work, file), ...args];
  const sides = [
    { name: "bunker compose (in-process)", cmd: bunkerCompose(inproc, "bi.yml", "bi"), env: {} },
    ...(base ? [{ name: "BUNKER_BASE (in-process)", cmd: bunkerCompose(base, "bb.yml", "bb"), env: {} }] : []),
    { name: "bunker compose -H serve", cmd: bunkerCompose(remote, "br.yml", "br"), env: {} },
    ...(has("docker-compose") ? [{ name: "docker-compose 1.29 / serve", cmd: v1("dc.yml", "dc"), env: v1env }] : []),
  ];
  downAll = () => {
    for (const s of sides) quiet(s.cmd("down", "-v", "-t", "0"), s.env);
    quiet(bunkerCompose(inproc, "healthy.yml", "bh")("down", "-v", "-t", "0"));
  };
  // Each contender runs alone: the project a previous contender left up is taken down first, so no other
  // project's containers (and their 100 ms healthchecks) share the machine with the one being timed.
  type Side = (typeof sides)[number];
  let running: Side | undefined;
  const alone = (s: Side, state: "up" | "down") => {
    if (running && running !== s) quiet(running.cmd("down", "-v", "-t", "0"), running.env);
    quiet(state === "up" ? s.cmd("up", "-d") : s.cmd("down", "-v", "-t", "0"), s.env);
    running = state === "up" ? s : undefined;
  };
  /** Each side timed going to `to` (`up -d` or `down -v`) from the other state, alone. */
  const each = (title: string, to: "up" | "down") =>
    compare(
      title,
      sides.map((s) => ({
        name: s.name,
        prepare: () => alone(s, to === "up" ? "down" : "up"),
        run: async () => {
          const r = await timed(to === "up" ? s.cmd("up", "-d") : s.cmd("down", "-v"), { env: s.env, cwd: work });
          running = to === "up" ? s : undefined;
          return r;
        },
      })),
      rounds,
    );
  const watch = machineWatch();
  const up = await each("compose up -d, 4 services (app after store started)", "up");
  const down = await each("compose down -v, 4 services", "down");
  if (running) alone(running, "down");
  const healthy = bunkerCompose(inproc, "healthy.yml", "bh");
  await compare("compose up -d with the service_healthy wait (bunker in-process)", [{ name: "bunker compose (in-process)", prepare: () => quiet(healthy("down", "-v", "-t", "0")), run: () => timed(healthy("up", "-d"), { cwd: work }) }], rounds);
  const first = sides[0]!.name;
  console.log(`\ntargets: up -d ${up[first]!.median.toFixed(0)} ms (<= 150), down -v ${down[first]!.median.toFixed(0)} ms (<= 150); ${watch()}`);
} finally {
  downAll();
  await tearDown(work, procs);
  await reg.stop();
}
