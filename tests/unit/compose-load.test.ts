/**
 * Loading compose projects from real files in temporary directories: lookup, merge of several files, project
 * names, profiles, .env and --env-file, interpolation (with compose's errors and warnings), extends, include,
 * YAML anchors and merge keys, schema errors with their paths, the semantic checks and the normalised form.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadProjectDetails, loadProject } from "../../src/compose/load.ts";
import type { LoadOptions } from "../../src/compose/model.ts";
import { parseDotenv } from "../../src/compose/dotenv.ts";
import { duplicateKeyError } from "../../src/compose/duplicates.ts";
import { projectJson, projectYaml } from "../../src/compose/output.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A temporary project directory named `name` holding `files`. */
function dir(files: Record<string, string>, name = "myapp"): string {
  const root = mkdtempSync(join(tmpdir(), "compose-load-"));
  dirs.push(root);
  const d = join(root, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, p)), { recursive: true });
    writeFileSync(join(d, p), text);
  }
  mkdirSync(d, { recursive: true });
  return d;
}

/** Loads with an environment of only `env` (plus HOME), collecting warnings. */
async function load(workingDir: string, opts: Partial<LoadOptions> = {}) {
  const warnings: string[] = [];
  const r = await loadProjectDetails({ workingDir, env: { HOME: "/home/u", ...(opts.env ?? {}) }, warn: (m) => warnings.push(m), ...opts, ...(opts.env ? { env: { HOME: "/home/u", ...opts.env } } : {}) });
  return { ...r, warnings };
}
const fails = async (workingDir: string, opts: Partial<LoadOptions> = {}) => {
  try {
    await load(workingDir, opts);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("loaded without error");
};

describe("files", () => {
  test("compose.yaml is found from a subdirectory, with its override file", async () => {
    const d = dir({ "compose.yaml": "services:\n  web:\n    image: a\n", "compose.override.yaml": "services:\n  web:\n    image: b\n", "sub/deep/x": "" });
    const { project, meta } = await load(join(d, "sub/deep"));
    expect(project.services.web!.image).toBe("b");
    expect(meta.composeFiles).toEqual([join(d, "compose.yaml"), join(d, "compose.override.yaml")]);
    expect(project.name).toBe("myapp");
  });

  test("both compose.yaml and docker-compose.yml: compose v2's warning, compose.yaml wins", async () => {
    const d = dir({ "compose.yaml": "services:\n  a:\n    image: x\n", "docker-compose.yml": "services:\n  b:\n    image: y\n" });
    const { project, warnings } = await load(d);
    expect(Object.keys(project.services)).toEqual(["a"]);
    expect(warnings).toEqual([`Found multiple config files with supported names: ${join(d, "compose.yaml")}, ${join(d, "docker-compose.yml")}`, `Using ${join(d, "compose.yaml")}`]);
  });

  test("no file: compose's error", async () => {
    expect(await fails(dir({ x: "" }, "empty-" + Date.now()))).toBe("no configuration file provided: not found");
  });

  test("-f - reads standard input", async () => {
    const d = dir({});
    const stdin = new Response("services:\n  s:\n    image: from-stdin\n").body!;
    const { project } = await load(d, { files: ["-"], stdin });
    expect(project.services.s!.image).toBe("from-stdin");
  });

  test("two files merged by the spec's rules", async () => {
    const d = dir({
      "a.yaml": `services:
  web:
    image: a
    command: ["one", "two"]
    ports: ["80:80", "443:443"]
    expose: ["1000"]
    dns: 1.1.1.1
    environment: {A: "1", B: "2"}
    labels: [x=1]
    volumes: ["./a:/data", "v1:/keep"]
    cap_add: [NET_ADMIN]
volumes: {v1: {}}
`,
      "b.yaml": `services:
  web:
    command: three
    ports: ["80:80", "8080:8080"]
    expose: ["1000", "2000"]
    dns: [8.8.8.8]
    environment: [B=3, C=4]
    labels: {y: "2"}
    volumes: ["./b:/data"]
    cap_add: [NET_ADMIN, SYS_TIME]
`,
    });
    const { project } = await load(d, { files: ["a.yaml", "b.yaml"] });
    const web = project.services.web!;
    expect(web.command).toEqual(["three"]);
    expect(web.ports!.map((p) => `${p.published}:${p.target}`)).toEqual(["80:80", "443:443", "8080:8080"]);
    expect(web.expose).toEqual(["1000", "2000"]);
    expect(web.dns).toEqual(["1.1.1.1", "8.8.8.8"]);
    expect(web.environment).toEqual({ A: "1", B: "3", C: "4" });
    expect(web.labels).toEqual({ x: "1", y: "2" });
    expect(web.volumes!.map((v) => `${v.source}:${v.target}`)).toEqual([`${d}/b:/data`, "v1:/keep"]);
    expect(web.cap_add).toEqual(["NET_ADMIN", "SYS_TIME"]);
  });
});

describe("project name", () => {
  const files = { "compose.yaml": "name: from-yaml\nservices:\n  s:\n    image: x\n" };
  test("-p, then COMPOSE_PROJECT_NAME, then name:, then the directory (normalised)", async () => {
    const d = dir(files);
    expect((await load(d, { projectName: "given" })).project.name).toBe("given");
    expect((await load(d, { env: { COMPOSE_PROJECT_NAME: "fromenv" } })).project.name).toBe("fromenv");
    expect((await load(d)).project.name).toBe("from-yaml");
    const bare = dir({ "compose.yaml": "services:\n  s:\n    image: x\n" }, "My.App_1");
    expect((await load(bare)).project.name).toBe("myapp_1");
  });
  test("an invalid -p is refused with compose's words", async () => {
    expect(await fails(dir(files), { projectName: "Bad Name" })).toBe(
      'invalid project name "Bad Name": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number',
    );
  });
  test("COMPOSE_PROJECT_NAME from .env", async () => {
    const d = dir({ ...files, ".env": "COMPOSE_PROJECT_NAME=dotenvname\n" });
    expect((await load(d)).project.name).toBe("dotenvname");
  });
});

describe("profiles", () => {
  const files = { "compose.yaml": "services:\n  always:\n    image: x\n  debug:\n    image: x\n    profiles: [debug]\n  tools:\n    image: x\n    profiles: [tools, ops]\n" };
  test("services without profiles always run; others when a profile is active or they are named", async () => {
    const d = dir(files);
    expect(Object.keys((await load(d)).project.services)).toEqual(["always"]);
    expect(Object.keys((await load(d, { profiles: ["ops"] })).project.services)).toEqual(["always", "tools"]);
    expect(Object.keys((await load(d, { env: { COMPOSE_PROFILES: "debug,ops" } })).project.services)).toEqual(["always", "debug", "tools"]);
    expect(Object.keys((await load(d, { services: ["debug"] })).project.services)).toEqual(["always", "debug"]);
    expect(Object.keys((await load(d, { profiles: ["*"] })).project.services)).toEqual(["always", "debug", "tools"]);
    expect(Object.keys((await load(d)).meta.disabledServices)).toEqual(["debug", "tools"]);
  });
  test("a required dependency switched off by its profile is an error (compose-go's checkConsistency words)", async () => {
    const d = dir({ "compose.yaml": "services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    profiles: [db]\n" });
    expect(await fails(d)).toBe('service "web" depends on undefined service "db": invalid compose project');
  });
});

describe("dotenv", () => {
  test("compose's syntax: export, quotes, comments, escapes, substitution, inherited keys", () => {
    const env = parseDotenv(
      `# comment
export A=1
B = two words # trailing comment
C="quoted # not a comment\\n$A"
D='single $A \\n'
E=\${A}-\${UNSET:-dflt}
F
G: colon
H="multi
line"
`,
      (k) => ({ F: "inherited" })[k],
    );
    expect(env).toEqual({ A: "1", B: "two words", C: "quoted # not a comment\n1", D: "single $A \\n", E: "1-dflt", F: "inherited", G: "colon", H: "multi\nline" });
  });
  test("errors name the line", () => {
    expect(() => parseDotenv("A=1\nB C=2\n")).toThrow("line 2: key cannot contain a space");
    expect(() => parseDotenv('A="open\n')).toThrow("line 2: unterminated quoted value");
  });
  test(".env feeds interpolation; the process environment wins; --env-file replaces .env", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: ${IMG}:${TAG}\n", ".env": "IMG=fromdotenv\nTAG=1\n", "other.env": "IMG=other\nTAG=2\n" });
    expect((await load(d)).project.services.s!.image).toBe("fromdotenv:1");
    expect((await load(d, { env: { TAG: "proc" } })).project.services.s!.image).toBe("fromdotenv:proc");
    expect((await load(d, { envFiles: [join(d, "other.env")] })).project.services.s!.image).toBe("other:2");
    expect(await fails(d, { envFiles: [join(d, "missing.env")] })).toBe(`couldn't find env file: ${join(d, "missing.env")}`);
  });
});

describe("interpolation", () => {
  const env = { SET: "v", EMPTY: "" };
  const image = async (expr: string, e: Record<string, string> = env) => {
    const d = dir({ "compose.yaml": `services:\n  s:\n    image: "${expr}"\n` });
    const r = await load(d, { env: e });
    return [r.project.services.s!.image, r.warnings] as const;
  };
  test("every form", async () => {
    expect((await image("$SET ${SET}"))[0]).toBe("v v");
    expect((await image("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}|"))[0]).toBe("d d |");
    expect((await image("${SET:+alt} ${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}|"))[0]).toBe("alt |alt||");
    expect((await image("$$SET $${SET}"))[0]).toBe("$SET ${SET}");
    expect((await image("${UNSET:-${SET}-${ALSO:-x}}"))[0]).toBe("v-x");
    expect((await image("${SET:?boom}"))[0]).toBe("v");
  });
  test("an unset variable warns once and becomes empty", async () => {
    const [value, warnings] = await image("a${NOPE}b${NOPE}");
    expect(value).toBe("ab");
    expect(warnings).toEqual(['The "NOPE" variable is not set. Defaulting to a blank string.']);
  });
  test("compose's errors with the path", async () => {
    const d = (expr: string) => dir({ "compose.yaml": `services:\n  web:\n    image: "${expr}"\n` });
    expect(await fails(d("${EMPTY:?must be set}"), { env })).toBe("error while interpolating services.web.image: required variable EMPTY is missing a value: must be set");
    expect(await fails(d("${UNSET?}"), { env })).toBe("error while interpolating services.web.image: required variable UNSET is missing a value");
    expect(await fails(d("${ bad}"), { env })).toBe('invalid interpolation format for services.web.image.\nYou may need to escape any $ with another $.\n${ bad}');
  });
  test("typed fields are cast after substitution", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    read_only: ${RO}\n    scale: ${N}\n" });
    const s = (await load(d, { env: { RO: "true", N: "1" } })).project.services.s!;
    expect([s.read_only, s.scale]).toEqual([true, 1]);
  });
  test("--no-interpolate keeps the text", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: ${IMG:-x}\n" });
    expect((await load(d, { interpolate: false })).project.services.s!.image).toBe("${IMG:-x}");
  });
});

describe("extends and include", () => {
  test("extends in the same file and from another file (its paths relative to it), recursively", async () => {
    const d = dir({
      "compose.yaml": "services:\n  base:\n    image: b\n    environment: {A: '1'}\n  mid:\n    extends: base\n    environment: {B: '2'}\n  web:\n    extends: {service: mid}\n    environment: {C: '3'}\n  other:\n    extends: {file: lib/common.yaml, service: common}\n",
      "lib/common.yaml": "services:\n  common:\n    image: c\n    volumes: ['./data:/data']\n    env_file: common.env\n",
      "lib/common.env": "FROM_FILE=yes\n",
    });
    const { project } = await load(d);
    expect(project.services.web!.environment).toEqual({ A: "1", B: "2", C: "3" });
    expect(project.services.web!.image).toBe("b");
    expect(project.services.other!.volumes![0]!.source).toBe(join(d, "lib/data"));
    expect(project.services.other!.environment).toEqual({ FROM_FILE: "yes" });
  });
  test("an extends cycle and an unknown base are refused", async () => {
    const d = dir({ "compose.yaml": "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n" });
    expect(await fails(d)).toBe(`Circular reference:\n  a in ${join(d, "compose.yaml")}\n  extends b in ${join(d, "compose.yaml")}\n  extends a in ${join(d, "compose.yaml")}`);
    const e = dir({ "compose.yaml": "services:\n  a:\n    extends: nope\n" });
    expect(await fails(e)).toBe(`cannot extend service "a" in ${join(e, "compose.yaml")}: service "nope" not found`);
  });
  test("include: another project's services, its own directory and env file; the includer wins", async () => {
    const d = dir({
      "compose.yaml": "include:\n  - path: sub/compose.yaml\n    env_file: sub/vars.env\nservices:\n  web:\n    image: web\n    depends_on: [db]\n",
      "sub/compose.yaml": "services:\n  db:\n    image: postgres:${PGV}\n    volumes: ['./init:/init']\n",
      "sub/vars.env": "PGV=16\n",
    });
    const { project } = await load(d);
    expect(project.services.db!.image).toBe("postgres:16");
    expect(project.services.db!.volumes![0]!.source).toBe(join(d, "sub/init"));
    expect(Object.keys(project.services)).toEqual(["db", "web"]);
  });
  test("an include cycle is refused", async () => {
    const d = dir({ "compose.yaml": "include: [a.yaml]\nservices: {}\n", "a.yaml": "include: [compose.yaml]\n" });
    expect(await fails(d)).toBe(`include cycle detected:\n${join(d, "compose.yaml")}\n include ${join(d, "a.yaml")}\n include ${join(d, "compose.yaml")}`);
  });
});

describe("YAML", () => {
  test("anchors, aliases and merge keys, the first of `<<: [*a, *b]` winning and local keys over both", async () => {
    const d = dir({
      "compose.yaml": `x-a: &a {image: from-a, restart: always, user: a}
x-b: &b {image: from-b, hostname: hb, user: b}
services:
  s:
    <<: [*a, *b]
    user: local
  t:
    <<: *b
    environment: &env {K: v}
  u:
    image: x
    environment: *env
`,
    });
    const { project } = await load(d);
    const s = project.services.s!;
    expect([s.image, s.restart, s.hostname, s.user]).toEqual(["from-a", "always", "hb", "local"]);
    expect(project.services.u!.environment).toEqual({ K: "v" });
    expect(project["x-a"]).toEqual({ image: "from-a", restart: "always", user: "a" });
  });
  test("x- extensions stay at the top level and leave the services", async () => {
    const d = dir({ "compose.yaml": "x-top: 1\nservices:\n  s:\n    image: x\n    x-mine: 2\n" });
    const { project } = await load(d);
    expect(project["x-top"]).toBe(1);
    expect("x-mine" in project.services.s!).toBe(false);
  });
});

describe("validation", () => {
  const bad = async (yaml: string) => {
    const d = dir({ "compose.yaml": yaml });
    return (await fails(d)).replace(`validating ${join(d, "compose.yaml")}: `, "");
  };
  test("schema errors name the path", async () => {
    expect(await bad("services:\n  web:\n    image: x\n    foo: 1\n")).toBe("services.web additional properties 'foo' not allowed");
    expect(await bad("services:\n  web:\n    image: [x]\n")).toBe("services.web.image must be a string");
    expect(await bad("services:\n  web:\n    image: x\n    ports: [true]\n")).toBe("services.web.ports.0 must be a number or string");
    expect(await bad("services:\n  web:\n    image: x\n    environment: 3\n")).toBe("services.web.environment must be a mapping");
    expect(await bad("services:\n  web:\n    image: x\n    volumes: [{target: /x}]\n")).toBe("services.web.volumes.0 missing property 'type'");
    expect(await bad("services:\n  web:\n    image: x\n    depends_on: {db: {condition: up}}\n")).toBe("services.web.depends_on.db.condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'");
    expect(await bad("services:\n  web:\n    image: x\n    healthcheck: {interval: 5 seconds}\n")).toBe("services.web.healthcheck.interval '5 seconds' is not valid 'duration'");
    expect(await bad("networks:\n  n: {foo: 1}\nservices: {}\n")).toBe("networks.n additional properties 'foo' not allowed");
    expect(await bad("services: [a]\n")).toBe("services must be a mapping");
    expect(await bad("helicopters: {}\nservices: {}\n")).toBe(" additional properties 'helicopters' not allowed");
    expect(await bad("- a\n")).toBe("top-level object must be a mapping");
  });
  test("semantic checks: unknown services, undefined resources, cycles, container_name with scale", async () => {
    const err = async (services: string, top = "") => fails(dir({ "compose.yaml": `services:\n${services}${top}` }));
    expect(await err("  web:\n    image: x\n    depends_on: [nope]\n")).toBe('service "web" depends on undefined service "nope": invalid compose project');
    expect(await err("  web:\n    image: x\n    links: [nope]\n")).toBe('service "web" depends on undefined service "nope": invalid compose project');
    expect(await err("  web:\n    image: x\n    networks: [front]\n")).toBe('service "web" refers to undefined network front: invalid compose project');
    expect(await err("  web:\n    image: x\n    volumes: [data:/d]\n")).toBe('service "web" refers to undefined volume data: invalid compose project');
    expect(await err("  web:\n    image: x\n    secrets: [s]\n")).toBe('service "web" refers to undefined secret s: invalid compose project');
    expect(await err("  web:\n    image: x\n    configs: [c]\n")).toBe('service "web" refers to undefined config c: invalid compose project');
    expect(await err("  web:\n    build: {}\n    image: x\n    container_name: w\n    scale: 2\n")).toBe("services.scale: can't set container_name and web as container name must be unique: invalid compose project");
    expect(await err("  web:\n    command: x\n")).toBe('service "web" has neither an image nor a build context specified: invalid compose project');
    expect(await err("  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n")).toBe("dependency cycle detected: a -> b -> c -> a");
  });
});

describe("normalisation", () => {
  test("ports, volumes, environment, env_file, networks, build, secrets, durations, sizes", async () => {
    const d = dir({
      "compose.yaml": `services:
  web:
    build: ./app
    ports: ["3000", "8080:80", "127.0.0.1:9000-9001:90-91/udp", "[::1]:53:53/udp", {target: 443, published: 8443}]
    volumes: ["./html:/usr/share/html:ro,z", "~/cfg:/cfg", "named:/data:nocopy", "/anon", {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]
    environment: [A=1, FROM_ENV, NOT_SET]
    env_file: [web.env, {path: optional.env, required: false}]
    secrets: [token]
    stop_grace_period: 90s
    mem_limit: 1g
    healthcheck: {test: curl -f localhost, interval: 1m}
    restart: always
    pull_policy: if_not_present
  db:
    image: postgres
    network_mode: "service:web"
volumes: {named: {}}
secrets: {token: {file: ./token.txt}}
`,
      "web.env": "A=from-file\nW=1\n",
    });
    const { project } = await load(d, { env: { FROM_ENV: "e" } });
    const web = project.services.web!;
    expect(web.build).toEqual({ context: join(d, "app"), dockerfile: "Dockerfile" });
    expect(web.ports).toEqual([
      { mode: "ingress", target: 3000, protocol: "tcp" },
      { mode: "ingress", target: 80, published: "8080", protocol: "tcp" },
      { mode: "ingress", host_ip: "127.0.0.1", target: 90, published: "9000", protocol: "udp" },
      { mode: "ingress", host_ip: "127.0.0.1", target: 91, published: "9001", protocol: "udp" },
      { mode: "ingress", host_ip: "::1", target: 53, published: "53", protocol: "udp" },
      { mode: "ingress", target: 443, published: "8443", protocol: "tcp" },
    ]);
    expect(web.volumes).toEqual([
      { type: "bind", source: join(d, "html"), target: "/usr/share/html", read_only: true, bind: { selinux: "z" } },
      { type: "bind", source: "/home/u/cfg", target: "/cfg", bind: {} },
      { type: "volume", source: "named", target: "/data", volume: { nocopy: true } },
      { type: "volume", target: "/anon", volume: {} },
      { type: "tmpfs", target: "/tmp", tmpfs: { size: 1048576 } },
    ]);
    expect(web.environment).toEqual({ A: "1", W: "1", FROM_ENV: "e", NOT_SET: null });
    // Kept for `up` (they count in the config hash), `required` printed only when false.
    expect(web.env_file).toEqual([{ path: join(d, "web.env") }, { path: join(d, "optional.env"), required: false }]);
    expect("env_file" in (await load(d, { env: { FROM_ENV: "e" }, discardEnvFiles: true })).project.services.web!).toBe(false);
    expect(web.networks).toEqual({ default: null });
    expect(web.secrets).toEqual([{ source: "token", target: "/run/secrets/token" }]);
    expect([web.stop_grace_period, web.mem_limit, web.healthcheck, web.pull_policy]).toEqual(["1m30s", 1073741824, { test: ["CMD-SHELL", "curl -f localhost"], interval: "1m0s" }, "missing"]);
    expect([web.command, web.entrypoint]).toEqual([null, null]);
    const db = project.services.db!;
    expect(db.networks).toBeUndefined();
    expect(db.depends_on).toEqual({ web: { condition: "service_started", restart: true, required: true } });
    expect(project.networks).toEqual({ default: { name: "myapp_default" } });
    expect(project.volumes).toEqual({ named: { name: "myapp_named" } });
    expect(project.secrets).toEqual({ token: { name: "myapp_token", file: join(d, "token.txt") } });
  });
  test("a required env_file that is missing is an error", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    env_file: gone.env\n" });
    expect(await fails(d)).toBe(`env file ${join(d, "gone.env")} not found: stat ${join(d, "gone.env")}: no such file or directory`);
  });
  test("external resources keep their own name; depends_on long form gets its defaults", async () => {
    const d = dir({ "compose.yaml": "services:\n  a:\n    image: x\n    networks: [ext]\n    depends_on: {b: {condition: service_healthy}}\n  b:\n    image: x\n    network_mode: none\nnetworks:\n  ext: {external: true}\n" });
    const { project } = await load(d);
    expect(project.networks).toEqual({ ext: { name: "ext", external: true } });
    expect(project.services.a!.depends_on).toEqual({ b: { condition: "service_healthy", required: true } });
  });
  test("config output: JSON as compose-go marshals it, YAML in Go's field order", async () => {
    const d = dir({ "compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    mem_limit: 1k\n    ulimits: {nofile: 10}\n    extra_hosts: ['b:2.2.2.2', 'a:1.1.1.1']\n" });
    const project = await loadProject({ workingDir: d, env: {}, warn: () => {} });
    const json = JSON.parse(projectJson(project));
    expect(Object.keys(json)).toEqual(["name", "networks", "services"]);
    // As docker compose's JSON: an empty ipam struct is printed, YAML leaves it out.
    expect(json.networks).toEqual({ default: { name: "myapp_default", ipam: {} } });
    expect(projectYaml(project)).toEndWith("networks:\n  default:\n    name: myapp_default\n");
    expect(json.services.web).toEqual({
      command: null,
      entrypoint: null,
      extra_hosts: ["a=1.1.1.1", "b=2.2.2.2"],
      image: "nginx",
      mem_limit: "1024",
      networks: { default: null },
      ports: [{ mode: "ingress", target: 80, published: "8080", protocol: "tcp" }],
      ulimits: { nofile: 10 },
    });
    expect(projectYaml(project)).toStartWith(`name: myapp\nservices:\n  web:\n    extra_hosts:\n      - a=1.1.1.1\n      - b=2.2.2.2\n    image: nginx\n    mem_limit: "1024"\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n        published: "8080"\n        protocol: tcp\n`);
  });
});

describe("interpolation paths and casts", () => {
  test("list items read `[]` in the path, as compose-go's tree.Path; a failed cast names the type error", async () => {
    const d = dir({ "compose.yaml": 'services:\n  web:\n    image: x\n    ports: ["${P:?port please}"]\n' });
    expect(await fails(d)).toBe("error while interpolating services.web.ports.[]: required variable P is missing a value: port please");
    const b = dir({ "compose.yaml": "services:\n  web:\n    image: x\n    privileged: ${PRIV}\n" });
    expect(await fails(b, { env: { PRIV: "maybe" } })).toBe("error while interpolating services.web.privileged: failed to cast to expected type: invalid boolean: maybe");
  });
});

describe("more checks", () => {
  test("two services with one container_name: compose's CheckContainerNameUnicity", async () => {
    const { checkContainerNames } = await import("../../src/compose/normalize.ts");
    const d = dir({ "compose.yaml": "services:\n  a:\n    image: x\n    container_name: same\n  b:\n    image: x\n    container_name: same\n" });
    const { project } = await load(d);
    expect(() => checkContainerNames(project)).toThrow('services.b: container name "same" is already in use by service a');
  });
  test("without interpolation, short forms holding variables are kept as written", async () => {
    const d = dir({ "compose.yaml": 'services:\n  s:\n    image: x\n    ports: ["${P}:80", "81"]\n    volumes: ["${SRC}:/a"]\n' });
    const s = (await load(d, { interpolate: false })).project.services.s!;
    expect(s.ports).toEqual(["${P}:80" as any, { mode: "ingress", target: 81, protocol: "tcp" }]);
    expect(s.volumes).toEqual([{ type: "volume", source: "${SRC}", target: "/a", volume: {} }]);
  });
  test("a bad short-form port is compose's error", async () => {
    const d = dir({ "compose.yaml": 'services:\n  s:\n    image: x\n    ports: ["80x:80"]\n' });
    expect(await fails(d)).toBe("invalid hostPort: 80x");
  });
  test("a depends_on cycle through a service itself", async () => {
    const d = dir({ "compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [a]\n" });
    expect(await fails(d)).toBe("dependency cycle detected: a -> a");
  });
  test("the version attribute is obsolete: compose's warning, then ignored", async () => {
    const d = dir({ "compose.yaml": "version: '3.8'\nservices:\n  a:\n    image: x\n" });
    const { warnings, project } = await load(d);
    expect(warnings).toEqual([`${join(d, "compose.yaml")}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`]);
    expect("version" in project).toBe(false);
  });
});

describe("where .env is read", () => {
  test("from the working directory (not the directory compose.yaml was found in), and it may name the files", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: ${IMG:-none}\n", ".env": "IMG=parent\n", "sub/.env": "IMG=sub\n", "other/.env": "COMPOSE_FILE=../alt.yaml\n", "alt.yaml": "services:\n  alt:\n    image: x\n" });
    expect((await load(join(d, "sub"))).project.services.s!.image).toBe("sub");
    expect((await load(d)).project.services.s!.image).toBe("parent");
    expect(Object.keys((await load(join(d, "other"))).project.services)).toEqual(["alt"]);
    expect((await load(d, { env: { COMPOSE_DISABLE_ENV_FILE: "true" } })).project.services.s!.image).toBe("none");
  });
  test("with -f, from the first file's directory", async () => {
    const d = dir({ "p/compose.yaml": "services:\n  s:\n    image: ${IMG}\n", "p/.env": "IMG=beside-the-file\n", ".env": "IMG=cwd\n" });
    expect((await load(d, { files: ["p/compose.yaml"] })).project.services.s!.image).toBe("beside-the-file");
  });
});

test("an empty deploy is absent from the project; an empty environment is refused as compose's schema does", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    deploy:\n" });
  expect("deploy" in (await load(d)).project.services.s!).toBe(false);
  const e = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    environment:\n" });
  expect(await fails(e)).toEndWith("services.s.environment must be a mapping");
});

describe("config hash", () => {
  test("docker compose's ServiceHash golden value (pkg/compose/hash_test.go's richServiceFixture)", async () => {
    const { serviceHash } = await import("../../src/compose/output.ts");
    const fixture = {
      image: "nginx:latest",
      command: ["nginx", "-g", "daemon off;"],
      entrypoint: null,
      user: "nobody",
      tty: true,
      stdin_open: true,
      restart: "always",
      environment: { A: "1", B: null },
      labels: { "com.example": "v" },
      annotations: { note: "x" },
      cap_add: ["NET_ADMIN"],
      extra_hosts: { alpha: ["10.0.0.1"] },
      deploy: { replicas: 3, resources: {}, placement: {} },
      ports: [{ target: 80, published: "8080", protocol: "tcp" }],
      healthcheck: { test: ["CMD", "true"] },
      volumes: [{ type: "volume" as const, source: "data", target: "/data" }],
      networks: { default: null },
    };
    expect(serviceHash(fixture)).toBe("75bc312132c71fac4971d123202631b6978ac9d796336621af744d46611b42a2");
    // What the hash leaves out (scale, replicas, build, depends_on, profiles, pull_policy) does not move it.
    expect(serviceHash({ ...fixture, scale: 2, profiles: ["p"], pull_policy: "always", build: { context: "/x" }, depends_on: { db: { condition: "service_started", required: true } }, deploy: { replicas: 1, resources: {}, placement: {} } })).toBe(
      "75bc312132c71fac4971d123202631b6978ac9d796336621af744d46611b42a2",
    );
    expect(serviceHash({ ...fixture, user: "root" })).not.toBe("75bc312132c71fac4971d123202631b6978ac9d796336621af744d46611b42a2");
  });
});

test("label_file: its labels under the service's own, the file not kept", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    label_file: [l.env]\n    labels: {b: own}\n", "l.env": "a=1\nb=file\n" });
  const s = (await load(d)).project.services.s!;
  expect(s.labels).toEqual({ a: "1", b: "own" });
  expect("label_file" in s).toBe(false);
});

test("the name of the files is known to the interpolation of the rest (${COMPOSE_PROJECT_NAME}); the last file's name wins", async () => {
  const d = dir({ "a.yaml": "name: first\nservices:\n  s:\n    image: x\n    hostname: ${COMPOSE_PROJECT_NAME}-host\n", "b.yaml": "name: ${SUFFIX:-second}\n" });
  const { project } = await load(d, { files: ["a.yaml", "b.yaml"] });
  expect(project.name).toBe("second");
  expect(project.services.s!.hostname).toBe("second-host");
  expect((await load(d, { files: ["a.yaml"], projectName: "given" })).project.services.s!.hostname).toBe("given-host");
});

test("file modes written 0440 are octal, as go-yaml reads them; printed back in octal", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    secrets:\n      - source: k\n        mode: 0440\n    configs:\n      - {source: c, mode: 0o644}\n    volumes:\n      - {type: tmpfs, target: /t, tmpfs: {size: 1k, mode: 01777}}\n      - {type: tmpfs, target: /u, tmpfs: {mode: 0755 }}\nsecrets:\n  k: {file: ./k}\nconfigs:\n  c: {file: ./c}\n" });
  const project = await loadProject({ workingDir: d, env: {}, warn: () => {} });
  expect(project.services.s!.secrets![0]!.mode).toBe(0o440);
  expect(project.services.s!.configs![0]!.mode).toBe(0o644);
  expect(JSON.parse(projectJson(project)).services.s.secrets[0].mode).toBe("0440");
  expect(project.services.s!.volumes!.map((v) => v.tmpfs!.mode)).toEqual([0o1777, 0o755]);
});

test("scale and deploy.replicas: distinct values refused, equal ones kept together", async () => {
  const bad = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n" });
  expect(await fails(bad)).toBe("services.s: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project");
  const ok = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    scale: 2\n    deploy: {resources: {limits: {memory: 1m}}}\n" });
  const s = (await load(ok)).project.services.s!;
  expect([s.scale, s.deploy!.replicas]).toEqual([2, 2]);
});

test("models: kept for the orchestration, a service's undefined model refused", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    models: [llm]\nmodels:\n  llm: {model: ai/smollm2}\n" });
  const { project } = await load(d);
  expect(project.models).toEqual({ llm: { model: "ai/smollm2" } });
  expect(Object.keys(JSON.parse(projectJson(project)))).not.toContain("models");
  const bad = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    models: [nope]\n" });
  expect(await fails(bad)).toBe('service "s" refers to undefined model nope: invalid compose project');
});

describe("resources and environment as the docker compose CLI sees them", () => {
  test("resources no enabled service uses are left out, unless allResources (--all-resources)", async () => {
    const d = dir({
      "compose.yaml": "services:\n  a:\n    image: x\n    volumes: [used:/u]\n  b:\n    image: x\n    profiles: [off]\n    networks: [side]\n    volumes: [spare:/s]\n    secrets: [tok]\nnetworks: {side: {}}\nvolumes: {used: {}, spare: {}, idle: {}}\nsecrets: {tok: {file: ./t}}\n",
    });
    const pruned = (await load(d)).project;
    expect([Object.keys(pruned.networks ?? {}), Object.keys(pruned.volumes ?? {}), pruned.secrets]).toEqual([["default"], ["used"], undefined]);
    const all = (await load(d, { allResources: true })).project;
    expect([Object.keys(all.networks ?? {}).sort(), Object.keys(all.volumes ?? {}).sort(), Object.keys(all.secrets ?? {})]).toEqual([["default", "side"], ["idle", "spare", "used"], ["tok"]]);
  });
  test("the .env beside the files fills in what the working directory's .env left unset; PWD; COMPOSE_ENV_FILES", async () => {
    const d = dir({ "compose.yaml": "services:\n  s:\n    image: ${A}-${B}\n    working_dir: ${PWD}\n", ".env": "A=parent\nB=parent\n", "sub/.env": "A=sub\n", "e1.env": "A=e1\n", "e2.env": "B=e2\n" });
    const s = (await load(join(d, "sub"))).project.services.s!;
    expect(s.image).toBe("sub-parent");
    expect(s.working_dir).toBe(join(d, "sub"));
    expect((await load(d, { env: { COMPOSE_ENV_FILES: `${join(d, "e1.env")},${join(d, "e2.env")}` } })).project.services.s!.image).toBe("e1-e2");
  });
});

describe("duplicate keys", () => {
  test("refused with go-yaml's words, as docker compose does", async () => {
    const d = dir({ "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n    image: b\n" });
    expect(await fails(d)).toBe(`failed to parse ${join(d, "compose.yaml")}: yaml: unmarshal errors:\n  line 5: mapping key "image" already defined at line 3`);
    const items = dir({ "compose.yaml": "services:\n  web:\n    image: a\n    volumes:\n      - type: bind\n        source: ./a\n        type: volume\n        target: /a\n" });
    expect(await fails(items)).toEndWith('line 7: mapping key "type" already defined at line 5');
  });
  test("a key written plainly and the same key quoted, spaced, after CRLF, an anchor or nested items is one key", () => {
    const dup = (line: number, key: string, first: number) => `yaml: unmarshal errors:\n  line ${line}: mapping key ${JSON.stringify(key)} already defined at line ${first}`;
    expect(duplicateKeyError("services:\r\n  web:\r\n    image: a\r\n    \"image\": b\r\n")).toBe(dup(4, "image", 3));
    expect(duplicateKeyError("a: 1\n'a': 2\n")).toBe(dup(2, "a", 1));
    expect(duplicateKeyError("x-a: &anchor 1 # note\nx-a : 2\n")).toBe(dup(2, "x-a", 1));
    expect(duplicateKeyError("l:\n  - - k: 1\n      k: 2\n")).toBe(dup(3, "k", 2));
    expect(duplicateKeyError("k: |\n  k: 1\nk: 2\n")).toBe(dup(3, "k", 1));
    expect(duplicateKeyError("a.b-c_d: 1\na.b-c_d:\n")).toBe(dup(2, "a.b-c_d", 1));
    expect(duplicateKeyError("a:b: 1\na:b: 2\n")).toBe(dup(2, "a:b", 1));
    expect(duplicateKeyError("s:\n  - k: 1\n  - k: 1\n")).toBeUndefined();
  });
  test("what only looks like a repeated key is not one: block scalars, quoted and flow values, list items, documents", async () => {
    const d = dir({
      "compose.yaml": `x-base: &base
  image: base
services:
  web:
    <<: *base
    command: |
      image: text
      image: text
    entrypoint: ["sh",
      "-c", "image: x"]
    user: "a
      image: b"
    labels: {a: "1"}
    volumes:
      - type: volume
        source: v1
        target: /a
      - type: volume
        source: v2
        target: /b
volumes: {v1: {}, v2: {}}
`,
    });
    const s = (await load(d)).project.services.web!;
    expect([s.image, s.command, s.volumes!.length]).toEqual(["base", ["image:", "text", "image:", "text"], 2]);
  });
});

test("a YAML 1.1 boolean (yes/no/on/off) is read with compose's warning", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    privileged: yes\n    tty: ${TTY}\n" });
  const { project, warnings } = await load(d, { env: { TTY: "off" } });
  expect([project.services.s!.privileged, project.services.s!.tty]).toEqual([true, false]);
  expect(warnings).toEqual(['"yes" for boolean is not supported by YAML 1.2, please use `true`', '"off" for boolean is not supported by YAML 1.2, please use `false`']);
});

test("env_file format: raw takes values as written (the docker CLI's --env-file); an unknown format is refused", async () => {
  const d = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    env_file: [{path: r.env, format: raw}]\n", "r.env": "# c\nA=\"quoted\" $HOME\nB= spaced \nHOME\n" });
  expect((await load(d)).project.services.s!.environment).toEqual({ A: '"quoted" $HOME', B: " spaced ", HOME: "/home/u" });
  const bad = dir({ "compose.yaml": "services:\n  s:\n    image: x\n    env_file: [{path: r.env, format: toml}]\n", "r.env": "A=1\n" });
  expect(await fails(bad)).toBe('unsupported env_file format "toml"');
});

test("extends from another file: its errors name both files", async () => {
  const d = dir({ "compose.yaml": "services:\n  a:\n    extends: {file: base.yaml, service: nope}\n", "base.yaml": "services:\n  b:\n    image: x\n", "empty.yaml": "networks: {}\n" });
  expect(await fails(d)).toBe(`cannot extend service "a" in ${join(d, "compose.yaml")}: service "nope" not found in ${join(d, "base.yaml")}`);
  writeFileSync(join(d, "compose.yaml"), "services:\n  a:\n    extends: {file: empty.yaml, service: b}\n");
  expect(await fails(d)).toBe(`cannot extend service "a" in ${join(d, "empty.yaml")}: no services section`);
});
