/**
 * `docker cp` and the archive endpoints of `dist/bunker serve`, driven by real clients: the docker CLI 28
 * (/usr/local/bin/docker) and 20.10 (/usr/bin/docker) copy a tree with modes, owners, xattrs, symlinks and
 * hardlinks into a container and back out (and through `-`), compared file by file with the source; their
 * errors are dockerd's; docker-py's put_archive / get_archive round-trip a tar and read the path stat.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, lutimesSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, freshDataRoot, serveAt, tempDir, type Result } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { listTree } from "../helpers/tar-writer.ts";
import { sys } from "../../src/sys/index.ts";

const DOCKER = "/usr/local/bin/docker";
const DOCKER20 = "/usr/bin/docker";
const root = process.getuid?.() === 0;
const hasPython = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;

let reg: Registry;
let sock: string;
let work: string;
let tree: string;
let busybox: string;

async function docker(bin: string, args: string[], stdin?: Uint8Array): Promise<Result & { bytes: Uint8Array }> {
  const proc = Bun.spawn([bin, ...args], {
    stdin: stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, DOCKER_CONFIG: join(work, "docker-config"), DOCKER_HOST: `unix://${sock}` },
    timeout: 120_000,
  });
  const [out, stderr, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: new TextDecoder().decode(out), stderr, bytes: new Uint8Array(out) };
}

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  const dataRoot = freshDataRoot();
  ({ sock } = await serveAt(dataRoot, ["--registry-mirror", reg.url]));
  work = tempDir("bunker-serve-cp-");
  chmodSync(work, 0o755);
  busybox = `${reg.host}/busybox`;
  await bunkerAt(dataRoot, ["--registry-mirror", reg.url]).ok(["-H", `unix://${sock}`, "pull", "-q", busybox]);
  tree = join(work, "tree");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "f"), "hello\n");
  chownSync(join(tree, "f"), 1234, 5678);
  chmodSync(join(tree, "f"), 0o4750);
  sys().lsetxattr(join(tree, "f"), "user.k", new TextEncoder().encode("v"));
  linkSync(join(tree, "f"), join(tree, "sub/hard"));
  symlinkSync("../f", join(tree, "sub/link"));
  for (const p of ["f", "sub", "."]) utimesSync(join(tree, p), 1_700_000_000, 1_700_000_000);
  lutimesSync(join(tree, "sub/link"), 1_700_000_000, 1_700_000_000);
}, 900_000);

afterAll(async () => {
  await reg?.stop();
});

describe.skipIf(!root || !existsSync(DOCKER))("docker cp through bunker serve", () => {
  for (const bin of [DOCKER, DOCKER20].filter((p) => existsSync(p))) {
    test(`${bin}: a tree in and out, as files and as a tar stream; dockerd's errors`, async () => {
      const id = (await docker(bin, ["create", busybox])).stdout.trim();
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect((await docker(bin, ["cp", tree, `${id}:/data`])).code).toBe(0);
      const out = join(work, `out-${bin.replaceAll("/", "_")}`);
      const r = await docker(bin, ["cp", `${id}:/data`, out]);
      expect(r.code).toBe(0);
      // The docker CLI's tar (go-archive) carries security.capability only, no user.* xattrs.
      const want = Object.fromEntries(Object.entries(listTree(tree)).map(([k, v]) => [k, v.replace(" xattr user.k=76", "")]));
      // The CLI extracts without chown: owners are the caller's (root).
      expect(listTree(out)).toEqual(Object.fromEntries(Object.entries(want).map(([k, v]) => [k, v.replace(/ \d+:\d+ /, " 0:0 ")])));
      const streamed = await docker(bin, ["cp", `${id}:/data`, "-"]);
      expect(streamed.code).toBe(0);
      const x = join(out, "..", `x-${bin.replaceAll("/", "_")}`);
      mkdirSync(x);
      expect(Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "--same-owner", "-xpf", "-", "-C", x], { stdin: streamed.bytes }).exitCode).toBe(0);
      expect(listTree(join(x, "data"))).toEqual(want);
      // A tar on stdin into a directory.
      const t = Bun.spawnSync(["tar", "-cf", "-", "-C", tree, "f"]).stdout;
      expect((await docker(bin, ["cp", "-", `${id}:/tmp`], t)).code).toBe(0);
      expect(new TextDecoder().decode((await docker(bin, ["cp", `${id}:/tmp/f`, "-"])).bytes)).toContain("hello\n");
      const missing = await docker(bin, ["cp", `${id}:/nope`, out]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(bin === DOCKER ? `Error response from daemon: Could not find the file /nope in container ${id}\n` : `Error: No such container:path: ${id}:/nope\n`);
      const noCtr = await docker(bin, ["cp", "nosuch:/etc", out]);
      expect(noCtr.code).toBe(1);
      expect(noCtr.stderr).toContain("No such container");
      expect((await docker(bin, ["rm", id])).code).toBe(0);
    });
  }
});

describe.skipIf(!root)("the archive endpoints", () => {
  test("HEAD: X-Docker-Container-Path-Stat as moby encodes it (Go FileMode, RFC 3339 mtime, linkTarget evaluated in the root); 404 and 400", async () => {
    const api = (path: string, init: RequestInit = {}) => fetch(`http://localhost/v1.50${path}`, { unix: sock, ...init } as RequestInit);
    const created = await api("/containers/create", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ Image: busybox }) });
    const { Id } = (await created.json()) as { Id: string };
    const put = await api(`/containers/${Id}/archive?path=/tmp`, { method: "PUT", body: Bun.spawnSync(["tar", "-cf", "-", "-C", tree, "f", "sub"]).stdout });
    expect(put.status).toBe(200);
    const stat = async (p: string) => {
      const r = await api(`/containers/${Id}/archive?path=${encodeURIComponent(p)}`, { method: "HEAD" });
      const h = r.headers.get("x-docker-container-path-stat");
      return { status: r.status, stat: h ? JSON.parse(Buffer.from(h, "base64").toString()) : null };
    };
    expect(await stat("/tmp/sub/link")).toEqual({ status: 200, stat: { name: "link", size: 4, mode: (1 << 27) + 0o777, mtime: "2023-11-14T22:13:20Z", linkTarget: "/tmp/f" } });
    expect(await stat("/tmp/f")).toEqual({ status: 200, stat: { name: "f", size: 6, mode: (1 << 23) + 0o750, mtime: "2023-11-14T22:13:20Z", linkTarget: "" } });
    expect((await stat("/tmp/sub/")).stat).toMatchObject({ name: "sub", mode: 2 ** 31 + 0o755 });
    expect((await stat("/nope")).status).toBe(404);
    const empty = await api(`/containers/${Id}/archive?path=`);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { message: string }).message).toBe("path cannot be empty");
    const notDir = await api(`/containers/${Id}/archive?path=/tmp/f`, { method: "PUT", body: new Uint8Array(1024) });
    expect(notDir.status).toBe(400);
    expect(((await notDir.json()) as { message: string }).message).toBe("extraction point is not a directory");
    await (await api(`/containers/${Id}/archive?path=/tmp/f`)).arrayBuffer();
    // moby's container events for the copies.
    const until = Math.ceil(Date.now() / 1000) + 1;
    const ev = await api(`/events?since=0&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: [Id] }))}`);
    const actions = (await ev.text()).trim().split("\n").map((l) => JSON.parse(l).Action);
    expect(actions).toEqual(["create", "extract-to-dir", "archive-path"]);
    expect((await api(`/containers/${Id}?force=1`, { method: "DELETE" })).status).toBe(204);
  });
});

describe.skipIf(!root || !hasPython)("docker-py put_archive / get_archive", () => {
  test("a tar in, the same files out, the path stat as dockerd's", async () => {
    const script = join(work, "cp.py");
    writeFileSync(
      script,
      `import docker, io, sys, tarfile
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
ctr = c.containers.create(sys.argv[2])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    info = tarfile.TarInfo("hello.txt"); data = b"from python\\n"; info.size = len(data); info.mode = 0o600; info.uid = 7; info.gid = 8
    t.addfile(info, io.BytesIO(data))
    d = tarfile.TarInfo("dir"); d.type = tarfile.DIRTYPE; d.mode = 0o751
    t.addfile(d)
assert ctr.put_archive("/tmp", buf.getvalue())
bits, stat = ctr.get_archive("/tmp/hello.txt")
got = io.BytesIO(b"".join(bits))
with tarfile.open(fileobj=got) as t:
    m = t.getmember("hello.txt")
    print(m.uid, m.gid, oct(m.mode), t.extractfile(m).read().decode().strip())
print(stat["name"], stat["size"], oct(stat["mode"]), stat["linkTarget"] == "")
_, dstat = ctr.get_archive("/tmp/dir")
print(dstat["name"], dstat["mode"] & 0x80000000 != 0, oct(dstat["mode"] & 0o777))
try:
    ctr.get_archive("/nope")
except docker.errors.NotFound as e:
    print("404", e.explanation)
ctr.remove()
`,
    );
    const p = Bun.spawn(["python3", script, sock, busybox], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`docker-py script failed (${code}):\n${err}`);
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("7 8 0o600 from python");
    expect(lines[1]).toBe("hello.txt 12 0o600 True");
    expect(lines[2]).toBe("dir True 0o751");
    expect(lines[3]).toMatch(/^404 Could not find the file \/nope in container [0-9a-f]{64}$/);
  });
});
