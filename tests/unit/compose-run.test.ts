/**
 * The pure parts of compose's orchestration (src/compose/): the config hash, a service as create options
 * (names, labels, networks, every refusal by name), depends_on levels, and the log prefixes.
 */
import { describe, expect, test } from "bun:test";
import { serviceHash } from "../../src/compose/output.ts";
import { containerPlan, type PlanContext } from "../../src/compose/convert.ts";
import { shellSplit } from "../../src/compose/canonical.ts";
import { dependencyLevels, withDependencies, withDependents } from "../../src/compose/graph.ts";
import { LogPrinter, shortName } from "../../src/compose/logs.ts";
import type { Project, ServiceConfig } from "../../src/compose/model.ts";

const svc = (s: Partial<ServiceConfig>): ServiceConfig => ({ command: null, entrypoint: null, image: "busybox", ...s });
const project = (services: Record<string, ServiceConfig>, extra: Partial<Project> = {}): Project => ({ name: "p", services, networks: { default: { name: "p_default" } }, ...extra });
const ctx = (p: Project, extra: Partial<PlanContext> = {}): PlanContext => ({ project: p, origin: { workingDir: "/srv/p", composeFiles: ["/srv/p/compose.yaml"] }, number: 1, hash: "h", serviceContainer: (s) => `id-of-${s}`, ...extra });
const plan = (s: ServiceConfig, p = project({ web: s }), extra: Partial<PlanContext> = {}) => containerPlan({ ...s, name: "web" }, ctx(p, extra));

describe("config hash", () => {
  test("the same for the same configuration in another key order, different when a container setting changes", () => {
    const a = svc({ environment: { A: "1", B: "2" }, labels: { x: "y" } });
    const b = { labels: { x: "y" }, environment: { B: "2", A: "1" }, image: "busybox", entrypoint: null, command: null } as ServiceConfig;
    expect(serviceHash(a)).toBe(serviceHash(b));
    expect(serviceHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(serviceHash(svc({ environment: { A: "2", B: "2" }, labels: { x: "y" } }))).not.toBe(serviceHash(a));
  });

  test("leaves out what does not change a container: build, pull_policy, scale, replicas, depends_on, profiles", () => {
    const base = svc({ deploy: { resources: {}, placement: {} } });
    const moved = svc({ build: { context: "/x" }, pull_policy: "always", scale: 3, profiles: ["a"], depends_on: { db: { required: true } }, deploy: { replicas: 4, resources: {}, placement: {} } });
    expect(serviceHash(moved)).toBe(serviceHash(base));
  });
});

describe("a service as create options", () => {
  test("compose v2's name, labels and network aliases", () => {
    const { options, extraNetworks } = plan(svc({ depends_on: { db: { condition: "service_healthy", required: true, restart: true } }, networks: { default: null } }), project({ web: svc({}), db: svc({}) }), { number: 2, imageId: "sha256:abc" });
    expect(options.name).toBe("p-web-2");
    expect(options.labels).toEqual({
      "com.docker.compose.project": "p",
      "com.docker.compose.service": "web",
      "com.docker.compose.container-number": "2",
      "com.docker.compose.oneoff": "False",
      "com.docker.compose.config-hash": "h",
      "com.docker.compose.depends_on": "db:service_healthy:true",
      "com.docker.compose.version": expect.stringMatching(/^2\.\d+\.\d+$/),
      "com.docker.compose.project.working_dir": "/srv/p",
      "com.docker.compose.project.config_files": "/srv/p/compose.yaml",
      "com.docker.compose.image": "sha256:abc",
    });
    expect([options.networkMode, options.networkAliases]).toEqual(["p_default", ["p-web-2", "web"]]);
    expect(extraNetworks).toEqual([]);
  });

  test("networks by priority: the first on create, the others connected before start", () => {
    const p = project({}, { networks: { front: { name: "p_front" }, back: { name: "custom-back" } } });
    const { options, extraNetworks } = plan(svc({ networks: { front: { aliases: ["www"] }, back: { priority: 10, ipv4_address: "10.1.0.5" } } }), p);
    expect([options.networkMode, options.ipv4Address]).toEqual(["custom-back", "10.1.0.5"]);
    expect(extraNetworks).toEqual([{ network: "p_front", aliases: ["p-web-1", "web", "www"] }]);
  });

  test("service: modes name the other service's first container", () => {
    const { options } = plan(svc({ network_mode: "service:db", pid: "service:db", volumes_from: ["db:ro", "container:other"] }));
    expect([options.networkMode, options.pidMode, options.volumesFrom]).toEqual(["container:id-of-db", "container:id-of-db", ["id-of-db:ro", "other"]]);
  });

  test("durations, sizes, limits and restart policies in the engine's units", () => {
    const { options } = plan(
      svc({ healthcheck: { test: ["CMD-SHELL", "true"], interval: "1m30s", timeout: "500ms", retries: 2 }, stop_grace_period: "1m", shm_size: 1048576, restart: "on-failure:3", deploy: { resources: { limits: { cpus: 1.5, memory: 1073741824, pids: 10 } }, placement: {} } }),
    );
    expect(options.healthcheck).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 90e9, Timeout: 5e8, Retries: 2 });
    expect([options.stopTimeout, options.shmSize, options.restart]).toEqual([60, 1048576, { Name: "on-failure", MaximumRetryCount: 3 }]);
    expect(options.resources).toEqual({ NanoCpus: 1.5e9, Memory: 1073741824, PidsLimit: 10 });
    expect(plan(svc({ blkio_config: { weight: 300 } })).options.resources).toEqual({ BlkioWeight: 300 });
  });

  test("volumes: binds that may create their source as -v, the rest as mounts; secrets bind-mounted read-only", () => {
    const p = project({}, { volumes: { data: { name: "p_data" } }, secrets: { tok: { file: "/srv/p/tok" } } });
    const { options } = plan(
      svc({
        volumes: [
          { type: "bind", source: "/srv/p/conf", target: "/conf", read_only: true },
          { type: "bind", source: "/srv/p/x", target: "/x", bind: { create_host_path: false } },
          { type: "volume", source: "data", target: "/data" },
          { type: "volume", target: "/anon" },
          { type: "tmpfs", target: "/t", tmpfs: { size: 4096 } },
        ],
        secrets: [{ source: "tok" }],
      }),
      p,
    );
    expect(options.binds).toEqual(["/srv/p/conf:/conf:ro"]);
    expect(options.mounts).toEqual([
      { Type: "bind", Source: "/srv/p/x", Target: "/x", ReadOnly: false },
      { Type: "volume", Source: "p_data", Target: "/data", ReadOnly: false },
      { Type: "volume", Target: "/anon", ReadOnly: false },
      { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 4096 } },
      { Type: "bind", Source: "/srv/p/tok", Target: "/run/secrets/tok", ReadOnly: true },
    ]);
  });

  test("what the engine cannot apply is refused, naming it", () => {
    const refused: [Partial<ServiceConfig>, string][] = [
      [{ storage_opt: { size: "1G" } }, "storage_opt is not supported"],
      [{ userns_mode: "host" }, "userns_mode is not supported"],
      [{ blkio_config: { weight: 10, device_read_bps: [{ path: "/dev/sda", rate: 1 }] } }, "blkio_config.device_read_bps is not supported"],
      [{ deploy: { labels: { a: "b" }, resources: {}, placement: {} } }, "deploy.labels is not supported"],
      [{ deploy: { resources: { reservations: { memory: 1 } }, placement: {} } }, "deploy.resources.reservations is not supported"],
      [{ deploy: { resources: {}, placement: { constraints: ["x"] } } }, "deploy.placement is not supported"],
      [{ mem_reservation: 1024 }, "mem_reservation is not supported"],
      [{ volumes: [{ type: "npipe", source: "x", target: "/x" }] }, "volumes of type npipe are not supported"],
      [{ networks: { default: { ipv6_address: "::1" } } }, "only aliases, ipv4_address, mac_address and priority"],
      [{ ports: [{ target: 80, mode: "overlay" }] }, "ports mode overlay is not supported"],
    ];
    for (const [s, message] of refused) expect(() => plan(svc(s))).toThrow(message);
    const p = project({}, { secrets: { env: { environment: "TOKEN" }, ext: { external: true } } });
    expect(() => plan(svc({ secrets: [{ source: "env" }] }), p)).toThrow('environment variable "TOKEN" required by secret "env" is not set');
    expect(() => plan(svc({ secrets: [{ source: "ext" }] }), p)).toThrow('secret "ext": external secrets are swarm\'s and not supported');
  });

  test("secrets and configs given by environment or content become files written before start", () => {
    const p = project({}, { secrets: { tok: { environment: "TOKEN" } }, configs: { conf: { content: "x=1\n" } } });
    const { files, options } = plan(svc({ secrets: [{ source: "tok", uid: "1000", mode: 0o400 }], configs: [{ source: "conf", target: "/etc/app.conf" }] }), p, { environment: { TOKEN: "s3" } });
    expect(options.mounts).toBeUndefined();
    expect(files.map((f) => [f.path, new TextDecoder().decode(f.data), f.mode, f.uid, f.gid])).toEqual([
      ["/run/secrets/tok", "s3", 0o400, 1000, 0],
      ["/etc/app.conf", "x=1\n", 0o444, 0, 0],
    ]);
  });

  test("commands split as a shell would, without expansion", () => {
    expect(shellSplit(`sh -c 'echo "a b"; exit 1' "x y" a\\ b`)).toEqual(["sh", "-c", 'echo "a b"; exit 1', "x y", "a b"]);
    expect(() => shellSplit("echo 'open")).toThrow("invalid command line string");
  });
});

describe("depends_on", () => {
  const p = project({ web: svc({ depends_on: { db: { required: true }, cache: { required: true } } }), db: svc({}), cache: svc({ depends_on: { db: { required: true } } }), job: svc({}) });
  test("levels in dependency order; closures both ways", () => {
    expect(dependencyLevels(p, Object.keys(p.services))).toEqual([["db", "job"], ["cache"], ["web"]]);
    expect(withDependencies(p, ["web"]).sort()).toEqual(["cache", "db", "web"]);
    expect(withDependents(p, ["cache"]).sort()).toEqual(["cache", "web"]);
  });
  test("links, volumes_from and service: modes are dependencies too", () => {
    const q = project({ a: svc({ network_mode: "service:b", volumes_from: ["c:ro", "container:x"], links: ["d:alias"] }), b: svc({}), c: svc({}), d: svc({}) });
    expect(dependencyLevels(q, ["a", "b", "c", "d"])).toEqual([["b", "c", "d"], ["a"]]);
  });
  test("a cycle is refused", () => {
    const c = project({ a: svc({ depends_on: { b: { required: true } } }), b: svc({ depends_on: { a: { required: true } } }) });
    expect(() => dependencyLevels(c, ["a", "b"])).toThrow("dependency cycle detected");
  });
});

describe("log prefixes", () => {
  test("padded to the longest name plus one, coloured from compose's rainbow, partial lines held", () => {
    let out = "";
    const plain = new LogPrinter({ colour: false, prefix: true, out: (s) => (out += s), err: () => {} });
    plain.register("web-1");
    plain.register("worker-1");
    plain.write("web-1", "stdout", new TextEncoder().encode("a\nb"));
    expect(out).toBe("web-1     | a\n");
    plain.write("web-1", "stdout", "c\n");
    expect(out).toBe("web-1     | a\nweb-1     | bc\n");
    let coloured = "";
    const c = new LogPrinter({ colour: true, prefix: true, out: (s) => (coloured += s), err: () => {} });
    c.write("db-1", "stdout", "x\n");
    expect(coloured).toBe("\x1b[36mdb-1  | \x1b[0mx\n");
    expect(shortName("p", "p-web-1")).toBe("web-1");
    expect(shortName("p", "p_web_1")).toBe("p_web_1");
  });
});
