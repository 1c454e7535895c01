/**
 * The registry client against the real CNCF registry (docker-registry 2.8) on loopback, with the fault
 * proxy in front where a fault is needed. Images are pushed over the registry's own HTTP API, so each test
 * knows the exact bytes (and digests) it expects back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegistryClient, RegistryError, sha256 } from "../../src/engine/registry/client.ts";
import { parseReference, type Reference } from "../../src/engine/registry/reference.ts";
import { MediaType } from "../../src/engine/image/types.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";

// ---- a registry of our own (docker-registry serve) --------------------------------------------------

interface Reg {
  url: string;
  host: string;
  username?: string;
  password?: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

async function startRegistry(auth: "none" | "basic"): Promise<Reg> {
  const dir = mkdtempSync(join(tmpdir(), "bunker-reg-"));
  const port = await freePort();
  let authYaml = "";
  const username = "tester";
  const password = "s3cret!";
  if (auth === "basic") {
    const hash = (await Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 })).replace(/^\$2b\$/, "$2y$");
    writeFileSync(join(dir, "htpasswd"), `${username}:${hash}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${join(dir, "htpasswd")}\n`;
  }
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`,
  );
  const proc = Bun.spawn(["/usr/bin/docker-registry", "serve", join(dir, "config.yml")], { stdout: "ignore", stderr: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/v2/`);
      break;
    } catch {
      await Bun.sleep(25);
    }
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    ...(auth === "basic" ? { username, password } : {}),
    async stop() {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pushes blobs and manifests with the registry's upload API. */
class Pusher {
  constructor(
    private base: string,
    private auth?: string,
  ) {}
  private h(extra: Record<string, string> = {}) {
    return { ...(this.auth ? { authorization: this.auth } : {}), ...extra };
  }
  async blob(repo: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = sha256(bytes);
    const start = await fetch(`${this.base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: this.h() });
    if (start.status !== 202) throw new Error(`upload start ${start.status} ${await start.text()}`);
    const loc = new URL(start.headers.get("location")!, this.base);
    loc.searchParams.set("digest", digest);
    const put = await fetch(loc, { method: "PUT", body: bytes as Uint8Array<ArrayBuffer>, headers: this.h({ "content-type": "application/octet-stream" }) });
    if (put.status !== 201) throw new Error(`upload ${put.status} ${await put.text()}`);
    return { digest, size: bytes.length };
  }
  async manifest(repo: string, ref: string, body: object | string, contentType: string): Promise<{ digest: string; size: number; raw: Uint8Array }> {
    const raw = new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body));
    const res = await fetch(`${this.base}/v2/${repo}/manifests/${ref}`, { method: "PUT", body: raw, headers: this.h({ "content-type": contentType }) });
    if (res.status !== 201) throw new Error(`manifest ${res.status} ${await res.text()}`);
    return { digest: sha256(raw), size: raw.length, raw };
  }
  /** A one-config, N-layer image; returns what was pushed. */
  async image(repo: string, tag: string, opts: { layers: Uint8Array[]; oci: boolean; mediaTypeField?: boolean; arch?: string }) {
    const layers = [];
    for (const l of opts.layers) layers.push(await this.blob(repo, l));
    const config = {
      architecture: opts.arch ?? "amd64",
      os: "linux",
      config: { Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: opts.layers.map((l) => sha256(Bun.gzipSync(l as Uint8Array<ArrayBuffer>))) },
    };
    const rawConfig = new TextEncoder().encode(JSON.stringify(config));
    const cfg = await this.blob(repo, rawConfig);
    const mt = opts.oci ? MediaType.OCI_MANIFEST : MediaType.DOCKER_MANIFEST;
    const manifest = {
      schemaVersion: 2,
      ...(opts.mediaTypeField === false ? {} : { mediaType: mt }),
      config: { mediaType: opts.oci ? MediaType.OCI_CONFIG : MediaType.DOCKER_CONFIG, ...cfg },
      layers: layers.map((l) => ({ mediaType: opts.oci ? MediaType.OCI_LAYER_GZIP : MediaType.DOCKER_LAYER_GZIP, ...l })),
    };
    const m = await this.manifest(repo, tag, manifest, mt);
    return { ...m, configDigest: cfg.digest, layers, rawConfig };
  }
}

const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
function bigRandom(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) out.set(crypto.getRandomValues(new Uint8Array(Math.min(65536, n - i))), i);
  return out;
}
async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}
const ref = (s: string): Reference => parseReference(s);
async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (e) {
    return e as RegistryError;
  }
  throw new Error("expected a rejection");
}

// ---- fixtures ---------------------------------------------------------------------------------------

let reg: Reg;
let push: Pusher;
const big = bigRandom(3 * 1024 * 1024 + 123);
const small = rnd(4000);
let oci: Awaited<ReturnType<Pusher["image"]>>;
let d2: Awaited<ReturnType<Pusher["image"]>>;
let nomt: Awaited<ReturnType<Pusher["image"]>>;
let amd: Awaited<ReturnType<Pusher["image"]>>;
let arm: Awaited<ReturnType<Pusher["image"]>>;
let index: { digest: string };

beforeAll(async () => {
  reg = await startRegistry("none");
  push = new Pusher(reg.url);
  oci = await push.image("test/oci", "v1", { layers: [small, big], oci: true });
  d2 = await push.image("test/d2", "v1", { layers: [small], oci: false });
  nomt = await push.image("test/nomediatype", "latest", { layers: [rnd(100)], oci: true, mediaTypeField: false });
  amd = await push.image("test/multi", "amd64", { layers: [rnd(200)], oci: true, arch: "amd64" });
  arm = await push.image("test/multi", "arm64", { layers: [rnd(200)], oci: true, arch: "arm64" });
  const att = await push.image("test/multi", "att", { layers: [rnd(50)], oci: true, arch: "unknown" });
  const entry = (m: { digest: string; size: number }, mt: string, platform: object, annotations?: object) => ({ mediaType: mt, digest: m.digest, size: m.size, platform, ...(annotations ? { annotations } : {}) });
  index = await push.manifest(
    "test/multi",
    "index",
    {
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [
        // buildx puts attestations beside the images; one claiming amd64 by annotation only must still be skipped.
        entry(att, MediaType.OCI_MANIFEST, { os: "unknown", architecture: "unknown" }, { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.digest }),
        entry(att, MediaType.OCI_MANIFEST, { os: "linux", architecture: "amd64" }, { "vnd.docker.reference.type": "attestation-manifest" }),
        entry(arm, MediaType.OCI_MANIFEST, { os: "linux", architecture: "arm64", variant: "v8" }),
        entry(amd, MediaType.OCI_MANIFEST, { os: "linux", architecture: "amd64" }),
      ],
    },
    MediaType.OCI_INDEX,
  );
  const d2amd = await push.image("test/multi", "d2amd64", { layers: [rnd(200)], oci: false, arch: "amd64" });
  await push.manifest("test/multi", "list", { schemaVersion: 2, mediaType: MediaType.DOCKER_LIST, manifests: [entry(d2amd, MediaType.DOCKER_MANIFEST, { os: "linux", architecture: "amd64" })] }, MediaType.DOCKER_LIST);
});
afterAll(async () => {
  await reg?.stop();
});

// ---- resolution -------------------------------------------------------------------------------------

describe("resolve", () => {
  test("OCI image by tag: manifest, config and layers verified and streamed", async () => {
    const c = new RegistryClient();
    const img = await c.image(ref(`${reg.host}/test/oci:v1`));
    expect(img.digest).toBe(oci.digest);
    expect(img.id).toBe(oci.configDigest);
    expect(img.manifestMediaType).toBe(MediaType.OCI_MANIFEST);
    expect(img.index).toBeUndefined();
    expect(img.config.architecture).toBe("amd64");
    expect(new TextDecoder().decode(img.rawConfig)).toBe(new TextDecoder().decode(oci.rawConfig));
    const layers = img.layers();
    expect(layers.map((l) => l.digest)).toEqual(oci.layers.map((l) => l.digest));
    expect(layers[1]!.size).toBe(big.length);
    expect(layers[1]!.diffId).toBe(img.config.rootfs.diff_ids[1]!);
    expect(await readAll(await layers[1]!.compressed())).toEqual(big);
  });

  test("Docker schema2 by digest", async () => {
    const img = await new RegistryClient().image(ref(`${reg.host}/test/d2@${d2.digest}`));
    expect(img.digest).toBe(d2.digest);
    expect(img.manifestMediaType).toBe(MediaType.DOCKER_MANIFEST);
    expect(await readAll(await img.layers()[0]!.compressed())).toEqual(small);
  });

  test("manifest without mediaType goes by Content-Type", async () => {
    const img = await new RegistryClient().image(ref(`${reg.host}/test/nomediatype`));
    expect(img.manifest.mediaType).toBeUndefined();
    expect(img.manifestMediaType).toBe(MediaType.OCI_MANIFEST);
    expect(img.digest).toBe(nomt.digest);
  });

  test("OCI index: picks the platform, skips attestations, remembers the index digest", async () => {
    const c = new RegistryClient();
    const a = await c.image(ref(`${reg.host}/test/multi:index`), { platform: { os: "linux", architecture: "amd64" } });
    expect(a.digest).toBe(amd.digest);
    expect(a.index?.digest).toBe(index.digest);
    const b = await c.image(ref(`${reg.host}/test/multi:index`), { platform: { os: "linux", architecture: "arm64" } });
    expect(b.digest).toBe(arm.digest);
    const byDigest = await c.image(ref(`${reg.host}/test/multi@${index.digest}`), { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    expect(byDigest.digest).toBe(arm.digest);
  });

  test("Docker manifest list and no matching platform", async () => {
    const c = new RegistryClient();
    const img = await c.image(ref(`${reg.host}/test/multi:list`), { platform: { os: "linux", architecture: "amd64" } });
    expect(img.manifestMediaType).toBe(MediaType.DOCKER_MANIFEST);
    const e = await rejection(c.image(ref(`${reg.host}/test/multi:list`), { platform: { os: "linux", architecture: "s390x" } }));
    expect(e.message).toBe("no matching manifest for linux/s390x in the manifest list entries");
    expect((e as unknown as { kind: string }).kind).toBe("notFound");
  });

  test("head and tags", async () => {
    const c = new RegistryClient();
    expect(await c.head(ref(`${reg.host}/test/oci:v1`))).toEqual({ digest: oci.digest, mediaType: MediaType.OCI_MANIFEST, size: oci.size });
    expect(await c.head(ref(`${reg.host}/test/oci:nope`))).toBeNull();
    expect((await c.tags(ref(`${reg.host}/test/multi`))).sort()).toEqual(["amd64", "arm64", "att", "d2amd64", "index", "list"]);
  });
});

// ---- Docker's error texts ---------------------------------------------------------------------------

describe("errors", () => {
  test("missing tag and missing repository (registry 2.8 says MANIFEST_UNKNOWN for both)", async () => {
    const c = new RegistryClient();
    const t = await rejection(c.image(ref(`${reg.host}/test/oci:nope`)));
    expect(t.message).toBe(`manifest for ${reg.host}/test/oci:nope not found: manifest unknown: manifest unknown`);
    expect(t.kind).toBe("notFound");
    expect(t.codes).toEqual(["MANIFEST_UNKNOWN"]);
    expect(t.httpStatus).toBe(404);
    const r = await rejection(c.image(ref(`${reg.host}/test/nothing:latest`)));
    expect(r.message).toBe(`manifest for ${reg.host}/test/nothing:latest not found: manifest unknown: manifest unknown`);
  });

  test("connection refused", async () => {
    const port = await freePort();
    const e = await rejection(new RegistryClient().image(ref(`127.0.0.1:${port}/x:latest`)));
    expect(e.message).toBe(`Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`);
    expect(e.kind).toBe("system");
    expect(e.temporary).toBe(true);
  });

  test("a wrong digest by digest is refused", async () => {
    const e = await rejection(new RegistryClient().image(ref(`${reg.host}/test/oci@sha256:${"0".repeat(64)}`)));
    expect(e.message).toBe(`manifest for ${reg.host}/test/oci@sha256:${"0".repeat(64)} not found: manifest unknown: manifest unknown`);
  });

  test("schema1 is refused with Docker's deprecation message", async () => {
    const body = JSON.stringify({ schemaVersion: 1, name: "test/s1", tag: "v1", architecture: "amd64", fsLayers: [], history: [], signatures: [] });
    // The 2.8 registry refuses to store schema1; serve one through the proxy's upstream instead.
    const fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => (new URL(req.url).pathname === "/v2/" ? new Response("{}") : new Response(body, { headers: { "content-type": MediaType.DOCKER_SCHEMA1_SIGNED } })),
    });
    try {
      const e = await rejection(new RegistryClient().image(ref(`127.0.0.1:${fake.port}/test/s1:v1`)));
      expect(e.message).toBe(
        `Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of 127.0.0.1:${fake.port}/test/s1:v1 to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/`,
      );
    } finally {
      fake.stop(true);
    }
  });
});

// ---- faults -----------------------------------------------------------------------------------------

describe("faults (through the fault proxy)", () => {
  let proxy: FaultProxy;
  beforeAll(() => {
    proxy = startFaultProxy(reg.url);
  });
  afterAll(() => proxy.stop());
  const bigLayer = () => oci.layers[1]!.digest;

  test("a corrupted blob errors at the end of the stream", async () => {
    proxy.faults.length = 0;
    proxy.faults.push({ path: new RegExp(`/blobs/${bigLayer()}$`), corrupt: true });
    const img = await new RegistryClient().image(ref(`${proxy.host}/test/oci:v1`));
    const e = await rejection(readAll(await img.layers()[1]!.compressed()));
    expect(e.message).toBe(`filesystem layer verification failed for digest ${bigLayer()}`);
  });

  test("5xx twice, then success", async () => {
    proxy.faults.length = 0;
    proxy.requests.length = 0;
    proxy.faults.push({ path: new RegExp(`/blobs/${bigLayer()}$`), status: 503, times: 2 });
    const img = await new RegistryClient({ retryDelayMs: 10 }).image(ref(`${proxy.host}/test/oci:v1`));
    expect(await readAll(await img.layers()[1]!.compressed())).toEqual(big);
    expect(proxy.requests.filter((r) => r.path.endsWith(bigLayer())).length).toBe(3);
  });

  test("5xx forever gives up after 4 tries with the registry's error", async () => {
    proxy.faults.length = 0;
    proxy.requests.length = 0;
    proxy.faults.push({ path: new RegExp(`/blobs/${bigLayer()}$`), status: 500 });
    const img = await new RegistryClient({ retryDelayMs: 5 }).image(ref(`${proxy.host}/test/oci:v1`));
    const e = await rejection(img.layers()[1]!.compressed());
    expect(e.message).toBe("received unexpected HTTP status: 500 Internal Server Error");
    expect(e.temporary).toBe(true);
    expect(proxy.requests.filter((r) => r.path.endsWith(bigLayer())).length).toBe(4);
  });

  test("connection dropped mid-blob resumes with Range, seamlessly", async () => {
    proxy.faults.length = 0;
    proxy.requests.length = 0;
    proxy.faults.push({ path: new RegExp(`/blobs/${bigLayer()}$`), dropAfter: 1_000_000, times: 2 });
    const img = await new RegistryClient({ retryDelayMs: 5 }).image(ref(`${proxy.host}/test/oci:v1`));
    const got = await readAll(await img.layers()[1]!.compressed());
    expect(got.length).toBe(big.length);
    expect(got).toEqual(big);
    const reqs = proxy.requests.filter((r) => r.path.endsWith(bigLayer()));
    expect(reqs.length).toBe(3);
    expect(reqs[0]!.range).toBeUndefined();
    expect(reqs[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(reqs[1]!.range!.slice(6, -1))).toBeGreaterThan(0);
  });

  test("a drop with no Range support fails rather than restart after bytes were delivered", async () => {
    proxy.faults.length = 0;
    proxy.faults.push({ path: new RegExp(`/blobs/${bigLayer()}$`), dropAfter: 500_000, noRange: true });
    const img = await new RegistryClient({ retryDelayMs: 5 }).image(ref(`${proxy.host}/test/oci:v1`));
    const e = await rejection(readAll(await img.layers()[1]!.compressed()));
    expect(e.message).toContain("does not support resuming");
  });

  test("redirect to another loopback host, without Authorization", async () => {
    proxy.faults.length = 0;
    proxy.requests.length = 0;
    proxy.faults.push({ path: /\/blobs\//, redirect: true });
    const img = await new RegistryClient().image(ref(`${proxy.host}/test/oci:v1`));
    expect(await readAll(await img.layers()[1]!.compressed())).toEqual(big);
    const redirected = proxy.requests.filter((r) => r.host === "redirect");
    expect(redirected.length).toBe(2); // the config and the layer read here
    expect(redirected.every((r) => r.authorization === undefined)).toBe(true);
  });

  test("concurrent layer downloads", async () => {
    proxy.faults.length = 0;
    const img = await new RegistryClient().image(ref(`${proxy.host}/test/oci:v1`));
    const all = await Promise.all([...img.layers(), ...img.layers()].map(async (l) => readAll(await l.compressed())));
    expect(all.map((b) => b.length)).toEqual([small.length, big.length, small.length, big.length]);
  });
});

// ---- auth -------------------------------------------------------------------------------------------

describe("basic auth", () => {
  let breg: Reg;
  beforeAll(async () => {
    breg = await startRegistry("basic");
    const auth = `Basic ${btoa(`${breg.username}:${breg.password}`)}`;
    await new Pusher(breg.url, auth).image("private/app", "v1", { layers: [rnd(300)], oci: true });
  });
  afterAll(async () => breg?.stop());

  test("with credentials", async () => {
    const c = new RegistryClient({ credentials: (h) => (h === breg.host ? { username: breg.username!, password: breg.password! } : undefined) });
    const img = await c.image(ref(`${breg.host}/private/app:v1`));
    expect((await readAll(await img.layers()[0]!.compressed())).length).toBe(300);
  });

  test("without credentials: Docker's message", async () => {
    const e = await rejection(new RegistryClient().image(ref(`${breg.host}/private/app:v1`)));
    expect(e.message).toBe(`Head "http://${breg.host}/v2/private/app/manifests/v1": no basic auth credentials`);
  });

  test("blob redirect to another host drops the Authorization header", async () => {
    const proxy = startFaultProxy(breg.url);
    try {
      proxy.faults.push({ path: /\/blobs\//, redirect: true });
      const c = new RegistryClient({ credentials: () => ({ username: breg.username!, password: breg.password! }) });
      const img = await c.image(ref(`${proxy.host}/private/app:v1`));
      expect((await readAll(await img.layers()[0]!.compressed())).length).toBe(300);
      const toProxy = proxy.requests.filter((r) => r.host === "proxy" && r.path.includes("/blobs/"));
      const redirected = proxy.requests.filter((r) => r.host === "redirect");
      expect(toProxy.length).toBe(2);
      expect(toProxy.every((r) => r.authorization?.startsWith("Basic "))).toBe(true);
      expect(redirected.length).toBe(2);
      expect(redirected.every((r) => r.authorization === undefined)).toBe(true);
    } finally {
      proxy.stop();
    }
  });

  test("login", async () => {
    const c = new RegistryClient();
    await c.login(breg.host, breg.username!, breg.password!);
    const e = await rejection(c.login(breg.host, breg.username!, "wrong"));
    expect(e.message).toBe(`login attempt to http://${breg.host}/v2/ failed with status: 401 Unauthorized`);
  });
});
