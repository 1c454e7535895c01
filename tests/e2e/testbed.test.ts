/**
 * Proves the test bed itself: the images are in the real registry as described by images.json, the three
 * auth modes behave like Docker Hub / a private registry, and the torture image's oracle root has every
 * layer-application case in its expected state.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTestbed, startRegistry, type Registry, type Testbed } from "../helpers/registry.ts";
import { expectedRootfs, treeListing } from "../helpers/oracle.ts";

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

let bed: Testbed;
let open: Registry;
const scratch = mkdtempSync(join(tmpdir(), "bunker-testbed-test-"));

beforeAll(async () => {
  bed = await ensureTestbed();
  open = await startRegistry();
}, 900_000);

afterAll(async () => {
  await open?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function getManifest(reg: Registry, name: string, ref: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${ref}`, { headers: { accept: ACCEPT, ...headers } });
  const body = await res.text();
  return { res, body, doc: res.ok ? JSON.parse(body) : undefined };
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.replace(/^Bearer\s+/i, "").matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

describe("images in the registry", () => {
  test("every image in images.json is pullable with the recorded digest and media type", async () => {
    const names = bed.images.map((i) => `${i.name}:${i.tag}`);
    for (const want of ["busybox:latest", "busybox:v2s2", "debian:bookworm", "redis:latest", "nginx:latest",
      "torture:latest", "multi:list", "multi:index", "nomediatype:latest", "library/ubuntu:latest",
      "library/alpine:latest", "library/nginx:latest", "library/redis:latest", "library/busybox:latest",
      "library/debian:bookworm"]) {
      expect(names).toContain(want);
    }
    for (const img of bed.images) {
      const { res } = await getManifest(open, img.name, img.tag);
      expect(res.status).toBe(200);
      expect(res.headers.get("docker-content-digest")).toBe(img.digest);
      expect(res.headers.get("content-type")).toBe(img.mediaType);
      for (const l of img.layers ?? []) {
        const head = await fetch(`${open.url}/v2/${img.name}/blobs/${l.digest}`, { method: "HEAD" });
        expect(head.status).toBe(200);
      }
    }
  });

  test("both manifest kinds are present, and every config carries the stand-in label", async () => {
    expect(bed.image("busybox", "latest").mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(bed.image("busybox", "v2s2").mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(bed.image("library/debian", "bookworm").mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(bed.image("multi", "list").mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    for (const img of bed.images.filter((i) => i.configDigest)) {
      const cfg: any = await (await fetch(`${open.url}/v2/${img.name}/blobs/${img.configDigest}`)).json();
      expect(cfg.config.Labels["org.opencontainers.image.description"]).toBe("stand-in built offline by the bunker test bed");
      expect(cfg.history.filter((h: any) => !h.empty_layer).length).toBe(img.layers!.length);
    }
    const nginx: any = await (await fetch(`${open.url}/v2/nginx/blobs/${bed.image("nginx", "latest").configDigest}`)).json();
    expect(nginx.config.StopSignal).toBe("SIGQUIT");
    expect(nginx.config.Cmd).toEqual(["nginx", "-g", "daemon off;"]);
    expect(Object.keys(nginx.config.ExposedPorts)).toEqual(["80/tcp"]);
  });

  test("the OCI index has two platforms plus attestation entries; the list has the two platforms", async () => {
    const { doc } = await getManifest(open, "multi", "index");
    const platforms = doc.manifests.map((m: any) => `${m.platform.os}/${m.platform.architecture}`);
    expect(platforms).toEqual(["linux/amd64", "linux/arm64", "unknown/unknown", "unknown/unknown"]);
    const att = doc.manifests.filter((m: any) => m.annotations?.["vnd.docker.reference.type"] === "attestation-manifest");
    expect(att.length).toBe(2);
    expect(att[0].annotations["vnd.docker.reference.digest"]).toBe(doc.manifests[0].digest);
    const list = (await getManifest(open, "multi", "list")).doc;
    expect(list.manifests.map((m: any) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    // The index's amd64 entry is the very image busybox:latest is.
    expect(doc.manifests[0].digest).toBe(bed.image("busybox", "latest").digest);
  });

  test("the arm64 platform really holds an aarch64 busybox", async () => {
    const root = join(scratch, "arm64");
    await expectedRootfs(bed.layoutDir, "multi-index", root, "arm64");
    const elf = readFileSync(join(root, "bin/busybox")).subarray(0, 20);
    expect(elf.subarray(1, 4).toString()).toBe("ELF");
    expect(elf.readUInt16LE(18)).toBe(183); // EM_AARCH64
  });

  test("nomediatype's manifest has no mediaType field and is served as an OCI manifest", async () => {
    const { res, doc } = await getManifest(open, "nomediatype", "latest");
    expect(doc.mediaType).toBeUndefined();
    expect(doc.schemaVersion).toBe(2);
    expect(res.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
  });

  test("the package layers carry natural whiteouts", async () => {
    const redis = bed.image("redis", "latest");
    const blob = join(bed.layoutDir, "blobs/sha256", redis.layers![1].digest.slice(7));
    const list = Bun.spawnSync(["tar", "-tzf", blob]).stdout.toString();
    expect(list).toContain("var/lib/apt/lists/.wh.lock");
  });
});

describe("storage modes", () => {
  test("shared storage is read-only, a copy accepts pushes, empty has no repositories", async () => {
    const shared = await fetch(`${open.url}/v2/scratch/blobs/uploads/`, { method: "POST" });
    expect(shared.status).not.toBe(202);
    const copy = await startRegistry({ storage: "copy" });
    const empty = await startRegistry({ storage: "empty" });
    try {
      expect((await fetch(`${copy.url}/v2/scratch/blobs/uploads/`, { method: "POST" })).status).toBe(202);
      expect(copy.storageDir).not.toBe(bed.storageDir);
      const catalog: any = await (await fetch(`${empty.url}/v2/_catalog`)).json();
      expect(catalog.repositories ?? []).toEqual([]);
    } finally {
      await copy.stop();
      await empty.stop();
    }
    expect(existsSync(copy.storageDir)).toBe(false);
  });
});

describe("auth", () => {
  test("basic auth rejects without credentials and accepts with them", async () => {
    const reg = await startRegistry({ auth: "basic" });
    try {
      const anon = await fetch(`${reg.url}/v2/`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
      const wrong = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Basic ${btoa(`${reg.username}:nope`)}` } });
      expect(wrong.status).toBe(401);
      const basic = `Basic ${btoa(`${reg.username}:${reg.password}`)}`;
      expect((await fetch(`${reg.url}/v2/`, { headers: { authorization: basic } })).status).toBe(200);
      expect((await getManifest(reg, "library/busybox", "latest", { authorization: basic })).res.status).toBe(200);
    } finally {
      await reg.stop();
    }
  });

  test("token auth: Docker Hub-style challenge, anonymous pull token accepted by the registry", async () => {
    const reg = await startRegistry({ auth: "token" });
    try {
      const first = await getManifest(reg, "library/busybox", "latest");
      expect(first.res.status).toBe(401);
      const ch = parseChallenge(first.res.headers.get("www-authenticate")!);
      expect(ch.realm).toBe(reg.realm!);
      expect(ch.scope).toBe("repository:library/busybox:pull");
      const tokenUrl = `${ch.realm}?service=${encodeURIComponent(ch.service)}&scope=${encodeURIComponent(ch.scope)}`;
      const { token, access_token } = (await (await fetch(tokenUrl)).json()) as any;
      expect(access_token).toBe(token);
      const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
      expect(claims.access).toEqual([{ type: "repository", name: "library/busybox", actions: ["pull"] }]);
      const ok = await getManifest(reg, "library/busybox", "latest", { authorization: `Bearer ${token}` });
      expect(ok.res.status).toBe(200);
      // A pull token for one repository does not open another.
      expect((await getManifest(reg, "library/debian", "bookworm", { authorization: `Bearer ${token}` })).res.status).toBe(401);
    } finally {
      await reg.stop();
    }
  });

  test("token auth without anonymous access needs credentials at the token endpoint", async () => {
    const reg = await startRegistry({ auth: "token", anonymous: false });
    try {
      const ch = parseChallenge((await getManifest(reg, "busybox", "latest")).res.headers.get("www-authenticate")!);
      const tokenUrl = `${ch.realm}?service=${encodeURIComponent(ch.service)}&scope=${encodeURIComponent(ch.scope)}`;
      const anon: any = await (await fetch(tokenUrl)).json();
      expect((await getManifest(reg, "busybox", "latest", { authorization: `Bearer ${anon.token}` })).res.status).toBe(401);
      const bad = await fetch(tokenUrl, { headers: { authorization: `Basic ${btoa(`${reg.username}:wrong`)}` } });
      expect(bad.status).toBe(401);
      const good: any = await (await fetch(tokenUrl, { headers: { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` } })).json();
      expect((await getManifest(reg, "busybox", "latest", { authorization: `Bearer ${good.token}` })).res.status).toBe(200);
    } finally {
      await reg.stop();
    }
  });
});

describe("torture oracle", () => {
  let root: string;
  let listing: string[];
  const line = (p: string) => listing.find((l) => l.startsWith(`${p} `));

  beforeAll(async () => {
    root = join(scratch, "torture");
    await expectedRootfs(bed.layoutDir, "torture", root);
    listing = await treeListing(root);
  });

  test("whiteouts: file, directory and opaque; no whiteout file survives", () => {
    expect(existsSync(join(root, "a/whiteme"))).toBe(false);
    expect(line("a/keep")).toContain("mode=0600");
    expect(listing.filter((l) => l.startsWith("dir-wh/")).map((l) => l.split(" ")[0])).toEqual(["dir-wh/again"]);
    expect(listing.filter((l) => l.startsWith("opq/")).map((l) => l.split(" ")[0])).toEqual(["opq/new"]);
    expect(listing.some((l) => l.includes(".wh."))).toBe(false);
  });

  test("a whited-out file re-added later is present with the new content", () => {
    expect(readFileSync(join(root, "readd"), "utf8")).toBe("re-added\n");
  });

  test("type replacements across layers", () => {
    expect(line("f2d")).toContain(" dir ");
    expect(readFileSync(join(root, "f2d/inner"), "utf8")).toBe("inner\n");
    expect(line("d2f")).toContain(" file ");
    expect(existsSync(join(root, "d2f/child"))).toBe(false);
    expect(line("f2s")).toEndWith("-> a/keep");
    expect(line("s2d")).toContain(" dir ");
    expect(readFileSync(join(root, "s2d/file"), "utf8")).toBe("s2d\n");
  });

  test("hardlinks stay grouped; rewriting one name in a later layer breaks only that link", () => {
    expect(line("hard/third")).toEndWith("link=hard/link");
    expect(line("hard/link")).toEndWith("link=hard/link");
    expect(readFileSync(join(root, "hard/link"), "utf8")).toBe("hardlinked\n");
    expect(readFileSync(join(root, "hard/orig"), "utf8")).toBe("changed\n");
    expect(line("hard/orig")).not.toContain("link=");
  });

  test("symlink targets are stored verbatim: absolute, escaping, dangling, long", () => {
    expect(readlinkSync(join(root, "links/abs"))).toBe("/etc/passwd");
    expect(readlinkSync(join(root, "links/escape"))).toBe("../../../../etc");
    expect(readlinkSync(join(root, "links/dangling"))).toBe("/does/not/exist");
    expect(readlinkSync(join(root, "links/long-target")).length).toBeGreaterThan(100);
    expect(line("links/by-user")).toContain("uid=1000 gid=1000");
  });

  test("special bits, owners, fifo and long paths", () => {
    expect(line("bits/setuid")).toContain("mode=4755");
    expect(line("bits/setgid")).toContain("mode=2755");
    expect(line("bits/sticky")).toContain("dir mode=1777");
    expect(line("bits/none")).toContain("mode=0000");
    expect(line("tmp")).toContain("mode=1777");
    expect(line("home/user/file")).toContain("mode=0640 uid=1000 gid=1000");
    expect(line("bits/sticky/by-user")).toContain("uid=1000");
    expect(line("misc/fifo")).toContain("fifo mode=0644");
    expect(listing.some((l) => l.split(" ")[0].length > 150 && l.includes(" file "))).toBe(true);
    expect(lstatSync(join(root, "long", "n".repeat(150))).isFile()).toBe(true);
  });

  test("the oracle is deterministic", async () => {
    const again = join(scratch, "torture-again");
    await expectedRootfs(bed.layoutDir, "torture", again);
    expect(await treeListing(again)).toEqual(listing);
  });
});
