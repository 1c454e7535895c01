/**
 * `bunker compose config` through the compiled binary: the normalised project of a 4-service project (YAML and
 * JSON agreeing), compose's global flags before and after the subcommand, the lists (--services, --volumes,
 * --profiles, --images) checked against Debian's docker-compose 1.29 where it is installed, -q, -o, stdin,
 * --env-file, and errors (exit 1, compose's words on stderr). `config` talks to no engine: one pass serves both
 * modes.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, tempDir } from "../helpers/bunker.ts";

/** Runs `bunker compose ARGS` in `cwd` with a clean environment (no COMPOSE_* from the caller). */
async function compose(cwd: string, args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/root", ...opts.env };
  const proc = Bun.spawn([BUNKER, "compose", ...args], { cwd, env, stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** The 4-service project: redis, nginx with a bind mount and a published port, an app waiting for a healthy redis, a one-shot job. */
function fourServices(): string {
  const dir = join(tempDir("compose-config-"), "shop");
  mkdirSync(join(dir, "html"), { recursive: true });
  mkdirSync(join(dir, "app"), { recursive: true });
  writeFileSync(join(dir, "app/Dockerfile"), "FROM busybox\n");
  writeFileSync(
    join(dir, "compose.yaml"),
    `services:
  redis:
    image: redis:7
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 2s
      retries: 5
  web:
    image: nginx:\${NGINX_TAG:-1.25}
    ports: ["8080:80"]
    volumes: ["./html:/usr/share/nginx/html:ro"]
    depends_on: [app]
  app:
    build: ./app
    environment:
      REDIS_URL: redis://redis:6379
    depends_on:
      redis:
        condition: service_healthy
    volumes: [cache:/cache]
  job:
    image: busybox
    command: echo done
    restart: "no"
    profiles: [jobs]
volumes:
  cache: {}
`,
  );
  writeFileSync(join(dir, ".env"), "NGINX_TAG=1.27\n");
  return dir;
}

const dockerCompose = existsSync("/usr/bin/docker-compose") ? "/usr/bin/docker-compose" : undefined;

describe("compose config", () => {
  test("the normalised project, YAML and JSON agreeing", async () => {
    const dir = fourServices();
    const json = await compose(dir, ["config", "--format", "json"]);
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    const p = JSON.parse(json.stdout);
    expect(p.name).toBe("shop");
    expect(Object.keys(p.services)).toEqual(["app", "redis", "web"]);
    expect(p.services.web.image).toBe("nginx:1.27");
    expect(p.services.web.ports).toEqual([{ mode: "ingress", target: 80, published: "8080", protocol: "tcp" }]);
    expect(p.services.web.volumes).toEqual([{ type: "bind", source: join(dir, "html"), target: "/usr/share/nginx/html", read_only: true, bind: {} }]);
    expect(p.services.app.depends_on).toEqual({ redis: { condition: "service_healthy", required: true } });
    expect(p.services.app.build).toEqual({ context: join(dir, "app"), dockerfile: "Dockerfile" });
    expect(p.services.redis.healthcheck).toEqual({ test: ["CMD", "redis-cli", "ping"], interval: "2s", retries: 5 });
    expect(p.networks).toEqual({ default: { name: "shop_default", ipam: {} } });
    expect(p.volumes).toEqual({ cache: { name: "shop_cache" } });
    const yaml = await compose(dir, ["config"]);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toStartWith("name: shop\nservices:\n  app:\n    build:\n");
    // The same project, less what Go's YAML leaves out and its JSON keeps (null command/entrypoint, empty ipam).
    for (const s of Object.values(p.services) as any[]) for (const k of ["command", "entrypoint"]) if (s[k] === null) delete s[k];
    for (const n of Object.values(p.networks) as any[]) if (!Object.keys(n.ipam).length) delete n.ipam;
    expect(Bun.YAML.parse(yaml.stdout)).toEqual(p);
  });

  test("global flags before or after the subcommand: -f, -p, --profile, --project-directory", async () => {
    const dir = fourServices();
    const other = tempDir("compose-config-cwd-");
    const before = await compose(other, ["-f", join(dir, "compose.yaml"), "-p", "named", "--profile", "jobs", "config", "--services"]);
    const after = await compose(other, ["config", "--services", "-f", join(dir, "compose.yaml"), "-p", "named", "--profile", "jobs"]);
    expect(before).toEqual({ code: 0, stdout: "app\njob\nredis\nweb\n", stderr: "" });
    expect(after).toEqual(before);
    const named = JSON.parse((await compose(other, ["--project-directory", dir, "-f", join(dir, "compose.yaml"), "-p", "named", "config", "--format", "json"])).stdout);
    expect(named.name).toBe("named");
    expect(named.networks.default.name).toBe("named_default");
    const fromEnv = await compose(dir, ["config", "--services"], { env: { COMPOSE_PROFILES: "jobs" } });
    expect(fromEnv.stdout).toContain("job\n");
  });

  // docker-compose 1.29 lists services of every profile; v2 (and bunker) only the active ones: all are active here.
  test("--services and --volumes agree with Debian's docker-compose 1.29", async () => {
    if (!dockerCompose) return;
    const dir = fourServices();
    for (const flag of ["--services", "--volumes"]) {
      const ours = await compose(dir, ["--profile", "jobs", "config", flag]);
      const theirs = Bun.spawnSync([dockerCompose, "config", flag], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: "/root" } });
      expect(theirs.exitCode).toBe(0);
      expect(ours.stdout.split("\n").filter(Boolean).sort()).toEqual(theirs.stdout.toString().split("\n").filter(Boolean).sort());
    }
  });

  test("--profiles, --images, -q, -o, services named on the command line", async () => {
    const dir = fourServices();
    expect((await compose(dir, ["config", "--profiles"])).stdout).toBe("jobs\n");
    expect((await compose(dir, ["config", "--images"])).stdout).toBe("shop-app\nredis:7\nnginx:1.27\n");
    expect(await compose(dir, ["config", "-q"])).toEqual({ code: 0, stdout: "", stderr: "" });
    const out = join(dir, "out.yaml");
    expect((await compose(dir, ["config", "-o", out])).stdout).toBe("");
    expect(readFileSync(out, "utf8")).toStartWith("name: shop\n");
    const one = JSON.parse((await compose(dir, ["config", "--format", "json", "app"])).stdout);
    expect(Object.keys(one.services)).toEqual(["app", "redis"]);
    expect(one.volumes).toEqual({ cache: { name: "shop_cache" } });
    expect((await compose(dir, ["config", "--format", "json", "redis"])).stdout).not.toContain("shop_cache");
    expect(await compose(dir, ["config", "nope"])).toMatchObject({ code: 1, stderr: "no such service: nope\n" });
    const hashes = (await compose(dir, ["config", "--hash", "*"])).stdout;
    expect(hashes).toMatch(/^app [0-9a-f]{64}\nredis [0-9a-f]{64}\nweb [0-9a-f]{64}\n$/);
    expect((await compose(dir, ["config", "--hash", "web"])).stdout).toBe(hashes.split("\n")[2] + "\n");
  });

  test("-f - reads the file from stdin; --env-file replaces .env; --no-interpolate keeps the text", async () => {
    const dir = fourServices();
    writeFileSync(join(dir, "alt.env"), "NGINX_TAG=alt\n");
    const stdin = await compose(dir, ["-f", "-", "config", "--format", "json"], { stdin: "services:\n  s:\n    image: from-stdin\n" });
    expect(JSON.parse(stdin.stdout).services.s.image).toBe("from-stdin");
    const alt = JSON.parse((await compose(dir, ["--env-file", "alt.env", "config", "--format", "json"])).stdout);
    expect(alt.services.web.image).toBe("nginx:alt");
    const raw = JSON.parse((await compose(dir, ["config", "--format", "json", "--no-interpolate"])).stdout);
    expect(raw.services.web.image).toBe("nginx:${NGINX_TAG:-1.25}");
  });

  test("a bad file: compose's error with the path, exit 1; a missing variable with :?", async () => {
    const dir = join(tempDir("compose-config-bad-"), "bad");
    mkdirSync(dir);
    writeFileSync(join(dir, "compose.yaml"), "services:\n  web:\n    image: x\n    portz: [80]\n");
    expect(await compose(dir, ["config"])).toEqual({ code: 1, stdout: "", stderr: `validating ${join(dir, "compose.yaml")}: services.web additional properties 'portz' not allowed\n` });
    writeFileSync(join(dir, "compose.yaml"), "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n");
    expect(await compose(dir, ["config"])).toEqual({ code: 1, stdout: "", stderr: "error while interpolating services.web.image: required variable IMAGE is missing a value: set IMAGE\n" });
    writeFileSync(join(dir, "compose.yaml"), "services:\n  web:\n    image: x${UNSET}\n");
    const warned = await compose(dir, ["config", "--format", "json"]);
    expect(warned.code).toBe(0);
    // stderr is not a terminal here: logrus's text format, as docker compose prints it in CI logs.
    expect(warned.stderr).toMatch(/^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=warning msg="The \\"UNSET\\" variable is not set. Defaulting to a blank string."\n$/);
    expect(await compose(dir, ["config", "--format", "toml"])).toMatchObject({ code: 1, stderr: 'unsupported format "toml"\n' });
  });

  test("a literal $ is printed doubled, so the output loads back the same; --environment lists the interpolation environment", async () => {
    const dir = join(tempDir("compose-config-dollar-"), "dollar");
    mkdirSync(dir);
    writeFileSync(join(dir, "compose.yaml"), "services:\n  s:\n    image: x\n    command: echo $$HOME ${WHO}\n");
    writeFileSync(join(dir, ".env"), "WHO=me\n");
    const out = await compose(dir, ["config", "--format", "json"]);
    expect(JSON.parse(out.stdout).services.s.command).toEqual(["echo", "$$HOME", "me"]);
    const again = await compose(dir, ["-f", "-", "config", "--format", "json"], { stdin: (await compose(dir, ["config"])).stdout });
    expect(JSON.parse(again.stdout).services.s.command).toEqual(["echo", "$$HOME", "me"]);
    const env = (await compose(dir, ["config", "--environment"], { env: { ZED: "z" } })).stdout.split("\n");
    expect(env).toContain("WHO=me");
    expect(env).toContain("ZED=z");
    expect(env).toContain("COMPOSE_PROJECT_NAME=dollar");
  });

  test("two services with one container_name are refused", async () => {
    const dir = join(tempDir("compose-config-names-"), "names");
    mkdirSync(dir);
    writeFileSync(join(dir, "compose.yaml"), "services:\n  a:\n    image: x\n    container_name: one\n  b:\n    image: x\n    container_name: one\n");
    expect(await compose(dir, ["config"])).toEqual({ code: 1, stdout: "", stderr: 'services.b: container name "one" is already in use by service a\n' });
  });
});
