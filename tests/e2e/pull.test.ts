/**
 * Pulling against the real registry (Debian's docker-registry on 127.0.0.1) with the compiled binary:
 * every test image's merged view against GNU tar, the three auth modes, corruption, kill -9 mid-pull,
 * a stopped registry, concurrent pulls sharing layers, and rmi leaving the layer store empty.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunkerAt, freshDataRoot, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { expectedRootfs, treeListing } from "../helpers/oracle.ts";

const root = process.getuid?.() === 0;
let testbed: Awaited<ReturnType<typeof ensureTestbed>>;
let reg: Registry;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  testbed = await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  cleanups.push(() => reg.stop());
}, 900_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Layer directories in a data root (overlay2 entries but the l/ link dir). */
function layerDirs(dataRoot: string): string[] {
  const d = join(dataRoot, "overlay2");
  return existsSync(d) ? readdirSync(d).filter((n) => n !== "l") : [];
}
function rows(dataRoot: string, table: string): number {
  const db = new Database(join(dataRoot, "bunker.db"), { readonly: true });
  try {
    return (db.query(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Mounts the image's layers read-only with overlayfs and lists the merged tree. */
async function mergedListing(b: ReturnType<typeof bunkerAt>, ref: string): Promise<string[]> {
  const info = JSON.parse(await b.ok(["image", "inspect", ref]))[0];
  const data = info.GraphDriver.Data;
  const dirs = [data.UpperDir, ...(data.LowerDir ? data.LowerDir.split(":") : [])];
  if (dirs.length === 1) return treeListing(dirs[0]);
  const mnt = mkdtempSync(join(tmpdir(), "bunker-merged-"));
  const m = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", `ro,lowerdir=${dirs.join(":")}`, mnt]);
  if (m.exitCode !== 0) throw new Error(`mount: ${m.stderr}`);
  try {
    return await treeListing(mnt);
  } finally {
    // A listing that just finished can keep the mount busy for a moment: retry, then detach it lazily. Only
    // the empty mount point is removed, never anything that could still be the mounted tree.
    for (let i = 0; i < 50 && Bun.spawnSync(["umount", mnt]).exitCode !== 0; i++) await Bun.sleep(20);
    if (readFileSync("/proc/mounts", "utf8").includes(` ${mnt} `)) Bun.spawnSync(["umount", "-l", mnt]);
    rmdirSync(mnt);
  }
}

describe.skipIf(!root)("pull from the real registry", () => {
  test("official names through --registry-mirror, as Docker prints it", async () => {
    const b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
    const r = await b.run(["pull", "ubuntu"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("Using default tag: latest");
    expect(lines[1]).toBe("latest: Pulling from library/ubuntu");
    expect(lines).toContainEqual(expect.stringMatching(/^[0-9a-f]{12}: Pull complete$/));
    expect(lines.at(-3)).toMatch(/^Digest: sha256:[0-9a-f]{64}$/);
    expect(lines.at(-2)).toBe("Status: Downloaded newer image for ubuntu:latest");
    expect(lines.at(-1)).toBe("docker.io/library/ubuntu:latest");
    // Again: nothing to download.
    const again = await b.ok(["pull", "ubuntu"]);
    expect(again).toContain("Status: Image is up to date for ubuntu:latest");
    expect(again).not.toContain("Pull complete");
    // -q prints only the reference.
    expect(await b.ok(["pull", "-q", "ubuntu"])).toBe("docker.io/library/ubuntu:latest\n");
  });

  test("every test image's merged view equals GNU tar plus the whiteout rules", async () => {
    const b = bunkerAt(freshDataRoot());
    const names = ["busybox:latest", "busybox:v2s2", "debian:bookworm", "redis:latest", "nginx:latest", "torture:latest", "nomediatype:latest", "multi:index", "multi:list"];
    for (const name of names) {
      const ref = `${reg.host}/${name}`;
      await b.ok(["pull", ref]);
      const oracle = mkdtempSync(join(tmpdir(), "bunker-oracle-"));
      try {
        const [repo, tag] = name.split(":");
        const info = testbed.image(repo!, tag!);
        // multi:index is pulled for the host's platform (amd64).
        await expectedRootfs(info.layout, info.layoutRef, oracle);
        const want = await treeListing(oracle);
        const got = await mergedListing(b, ref);
        expect({ name, tree: got }).toEqual({ name, tree: want });
      } finally {
        rmSync(oracle, { recursive: true, force: true });
      }
    }
  }, 600_000);

  test("by digest, with --platform, and an unknown platform", async () => {
    const b = bunkerAt(freshDataRoot());
    const digest = testbed.image("busybox", "latest").digest;
    const out = await b.ok(["pull", `${reg.host}/busybox@${digest}`]);
    expect(out).toContain(`Digest: ${digest}`);
    expect(out.trim().split("\n").at(-1)).toBe(`${reg.host}/busybox@${digest}`);
    const inspected = JSON.parse(await b.ok(["image", "inspect", `${reg.host}/busybox@${digest}`]))[0];
    expect(inspected.RepoDigests).toContain(`${reg.host}/busybox@${digest}`);

    await b.ok(["pull", "--platform", "linux/arm64", `${reg.host}/multi:index`]);
    expect(JSON.parse(await b.ok(["image", "inspect", `${reg.host}/multi:index`]))[0].Architecture).toBe("arm64");
    const bad = await b.run(["pull", "--platform", "linux/s390x", `${reg.host}/multi:list`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("no matching manifest for linux/s390x in the manifest list entries");
  });

  test("Docker's errors for bad names, unknown repositories and tags", async () => {
    const b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
    const upper = await b.run(["pull", "Ubuntu"]);
    expect(upper.code).toBe(1);
    expect(upper.stderr).toContain("invalid reference format: repository name (library/Ubuntu) must be lowercase");
    const missing = await b.run(["pull", `${reg.host}/nope`]);
    expect(missing.code).toBe(1);
    // registry:2 answers MANIFEST_UNKNOWN for an unknown repository, and dockerd words it so.
    expect(missing.stderr).toBe(`Error response from daemon: manifest for ${reg.host}/nope:latest not found: manifest unknown: manifest unknown\n`);
    const tag = await b.run(["pull", `${reg.host}/busybox:nope`]);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toContain(`manifest for ${reg.host}/busybox:nope not found: manifest unknown`);
    expect(layerDirs(b.dataRoot)).toEqual([]);
  });

  test("basic auth: refused without credentials, pulls after login", async () => {
    const basic = await startRegistry({ auth: "basic" });
    try {
      const cfg = tempDir("bunker-dockercfg-");
      const b = bunkerAt(freshDataRoot(), [], { DOCKER_CONFIG: cfg });
      const denied = await b.run(["pull", `${basic.host}/busybox`]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain("Error response from daemon:");
      const login = await b.run(["login", "-u", basic.username!, "--password-stdin", basic.host], { stdin: `${basic.password}\n` });
      expect(login.stdout).toContain("Login Succeeded");
      expect(JSON.parse(readFileSync(join(cfg, "config.json"), "utf8")).auths[basic.host].auth).toBe(btoa(`${basic.username}:${basic.password}`));
      await b.ok(["pull", `${basic.host}/busybox`]);
      await b.ok(["logout", basic.host]);
      expect(JSON.parse(readFileSync(join(cfg, "config.json"), "utf8")).auths[basic.host]).toBeUndefined();
    } finally {
      await basic.stop();
    }
  });

  test("Bearer token auth with credentials: refused anonymously, pulls after login", async () => {
    const token = await startRegistry({ auth: "token", anonymous: false });
    try {
      const cfg = tempDir("bunker-dockercfg-");
      const b = bunkerAt(freshDataRoot(), [], { DOCKER_CONFIG: cfg });
      const denied = await b.run(["pull", `${token.host}/busybox`]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain(`pull access denied for ${token.host}/busybox`);
      expect((await b.run(["login", "-u", token.username!, "--password-stdin", token.host], { stdin: `${token.password}\n` })).stdout).toContain("Login Succeeded");
      await b.ok(["pull", `${token.host}/busybox`]);
    } finally {
      await token.stop();
    }
  });

  test("--all-tags pulls every tag of a repository; a terminal gets per-layer progress lines", async () => {
    const b = bunkerAt(freshDataRoot());
    const out = await b.ok(["pull", "--all-tags", `${reg.host}/busybox`]);
    expect(out).toContain(`Pulling all tags of ${reg.host}/busybox`);
    expect((await b.ok(["images", "--format", "{{.Tag}}", `${reg.host}/busybox`])).trim().split("\n").sort()).toEqual(["latest", "v2s2"]);
    const bad = await b.run(["pull", "-a", `${reg.host}/busybox:latest`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("tag can't be used with --all-tags/-a");
    // On a terminal (script(1) gives one) layer lines are redrawn in place with cursor movements.
    const cmd = `'${join(import.meta.dir, "../../dist/bunker")}' ${(await b.prefix()).map((a) => `'${a}'`).join(" ")} pull ${reg.host}/debian:bookworm`;
    const tty = Bun.spawnSync(["script", "-qfec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe" });
    const text = tty.stdout.toString();
    expect(tty.exitCode).toBe(0);
    expect(text).toContain("\x1b[");
    expect(text).toMatch(/Downloading \[=*>? *\]/);
  });

  test("Bearer token auth as Docker Hub does it, anonymous and through a mirror", async () => {
    const token = await startRegistry({ auth: "token" });
    try {
      const b = bunkerAt(freshDataRoot(), ["--registry-mirror", token.url]);
      await b.ok(["pull", `${token.host}/busybox`]);
      await b.ok(["pull", "alpine"]);
      expect(await b.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])).toContain("alpine:latest");
    } finally {
      await token.stop();
    }
  });

  test("a corrupt blob fails the pull and stores nothing", async () => {
    const copy = await startRegistry({ auth: "none", storage: "copy" });
    try {
      const layer = testbed.image("busybox", "latest").layers![0]!;
      const hex = layer.digest.slice(7);
      const blob = join(copy.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
      const bytes = readFileSync(blob);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(blob, bytes);
      const b = bunkerAt(freshDataRoot());
      const r = await b.run(["pull", `${copy.host}/busybox`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/digest|checksum|gzip|invalid/i);
      expect(layerDirs(b.dataRoot)).toEqual([]);
      expect(rows(b.dataRoot, "layers")).toBe(0);
      expect(rows(b.dataRoot, "images")).toBe(0);
      expect((await b.ok(["images", "-q"])).trim()).toBe("");
    } finally {
      await copy.stop();
    }
  });

  test("kill -9 mid-pull leaves no half image, and the next pull completes", async () => {
    const b = bunkerAt(freshDataRoot());
    const ref = `${reg.host}/debian:bookworm`;
    const p = await b.spawn(["pull", ref]);
    // Wait until a layer is being unpacked, then kill.
    const tmp = join(b.dataRoot, "tmp");
    for (let i = 0; i < 400 && !(existsSync(tmp) && readdirSync(tmp).length); i++) await Bun.sleep(10);
    await Bun.sleep(150);
    p.kill(9);
    await p.exited;
    expect(rows(b.dataRoot, "images")).toBe(0);
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
    const out = await b.ok(["pull", ref]);
    expect(out).toContain("Status: Downloaded newer image");
    expect((await b.ok(["images", "-q"])).trim()).toMatch(/^[0-9a-f]{12}$/);
    await b.ok(["rmi", ref]);
    expect(layerDirs(b.dataRoot)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("two processes pulling images that share layers unpack each layer once", async () => {
    const b = bunkerAt(freshDataRoot());
    const [r1, r2] = await Promise.all([b.run(["pull", `${reg.host}/redis:latest`]), b.run(["pull", `${reg.host}/nginx:latest`])]);
    expect({ code: r1.code, stderr: r1.stderr }).toEqual({ code: 0, stderr: "" });
    expect({ code: r2.code, stderr: r2.stderr }).toEqual({ code: 0, stderr: "" });
    const base = testbed.image("debian", "bookworm").layers![0]!.digest.slice(7, 19);
    const completes = [r1.stdout, r2.stdout].join("\n").split("\n").filter((l) => l === `${base}: Pull complete`);
    expect(completes.length).toBe(1);
    expect(layerDirs(b.dataRoot).length).toBe(rows(b.dataRoot, "layers"));
    expect(rows(b.dataRoot, "layers")).toBe(3);
  });

  test("a second pull with the registry stopped succeeds from the store", async () => {
    // Addressed directly, not as a docker.io mirror: a failing mirror falls through to Docker Hub, and
    // tests reach nothing beyond loopback.
    const own = await startRegistry({ auth: "none" });
    const b = bunkerAt(freshDataRoot());
    await b.ok(["pull", `${own.host}/busybox`]);
    await own.stop();
    const r = await b.run(["pull", `${own.host}/busybox`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Image is up to date for ${own.host}/busybox:latest`);
    // An image we never had cannot come from the store.
    const never = await b.run(["pull", `${own.host}/nginx`]);
    expect(never.code).toBe(1);
    expect(never.stderr).toContain(`dial tcp ${own.host}: connect: connection refused`);
  });

  test("rmi of every image leaves the layer store empty", async () => {
    const b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
    for (const n of ["ubuntu", "nginx", "alpine", "redis"]) await b.ok(["pull", n]);
    expect(rows(b.dataRoot, "layers")).toBeGreaterThan(0);
    const ids = (await b.ok(["images", "-q"])).trim().split("\n");
    const out = await b.ok(["rmi", "-f", ...ids]);
    expect(out).toContain("Untagged: ubuntu:latest");
    expect(out).toMatch(/Deleted: sha256:[0-9a-f]{64}/);
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
    expect(layerDirs(b.dataRoot)).toEqual([]);
    expect(readdirSync(join(b.dataRoot, "overlay2", "l"))).toEqual([]);
    expect(rows(b.dataRoot, "layers")).toBe(0);
    expect(rows(b.dataRoot, "tags")).toBe(0);
    expect(rows(b.dataRoot, "digests")).toBe(0);
  });
});

