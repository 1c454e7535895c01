/**
 * `bunker compose config` of issue 16's 4-service project (redis, nginx with a bind mount and a published
 * port, an app waiting for a healthy redis, a one-shot job) against Debian's docker-compose 1.29 `config` when
 * installed, interleaved. Issue 16's target: at most 30 ms. Needs no engine: both only read the files.
 * Two floors run in the same rounds: `bunker --version` (bunker's own start-up) and a hello-world compiled with
 * bunker's build options (scripts/build.ts `compiledLike`), the start-up of any compiled Bun program on this
 * machine; what `config` costs is read above them.
 *
 *   bun scripts/bench/compose-config.ts [rounds]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, machineWatch, sh, timed, type Contender } from "./_lib.ts";

const rounds = Number(process.argv[2] ?? 30);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
const work = mkdtempSync(join(tmpdir(), "bunker-bench-compose-"));
const dir = join(work, "shop");
mkdirSync(join(dir, "app"), { recursive: true });
mkdirSync(join(dir, "html"));
writeFileSync(join(dir, "app/Dockerfile"), "FROM busybox\n");
writeFileSync(
  join(dir, "compose.yaml"),
  `services:
  redis:
    image: redis:7
    healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 2s, retries: 5}
  web:
    image: nginx:\${NGINX_TAG:-1.25}
    ports: ["8080:80"]
    volumes: ["./html:/usr/share/nginx/html:ro"]
    depends_on: [app]
  app:
    build: ./app
    environment: {REDIS_URL: "redis://redis:6379"}
    depends_on: {redis: {condition: service_healthy}}
  job:
    image: busybox
    command: echo done
    restart: "no"
`,
);
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };
try {
  // The floor: a hello-world built as bunker is.
  writeFileSync(join(work, "hello.ts"), 'console.log("hello");\n');
  const hello = join(work, "hello");
  // Built in a child, so the bundler's memory stays out of this process.
  const build = `import { compiledLike } from ${JSON.stringify(resolve(import.meta.dir, "../build.ts"))};
const r = await Bun.build({ ...compiledLike, entrypoints: [${JSON.stringify(join(work, "hello.ts"))}], compile: { ...compiledLike.compile, outfile: ${JSON.stringify(hello)} } });
if (!r.success) { console.error(...r.logs); process.exit(1); }`;
  sh([process.execPath, "-e", build]);
  const watch = machineWatch();
  const contenders: Contender[] = [{ name: "bunker compose config", run: () => timed([bunker, "compose", "config"], { cwd: dir, env }) }];
  // The binary's own start-up, to tell compose's share from the machine's load.
  contenders.push({ name: "bunker --version (start-up)", run: () => timed([bunker, "--version"], { cwd: dir, env }) });
  contenders.push({ name: "hello-world (same build)", run: () => timed([hello], { cwd: dir, env }) });
  if (has("docker-compose")) contenders.push({ name: "docker-compose 1.29 config", run: () => timed(["docker-compose", "config"], { cwd: dir, env }) });
  else console.log("(docker-compose not installed)");
  const r = await compare("compose config of a 4-service project", contenders, rounds);
  const ms = r["bunker compose config"]!.median;
  const startup = r["bunker --version (start-up)"]!.median;
  const floor = r["hello-world (same build)"]!.median;
  console.log(`target: bunker compose config ≤ 30 ms: ${ms.toFixed(1)} ms ${ms <= 30 ? "(met)" : "(NOT met)"}; above bunker's start-up ${(ms - startup).toFixed(1)} ms, above a compiled hello-world ${(ms - floor).toFixed(1)} ms (start-up above hello-world ${(startup - floor).toFixed(1)} ms); ${watch()}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
