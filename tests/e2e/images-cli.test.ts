/** The image commands' output, flags, errors and exit codes, against images pulled from the real registry. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { bunkerAt, freshDataRoot } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  for (const n of ["ubuntu", "alpine", "nginx"]) await b.ok(["pull", "-q", n]);
}, 900_000);
afterAll(async () => reg?.stop());

describe.skipIf(!root)("images", () => {
  test("Docker's columns, newest first, one row per tag", async () => {
    const lines = (await b.ok(["images"])).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$/);
    const repos = lines.slice(1).map((l) => l.split(/\s{3,}/)[0]);
    expect(repos.sort()).toEqual(["alpine", "nginx", "ubuntu"]);
    for (const l of lines.slice(1)) expect(l).toMatch(/^\S+\s+latest\s+[0-9a-f]{12}\s+(\d+|About an?|Less than a) .* ago\s+\d+(\.\d+)?[kMG]?B$/);
  });
  test("-q, --no-trunc, --digests", async () => {
    const ids = (await b.ok(["images", "-q"])).trim().split("\n");
    expect(ids).toHaveLength(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}$/);
    for (const id of (await b.ok(["images", "-q", "--no-trunc"])).trim().split("\n")) expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const withDigests = (await b.ok(["images", "--digests"])).split("\n");
    expect(withDigests[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    expect(withDigests[1]).toMatch(/sha256:[0-9a-f]{64}/);
  });
  test("--filter reference=, dangling=, label= and a REPOSITORY argument", async () => {
    expect((await b.ok(["images", "--format", "{{.Repository}}", "--filter", "reference=ng*"])).trim()).toBe("nginx");
    expect((await b.ok(["images", "--format", "{{.Repository}}", "ubuntu"])).trim()).toBe("ubuntu");
    expect((await b.ok(["images", "--format", "{{.Repository}}", "ubuntu:latest"])).trim()).toBe("ubuntu");
    expect((await b.ok(["images", "-q", "--filter", "dangling=true"])).trim()).toBe("");
    const labelled = (await b.ok(["images", "-q", "--filter", "label=org.opencontainers.image.description"])).trim().split("\n");
    expect(labelled).toHaveLength(3);
    expect((await b.ok(["images", "-q", "--filter", "label=nope=1"])).trim()).toBe("");
    const bad = await b.run(["images", "--filter", "bogus=1"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("Error response from daemon: invalid filter 'bogus'\n");
  });
  test("--format: fields, table and json", async () => {
    const t = (await b.ok(["images", "--format", "table {{.Repository}}\t{{.ID}}", "ubuntu"])).split("\n");
    expect(t[0]).toBe("REPOSITORY   IMAGE ID");
    expect(t[1]).toMatch(/^ubuntu       [0-9a-f]{12}$/);
    const j = JSON.parse((await b.ok(["images", "--format", "json", "alpine"])).trim());
    expect(j.Repository).toBe("alpine");
    expect(j.Tag).toBe("latest");
  });
});

describe.skipIf(!root)("inspect and history", () => {
  test("image inspect: Docker's JSON with RootFS and overlay2 directories", async () => {
    const [img] = JSON.parse(await b.ok(["image", "inspect", "nginx"]));
    expect(img.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.RepoTags).toEqual(["nginx:latest"]);
    expect(img.RepoDigests[0]).toMatch(/^nginx@sha256:[0-9a-f]{64}$/);
    expect(img.RootFS.Type).toBe("layers");
    expect(img.RootFS.Layers.length).toBe(2);
    expect(img.GraphDriver.Name).toBe("overlay2");
    expect(img.GraphDriver.Data.LowerDir.split(":")).toHaveLength(1);
    for (const d of [img.GraphDriver.Data.UpperDir, ...img.GraphDriver.Data.LowerDir.split(":")]) expect(existsSync(d)).toBe(true);
    expect(img.Config.Cmd).toEqual(["nginx", "-g", "daemon off;"]);
    expect(img.Os).toBe("linux");
    expect(await b.ok(["inspect", "--format", "{{.Os}}/{{.Architecture}}", "nginx"])).toBe("linux/amd64\n");
    const missing = await b.run(["image", "inspect", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("[]\n");
    expect(missing.stderr).toBe("Error response from daemon: No such image: nope:latest\n"); // the docker CLI 28 prints the daemon's error
  });
  test("history: columns, -q, --no-trunc, -H=false", async () => {
    const lines = (await b.ok(["history", "nginx"])).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(lines[1]).toMatch(/^[0-9a-f]{12}\s/);
    expect(lines.slice(2).every((l) => l.startsWith("<missing>"))).toBe(true);
    const q = (await b.ok(["history", "-q", "nginx"])).trim().split("\n");
    expect(q.length).toBe(lines.length - 1);
    const raw = (await b.ok(["history", "--format", "{{.Size}}|{{.CreatedSince}}", "-H=false", "nginx"])).trim().split("\n");
    for (const l of raw) expect(l).toMatch(/^\d+\|\d{4}-\d\d-\d\dT/);
    const full = await b.ok(["history", "--no-trunc", "--format", "{{.ID}}", "nginx"]);
    expect(full.split("\n")[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe.skipIf(!root)("tag and rmi", () => {
  test("untag versus delete, conflicts and -f", async () => {
    await b.ok(["tag", "alpine", "mine/alpine:v1"]);
    await b.ok(["tag", "alpine", "alpine:two"]);
    const id = (await b.ok(["images", "-q", "alpine:latest"])).trim();
    expect((await b.ok(["images", "-q", "mine/alpine:v1"])).trim()).toBe(id);
    // Removing one of several tags only untags.
    expect(await b.ok(["rmi", "alpine:two"])).toBe("Untagged: alpine:two\n");
    // By ID with tags in two repositories: refused without -f.
    const c = await b.run(["rmi", id]);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe(`Error response from daemon: conflict: unable to delete ${id} (must be forced) - image is referenced in multiple repositories\n`);
    const forced = await b.ok(["rmi", "-f", id]);
    expect(forced).toContain("Untagged: alpine:latest");
    expect(forced).toContain("Untagged: mine/alpine:v1");
    expect(forced).toMatch(/Untagged: alpine@sha256:[0-9a-f]{64}/);
    expect(forced).toContain(`Deleted: sha256:${id}`);
    await b.ok(["pull", "-q", "alpine"]);
  });
  test("errors and exit codes", async () => {
    const r = await b.run(["rmi", "nope"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "Error response from daemon: No such image: nope:latest\n" });
    expect((await b.run(["rmi", "-f", "nope"])).code).toBe(0);
    const t = await b.run(["tag", "nope", "x"]);
    expect(t.code).toBe(1);
    expect(t.stderr).toBe("Error response from daemon: No such image: nope:latest\n");
    const bad = await b.run(["tag", "alpine", "Bad:Name"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid reference format");
  });
  test("image prune -a removes unused images; system df and info count them", async () => {
    const df = (await b.ok(["system", "df"])).split("\n");
    expect(df[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df[1]).toMatch(/^Images\s+3\s+0\s+\S+B\s+\S+B \(100%\)$/);
    expect(await b.ok(["info", "--format", "{{.Images}} {{.Driver}}"])).toBe("3 overlay2\n");
    expect(await b.ok(["info"])).toContain(`Registry Mirrors:\n  ${reg.url}/`);
    const out = await b.ok(["image", "prune", "-a", "-f"]);
    expect(out).toContain("Deleted Images:");
    expect(out).toMatch(/Total reclaimed space: \d/);
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
  });
});

describe("without a data root to read", () => {
  test("version and --version", async () => {
    const c = bunkerAt(freshDataRoot());
    expect(await c.ok(["--version"])).toMatch(/^Bunker version \d+\.\d+\.\d+, build \w+\n$/);
    const v = await c.ok(["version", "--format", "{{.Server.ApiVersion}}"]);
    expect(v).toBe("1.50\n");
  });
});
