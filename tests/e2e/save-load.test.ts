/**
 * save and load against images pulled from the real registry: archives read by skopeo (docker-archive: and
 * oci-archive:), skopeo's archives loaded, round trips keeping image IDs and tags, stdin/stdout, gzip, old
 * layers without a tar-split record, hostile and corrupt archives, kill -9 mid-load.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BUNKER, bunkerAt, DAEMON_MODE, freshDataRoot, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { tar as rawTar, type RawMember } from "../helpers/tar-writer.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let dir: string;

const sh = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};
const sha256 = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const idOf = async (name: string) => (await b.ok(["image", "inspect", "-f", "{{.Id}}", name])).trim();
/** Members of a tar file by name (small archives only). */
const members = (path: string) => sh(["tar", "-tf", path]).trim().split("\n");
const extract = (path: string, member: string) => Bun.spawnSync(["tar", "-xOf", path, member], { stdout: "pipe" }).stdout;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  dir = tempDir("bunker-saveload-");
  for (const n of ["busybox", "nginx"]) await b.ok(["pull", "-q", n]);
  // The torture image (hardlinks, long names, xattrs, whiteouts) is pushed outside library/.
  await b.ok(["pull", "-q", `${reg.host}/torture`]);
  await b.ok(["tag", `${reg.host}/torture`, "torture"]);
}, 900_000);
afterAll(async () => reg?.stop());

describe.skipIf(!root)("save", () => {
  test("writes Docker's legacy layout and an OCI layout in one tarball, layers stored once by diff ID", async () => {
    const out = join(dir, "two.tar");
    await b.ok(["save", "-o", out, "torture", "nginx"]);
    const names = members(out);
    for (const m of ["manifest.json", "index.json", "oci-layout", "repositories"]) expect(names).toContain(m);
    const manifest = JSON.parse(extract(out, "manifest.json").toString());
    expect(manifest.map((m: any) => m.RepoTags)).toEqual([["torture:latest"], ["nginx:latest"]]);
    for (const m of manifest) {
      const config = JSON.parse(extract(out, m.Config).toString());
      expect(`sha256:${m.Config.split("/").pop()}`).toBe(sha256(extract(out, m.Config)));
      // Each layer blob is the uncompressed tar: its hash is its name and the config's diff ID.
      expect(m.Layers.map((l: string) => `sha256:${l.split("/").pop()}`)).toEqual(config.rootfs.diff_ids);
      for (const l of m.Layers) expect(sha256(extract(out, l))).toBe(`sha256:${l.split("/").pop()}`);
      expect(`sha256:${m.Config.split("/").pop()}`).toBe(await idOf(m.RepoTags[0]));
    }
    expect(names.filter((n) => n.startsWith("blobs/sha256/")).length).toBe(new Set(names.filter((n) => n.startsWith("blobs/sha256/"))).size);
    const index = JSON.parse(extract(out, "index.json").toString());
    expect(index.manifests.map((d: any) => d.annotations["io.containerd.image.name"])).toEqual(["docker.io/library/torture:latest", "docker.io/library/nginx:latest"]);
    expect(index.manifests.map((d: any) => d.annotations["org.opencontainers.image.ref.name"])).toEqual(["latest", "latest"]);
    expect(JSON.parse(extract(out, "repositories").toString()).nginx.latest).toMatch(/^[0-9a-f]{64}$/);
  });

  test("the same bytes whatever the reader: save -o (one reused buffer), small BYOB buffers, a plain reader", async () => {
    const out = join(dir, "readers.tar");
    await b.ok(["save", "-o", out, "torture", "busybox"]);
    const want = new Uint8Array(readFileSync(out));
    const { openEngine } = await import("../../src/commands/_engine.ts");
    const { saveImages } = await import("../../src/engine/archive/save.ts");
    const engine = await openEngine({ "data-root": b.dataRoot } as never);
    // Buffers smaller than a tar header, than a member, and one not a multiple of 512: pieces cut anywhere.
    for (const size of [100, 700, 65536 + 13]) {
      const reader = saveImages(engine, ["torture", "busybox"]).getReader({ mode: "byob" });
      const parts: Uint8Array[] = [];
      let buffer = new Uint8Array(size);
      for (;;) {
        const { done, value } = await reader.read(buffer);
        if (done) break;
        parts.push(value.slice());
        buffer = new Uint8Array(value.buffer);
      }
      expect(sha256(Buffer.concat(parts))).toBe(sha256(want));
    }
    expect(sha256(new Uint8Array(await new Response(saveImages(engine, ["torture", "busybox"])).arrayBuffer()))).toBe(sha256(want));
  });

  test("skopeo reads it as docker-archive: and oci-archive:, and copies it out with the same image ID", async () => {
    const out = join(dir, "skopeo-in.tar");
    await b.ok(["save", "-o", out, "torture"]);
    const id = await idOf("torture");
    const docker = JSON.parse(sh(["skopeo", "inspect", `docker-archive:${out}`]));
    expect(docker.Layers).toHaveLength(5);
    const oci = JSON.parse(sh(["skopeo", "inspect", "--raw", `oci-archive:${out}:latest`]));
    expect(oci.config.digest).toBe(id);
    const layout = join(dir, "skopeo-out");
    sh(["skopeo", "copy", "-q", `docker-archive:${out}`, `oci:${layout}:x`]);
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    const m = JSON.parse(readFileSync(join(layout, "blobs/sha256", index.manifests[0].digest.slice(7)), "utf8"));
    expect(m.config.digest).toBe(id);
  });

  test("to stdout when it is not a terminal; several names, tags and IDs; docker's errors", async () => {
    const proc = Bun.spawn([BUNKER, ...(await b.prefix()), "save", "busybox", (await idOf("nginx")).slice(7, 19)], { stdout: "pipe", stderr: "pipe" });
    const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    const path = join(dir, "stdout.tar");
    writeFileSync(path, bytes);
    const manifest = JSON.parse(extract(path, "manifest.json").toString());
    expect(manifest[0].RepoTags).toEqual(["busybox:latest"]);
    expect(manifest[1].RepoTags).toBeNull(); // saved by ID: untagged, as docker
    const missing = await b.run(["save", "-o", join(dir, "missing.tar"), "nosuchimage"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No such image: nosuchimage:latest");
    expect(existsSync(join(dir, "missing.tar"))).toBe(false);
    const noArgs = await b.run(["save"]);
    expect(noArgs.code).toBe(1);
    expect(noArgs.stderr).toContain("'bunker save' requires at least 1 argument");
    // On a terminal, docker refuses (script(1) gives the command a pty).
    const tty = Bun.spawnSync(["script", "-qec", `${BUNKER} ${(await b.prefix()).join(" ")} save busybox`, "/dev/null"], { stdout: "pipe" });
    expect(tty.stdout.toString()).toContain("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    expect(tty.exitCode).toBe(1);
  });

  test("stdout redirected to a file (> and >>, after bytes already written) gets the same archive as -o, where the shell left off", async () => {
    const want = join(dir, "redirect-want.tar");
    await b.ok(["save", "-o", want, "torture", "busybox"]);
    const wanted = readFileSync(want);
    const cli = `${BUNKER} ${(await b.prefix()).join(" ")} save torture busybox`;
    const sh = (script: string) => {
      const r = Bun.spawnSync(["sh", "-c", script], { stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
    };
    const out = join(dir, "redirect.tar");
    sh(`${cli} > '${out}'`);
    expect(readFileSync(out).equals(wanted)).toBe(true);
    // appended to a file that holds bytes already, and after bytes the shell's descriptor wrote first
    writeFileSync(out, "prefix");
    sh(`${cli} >> '${out}'`);
    expect(readFileSync(out).equals(Buffer.concat([Buffer.from("prefix"), wanted]))).toBe(true);
    sh(`{ printf 'abc'; ${cli}; } > '${out}'`);
    expect(readFileSync(out).equals(Buffer.concat([Buffer.from("abc"), wanted]))).toBe(true);
  });
});

describe.skipIf(!root)("load", () => {
  test("save, rmi, load: same image IDs and tags, layers byte for byte", async () => {
    const out = join(dir, "round.tar");
    const ids = { torture: await idOf("torture"), nginx: await idOf("nginx") };
    await b.ok(["tag", "torture", "mine/torture:v1"]);
    await b.ok(["save", "-o", out, "torture", "mine/torture:v1", "nginx"]);
    await b.ok(["rmi", "torture", "mine/torture:v1", "nginx"]);
    const r = await b.run(["load", "-i", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Loaded image: torture:latest\nLoaded image: mine/torture:v1\nLoaded image: nginx:latest\n");
    expect(await idOf("torture")).toBe(ids.torture);
    expect(await idOf("mine/torture:v1")).toBe(ids.torture);
    expect(await idOf("nginx")).toBe(ids.nginx);
    // Saved again from the loaded layers: the same archive bytes.
    const again = join(dir, "round2.tar");
    await b.ok(["save", "-o", again, "torture", "mine/torture:v1", "nginx"]);
    expect(sha256(readFileSync(again))).toBe(sha256(readFileSync(out)));
    expect(readdirSync(join(b.dataRoot, "tmp")).filter((n) => n.startsWith("load-"))).toEqual([]);
  });

  test("skopeo's docker-archive and oci-archive load with the registry's image ID; gzip'd, from stdin and from a file", async () => {
    const id = await idOf("busybox");
    const d = join(dir, "sk-docker.tar");
    const o = join(dir, "sk-oci.tar");
    const src = `docker://${reg.host}/library/busybox:latest`;
    sh(["skopeo", "copy", "-q", "--src-tls-verify=false", src, `docker-archive:${d}:skopeo/docker:1`]);
    sh(["skopeo", "copy", "-q", "--src-tls-verify=false", src, `oci-archive:${o}:skopeo/oci:2`]);
    expect((await b.run(["load", "-i", d])).stdout).toBe("Loaded image: skopeo/docker:1\n");
    expect(await idOf("skopeo/docker:1")).toBe(id);
    expect((await b.run(["load", "-q", "-i", o])).stdout).toBe("Loaded image: skopeo/oci:2\n");
    expect(await idOf("skopeo/oci:2")).toBe(id);
    // The whole archive gzip'd, through stdin.
    const gz = join(dir, "sk-docker.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(d)));
    await b.ok(["rmi", "skopeo/docker:1"]);
    const proc = Bun.spawn([BUNKER, ...(await b.prefix()), "load"], { stdin: Bun.file(gz), stdout: "pipe", stderr: "pipe" });
    expect(await new Response(proc.stdout).text()).toBe("Loaded image: skopeo/docker:1\n");
    expect(await proc.exited).toBe(0);
    // And from a file (read in place, then decompressed).
    await b.ok(["rmi", "skopeo/docker:1"]);
    expect((await b.run(["load", "-i", gz])).stdout).toBe("Loaded image: skopeo/docker:1\n");
    expect(await idOf("skopeo/docker:1")).toBe(id);
  });

  test("a loaded tag moves off another image as docker says; an untagged image prints its ID", async () => {
    const out = join(dir, "moving.tar");
    await b.ok(["save", "-o", out, "busybox"]);
    await b.ok(["tag", "nginx", "busybox:latest"]);
    const r = await b.run(["load", "-i", out]);
    expect(r.stdout).toBe(`The image busybox:latest already exists, renaming the old one with ID ${await idOf("nginx")} to empty string\nLoaded image: busybox:latest\n`);
    const byId = join(dir, "by-id.tar");
    const id = await idOf("busybox");
    await b.ok(["save", "-o", byId, id]);
    expect((await b.run(["load", "-i", byId])).stdout).toBe(`Loaded image ID: ${id}\n`);
    const missing = await b.run(["load", "-i", join(dir, "nope.tar")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`open ${join(dir, "nope.tar")}: no such file or directory`);
  });

  test("an imported image (a layer written here, not pulled) saves and loads back with its ID", async () => {
    const src = join(dir, "import-src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "hello"), "made here\n");
    const input = join(dir, "import.tar");
    sh(["tar", "-C", src, "-cf", input, "."]);
    const id = (await b.ok(["import", input, "made/here:1"])).trim();
    const out = join(dir, "imported.tar");
    await b.ok(["save", "-o", out, "made/here:1"]);
    await b.ok(["rmi", "made/here:1"]);
    expect((await b.run(["load", "-i", out])).stdout).toBe("Loaded image: made/here:1\n");
    expect(await idOf("made/here:1")).toBe(id);
  });

  test("save -o checks each layer as written: a layer file changed in place (same size) fails it, and no archive is left", async () => {
    const other = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
    await other.ok(["pull", "-q", "busybox"]);
    const overlay = join(other.dataRoot, "overlay2");
    const layer = readdirSync(overlay).find((c) => c !== "l")!;
    // busybox's binary: one byte flipped, the size kept (the size check alone would not see it)
    const bin = join(overlay, layer, "diff/bin/busybox");
    const bytes = readFileSync(bin);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(bin, bytes);
    for (const args of [["save", "-o", join(dir, "changed.tar"), "busybox"], ["save", "busybox"]]) {
      const r = await other.run(args);
      expect(r.code).toBe(1);
      // Through serve the error comes after the response began: the daemon cuts the stream, as dockerd does.
      if (!DAEMON_MODE) expect(r.stderr).toMatch(/layer sha256:[0-9a-f]{64}: reassembled tar has diff ID sha256:[0-9a-f]{64}/);
    }
    expect(readdirSync(dir).filter((f) => f.includes("changed.tar"))).toEqual([]);
  });

  test("a layer unpacked without a tar-split record (older build) fails save naming it, never a wrong diff ID", async () => {
    const other = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
    await other.ok(["pull", "-q", "busybox"]);
    const overlay = join(other.dataRoot, "overlay2");
    for (const c of readdirSync(overlay)) rmSync(join(overlay, c, "tar-split.gz"), { force: true }), rmSync(join(overlay, c, "tar-size"), { force: true });
    const r = await other.run(["save", "-o", join(dir, "old.tar"), "busybox"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/layer sha256:[0-9a-f]{64} was unpacked by an older bunker without a tar-split record.*re-pull the image/);
    expect(existsSync(join(dir, "old.tar"))).toBe(false);
  });
});

/** A hostile archive built member by member. */
function hostile(name: string, list: RawMember[]): string {
  const path = join(dir, name);
  writeFileSync(path, rawTar(list));
  return path;
}

describe.skipIf(!root)("hostile and corrupt archives", () => {
  let good: string;
  let config: Uint8Array;
  let layer: Uint8Array;
  let diffId: string;
  beforeAll(async () => {
    good = join(dir, "good.tar");
    await b.ok(["save", "-o", good, "busybox"]);
    const m = JSON.parse(extract(good, "manifest.json").toString())[0];
    config = extract(good, m.Config);
    layer = extract(good, m.Layers[0]);
    diffId = sha256(layer);
  });
  const manifestOf = (cfg: string, layers: string[], tags = ["evil:1"]) => JSON.stringify([{ Config: cfg, RepoTags: tags, Layers: layers }]);

  /** Loads `path` in a fresh store: refused, no image, nothing staged left, and `outside` untouched. */
  async function refused(path: string, message: RegExp) {
    const s = bunkerAt(freshDataRoot(), []);
    const outside = join(dir, "outside");
    mkdirSync(outside, { recursive: true });
    const before = readdirSync(outside).sort();
    const r = await s.run(["load", "-i", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect((await s.ok(["images", "-q"])).trim()).toBe("");
    expect(readdirSync(outside).sort()).toEqual(before);
    const tmp = join(s.dataRoot, "tmp");
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
  }

  test("../ and absolute member names", async () => {
    await refused(hostile("dotdot.tar", [{ name: "../outside/pwned", data: "x" }]), /archive member "..\/outside\/pwned" is outside the archive's root/);
    await refused(hostile("abs.tar", [{ name: `${dir}/outside/pwned`, data: "x" }]), /is outside the archive's root/);
  });

  test("a manifest naming files outside the archive, and symlinks leading out", async () => {
    await refused(hostile("cfg-out.tar", [{ name: "manifest.json", data: manifestOf("../../../etc/passwd", []) }]), /config "..\/..\/..\/etc\/passwd" is not in the archive/);
    await refused(hostile("cfg-abs.tar", [{ name: "manifest.json", data: manifestOf("/etc/passwd", []) }]), /config "\/etc\/passwd" is not in the archive/);
    await refused(
      hostile("symlink-out.tar", [
        { name: "config.json", type: "2", linkname: "/etc/passwd" },
        { name: "manifest.json", data: manifestOf("config.json", []) },
      ]),
      /links outside the archive/,
    );
    await refused(
      hostile("symlink-up.tar", [
        { name: "a/layer.tar", type: "2", linkname: "../../x/layer.tar" },
        { name: "c.json", data: config },
        { name: "manifest.json", data: manifestOf("c.json", ["a/layer.tar"]) },
      ]),
      /links outside the archive/,
    );
  });

  test("a blob whose content does not match its digest name, a layer that is not the config's diff ID", async () => {
    const bad = `blobs/sha256/${"1".repeat(64)}`;
    await refused(hostile("digest.tar", [{ name: bad, data: config }, { name: "manifest.json", data: manifestOf(bad, []) }]), /has digest sha256:[0-9a-f]{64}, not the one its name says/);
    const other = rawTar([{ name: "evil", data: "not busybox" }]);
    await refused(
      hostile("diffid.tar", [
        { name: "l.tar", data: other },
        { name: "c.json", data: config },
        { name: "manifest.json", data: manifestOf("c.json", ["l.tar"]) },
      ]),
      new RegExp(`invalid diffID for layer 0: expected "${diffId}"`),
    );
  });

  test("a layer with an escaping member, a truncated archive, garbage", async () => {
    const escaping = rawTar([{ name: "../../../../outside/pwned", data: "x" }]);
    const cfg = JSON.parse(new TextDecoder().decode(config));
    cfg.rootfs.diff_ids = [sha256(escaping)];
    const cfgBytes = JSON.stringify(cfg);
    await refused(
      hostile("escape-layer.tar", [
        { name: "l.tar", data: escaping },
        { name: "c.json", data: cfgBytes },
        { name: "manifest.json", data: manifestOf("c.json", ["l.tar"]) },
      ]),
      /escapes the layer root/,
    );
    const whole = readFileSync(good);
    const cut = join(dir, "truncated.tar");
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2) + 100));
    await refused(cut, /truncated|neither manifest.json/);
    const junk = join(dir, "junk.tar");
    writeFileSync(junk, new Uint8Array(4096).fill(7));
    await refused(junk, /invalid tar header|bad checksum/);
    // A character device given as the file (Bun's file streams poll, which /dev/null refuses): an empty archive.
    await refused("/dev/null", /neither manifest.json/);
  });

  test("kill -9 mid-load leaves no image and its staging is removed at the next start", async () => {
    const s = bunkerAt(freshDataRoot(), []);
    const big = join(dir, "big.tar");
    await b.ok(["save", "-o", big, "nginx"]);
    const proc = Bun.spawn([BUNKER, ...(await s.prefix()), "load", "-i", big], { stdout: "ignore", stderr: "ignore" });
    const tmp = join(s.dataRoot, "tmp");
    for (let i = 0; i < 400 && !(existsSync(tmp) && readdirSync(tmp).length); i++) await Bun.sleep(10);
    proc.kill(9);
    await proc.exited;
    expect((await s.ok(["images", "-q"])).trim()).toBe("");
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
    void statSync;
  });
});
