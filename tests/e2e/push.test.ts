/**
 * Pushing to the real registry (Debian's docker-registry on 127.0.0.1): the engine's pushImage with images
 * served by another registry and one built here from a bare tar, the fault proxy counting and breaking
 * requests; then `bunker push` (in-process and, in the daemon pass, through `bunker serve`), the docker CLI
 * 28 and docker-py against `bunker serve`, and skopeo reading what was pushed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { distributionInspect, pushImage, pushIndex } from "../../src/engine/push.ts";
import { parseReference } from "../../src/engine/registry/reference.ts";
import { RegistryClient } from "../../src/engine/registry/client.ts";
import { CHUNK_BYTES } from "../../src/engine/registry/upload.ts";
import { type Image, type Layer, MediaType } from "../../src/engine/image/types.ts";
import { bunkerAt, DAEMON_MODE, freshDataRoot, serveAt, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry, type Testbed } from "../helpers/registry.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { tar } from "../helpers/tar-writer.ts";
import type { JsonMessage } from "../../src/engine/progress.ts";

const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const short = (d: string) => d.slice(7, 19);

let testbed: Testbed;
let src: Registry;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  testbed = await ensureTestbed();
  src = await startRegistry();
  cleanups.push(() => src.stop());
}, 900_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A fresh, empty registry stopped after the file. */
async function emptyRegistry(auth: "none" | "basic" | "token" = "none", anonymous = true): Promise<Registry> {
  const r = await startRegistry({ storage: "empty", auth, anonymous });
  cleanups.push(() => r.stop());
  return r;
}

/** A proxy in front of `r`, stopped after the file. */
function proxyOf(r: Registry): FaultProxy {
  const p = startFaultProxy(r.url);
  cleanups.push(() => p.stop());
  return p;
}

/** An engine on a fresh data root, for pushImage (in-process). */
function engine(): Engine {
  const e = new Engine({ dataRoot: freshDataRoot(), registryMirrors: [], insecureRegistries: [], debug: false, configFile: "/nonexistent/daemon.json", iptables: false } as never);
  cleanups.push(() => e.close());
  return e;
}

async function skopeo(args: string[]): Promise<string> {
  const p = Bun.spawn(["skopeo", ...args], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`skopeo ${args.join(" ")}: ${err}`);
  return out;
}

/** An image built here from one tar: its compressed form is unknown, so a push must gzip it. */
function builtImage(files: Record<string, string>) {
  const layerTar = tar(Object.entries(files).map(([name, data]) => ({ name, data })));
  const diffId = sha(layerTar);
  const config = { architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers" as const, diff_ids: [diffId] }, history: [{ created_by: "push.test.ts" }] };
  const rawConfig = new TextEncoder().encode(JSON.stringify(config));
  let opened = 0;
  const layer: Layer = {
    digest: "",
    diffId,
    size: layerTar.length,
    mediaType: "application/vnd.docker.image.rootfs.diff.tar",
    compressed: () => Promise.reject(new Error("no compressed blob")),
    uncompressed: async () => {
      opened++;
      return new Blob([layerTar]).stream();
    },
  };
  const image: Image = {
    digest: "",
    id: sha(rawConfig),
    manifest: { schemaVersion: 2, config: { mediaType: MediaType.DOCKER_CONFIG, digest: sha(rawConfig), size: rawConfig.length }, layers: [] },
    rawManifest: new Uint8Array(0),
    manifestMediaType: MediaType.DOCKER_MANIFEST,
    config,
    rawConfig,
    layers: () => [layer],
  };
  return { image, layerTar, opened: () => opened };
}

describe.skipIf(DAEMON_MODE)("pushImage (engine)", () => {
  test("a registry's image copied to another keeps its manifest digest; skopeo and bunker read it back", async () => {
    const dst = await emptyRegistry();
    const proxy = proxyOf(dst);
    const e = engine();
    const img = await e.registry().image(parseReference(`${src.host}/debian:bookworm`));
    const msgs: JsonMessage[] = [];
    const res = await pushImage(e, img, parseReference(`${proxy.host}/copy/debian:bookworm`), { onMessage: (m) => msgs.push(m) });
    expect(res).toEqual({ Tag: "bookworm", Digest: testbed.image("debian", "bookworm").digest, Size: img.rawManifest.length });
    const id = short(img.config.rootfs.diff_ids[0]!);
    expect(msgs[0]).toEqual({ status: "Preparing", progressDetail: {}, id });
    expect(msgs.some((m) => m.status === "Pushing" && m.id === id && m.progressDetail?.total === img.layers()[0]!.size)).toBe(true);
    expect(msgs.filter((m) => !m.progressDetail?.current).map((m) => m.status ?? m.aux)).toEqual(["Preparing", "Pushed", `bookworm: digest: ${res.Digest} size: ${res.Size}`, res]);
    // The 48 MB layer went in PATCHes of CHUNK_BYTES with Content-Range, then one PUT ?digest= with the rest.
    const patches = proxy.requests.filter((r) => r.method === "PATCH");
    expect(patches.length).toBe(Math.floor(img.layers()[0]!.size / CHUNK_BYTES));
    patches.forEach((p, i) => expect(p.contentRange).toBe(`${i * CHUNK_BYTES}-${(i + 1) * CHUNK_BYTES - 1}`));
    expect(proxy.requests.some((r) => r.method === "PUT" && r.path.includes(`digest=${encodeURIComponent(img.layers()[0]!.digest)}`))).toBe(true);

    const inspected = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${dst.host}/copy/debian:bookworm`]));
    expect(inspected.Digest).toBe(res.Digest);
    const layout = tempDir("bunker-push-oci-");
    await skopeo(["copy", "--src-tls-verify=false", `docker://${dst.host}/copy/debian:bookworm`, `oci:${layout}:x`]);

    const b = bunkerAt(freshDataRoot());
    await b.ok(["pull", `${dst.host}/copy/debian:bookworm`]);
    const info = JSON.parse(await b.ok(["image", "inspect", `${dst.host}/copy/debian:bookworm`]))[0];
    expect(info.Id).toBe(img.id);
    expect(info.RepoDigests).toEqual([`${dst.host}/copy/debian@${res.Digest}`]);
  });

  test("a second push uploads nothing; another repository of the registry mounts the blob", async () => {
    const dst = await emptyRegistry();
    const proxy = proxyOf(dst);
    const e = engine();
    const img = await e.registry().image(parseReference(`${src.host}/redis:latest`));
    await pushImage(e, img, parseReference(`${proxy.host}/a/redis:1`));
    proxy.requests.length = 0;
    const again: JsonMessage[] = [];
    await pushImage(e, img, parseReference(`${proxy.host}/a/redis:1`), { onMessage: (m) => again.push(m) });
    expect(proxy.requests.filter((r) => r.method !== "HEAD" && r.method !== "GET").map((r) => r.method)).toEqual(["PUT"]); // the manifest only
    expect(again.filter((m) => m.status === "Layer already exists").length).toBe(2);

    proxy.requests.length = 0;
    const mounted: JsonMessage[] = [];
    await pushImage(e, img, parseReference(`${proxy.host}/b/redis:1`), { onMessage: (m) => mounted.push(m) });
    const mounts = proxy.requests.filter((r) => r.method === "POST" && r.path.includes("mount="));
    expect(mounts.length).toBe(2);
    for (const m of mounts) expect(m.path).toMatch(/^\/v2\/b\/redis\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=a%2Fredis$/);
    expect(proxy.requests.some((r) => r.method === "PATCH")).toBe(false);
    expect(mounted.filter((m) => m.status === "Mounted from a/redis").length).toBe(2);
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${dst.host}/b/redis:1`])).Digest).toBe(img.digest);
  });

  test("an image known only as tars is gzipped while it uploads, once: the second push compresses and uploads nothing", async () => {
    const dst = await emptyRegistry();
    const proxy = proxyOf(dst);
    const e = engine();
    const built = builtImage({ "hello.txt": "hello from push\n", "etc/os-release": "ID=test\n" });
    const res = await pushImage(e, built.image, parseReference(`${proxy.host}/built:v1`));
    expect(built.opened()).toBe(1);
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${dst.host}/built:v1`]);
    expect(sha(new TextEncoder().encode(raw))).toBe(res.Digest);
    const manifest = JSON.parse(raw);
    expect(manifest.mediaType).toBe(MediaType.DOCKER_MANIFEST);
    expect(manifest.config.digest).toBe(built.image.id);
    const blob = new Uint8Array(await (await fetch(`${dst.url}/v2/built/blobs/${manifest.layers[0].digest}`)).arrayBuffer());
    expect(manifest.layers[0].size).toBe(blob.length);
    expect(Buffer.from(gunzipSync(blob)).equals(Buffer.from(built.layerTar))).toBe(true);

    proxy.requests.length = 0;
    const again = await pushImage(e, built.image, parseReference(`${proxy.host}/built:v1`));
    expect(again.Digest).toBe(res.Digest);
    expect(built.opened()).toBe(1);
    expect(proxy.requests.filter((r) => r.method === "POST" || r.method === "PATCH").length).toBe(0);

    const b = bunkerAt(freshDataRoot());
    await b.ok(["pull", `${dst.host}/built:v1`]);
    expect(JSON.parse(await b.ok(["image", "inspect", `${dst.host}/built:v1`]))[0].Id).toBe(built.image.id);
  });

  test("refusals and dropped connections mid-upload are retried per layer; a registry that keeps failing is reported", async () => {
    const dst = await emptyRegistry();
    const proxy = proxyOf(dst);
    const e = engine();
    const img = await e.registry().image(parseReference(`${src.host}/busybox:latest`));
    proxy.faults.push({ path: /\/blobs\/uploads\//, method: "PUT", status: 503, times: 1 }, { path: /\/blobs\/uploads\//, method: "POST", hangup: true, times: 1 });
    const msgs: JsonMessage[] = [];
    const res = await pushImage(e, img, parseReference(`${proxy.host}/flaky:1`), { onMessage: (m) => msgs.push(m) });
    expect(res.Digest).toBe(img.digest);
    expect(msgs.filter((m) => m.status?.startsWith("Retrying in ")).length).toBe(2);

    proxy.faults.push({ path: /\/blobs\/uploads\//, method: "POST", status: 500 });
    const err = await pushImage(e, img, parseReference(`${proxy.host}/down:1`)).then(() => new Error("pushed"), (x: Error) => x);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe("received unexpected HTTP status: 500 Internal Server Error");
    // dockerd's five attempts (the first also tried to mount from flaky/, where the blob was pushed before).
    expect(proxy.requests.filter((r) => r.method === "POST" && r.path.startsWith("/v2/down/") && !r.path.includes("mount=")).length).toBe(5);
  });

  test("a multi-platform image: every platform by digest, then the manifest list byte for byte", async () => {
    const dst = await emptyRegistry();
    const e = engine();
    const registry = e.registry();
    const listRef = parseReference(`${src.host}/multi:list`);
    const index = await registry.manifest(await registry.pullConnection(listRef), "list");
    const entries = JSON.parse(new TextDecoder().decode(index.raw)).manifests as { digest: string }[];
    const images = await Promise.all(entries.map((d) => registry.image(parseReference(`${src.host}/multi@${d.digest}`))));
    await expect(pushIndex(e, index, images.slice(1), parseReference(`${dst.host}/multi:list`))).rejects.toThrow(`1 of its ${entries.length} manifests are not present`);
    const res = await pushIndex(e, index, images, parseReference(`${dst.host}/multi:list`));
    expect(res.Digest).toBe(testbed.image("multi", "list").digest);
    const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${dst.host}/multi:list`]);
    expect(sha(new TextEncoder().encode(raw))).toBe(res.Digest);
    for (const d of entries) expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${dst.host}/multi@${d.digest}`])).Digest).toBe(d.digest);
  });

  test("an upload Location on another host gets no credentials", async () => {
    const seen: { host: string; method: string; authorization: string | null }[] = [];
    const elsewhere = Bun.serve({
      hostname: "127.0.0.2",
      port: 0,
      fetch(req) {
        seen.push({ host: "elsewhere", method: req.method, authorization: req.headers.get("authorization") });
        return new Response(null, { status: req.method === "PUT" ? 201 : 202, headers: { location: req.url } });
      },
    });
    const registry = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        seen.push({ host: "registry", method: req.method, authorization: req.headers.get("authorization") });
        if (!req.headers.get("authorization")) return new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } });
        if (u.pathname === "/v2/") return new Response("{}");
        if (req.method === "HEAD") return new Response(null, { status: 404 });
        if (req.method === "POST") return new Response(null, { status: 202, headers: { location: `http://127.0.0.2:${elsewhere.port}/upload/1` } });
        return new Response(null, { status: 201 });
      },
    });
    cleanups.push(() => (elsewhere.stop(true), registry.stop(true)));
    const creds = new RegistryClient({ credentials: () => ({ username: "u", password: "secret" }) });
    await pushImage(engine(), builtImage({ a: "a\n" }).image, parseReference(`127.0.0.1:${registry.port}/x:1`), { registry: creds });
    expect(seen.filter((s) => s.host === "registry" && s.method === "POST")[0]!.authorization).toStartWith("Basic ");
    const away = seen.filter((s) => s.host === "elsewhere");
    expect(away.length).toBeGreaterThan(0);
    for (const s of away) expect(s.authorization).toBeNull();
  });

  test("GET /distribution: the manifest list's descriptor and its platforms; a single manifest's platform from its config", async () => {
    const e = engine();
    const list = await distributionInspect(e, `${src.host}/multi:list`);
    const info = testbed.image("multi", "list");
    expect(list.Descriptor).toEqual({ mediaType: info.mediaType, digest: info.digest, size: list.Descriptor.size });
    expect(list.Platforms).toEqual(info.manifests!.filter((m) => m.platform).map((m) => ({ architecture: m.platform!.architecture, os: m.platform!.os, ...(m.platform!.variant ? { variant: m.platform!.variant } : {}) })));
    const one = await distributionInspect(e, `${src.host}/busybox`);
    expect(one.Descriptor.digest).toBe(testbed.image("busybox", "latest").digest);
    expect(one.Platforms).toEqual([{ architecture: "amd64", os: "linux" }]);
  });
});

describe("bunker push", () => {
  test("docker's lines: pushed, already there, mounted from a sibling repository; -q; -a; unknown names", async () => {
    const dst = await emptyRegistry();
    const b = bunkerAt(freshDataRoot());
    const busybox = testbed.image("busybox", "latest");
    const id = short(busybox.layers![0]!.diffId);
    await b.ok(["pull", `${src.host}/busybox`]);
    await b.ok(["tag", `${src.host}/busybox`, `${dst.host}/bb:v1`]);
    const first = await b.ok(["push", `${dst.host}/bb:v1`]);
    const size = (await (await fetch(`${src.url}/v2/busybox/manifests/latest`, { headers: { accept: busybox.mediaType } })).arrayBuffer()).byteLength;
    expect(first).toBe(`The push refers to repository [${dst.host}/bb]\n${id}: Preparing\n${id}: Pushed\nv1: digest: ${busybox.digest} size: ${size}\n`);
    expect(await b.ok(["push", `${dst.host}/bb:v1`])).toContain(`${id}: Layer already exists\n`);
    await b.ok(["tag", `${src.host}/busybox`, `${dst.host}/sibling`]);
    const mounted = await b.ok(["push", `${dst.host}/sibling`]);
    expect(mounted).toStartWith(`Using default tag: latest\nThe push refers to repository [${dst.host}/sibling]\n`);
    expect(mounted).toContain(`${id}: Mounted from bb\n`);
    expect(JSON.parse(await b.ok(["image", "inspect", `${dst.host}/bb:v1`]))[0].RepoDigests).toContain(`${dst.host}/bb@${busybox.digest}`);

    expect(await b.ok(["push", "-q", `${dst.host}/bb:v1`])).toBe(`${dst.host}/bb:v1\n`);
    await b.ok(["tag", `${src.host}/busybox`, `${dst.host}/bb:v2`]);
    const all = await b.ok(["push", "-a", `${dst.host}/bb`]);
    expect(all).toContain(`v1: digest: ${busybox.digest}`);
    expect(all).toContain(`v2: digest: ${busybox.digest}`);
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${dst.host}/bb:v2`])).Digest).toBe(busybox.digest);

    const missing = await b.run(["push", `${dst.host}/nope:v1`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe(`The push refers to repository [${dst.host}/nope]\n`);
    expect(missing.stderr).toBe(`An image does not exist locally with the tag: ${dst.host}/nope\n`);
    const tagged = await b.run(["push", "-a", `${dst.host}/bb:v1`]);
    expect(tagged.code).toBe(1);
    expect(tagged.stderr).toContain("tag can't be used with --all-tags/-a");
  });

  test("an image committed here is pushed from the store's layer tars, pulled back elsewhere with its ID, and a second push sends nothing", async () => {
    const dst = await emptyRegistry();
    const b = bunkerAt(freshDataRoot());
    await b.ok(["pull", `${src.host}/busybox`]);
    await b.ok(["run", "--name", "made", "--network", "none", `${src.host}/busybox`, "sh", "-c", "echo made-here > /made; rm /bin/true"]);
    const id = (await b.ok(["commit", "made", `${dst.host}/made:v1`])).trim();
    await b.ok(["rm", "made"]);
    const first = await b.ok(["push", `${dst.host}/made:v1`]);
    expect(first).toStartWith(`The push refers to repository [${dst.host}/made]\n`);
    expect(first.match(/: Pushed\n/g)?.length).toBe(2); // the committed layer and busybox's, gzipped here
    const digest = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+\n$/.exec(first)?.[1];
    expect(digest).toBeDefined();
    const again = await b.ok(["push", `${dst.host}/made:v1`]);
    expect(again.match(/: Layer already exists\n/g)?.length).toBe(2);
    expect(again).toContain(`v1: digest: ${digest} `);
    // Another data root pulls it: same image ID, the file and the whiteout as committed.
    const other = bunkerAt(freshDataRoot());
    await other.ok(["pull", `${dst.host}/made:v1`]);
    expect((await other.ok(["image", "inspect", "-f", "{{.Id}}", `${dst.host}/made:v1`])).trim()).toBe(id);
    expect(await other.ok(["run", "--rm", "--network", "none", `${dst.host}/made:v1`, "sh", "-c", "cat /made; test -e /bin/true || echo gone"])).toBe("made-here\ngone\n");
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${dst.host}/made:v1`])).Digest).toBe(digest);
  });

  test("a layer pulled from one repository is mounted into another of that registry; a terminal sees Pushing bars", async () => {
    const dst = await emptyRegistry();
    const first = bunkerAt(freshDataRoot());
    await first.ok(["pull", `${src.host}/debian:bookworm`]);
    await first.ok(["tag", `${src.host}/debian:bookworm`, `${dst.host}/origin/debian:1`]);
    // On a terminal (script(1) gives one) the layer's line is redrawn with a progress bar as it uploads.
    const cmd = `'${join(import.meta.dir, "../../dist/bunker")}' ${(await first.prefix()).map((a) => `'${a}'`).join(" ")} push ${dst.host}/origin/debian:1`;
    const tty = Bun.spawnSync(["script", "-qfec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe" });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout.toString()).toContain("\x1b[");
    expect(tty.stdout.toString()).toMatch(/Pushing \[=*>? *\] +[0-9.]+MB\/48\.7MB/);

    // Another data root that only pulled from origin/ knows where the blob lives: it mounts instead of uploading.
    const second = bunkerAt(freshDataRoot());
    await second.ok(["pull", `${dst.host}/origin/debian:1`]);
    await second.ok(["tag", `${dst.host}/origin/debian:1`, `${dst.host}/fork/debian:1`]);
    const out = await second.ok(["push", `${dst.host}/fork/debian:1`]);
    expect(out).toContain(`${short(testbed.image("debian", "bookworm").layers![0]!.diffId)}: Mounted from origin/debian\n`);
    expect(out).toContain(`1: digest: ${testbed.image("debian", "bookworm").digest}`);
  });

  test("credentials from login: basic auth and bearer tokens with push scope; refused without", async () => {
    const basic = await emptyRegistry("basic");
    const token = await emptyRegistry("token");
    const cfg = tempDir("bunker-dockercfg-");
    const b = bunkerAt(freshDataRoot(), [], { DOCKER_CONFIG: cfg });
    await b.ok(["pull", `${src.host}/busybox`]);
    for (const r of [basic, token]) await b.ok(["tag", `${src.host}/busybox`, `${r.host}/private/bb:1`]);
    const noBasic = await b.run(["push", `${basic.host}/private/bb:1`]);
    expect(noBasic.code).toBe(1);
    expect(noBasic.stderr).toEndWith("no basic auth credentials\n");
    expect(noBasic.stderr).not.toContain("Error response from daemon");
    const noToken = await b.run(["push", `${token.host}/private/bb:1`]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("denied: requested access to the resource is denied");
    for (const r of [basic, token]) {
      expect((await b.run(["login", "-u", r.username!, "--password-stdin", r.host], { stdin: `${r.password}\n` })).stdout).toContain("Login Succeeded");
      expect(await b.ok(["push", `${r.host}/private/bb:1`])).toContain(`1: digest: ${testbed.image("busybox", "latest").digest}`);
    }
  });

  test("a multi-platform image: one platform here pushes that one and says so; every platform here pushes the index byte for byte; push and image inspect --platform pick one", async () => {
    const dst = await emptyRegistry();
    const root = freshDataRoot();
    const b = bunkerAt(root);
    const list = testbed.image("multi", "list");
    const [amd, arm] = [list.manifests!.find((m) => m.platform?.architecture === "amd64")!, list.manifests!.find((m) => m.platform?.architecture === "arm64")!];
    const registryDigest = async (repo: string, tag: string) => sha(new TextEncoder().encode(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${dst.host}/${repo}:${tag}`])));

    await b.ok(["pull", `${src.host}/multi:list`]);
    await b.ok(["tag", `${src.host}/multi:list`, `${dst.host}/multi:one`]);
    const one = await b.run(["push", `${dst.host}/multi:one`]);
    expect(one.code).toBe(0);
    // docker CLI 28.2's note, on stdout after the stream.
    expect(one.stdout).toEndWith(`one: digest: ${amd.digest} size: ${amd.size}\n\n Info -> Not all multiplatform-content is present and only the available single-platform image was pushed\n         ${list.digest} -> ${amd.digest}\n`);
    expect(one.stderr).toBe("");
    expect(await registryDigest("multi", "one")).toBe(amd.digest);

    // The other platform pulled too (the tag moves to it, as docker's): now the whole list goes, as it was pulled.
    await b.ok(["pull", "--platform", "linux/arm64", `${src.host}/multi:list`]);
    await b.ok(["tag", `${src.host}/multi:list`, `${dst.host}/multi:all`]);
    const all = await b.run(["push", `${dst.host}/multi:all`]);
    expect(all.stderr).toBe("");
    const listSize = (await (await fetch(`${src.url}/v2/multi/manifests/list`, { headers: { accept: list.mediaType } })).arrayBuffer()).byteLength;
    expect(all.stdout).toEndWith(`all: digest: ${list.digest} size: ${listSize}\n`);
    expect(await registryDigest("multi", "all")).toBe(list.digest);
    for (const m of [amd, arm]) expect(sha(new TextEncoder().encode(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${dst.host}/multi@${m.digest}`])))).toBe(m.digest);
    // Pushing the tag that names the amd64 image sends the whole list as well: the image is a platform of it.
    expect(await b.ok(["push", `${dst.host}/multi:one`])).toEndWith(`one: digest: ${list.digest} size: ${listSize}\n`);
    expect(await registryDigest("multi", "one")).toBe(list.digest);

    // image inspect --platform reads each platform of the tag; a platform not pulled is moby's error.
    const arch = async (platform: string, name: string) => (await b.ok(["image", "inspect", "--platform", platform, "-f", "{{.Architecture}} {{.Id}}", name])).trim();
    expect(await arch("linux/arm64", `${dst.host}/multi:all`)).toBe(`arm64 ${arm.configDigest}`);
    expect(await arch("linux/amd64", `${dst.host}/multi:all`)).toBe(`amd64 ${amd.configDigest}`);
    const s390x = await b.run(["image", "inspect", "--platform", "linux/s390x", `${dst.host}/multi:all`]);
    expect(s390x.code).toBe(1);
    expect(s390x.stderr).toBe(`Error response from daemon: image with reference ${dst.host}/multi:all was found but does not provide the specified platform (linux/s390x)\n`);
    expect(await b.run(["image", "inspect", "--platform", "a/b/c/d", `${dst.host}/multi:all`])).toEqual({ code: 1, stdout: "", stderr: '"a/b/c/d": cannot parse platform specifier: invalid argument\n' });
    // history --platform too; rmi --platform and images --tree are refused by name, never ignored.
    expect((await b.ok(["history", "-q", "--no-trunc", "--platform", "linux/arm64", `${dst.host}/multi:all`])).split("\n")[0]).toBe(arm.configDigest);
    expect((await b.ok(["history", "-q", "--no-trunc", "--platform", "linux/amd64", `${dst.host}/multi:all`])).split("\n")[0]).toBe(amd.configDigest);
    expect((await b.run(["history", "--platform", "linux/s390x", `${dst.host}/multi:all`])).stderr).toContain("does not provide the specified platform (linux/s390x)");
    const rmiPlatform = await b.run(["rmi", "--platform", "linux/arm64", `${dst.host}/multi:all`]);
    expect(rmiPlatform.code).toBe(1);
    expect(rmiPlatform.stderr).toContain("--platform: removing one platform of a multi-platform image is not supported by bunker yet");
    expect((await b.run(["images", "--tree"])).stderr).toContain("--tree (multi-platform images as a tree) is not supported by bunker yet");

    const picked = await b.run(["push", "--platform", "linux/arm64", `${dst.host}/multi:all`]);
    expect(picked.stderr).toBe("");
    expect(picked.stdout).toStartWith(
      "\n Info -> Using --platform pushes only the specified platform manifest of a multi-platform image index.\n         Other components, like attestations, will not be included.\n" +
        `         To push the complete multi-platform image, remove the --platform flag.\n         \nThe push refers to repository [${dst.host}/multi]\n`,
    );
    expect(picked.stdout).toEndWith(`all: digest: ${arm.digest} size: ${arm.size}\n`);
    expect(await registryDigest("multi", "all")).toBe(arm.digest);
    const bad = await b.run(["push", "--platform", "bad/x/y/z", `${dst.host}/multi:all`]);
    expect(bad).toEqual({ code: 1, stdout: "", stderr: 'Invalid platform bad/x/y/z"bad/x/y/z": cannot parse platform specifier: invalid argument\n' });
    const absent = await b.run(["push", "--platform", "linux/s390x", `${dst.host}/multi:all`]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain(`image with reference ${dst.host}/multi:all was found but does not provide the specified platform (linux/s390x)`);
    // A tag no index names has one platform, its image's (busybox is the same image as the list's amd64 entry).
    await b.ok(["pull", `${src.host}/busybox`]);
    await b.ok(["tag", `${src.host}/busybox`, `${dst.host}/bb:1`]);
    expect(await arch("linux/amd64", `${dst.host}/bb:1`)).toBe(`amd64 ${amd.configDigest}`);
    expect((await b.run(["image", "inspect", "--platform", "linux/arm64", `${dst.host}/bb:1`])).code).toBe(1);
    const single = await b.run(["push", "--platform", "linux/arm64", `${dst.host}/bb:1`]);
    expect(single.code).toBe(1);
    expect(single.stderr).toContain(`image with reference ${dst.host}/bb:1 was found but does not provide the specified platform (linux/arm64)`);
    await b.ok(["push", "--platform", "linux/amd64", `${dst.host}/bb:1`]);
    // The image was pulled with two manifests (busybox's, the list's amd64 one): either is its own.
    expect([testbed.image("busybox", "latest").digest, amd.digest]).toContain(await registryDigest("bb", "1"));

    // The index goes from the store with the last of its platforms.
    const { Database } = await import("bun:sqlite");
    const rows = () => {
      const db = new Database(join(root, "bunker.db"), { readonly: true });
      try {
        return (db.query("SELECT (SELECT count(*) FROM indexes) AS i, (SELECT count(*) FROM index_manifests) AS m").get() as { i: number; m: number });
      } finally {
        db.close();
      }
    };
    expect(rows()).toEqual({ i: 1, m: 2 });
    await b.ok(["rmi", `${src.host}/multi:list`, `${dst.host}/multi:all`]);
    expect(rows()).toEqual({ i: 1, m: 1 });
    await b.ok(["rmi", `${dst.host}/multi:one`, `${src.host}/busybox`, `${dst.host}/bb:1`]);
    expect(rows()).toEqual({ i: 0, m: 0 });
  });

  test("kill -9 mid-push leaves the local store as it was, and the next push completes", async () => {
    const dst = await emptyRegistry();
    const b = bunkerAt(freshDataRoot());
    await b.ok(["pull", `${src.host}/debian:bookworm`]);
    await b.ok(["tag", `${src.host}/debian:bookworm`, `${dst.host}/deb:1`]);
    const before = await b.ok(["images", "--digests", "--no-trunc"]);
    const p = await b.spawn(["push", `${dst.host}/deb:1`]);
    const reader = p.stdout.getReader();
    let seen = "";
    while (!seen.includes("Preparing")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    await Bun.sleep(150);
    p.kill("SIGKILL");
    await p.exited;
    expect(await b.ok(["images", "--digests", "--no-trunc"])).toBe(before);
    expect(await b.ok(["push", `${dst.host}/deb:1`])).toContain(`1: digest: ${testbed.image("debian", "bookworm").digest}`);
  });
});

describe.skipIf(DAEMON_MODE)("through bunker serve: docker CLI 28 and docker-py", () => {
  test("docker push and docker-py images.push; docker-py inspect_distribution", async () => {
    const dst = await emptyRegistry("basic");
    const root = freshDataRoot();
    const { sock } = await serveAt(root);
    const home = tempDir("bunker-docker-home-");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, DOCKER_CONFIG: join(home, "docker-config"), DOCKER_HOST: `unix://${sock}` };
    const docker = async (args: string[], stdin?: string) => {
      const p = Bun.spawn(["/usr/local/bin/docker", ...args], { env, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", timeout: 120_000 });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { stdout, stderr, code };
    };
    expect((await docker(["pull", `${src.host}/busybox`])).code).toBe(0);
    expect((await docker(["tag", `${src.host}/busybox`, `${dst.host}/cli/bb:1`])).code).toBe(0);
    const denied = await docker(["push", `${dst.host}/cli/bb:1`]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("no basic auth credentials");
    expect((await docker(["login", "-u", dst.username!, "--password-stdin", dst.host], `${dst.password}\n`)).code).toBe(0);
    const pushed = await docker(["push", `${dst.host}/cli/bb:1`]);
    const busybox = testbed.image("busybox", "latest");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toContain(`The push refers to repository [${dst.host}/cli/bb]`);
    expect(pushed.stdout).toContain(`${short(busybox.layers![0]!.diffId)}: Pushed`);
    expect(pushed.stdout).toContain(`1: digest: ${busybox.digest} size: `);

    const script = `
import docker, json, sys
c = docker.DockerClient(base_url="unix://${sock}")
c.images.get("${src.host}/busybox").tag("${dst.host}/py/bb", "2")
out = list(c.images.push("${dst.host}/py/bb", tag="2", stream=True, decode=True, auth_config={"username": "${dst.username}", "password": "${dst.password}"}))
aux = [m["aux"] for m in out if "aux" in m]
d = c.api.inspect_distribution("${dst.host}/py/bb:2", auth_config={"username": "${dst.username}", "password": "${dst.password}"})
print(json.dumps({"aux": aux, "dist": d}))
`;
    const p = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect(err).toBe("");
    const r = JSON.parse(out);
    expect(r.aux).toEqual([{ Tag: "2", Digest: busybox.digest, Size: expect.any(Number) }]);
    expect(r.dist.Descriptor).toEqual({ mediaType: busybox.mediaType, digest: busybox.digest, size: r.aux[0].Size });
    expect(r.dist.Platforms).toEqual([{ architecture: "amd64", os: "linux" }]);
  });

  test("docker push of a multi-platform image: the CLI's note for one platform, the whole list once both are pulled, push and image inspect --platform", async () => {
    const dst = await emptyRegistry();
    const { sock } = await serveAt(freshDataRoot());
    const home = tempDir("bunker-docker-home-");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, DOCKER_CONFIG: join(home, "docker-config"), DOCKER_HOST: `unix://${sock}` };
    const docker = async (args: string[]) => {
      const p = Bun.spawn(["/usr/local/bin/docker", ...args], { env, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { stdout, stderr, code };
    };
    const list = testbed.image("multi", "list");
    const [amd, arm] = [list.manifests!.find((m) => m.platform?.architecture === "amd64")!, list.manifests!.find((m) => m.platform?.architecture === "arm64")!];
    expect((await docker(["pull", `${src.host}/multi:list`])).code).toBe(0);
    expect((await docker(["tag", `${src.host}/multi:list`, `${dst.host}/d/multi:1`])).code).toBe(0);
    const one = await docker(["push", `${dst.host}/d/multi:1`]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`1: digest: ${amd.digest} size: ${amd.size}`);
    // 28.2 prints its notes on stdout, the digests coloured even when it is not a terminal.
    expect(one.stdout).toContain(`\n\n Info -> Not all multiplatform-content is present and only the available single-platform image was pushed\n         \x1b[31m${list.digest}\x1b[0m -> \x1b[32m${amd.digest}\x1b[0m\n`);

    expect((await docker(["pull", "--platform", "linux/arm64", `${src.host}/multi:list`])).code).toBe(0);
    expect((await docker(["tag", `${src.host}/multi:list`, `${dst.host}/d/multi:2`])).code).toBe(0);
    const both = await docker(["push", `${dst.host}/d/multi:2`]);
    expect(both.stderr).toBe("");
    expect(both.stdout).toContain(`2: digest: ${list.digest} size: `);
    expect((await docker(["image", "inspect", "--platform", "linux/arm64", "-f", "{{.Architecture}}", `${dst.host}/d/multi:2`])).stdout).toBe("arm64\n");
    expect((await docker(["image", "inspect", "--platform", "linux/amd64", "-f", "{{.Architecture}}", `${dst.host}/d/multi:2`])).stdout).toBe("amd64\n");
    expect((await docker(["history", "-q", "--no-trunc", "--platform", "linux/arm64", `${dst.host}/d/multi:2`])).stdout.split("\n")[0]).toBe(arm.configDigest);
    const rmiPlatform = await docker(["rmi", "--platform", "linux/arm64", `${dst.host}/d/multi:2`]);
    expect(rmiPlatform.stderr).toContain("platforms: removing one platform of a multi-platform image is not supported by bunker yet");
    expect(rmiPlatform.code).toBe(1);
    const arm64 = await docker(["push", "--platform", "linux/arm64", `${dst.host}/d/multi:2`]);
    expect(arm64.stdout).toContain(`2: digest: ${arm.digest} size: ${arm.size}`);
    const absent = await docker(["push", "--platform", "linux/s390x", `${dst.host}/d/multi:2`]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain(`image with reference ${dst.host}/d/multi:2 was found but does not provide the specified platform (linux/s390x)`);
    for (const platform of ["linux/amd64", '{"os":"linux"}']) {
      const res = await fetch(`http://d/v1.50/images/${dst.host}/d/multi/push?tag=2&platform=${encodeURIComponent(platform)}`, { method: "POST", unix: sock, headers: { "X-Registry-Auth": "e30=" } });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toStartWith("invalid platform: ");
    }
  });
});
