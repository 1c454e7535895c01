/**
 * save and load through `bunker serve`, driven by the docker CLI 28 (GET /images/get, POST /images/load) and
 * docker-py (`image.save()`, `images.load()`, GET /images/{name}/get), against images pulled from the real
 * registry; the archives round trip with their image IDs and tags, and a hostile one is refused with no image.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freshDataRoot, serveAt, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { tar as rawTar } from "../helpers/tar-writer.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const root = process.getuid?.() === 0;
const hasPy = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;
const ready = root && existsSync(DOCKER);

let reg: Registry;
let dir: string;
let server: Awaited<ReturnType<typeof serveAt>>;
let cli: ReturnType<typeof dockerCli>;

const idOf = async (name: string) => (await cli.dockerOk(["image", "inspect", "-f", "{{.Id}}", name])).trim();

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = tempDir("bunker-serve-saveload-");
  chmodSync(dir, 0o755);
  server = await serveAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  cli = dockerCli(server.sock, dir);
  await cli.dockerOk(["pull", "-q", "busybox"]);
  await cli.dockerOk(["pull", "-q", "nginx"]);
}, 900_000);
afterAll(async () => {
  server?.daemon.kill();
  await reg?.stop();
});

describe.skipIf(!ready)("docker CLI 28", () => {
  test("docker save -o, docker rmi, docker load -i: same IDs and tags", async () => {
    const ids = [await idOf("busybox"), await idOf("nginx")];
    const out = join(dir, "cli.tar");
    await cli.dockerOk(["save", "-o", out, "busybox", "nginx"]);
    const manifest = JSON.parse(Bun.spawnSync(["tar", "-xOf", out, "manifest.json"]).stdout.toString());
    expect(manifest.map((m: any) => m.RepoTags[0])).toEqual(["busybox:latest", "nginx:latest"]);
    await cli.dockerOk(["rmi", "busybox", "nginx"]);
    const r = await cli.docker(["load", "-i", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Loaded image: busybox:latest\nLoaded image: nginx:latest\n");
    expect([await idOf("busybox"), await idOf("nginx")]).toEqual(ids);
  });

  test("docker save to a pipe, docker load from stdin; docker's errors", async () => {
    const proc = Bun.spawn([DOCKER, "save", "busybox"], { stdout: "pipe", env: cli.env() });
    const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    const path = join(dir, "pipe.tar");
    writeFileSync(path, bytes);
    const loaded = await cli.docker(["load"], { stdin: Bun.file(path) });
    expect(loaded.stdout).toBe("Loaded image: busybox:latest\n");
    const missing = await cli.docker(["save", "-o", join(dir, "x.tar"), "nosuchimage"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No such image: nosuchimage");
    const evil = join(dir, "evil.tar");
    writeFileSync(evil, rawTar([{ name: "../../evil", data: "x" }]));
    const bad = await cli.docker(["load", "-i", evil]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('archive member "../../evil" is outside the archive\'s root');
  });
});

describe.skipIf(!ready || !hasPy)("docker-py", () => {
  test("image.save() and images.load() round trip; GET /images/{name}/get", async () => {
    const id = await idOf("nginx");
    const out = join(dir, "py.tar");
    const script = `
import docker, sys
c = docker.DockerClient(base_url="unix://${server.sock}")
img = c.images.get("nginx")
with open("${out}", "wb") as f:
    for chunk in img.save(named=True):
        f.write(chunk)
c.images.remove("nginx")
with open("${out}", "rb") as f:
    loaded = c.images.load(f.read())
print(loaded[0].id, loaded[0].tags)
`;
    const r = Bun.spawnSync(["python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString().trim()).toBe(`${id} ['nginx:latest']`);
    const res = await server.api("/v1.43/images/nginx/get");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-tar");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(readFileSync(out)));
  });
});
