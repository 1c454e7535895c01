/**
 * Create input is applied or refused, never dropped (issue 10 §10): through the API of `bunker serve`
 * (400 with moby's wording, naming the field) and through the CLI (125): healthchecks, label values that
 * are not strings, resource limits (Memory -5 left a cgroup and a 500 at start), a relative WorkingDir,
 * container and volume names (a 300-character volume name showed mkdir's error with a data root path),
 * and every create field bunker does not apply. The docker CLI's own bodies (zero values everywhere) pass.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { bunkerAt, freshDataRoot, serveAt, removeAllAndStop } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { pushWithHealthcheck } from "../helpers/health-image.ts";

const root = process.getuid?.() === 0;
const DOCKER = "/usr/local/bin/docker";

let reg: Registry;
let dir: string;
let sock: string;
let apiRoot: string;
let daemon: Subprocess<"ignore", "ignore", "ignore"> | undefined;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;

const api = (path: string, init: RequestInit = {}) => fetch(`http://x${path}`, { unix: sock, ...init } as RequestInit);
const post = (path: string, body?: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

/** POST /containers/create: the status and the error message (or the new ID). */
async function create(body: Record<string, unknown>, name?: string): Promise<[number, string]> {
  const r = await post(`/containers/create${name !== undefined ? `?name=${encodeURIComponent(name)}` : ""}`, { Image: "busybox", Cmd: ["true"], ...body });
  const j = (await r.json()) as { message?: string; Id?: string };
  return [r.status, j.message ?? j.Id ?? ""];
}
const hc = (h: Record<string, unknown>) => ({ HostConfig: { NetworkMode: "none", ...h } });
const count = async () => ((await (await api("/containers/json?all=1")).json()) as unknown[]).length;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-validation-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  apiRoot = freshDataRoot();
  ({ daemon } = await serveAt(apiRoot, ["--registry-mirror", reg.url], { sock }));
  const pull = await api("/images/create?fromImage=busybox&tag=latest", { method: "POST" });
  await pull.text();
  expect(pull.status).toBe(200);
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  busybox = `${reg.host}/busybox`;
  await b.ok(["pull", "-q", busybox]);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  try {
    const list = (await (await api("/containers/json?all=1")).json()) as { Id: string }[];
    for (const c of list) await api(`/containers/${c.Id}?force=1&v=1`, { method: "DELETE" });
  } catch {}
  daemon?.kill("SIGTERM");
  await daemon?.exited;
  await removeAllAndStop(b, reg);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)("create validation through the API", () => {
  test("Healthcheck: moby's validation (400), a check or NONE accepted", async () => {
    expect(await create({ Healthcheck: { Test: ["CMD", "true"], Interval: 5e5 } })).toEqual([400, "Interval in Healthcheck cannot be less than 1ms"]);
    expect(await create({ Healthcheck: { Test: ["CMD", "true"], Timeout: 1 } })).toEqual([400, "Timeout in Healthcheck cannot be less than 1ms"]);
    expect(await create({ Healthcheck: { Test: ["CMD", "true"], Retries: -1 } })).toEqual([400, "Retries in Healthcheck cannot be negative"]);
    expect(await create({ Healthcheck: { Test: ["CMD", "true"], StartPeriod: -1 } })).toEqual([400, "StartPeriod in Healthcheck cannot be less than 1ms"]);
    expect(await create({ Healthcheck: { Test: ["CMD", "true"], StartInterval: 10 } })).toEqual([400, "StartInterval in Healthcheck cannot be less than 1ms"]);
    expect((await create({ Healthcheck: { Test: "CMD true" } }))[0]).toBe(400); // not a []string
    expect((await create({ Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 2e9 }, ...hc({}) }))[0]).toBe(201);
    expect((await create({ Healthcheck: { Test: ["NONE"] }, ...hc({}) }))[0]).toBe(201);
    expect((await create({ Healthcheck: { Test: null, Interval: 0 }, ...hc({}) }))[0]).toBe(201);
    // StartInterval came with API 1.44: an older client's is dropped, as moby does
    const old = (await (await post("/v1.43/containers/create", { Image: "busybox", Cmd: ["true"], ...hc({}), Healthcheck: { Test: ["CMD", "true"], StartInterval: 2e9, Interval: 3e9 } })).json()) as { Id: string };
    const info = (await (await api(`/containers/${old.Id}/json`)).json()) as { Config: { Healthcheck: object } };
    expect(info.Config.Healthcheck).toEqual({ Test: ["CMD", "true"], Interval: 3e9 });
  });

  test("label values must be strings, StopTimeout an int, as Go decodes them", async () => {
    const before = await count();
    expect(await create({ Labels: { a: 1 } })).toEqual([400, "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Config.Labels of type string"]);
    expect(await create({ Labels: { a: { b: "c" } } })).toEqual([400, "invalid JSON: json: cannot unmarshal object into Go struct field CreateRequest.Config.Labels of type string"]);
    expect(await create({ Labels: ["a"] })).toEqual([400, "invalid JSON: json: cannot unmarshal array into Go struct field CreateRequest.Config.Labels of type map[string]string"]);
    expect(await create({ StopTimeout: "10" })).toEqual([400, "invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Config.StopTimeout of type int"]);
    expect(await count()).toBe(before);
  });

  test("resources: moby's checks at create, nothing created", async () => {
    const before = await count();
    expect(await create(hc({ Memory: -5 }))).toEqual([400, "Minimum memory limit allowed is 6MB"]);
    expect(await create(hc({ Memory: 1024 }))).toEqual([400, "Minimum memory limit allowed is 6MB"]);
    expect(await create(hc({ CpuShares: -1 }))).toEqual([400, "invalid CPU shares (-1): value must be a positive integer"]);
    expect((await create(hc({ NanoCpus: -1 })))[0]).toBe(400);
    expect(await create(hc({ MemorySwap: 64 << 20 }))).toEqual([400, "You should always set the Memory limit when using Memoryswap limit, see usage"]);
    expect(await create(hc({ ShmSize: -1 }))).toEqual([400, "SHM size can not be less than 0"]);
    expect(await create(hc({ Memory: "64m" }))).toEqual([400, "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64"]);
    expect(await count()).toBe(before);
  });

  test("WorkingDir must be absolute (and is cleaned); Env names must not be empty; Hostname at most 64 bytes", async () => {
    expect(await create({ WorkingDir: "rel/dir" })).toEqual([400, "the working directory 'rel/dir' is invalid, it needs to be an absolute path"]);
    expect(await create({ Env: ["=foo"] })).toEqual([400, "invalid environment variable: =foo"]);
    expect(await create({ Hostname: "h".repeat(65) })).toEqual([400, `hostname "${"h".repeat(65)}" is too long (maximum 64 bytes)`]);
    const [code, id] = await create({ WorkingDir: "/a//b/", ...hc({}) });
    expect(code).toBe(201);
    expect(((await (await api(`/containers/${id}/json`)).json()) as { Config: { WorkingDir: string } }).Config.WorkingDir).toBe("/a/b");
  });

  test("RestartPolicy and json-file log options: moby's checks; options bunker does not apply refused", async () => {
    const before = await count();
    expect(await create(hc({ RestartPolicy: { Name: "always", MaximumRetryCount: 3 } }))).toEqual([400, "invalid restart policy: maximum retry count can only be used with 'on-failure'"]);
    expect(await create(hc({ RestartPolicy: { Name: "on-failure", MaximumRetryCount: -1 } }))).toEqual([400, "invalid restart policy: maximum retry count cannot be negative"]);
    expect(await create(hc({ LogConfig: { Type: "json-file", Config: { foo: "bar" } } }))).toEqual([400, "unknown log opt 'foo' for json-file log driver"]);
    expect(await create(hc({ LogConfig: { Type: "json-file", Config: { compress: "true" } } }))).toEqual([400, "invalid option: HostConfig.LogConfig.Config: log opt 'compress' is not supported by bunker"]);
    expect(await create(hc({ LogConfig: { Type: "json-file", Config: { "max-file": "0" } } }))).toEqual([400, "max-file cannot be less than 1"]);
    expect(await create(hc({ LogConfig: { Type: "json-file", Config: { "max-size": "lots" } } }))).toEqual([400, "invalid size: 'lots'"]);
    expect(await count()).toBe(before);
    expect((await create(hc({ LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "2" } } })))[0]).toBe(201);
  });

  test("the platform parameter: an image of another platform is not found (so clients pull it); a bad one is refused", async () => {
    const host = process.arch === "arm64" ? "linux/arm64" : "linux/amd64";
    const other = process.arch === "arm64" ? "linux/amd64" : "linux/arm64";
    const r = await post(`/containers/create?platform=${encodeURIComponent(other)}`, { Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    expect(r.status).toBe(404);
    expect(((await r.json()) as { message: string }).message).toBe(`image with reference busybox was found but its platform (${host}) does not match the specified platform (${other})`);
    const bad = await post(`/containers/create?platform=linux`, { Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    expect(bad.status).toBe(400);
    expect((await post(`/containers/create?platform=${encodeURIComponent(host)}`, { Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } })).status).toBe(201);
  });

  test("container names: empty is a random name; moby's pattern otherwise; rename to empty refused", async () => {
    const [code, id] = await create(hc({}), "");
    expect(code).toBe(201);
    const name = ((await (await api(`/containers/${id}/json`)).json()) as { Name: string }).Name;
    expect(name).toMatch(/^\/[a-z]+_[a-z]+$/);
    for (const bad of ["a", "-abc", "a b", "a/b", "_x"]) expect(await create(hc({}), bad)).toEqual([400, `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`]);
    const r = await post(`/containers/${id}/rename?name=`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toBe("Neither old nor new names may be empty");
  });

  test("volume names: moby's pattern, and a bound so no internal path shows; label values are strings", async () => {
    const long = "v".repeat(300);
    for (const res of [await post("/volumes/create", { Name: long }), await post("/containers/create", { Image: "busybox", HostConfig: { Binds: [`${long}:/data`], NetworkMode: "none" } })]) {
      expect(res.status).toBe(400);
      const msg = ((await res.json()) as { message: string }).message;
      expect(msg).toContain("volume name is too long");
      expect(msg).not.toContain(apiRoot);
    }
    const num = await post("/volumes/create", { Name: "numlabel", Labels: { a: 1 } });
    expect(num.status).toBe(400);
    expect(((await num.json()) as { message: string }).message).toBe("invalid JSON: json: cannot unmarshal number into Go struct field CreateOptions.Labels of type string");
    const bad = await post("/volumes/create", { Name: "x$y" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe(`create x$y: "x$y" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  });

  test("fields bunker does not apply are refused by name; their zero values pass", async () => {
    const before = await count();
    const cases: [Record<string, unknown>, string][] = [
      [{ Domainname: "example.org" }, "Config.Domainname"],
      [{ OnBuild: ["RUN true"] }, "Config.OnBuild"],
      [hc({ CpuRealtimeRuntime: 950 }), "HostConfig.CpuRealtimeRuntime"],
      [hc({ BlkioDeviceReadBps: [{ Path: "/dev/sda", Rate: 1024 }] }), "HostConfig.BlkioDeviceReadBps"],
      [hc({ MemoryReservation: 64 << 20 }), "HostConfig.MemoryReservation"],
      [hc({ MemorySwappiness: 10 }), "HostConfig.MemorySwappiness"],
      [hc({ KernelMemory: 64 << 20 }), "HostConfig.KernelMemory"],
      [hc({ CgroupParent: "/x" }), "HostConfig.CgroupParent"],
      [hc({ Annotations: { a: "b" } }), "HostConfig.Annotations"],
      [hc({ StorageOpt: { size: "1G" } }), "HostConfig.StorageOpt"],
    ];
    for (const [body, field] of cases) {
      const [code, msg] = await create(body);
      expect([code, msg]).toEqual([400, expect.stringContaining(`invalid option: ${field} is not supported by bunker`)]);
    }
    // A runtime other than runc and device requests (--gpus): dockerd's own refusals, as with only runc and no device driver.
    expect(await create(hc({ Runtime: "runsc" }))).toEqual([400, "unknown or invalid runtime name: runsc"]);
    expect(await create(hc({ DeviceRequests: [{ Count: -1, Capabilities: [["gpu"]] }] }))).toEqual([400, 'could not select device driver "" with capabilities: [[gpu]]']);
    expect(await count()).toBe(before);
    // What the docker CLI sends for a plain `docker create`: every field, zero.
    const zero = {
      Domainname: "", OnBuild: null, StdinOnce: false,
      HostConfig: {
        NetworkMode: "none", ContainerIDFile: "", IpcMode: "", PidMode: "", UTSMode: "", UsernsMode: "", Cgroup: "", CgroupParent: "", Runtime: "", Isolation: "",
        OomScoreAdj: 0, ConsoleSize: [0, 0], VolumeDriver: "", VolumesFrom: null, GroupAdd: null, Annotations: null, StorageOpt: null,
        BlkioWeight: 0, BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [],
        CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: "", CpusetMems: "", DeviceRequests: null,
        MemoryReservation: 0, MemorySwappiness: null, OomKillDisable: null, CpuCount: 0, CpuPercent: 0, IOMaximumIOps: 0, IOMaximumBandwidth: 0,
      },
    };
    expect((await create(zero))[0]).toBe(201);
    expect((await create({ HostConfig: { ...zero.HostConfig, IpcMode: "private", UsernsMode: "host", Isolation: "default", MemorySwappiness: -1 } }))[0]).toBe(201);
  });

  test.skipIf(!existsSync(DOCKER))("the docker CLI: --health-* checked by the CLI and the daemon, --no-healthcheck and --name '' pass", async () => {
    const docker = (...args: string[]) => Bun.spawnSync([DOCKER, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${sock}` }, stdout: "pipe", stderr: "pipe" });
    const bad = docker("run", "--rm", "--network", "none", "--health-cmd", "true", "--health-interval", "500us", "busybox", "true");
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr.toString()).toContain("Interval in Healthcheck cannot be less than 1ms");
    expect(docker("create", "--network", "none", "--health-cmd", "true", "--health-interval", "2s", "busybox").exitCode).toBe(0);
    expect(docker("create", "--network", "none", "--no-healthcheck", "--name", "", "busybox").exitCode).toBe(0);
  });
});

describe.skipIf(!root)("an image with a HEALTHCHECK", () => {
  test("its check is the container's (Config.Healthcheck) and runs: a short run ends unhealthy, as moby's monitor leaves it", async () => {
    const own = await pushWithHealthcheck(reg, { Test: ["CMD-SHELL", "exit 1"], Interval: 1e9 });
    try {
      const image = `${own.host}/busybox:hc`;
      expect(((await b.run(["pull", "-q", image])).code)).toBe(0);
      const out = await b.run(["run", "--name", "hc", "--network", "none", image, "echo", "ran"]);
      expect([out.code, out.stdout]).toEqual([0, "ran\n"]);
      const info = JSON.parse(await b.ok(["inspect", "hc"]))[0];
      expect(info.Config.Healthcheck).toEqual({ Test: ["CMD-SHELL", "exit 1"], Interval: 1e9 });
      expect(info.State.Health).toEqual({ Status: "unhealthy", FailingStreak: 0, Log: [] });
      await b.ok(["rm", "hc"]);
      await b.ok(["rmi", image]);
    } finally {
      await own.stop();
    }
  });
});

describe.skipIf(!root)("create validation through the CLI", () => {
  const err = async (...args: string[]) => {
    const r = await b.run(args);
    return [r.code, r.stderr.trim().split("\n")[0]];
  };

  test("--health-*: the docker CLI's and moby's checks (125); --no-healthcheck accepted", async () => {
    expect(await err("create", "--health-interval", "-1s", busybox)).toEqual([125, "--health-interval cannot be negative"]);
    expect(await err("create", "--health-start-period", "-1s", busybox)).toEqual([125, "--health-start-period cannot be negative"]);
    expect(await err("create", "--health-timeout", "100us", busybox)).toEqual([125, expect.stringContaining("Timeout in Healthcheck cannot be less than 1ms")]);
    expect(await err("create", "--health-retries", "-2", "--health-cmd", "true", busybox)).toEqual([125, expect.stringContaining("Retries in Healthcheck cannot be negative")]);
    expect(await err("create", "--no-healthcheck", "--health-cmd", "true", busybox)).toEqual([125, "--no-healthcheck conflicts with --health-* options"]);
    const id = (await b.ok(["create", "--network", "none", "--no-healthcheck", busybox])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(await b.ok(["inspect", "-f", "{{json .Config.Healthcheck}}", id]))).toEqual({ Test: ["NONE"] });
  });

  test("--name '' is a random name; a bad name is moby's error", async () => {
    const id = (await b.ok(["create", "--network", "none", "--name", "", busybox])).trim();
    expect((await b.ok(["inspect", "--format", "{{.Name}}", id])).trim()).toMatch(/^\/[a-z]+_[a-z]+$/);
    expect(await err("create", "--name", "x", busybox)).toEqual([125, expect.stringContaining("Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]);
  });

  test("-w relative, --cpu-shares -1, -e =x: moby's errors (125)", async () => {
    expect(await err("create", "-w", "rel", busybox)).toEqual([125, expect.stringContaining("the working directory 'rel' is invalid, it needs to be an absolute path")]);
    expect(await err("create", "--cpu-shares", "-1", busybox)).toEqual([125, expect.stringContaining("invalid CPU shares (-1): value must be a positive integer")]);
    expect(await err("create", "-e", "=x", busybox)).toEqual([125, expect.stringContaining("invalid environment variable: =x")]);
  });

  test("--log-opt: unknown and unsupported options refused (125)", async () => {
    expect(await err("create", "--log-opt", "tag=x", busybox)).toEqual([125, expect.stringContaining("log opt 'tag' is not supported by bunker")]);
    expect(await err("create", "--log-opt", "nope=x", busybox)).toEqual([125, expect.stringContaining("unknown log opt 'nope' for json-file log driver")]);
  });

  test("--platform: a stored image of another platform is not used; the asked one is pulled", async () => {
    const multi = `${reg.host}/multi:index`;
    await b.ok(["pull", "-q", multi]); // the host's (amd64)
    const id = (await b.ok(["create", "-q", "--platform", "linux/arm64", "--network", "none", multi, "true"])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const image = (await b.ok(["inspect", "--format", "{{.Image}}", id])).trim();
    expect(JSON.parse(await b.ok(["image", "inspect", image]))[0].Architecture).toBe("arm64");
    await b.ok(["rm", id]);
  });

  test("a 300-character volume name: refused without an internal path", async () => {
    const long = "v".repeat(300);
    for (const args of [["volume", "create", long], ["create", "-v", `${long}:/data`, busybox]]) {
      const r = await b.run(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("volume name is too long");
      expect(r.stderr).not.toContain(b.dataRoot);
    }
  });
});
