/**
 * Pulling from a hostile registry (tests/helpers/hostile-registry.ts): one test per class of attack.
 * After every case the store is consistent (no staging data, every layer directory has its row) and
 * nothing was created outside the data root.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BUNKER, bunkerAt, DAEMON_MODE, tempDir, serveAt } from "../helpers/bunker.ts";
import { bombLayer, endless, gzLayer, HostileRegistry, stall } from "../helpers/hostile-registry.ts";

let reg: HostileRegistry;
/** Each case's sandbox: `<base>/a/b/root` is the data root, so `../../../../escape` from its tmp/ lands in `<base>/escape`. */
let base: string;
let b: ReturnType<typeof bunkerAt>;

beforeAll(() => {
  reg = new HostileRegistry();
});
afterAll(() => reg.stop());

/** Local files a hostile registry points at (outside the sandbox). */
let files: string;

function fresh() {
  base = tempDir("bunker-hostile-");
  files = tempDir("bunker-hostile-files-");
  b = bunkerAt(join(base, "a", "b", "root"));
  reg.reset();
}

/**
 * Sizes of the files under `dir`, summed (0 when it does not exist). The pull being watched removes its
 * staging directories as it goes, so an entry listed a moment ago may be gone by the time it is read.
 */
function bytesUnder(dir: string): number {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e: any) {
    if (e.code === "ENOENT") return 0;
    throw e;
  }
  let n = 0;
  for (const name of names) n += bytesUnder(join(dir, name));
  return n;
}

/** Nothing outside the data root, no staging data, every layer directory with its row and the reverse. */
function expectConsistent() {
  expect(readdirSync(base)).toEqual(["a"]);
  expect(readdirSync(join(base, "a"))).toEqual(["b"]);
  expect(readdirSync(join(base, "a", "b")).filter((n) => !n.startsWith("root"))).toEqual([]);
  const root = b.dataRoot;
  const tmp = join(root, "tmp");
  expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
  if (!existsSync(join(root, "bunker.db"))) return;
  const db = new Database(join(root, "bunker.db"), { readonly: true });
  try {
    const cacheIds = (db.query("SELECT cache_id FROM layers").all() as { cache_id: string }[]).map((r) => r.cache_id).sort();
    const dirs = existsSync(join(root, "overlay2")) ? readdirSync(join(root, "overlay2")).filter((n) => n !== "l").sort() : [];
    expect(dirs).toEqual(cacheIds);
    for (const l of existsSync(join(root, "locks")) ? readdirSync(join(root, "locks")) : []) expect(l).toMatch(/^(gc|layer-[a-f0-9]{64}|[a-z-]+)$/);
  } finally {
    db.close();
  }
}
afterEach(() => {
  if (base) expectConsistent();
});

const ref = (repo: string, tag = "latest") => `${reg.host}/${repo}:${tag}`;

describe("1. digests, diff IDs and media types are checked before use", () => {
  const hostile = ["sha256:../../../../escape/pwned", `sha256:${"../".repeat(4)}escape/${"a".repeat(40)}`, "sha256:abc\0def", `sha256:${"a".repeat(5000)}`, "sha256:/etc/passwd", "md5:../../x"];
  test.each(hostile.map((h) => [JSON.stringify(h.slice(0, 40)), h]))("diff ID %s", async (_, h) => {
    fresh();
    const l = gzLayer({ "f.txt": "hello" });
    reg.image("diffid", "t", [l], { config: { rootfs: { type: "layers", diff_ids: [h] } } });
    const r = await b.run(["pull", ref("diffid", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("diff ID");
    expect(existsSync(join(base, "escape"))).toBe(false);
  });
  test.each(hostile.map((h) => [JSON.stringify(h.slice(0, 40)), h]))("layer digest, config digest and media type %s", async (_, h) => {
    fresh();
    const l = gzLayer({ "f.txt": "hello" });
    for (const [field, edit] of [
      ["layer digest", (m: any) => ({ ...m, layers: [{ ...m.layers[0], digest: h }] })],
      ["config digest", (m: any) => ({ ...m, config: { ...m.config, digest: h } })],
      ["layer media type", (m: any) => ({ ...m, layers: [{ ...m.layers[0], mediaType: `a/${h}` }] })],
    ] as const) {
      reg.image("desc", "t", [l], { manifest: edit });
      const r = await b.run(["pull", ref("desc", "t")]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(field);
      expect(reg.seen.some((s) => s.path.includes(".."))).toBe(false);
    }
    expect(existsSync(join(base, "escape"))).toBe(false);
  });
  test("index entry digest", async () => {
    fresh();
    reg.manifest("index", "t", { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:../../../../escape/pwned", size: 10, platform: { os: "linux", architecture: "amd64" } }] }, "application/vnd.oci.image.index.v1+json");
    const r = await b.run(["pull", "--platform", "linux/amd64", ref("index", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("manifest list entry digest");
    expect(reg.seen.some((s) => s.path.includes(".."))).toBe(false);
  });
  test("malformed manifest list entries: a null one is skipped, a bad platform or annotation fails with its position", async () => {
    fresh();
    const index = (manifests: unknown[]) => ({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests });
    const arm = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"a".repeat(64)}`, size: 10, platform: { os: "linux", architecture: "arm64" } };
    for (const [entries, message] of [
      [[null, arm], "no matching manifest for linux/amd64 in the manifest list entries"],
      [[7], "invalid manifest list: entry 0: not an object"],
      [[arm, { ...arm, platform: { os: 5, architecture: "amd64" } }], "invalid manifest list: entry 1: platform is not {os, architecture, variant} strings"],
      [[{ ...arm, platform: "linux/amd64" }], "invalid manifest list: entry 0: platform is not"],
      [[{ ...arm, annotations: { a: 1 } }], "invalid manifest list: entry 0: annotations are not strings"],
    ] as const) {
      reg.manifest("index", "t", index([...entries]), "application/vnd.oci.image.index.v1+json");
      const r = await b.run(["pull", "--platform", "linux/amd64", ref("index", "t")]);
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining(message)]);
      expect(r.stderr).not.toContain("TypeError");
    }
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
  });
  test("tags from a tags list", async () => {
    fresh();
    reg.on(/\/tags\/list/, () => Response.json({ name: "tags", tags: ["ok", "../../../../escape/x", "a\u001b[2J"] }));
    const r = await b.run(["pull", "-a", `${reg.host}/tags`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("invalid tag");
    expect(r.stderr).not.toContain("\u001b");
  });
});

describe("2. only http: and https: are fetched", () => {
  test("a file: token realm is refused, its token never sent", async () => {
    fresh();
    writeFileSync(join(files, "token.json"), JSON.stringify({ token: "FILETOKEN" }));
    reg.challenge = `Bearer realm="file://${join(files, "token.json")}",service="x"`;
    reg.image("realm", "t", [gzLayer({ f: "x" })]);
    const r = await b.run(["pull", ref("realm", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unsupported protocol scheme "file"');
    expect(reg.seen.some((s) => s.authorization?.includes("FILETOKEN"))).toBe(false);
  });
  test("a redirect to file: is not followed, the file's text never shown", async () => {
    fresh();
    writeFileSync(join(files, "m.json"), "SECRETWORD and more");
    reg.on(/\/manifests\//, () => new Response(null, { status: 302, headers: { location: `file://${join(files, "m.json")}` } }));
    const r = await b.run(["pull", ref("redirect", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unsupported protocol scheme "file"');
    expect(r.stderr).not.toContain("SECRETWORD");
  });
  test("a blob redirect to file: is not followed", async () => {
    fresh();
    writeFileSync(join(files, "blob"), "SECRETWORD");
    reg.image("blobredir", "t", [gzLayer({ f: "x" })]);
    reg.on(/\/blobs\//, () => new Response(null, { status: 307, headers: { location: `file://${join(files, "blob")}` } }));
    const r = await b.run(["pull", ref("blobredir", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unsupported protocol scheme "file"');
  });
});

describe("3. pull -a follows Links without leaking credentials", () => {
  const login = () => {
    const dir = process.env.DOCKER_CONFIG!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
  };
  test("a Link to another host gets no Authorization", async () => {
    fresh();
    login();
    reg.challenge = 'Basic realm="hostile"';
    reg.on(/\/tags\/list/, () => Response.json({ name: "linked", tags: [] }, { headers: { link: `<${reg.otherUrl}/v2/linked/tags/list?n=1>; rel="next"` } }));
    await b.run(["pull", "-a", `${reg.host}/linked`], { timeout: 20_000 });
    expect(reg.seen.some((s) => s.path.includes("tags/list") && s.authorization?.startsWith("Basic "))).toBe(true);
    expect(reg.otherSeen.length).toBeGreaterThan(0);
    expect(reg.otherSeen.filter((s) => s.authorization !== null)).toEqual([]);
  });
  test("a Link loop ends", async () => {
    fresh();
    reg.image("loop", "only", [gzLayer({ f: "x" })]);
    reg.on(/\/tags\/list/, () => Response.json({ name: "loop", tags: ["only"] }, { headers: { link: `</v2/loop/tags/list?n=1>; rel="next"` } }));
    const r = await b.run(["pull", "-a", `${reg.host}/loop`], { timeout: 20_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(reg.seen.filter((s) => s.path.includes("tags/list")).length).toBeLessThan(5);
  });
});

describe("4. bodies read whole are capped, after decoding", () => {
  const bomb = gzipSync(Buffer.alloc(256 << 20, 0x20)); // 256 MiB of spaces in ~250 KB
  const cases: [string, () => void, string][] = [
    ["an endless manifest", () => reg.on(/\/manifests\//, () => new Response(endless(), { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })), "manifest exceeds the limit of 4194304 bytes"],
    ["a gzip-bomb manifest", () => reg.on(/\/manifests\//, () => new Response(bomb, { headers: { "content-encoding": "gzip", "content-type": "application/vnd.oci.image.manifest.v1+json" } })), "manifest exceeds the limit of 4194304 bytes"],
    ["a 50 MB manifest", () => reg.on(/\/manifests\//, () => new Response(new Uint8Array(50 << 20).fill(0x20), { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })), "manifest exceeds the limit of 4194304 bytes"],
    [
      "an endless token",
      () => {
        reg.challenge = `Bearer realm="http://${reg.host}/token",service="x"`;
        reg.on(/^\/token/, () => new Response(endless()));
      },
      "token response exceeds the limit of 1048576 bytes",
    ],
    ["an endless error body", () => reg.on(/\/manifests\//, () => new Response(endless(), { status: 404 })), "error parsing HTTP 404 response body"],
    ["a gzip-bomb error body", () => reg.on(/\/manifests\//, () => new Response(bomb, { status: 500, headers: { "content-encoding": "gzip" } })), "500"],
  ];
  test.each(cases)("%s", async (_, setup, message) => {
    fresh();
    setup();
    const t0 = Date.now();
    const r = await b.run(["pull", ref("big", "t")], { timeout: 5_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(Date.now() - t0).toBeLessThan(4_000);
  });
});

describe("5. layers per image", () => {
  test("more than 125 layers is refused before any layer is fetched", async () => {
    fresh();
    const layers = Array.from({ length: 126 }, (_, i) => gzLayer({ [`f${i}`]: String(i) }));
    reg.image("deep", "t", layers);
    const r = await b.run(["pull", ref("deep", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("max depth exceeded");
    const layerDigests = new Set(layers.map((l) => l.digest));
    expect(reg.seen.filter((s) => layerDigests.has(s.path.split("/").at(-1)!))).toEqual([]);
  });
  test("125 layers pull, and rmi removes them all", async () => {
    fresh();
    reg.image("deep125", "t", Array.from({ length: 125 }, (_, i) => gzLayer({ [`f${i}`]: String(i) })));
    await b.ok(["pull", ref("deep125", "t")]);
    await b.ok(["rmi", ref("deep125", "t")]);
    expect(readdirSync(join(b.dataRoot, "overlay2")).filter((n) => n !== "l")).toEqual([]);
  }, 120_000);
});

describe("6. an unverified layer cannot fill the disk", () => {
  test("a bomb with a wrong digest writes a bounded amount, then fails verification", async () => {
    fresh();
    const bomb = bombLayer(1024); // 1 GiB of zeros in ~1 MB
    const other = new Uint8Array(bomb.gz);
    other[other.length - 20] ^= 1; // any digest but the bomb's own: what the manifest claims
    const fake = reg.blob(other);
    reg.image("bomb", "t", [bomb], { manifest: (m: any) => ({ ...m, layers: [{ ...m.layers[0], digest: fake.digest }] }) });
    reg.on(new RegExp(fake.digest), () => new Response(bomb.gz));
    const proc = await b.spawn(["pull", ref("bomb", "t")]);
    let peak = 0;
    const tmp = join(b.dataRoot, "tmp");
    const poll = setInterval(() => (peak = Math.max(peak, bytesUnder(tmp))), 10);
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearInterval(poll);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`filesystem layer verification failed for digest ${fake.digest}`);
    // 64 MiB may be written before the digest is known (the stream's ratio bound); 1 GiB was the whole bomb.
    expect(peak).toBeLessThan(100 << 20);
  }, 120_000);
  test("a genuine, very compressible layer still pulls (verified first, then unpacked)", async () => {
    fresh();
    reg.image("zeros", "t", [bombLayer(200)]);
    await b.ok(["pull", ref("zeros", "t")]);
    const info = JSON.parse(await b.ok(["image", "inspect", ref("zeros", "t")]))[0];
    expect(lstatSync(join(info.GraphDriver.Data.UpperDir, "zeros")).size).toBe(200 << 20);
  }, 120_000);
});

describe("7. interrupted pulls leave no staging data", () => {
  // 8 MiB of random bytes: the registry sends the first 4 MiB, then stalls.
  const big = gzLayer({ r: Buffer.from(crypto.getRandomValues(new Uint8Array(8 << 20))).toString("latin1") });
  const stalled = () => {
    reg.image("stall", "t", [big]);
    reg.on(new RegExp(big.digest), () => new Response(stall(big.gz.subarray(0, 4 << 20))));
  };
  /** A fresh data root pulling from a stalled registry, stopped by `sig` once it has staged 1 MiB; its exit code. */
  const interruptedPull = async (sig: NodeJS.Signals) => {
    fresh();
    stalled();
    const proc = await b.spawn(["pull", ref("stall", "t")]);
    const tmp = join(b.dataRoot, "tmp");
    for (let i = 0; i < 500 && bytesUnder(tmp) < 1 << 20; i++) await Bun.sleep(20);
    const staged = bytesUnder(tmp);
    proc.kill(sig); // before the check: a failed check must not leave the stalled pull running
    const code = await proc.exited;
    expect(staged).toBeGreaterThanOrEqual(1 << 20);
    return code;
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    test.skipIf(DAEMON_MODE)(`${sig} removes the staging data before the CLI exits`, async () => {
      expect(await interruptedPull(sig)).not.toBe(0);
      expect(readdirSync(join(b.dataRoot, "tmp"))).toEqual([]);
    });
  }
  test.if(DAEMON_MODE)("a CLI killed mid-pull: the daemon drops the pull and its staging data", async () => {
    await interruptedPull("SIGKILL");
    for (let i = 0; i < 250 && readdirSync(join(b.dataRoot, "tmp")).length; i++) await Bun.sleep(20);
    expect(readdirSync(join(b.dataRoot, "tmp"))).toEqual([]);
  });
  test.skipIf(DAEMON_MODE)("after kill -9, the next engine start removes it", async () => {
    await interruptedPull("SIGKILL");
    expect(readdirSync(join(b.dataRoot, "tmp")).length).toBe(1);
    await b.ok(["images"]);
    expect(readdirSync(join(b.dataRoot, "tmp"))).toEqual([]);
  });
  test.skipIf(DAEMON_MODE)("after kill -9, a daemon's start removes it too", async () => {
    await interruptedPull("SIGKILL");
    expect(readdirSync(join(b.dataRoot, "tmp")).length).toBe(1);
    const sock = `${b.dataRoot}.sock`;
    const { daemon } = await serveAt(b.dataRoot, [], { sock });
    try {
      expect(readdirSync(join(b.dataRoot, "tmp"))).toEqual([]);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  });
  test("image prune reports the staging data it frees", async () => {
    fresh();
    await b.ok(["images"]);
    mkdirSync(join(b.dataRoot, "tmp", "left-over"), { recursive: true });
    writeFileSync(join(b.dataRoot, "tmp", "left-over", "part"), new Uint8Array(1 << 20));
    const out = await b.ok(["image", "prune", "-f"]);
    expect(out).toContain("Total reclaimed space: 1.049MB");
  });
});

describe("8. errors say what happened, and registry text is escaped", () => {
  test("a declared size larger than the blob", async () => {
    fresh();
    reg.image("short", "t", [gzLayer({ f: "x" })], { manifest: (m: any) => ({ ...m, layers: [{ ...m.layers[0], size: m.layers[0].size + 1000 }] }) });
    const r = await b.run(["pull", ref("short", "t")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toContain("unexpected end of JSON input");
    expect(r.stderr).toMatch(/the registry sent \d+ bytes and has no more, the manifest declares \d+/);
  });
  test("control characters in registry errors never reach the terminal", async () => {
    fresh();
    const evil = "\u001b]0;owned\u0007\u001b[2J\u009b31m\r\nfake line";
    for (const res of [
      () => Response.json({ errors: [{ code: "DENIED", message: evil }] }, { status: 403 }),
      () => Response.json({ errors: [{ code: `X${evil}`, message: "m" }] }, { status: 400 }),
      () => new Response(evil, { status: 418 }),
      () => Response.json({ details: evil }, { status: 401 }),
    ]) {
      reg.reset();
      reg.on(/\/manifests\//, res);
      const r = await b.run(["pull", ref("esc", "t")]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect(r.stderr.trim().split("\n").length).toBe(1);
    }
  });
  test("control characters from image metadata are escaped on a terminal, passed through to a pipe", async () => {
    fresh();
    const evil = "\u001b]0;owned\u0007\u001b[2J\u009b31m";
    reg.image("meta", "t", [gzLayer({ f: "x" })], { config: { config: { Labels: { x: `a${evil}b` } }, history: [{ created: "2024-01-01T00:00:00Z", created_by: `RUN ${evil}`, comment: evil }] } });
    await b.ok(["pull", ref("meta", "t")]);
    const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const onTty = async (...args: string[]) => {
      const cmd = [BUNKER, ...(await b.prefix()), ...args].map(quote).join(" ");
      const p = Bun.spawnSync(["script", "-qfec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, TERM: "dumb" } });
      return p.stdout.toString();
    };
    for (const args of [["history", "--no-trunc", ref("meta", "t")], ["inspect", "-f", "{{.Config.Labels}}", ref("meta", "t")], ["image", "inspect", ref("meta", "t")], ["images", "--format", "{{.Repository}} {{.Tag}}"]]) {
      const out = await onTty(...args);
      expect(out.length).toBeGreaterThan(0);
      expect(out).not.toMatch(/[\u001b\u0007\u009b]/);
    }
    expect(await onTty("inspect", "-f", "{{.Config.Labels}}", ref("meta", "t"))).toContain("\\x1b]0;owned\\x07");
    // Into a pipe the exact bytes, as the docker CLI writes them.
    expect(await b.ok(["inspect", "-f", "{{index .Config.Labels \"x\"}}", ref("meta", "t")])).toBe(`a${evil}b\n`);
  });
});
