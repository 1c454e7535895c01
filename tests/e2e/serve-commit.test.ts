/**
 * commit, export and import through `bunker serve` with real clients: the docker CLI 28
 * (/usr/local/bin/docker commit/export/import), docker-py (container.commit(), api.import_image_from_data)
 * and docker-compose 1.29 recreating a changed service (it reads the image's ContainerConfig, which moby
 * dropped at API 1.45: without it compose fails with KeyError and leaves the old container renamed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, freshDataRoot, waitForDaemon } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { gnuTarExtract, listTree, tar } from "../helpers/tar-writer.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER);
const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;
const hasCompose = Bun.spawnSync(["sh", "-c", "command -v docker-compose"]).exitCode === 0;

let reg: Registry;
let dir: string;
let sock: string;
let cli: ReturnType<typeof dockerCli>;
let daemon: Subprocess<"ignore", "pipe", "pipe">;

const docker = (args: string[]) => cli.run([DOCKER, ...args]);

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-commit-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  cli = dockerCli(sock, dir);
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", freshDataRoot(), "--registry-mirror", reg.url], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  await waitForDaemon(sock);
  await cli.dockerOk(["pull", "-q", "alpine"]);
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  await cli.docker(["rm", "-f", "dc1", "dc2", "pyc"]);
  if (hasCompose) await cli.run(["docker-compose", "-p", "bkcompose", "down"], { cwd: join(dir, "compose") });
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("docker CLI 28", () => {
  test("docker commit: -a -m -c, the ID on stdout, the files and config in a new container", async () => {
    await cli.dockerOk(["run", "--name", "dc1", "alpine", "sh", "-c", "echo cli > /made; rm /etc/group"]);
    const id = (await cli.dockerOk(["commit", "-a", "A <a@b>", "-m", "from docker", "-c", "ENV X=1", "-c", "CMD [\"cat\", \"/made\"]", "dc1", "cli-snap:1"])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await cli.dockerOk(["run", "--rm", "cli-snap:1"])).toBe("cli\n");
    expect((await cli.docker(["run", "--rm", "cli-snap:1", "ls", "/etc/group"])).code).not.toBe(0);
    expect((await cli.dockerOk(["image", "inspect", "-f", "{{.Author}}|{{json .Config.Env}}", "cli-snap:1"])).trim()).toMatch(/^A <a@b>\|\[.*"X=1".*\]$/);
    expect((await cli.dockerOk(["history", "--format", "{{.Comment}}", "cli-snap:1"])).split("\n")[0]).toBe("from docker");
    const bad = await cli.docker(["commit", "-c", "ADD x y", "dc1"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("Error response from daemon: add is not a valid change command\n");
  });

  test("docker export | docker import -: the same tree, a one-layer image", async () => {
    const first = join(dir, "e1.tar");
    await Bun.write(first, "");
    const out = Bun.spawn([DOCKER, "export", "dc1"], { stdout: Bun.file(first), env: { PATH: process.env.PATH!, HOME: dir, DOCKER_HOST: `unix://${sock}` } });
    expect(await out.exited).toBe(0);
    const imp = Bun.spawn([DOCKER, "import", "-m", "via cli", "-", "cli-import:1"], { stdin: Bun.file(first), stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH!, HOME: dir, DOCKER_HOST: `unix://${sock}` } });
    const id = await new Response(imp.stdout).text();
    expect(await imp.exited).toBe(0);
    expect(id).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await cli.dockerOk(["image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Comment}}", "cli-import:1"])).trim()).toBe("1 via cli");
    await cli.dockerOk(["create", "--name", "dc2", "cli-import:1", "true"]);
    const second = join(dir, "e2.tar");
    await cli.dockerOk(["export", "-o", second, "dc2"]);
    const [x, y] = [join(dir, "ex"), join(dir, "ey")];
    mkdirSync(x);
    mkdirSync(y);
    gnuTarExtract(first, x);
    gnuTarExtract(second, y);
    const [tx, ty] = [listTree(x), listTree(y)];
    delete tx["."];
    delete ty["."];
    expect(tx["made"]).toBeDefined();
    expect(tx["etc/group"]).toBeUndefined();
    expect(ty).toEqual(tx);
  });

  test("image inspect: ContainerConfig and Container below API 1.45 only", async () => {
    const id = (await cli.dockerOk(["image", "inspect", "-f", "{{.Id}}", "cli-snap:1"])).trim();
    const container = (await cli.dockerOk(["inspect", "-f", "{{.Id}}", "dc1"])).trim();
    const old = await cli.run(["curl", "-s", "--unix-socket", sock, `http://x/v1.44/images/${id}/json`]);
    const legacy = JSON.parse(old.stdout);
    expect(legacy.Container).toBe(container);
    expect(legacy.ContainerConfig.Cmd).toEqual(["sh", "-c", "echo cli > /made; rm /etc/group"]);
    const now = JSON.parse((await cli.run(["curl", "-s", "--unix-socket", sock, `http://x/v1.50/images/${id}/json`])).stdout);
    expect(now.Container).toBeUndefined();
    expect(now.ContainerConfig).toBeUndefined();
  });
});

describe.skipIf(!ready || !existsSync("/usr/bin/docker"))("docker CLI 20.10 (API 1.41)", () => {
  test("docker commit -p=false and docker import of an export", async () => {
    const old = (args: string[]) => cli.docker(args, { bin: "/usr/bin/docker" });
    const c = await old(["commit", "-p=false", "-c", "USER nobody", "dc1", "old-cli:1"]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await old(["image", "inspect", "-f", "{{.Config.User}} {{.Container}}", "old-cli:1"])).stdout.trim()).toBe(`nobody ${(await cli.dockerOk(["inspect", "-f", "{{.Id}}", "dc1"])).trim()}`);
    const tarFile = join(dir, "old.tar");
    expect((await old(["export", "-o", tarFile, "dc1"])).code).toBe(0);
    const imp = await old(["import", "-c", "CMD [\"cat\", \"/made\"]", tarFile, "old-import:1"]);
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await cli.dockerOk(["run", "--rm", "old-import:1"])).toBe("cli\n");
  });
});

describe.skipIf(!ready || !hasPython)("docker-py", () => {
  test("container.commit() and api.import_image_from_data()", async () => {
    const script = join(dir, "commit.py");
    writeFileSync(
      script,
      `import sys, json, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
r = {}
ctr = c.containers.run("alpine", ["sh", "-c", "echo py > /py"], name="pyc", detach=True)
ctr.wait()
img = ctr.commit(repository="py-snap", tag="1", message="py msg", author="py", changes=["LABEL k=v"])
r["tags"] = img.tags
r["label"] = img.labels.get("k")
r["out"] = c.containers.run("py-snap:1", ["cat", "/py"], remove=True).decode()
res = c.api.import_image_from_data(bytes.fromhex(sys.argv[2]), repository="py-import", tag="1")
r["import"] = json.loads(res.strip().split("\\n")[-1])["status"].startswith("sha256:")
r["layers"] = len(c.images.get("py-import:1").attrs["RootFS"]["Layers"])
print(json.dumps(r))
`,
    );
    const data = Buffer.from(tar([{ name: "hello", data: "from py\n" }])).toString("hex");
    const p = await cli.run(["python3", script, sock, data]);
    if (p.code !== 0) throw new Error(`docker-py script failed (${p.code}):\n${p.stderr}`);
    expect(JSON.parse(p.stdout)).toEqual({ tags: ["py-snap:1"], label: "v", out: "py\n", import: true, layers: 1 });
  }, 120_000);
});

describe.skipIf(!ready || !hasCompose)("docker-compose 1.29", () => {
  test("recreating a changed service replaces the container and leaves nothing renamed behind", async () => {
    const cwd = join(dir, "compose");
    mkdirSync(cwd, { recursive: true });
    const file = (v: string) => writeFileSync(join(cwd, "docker-compose.yml"), `version: "3"\nservices:\n  web:\n    image: alpine\n    command: ["sleep", "300"]\n    stop_grace_period: 1s\n    environment:\n      - V=${v}\n`);
    const compose = async (args: string[]) => {
      const r = await cli.run(["docker-compose", "-p", "bkcompose", ...args], { cwd });
      if (r.code !== 0) throw new Error(`docker-compose ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    file("1");
    await compose(["up", "-d"]);
    const before = (await cli.dockerOk(["inspect", "-f", "{{.Id}}", "bkcompose_web_1"])).trim();
    file("2");
    const up = await compose(["up", "-d"]);
    expect(up.stderr).toContain("Recreating");
    const names = (await cli.dockerOk(["ps", "-a", "--filter", "label=com.docker.compose.project=bkcompose", "--format", "{{.Names}} {{.State}}"])).trim().split("\n");
    expect(names).toEqual(["bkcompose_web_1 running"]);
    expect((await cli.dockerOk(["inspect", "-f", "{{.Id}}", "bkcompose_web_1"])).trim()).not.toBe(before);
    expect((await cli.dockerOk(["exec", "bkcompose_web_1", "sh", "-c", "echo $V"])).trim()).toBe("2");
    await compose(["down"]);
  }, 180_000);
});
