/**
 * pullImage against an in-process registry (tests/helpers/hostile-registry.ts) into an engine on a temp data
 * root: layers unpacked, chain IDs stored, tag and repo digest recorded, progress messages, "up to date" on
 * a second pull, refusals of a wrong diff ID and of a manifest whose layer count disagrees with its config.
 * No root needed: the layers hold plain files owned by the test's own user (the unpacker chowns to the owner).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { pullImage } from "../../src/engine/pull.ts";
import { chainIds } from "../../src/engine/store/layers.ts";
import { HostileRegistry } from "../helpers/hostile-registry.ts";
import { ownLayer as gzLayer } from "../helpers/unit-engine.ts";

const dir = mkdtempSync(join(tmpdir(), "bunker-unit-pull-"));
const reg = new HostileRegistry();
const engines: Engine[] = [];
afterAll(() => {
  for (const e of engines) e.close();
  reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** An engine on a fresh data root that treats the test registry as insecure (plain HTTP). */
function engine(name: string): Engine {
  const e = new Engine({ dataRoot: join(dir, name), registryMirrors: [], insecureRegistries: [reg.host], debug: false, configFile: join(dir, "none.json"), iptables: false });
  engines.push(e);
  return e;
}

const base = gzLayer({ "etc/hello": "hello\n", "bin/tool": "#!/bin/sh\n" });
const top = gzLayer({ "etc/hello": "replaced\n", "data/new": "new\n" });
const manifest = reg.image("lib/app", "v1", [base, top], { config: { config: { Cmd: ["/bin/tool"], Env: ["A=1"] } } });
const manifestDigest = `sha256:${new Bun.CryptoHasher("sha256").update(JSON.stringify(manifest)).digest("hex")}`;

test("a pull stores the layers' files, the image, its tag and its repo digest", async () => {
  const e = engine("a");
  const messages: string[] = [];
  const r = await pullImage(e, `${reg.host}/lib/app:v1`, { onMessage: (m) => messages.push(String(m.status)) });
  expect(r.upToDate).toBe(false);
  expect(r.reference).toBe(`${reg.host}/lib/app:v1`);
  expect(r.id).toBe(manifest.config.digest);
  const img = e.images.resolve(`${reg.host}/lib/app:v1`);
  expect(img.id).toBe(manifest.config.digest);
  expect(img.config.config?.Cmd).toEqual(["/bin/tool"]);
  const chains = chainIds([base.diffId, top.diffId]);
  expect(e.images.chainIds(img.id)).toEqual(chains);
  expect(img.topLayer).toBe(chains[1]!);
  expect(e.images.tags(img.id)).toEqual([{ repository: `${reg.host}/lib/app`, tag: "v1" }]);
  expect(e.images.digests(img.id)).toEqual([{ repository: `${reg.host}/lib/app`, digest: manifestDigest }]);
  // Each layer's own files in its own directory, in the order of the chain.
  const [lower, upper] = [e.layers.diffDirs(chains[0]!).at(-1)!, e.layers.diffDirs(chains[1]!)[0]!];
  expect(readFileSync(join(lower, "etc/hello"), "utf8")).toBe("hello\n");
  expect(readFileSync(join(upper, "etc/hello"), "utf8")).toBe("replaced\n");
  expect(readFileSync(join(upper, "data/new"), "utf8")).toBe("new\n");
  expect(e.layers.diffDirs(chains[1]!)).toHaveLength(2);
  expect(messages).toContain(`Digest: ${manifestDigest}`);
  expect(messages).toContain(`Status: Downloaded newer image for ${reg.host}/lib/app:v1`);
  expect(messages.filter((m) => m === "Pull complete")).toHaveLength(2);
});

test("a second pull is up to date; by digest it asks the registry nothing", async () => {
  const e = engine("b");
  const first = await pullImage(e, `${reg.host}/lib/app:v1`);
  const again = await pullImage(e, `${reg.host}/lib/app:v1`);
  expect(again).toEqual({ id: first.id, reference: `${reg.host}/lib/app:v1`, upToDate: true });
  reg.reset();
  const byDigest = await pullImage(e, `${reg.host}/lib/app@${manifestDigest}`);
  expect(byDigest).toEqual({ id: first.id, reference: `${reg.host}/lib/app@${manifestDigest}`, upToDate: true });
  expect(reg.seen).toEqual([]);
});

test("a shared base layer is reused by a second image", async () => {
  const e = engine("c");
  const other = gzLayer({ "x": "x" });
  const m2 = reg.image("lib/other", "latest", [base, other]);
  await pullImage(e, `${reg.host}/lib/app:v1`);
  reg.reset();
  const messages: string[] = [];
  const r = await pullImage(e, `${reg.host}/lib/other`, { onMessage: (m) => messages.push(`${m.id ?? ""} ${m.status}`) });
  expect(r.id).toBe(m2.config.digest);
  expect(messages).toContain(`${base.digest.slice(7, 19)} Already exists`);
  // Only the new layer's blob was fetched.
  expect(reg.seen.filter((s) => s.path.includes("/blobs/")).map((s) => s.path.split("/").pop()).sort()).toEqual([m2.config.digest, other.digest].sort());
});

test("a layer whose content does not match the config's diff ID is refused and nothing is stored", async () => {
  const e = engine("d");
  const liar = gzLayer({ "f": "one" });
  reg.image("lib/liar", "latest", [{ gz: liar.gz, diffId: gzLayer({ "f": "two" }).diffId }]);
  await expect(pullImage(e, `${reg.host}/lib/liar`)).rejects.toThrow(/diff ?id|digest/i);
  expect(e.images.count()).toBe(0);
  expect(e.layers.collect().layers).toEqual([]);
});

test("a manifest with more layers than the config's diff IDs is refused with moby's text", async () => {
  const e = engine("e");
  reg.image("lib/short", "latest", [base, top], { config: { rootfs: { type: "layers", diff_ids: [base.diffId] } } });
  await expect(pullImage(e, `${reg.host}/lib/short`)).rejects.toThrow("layers from manifest don't match image configuration");
  expect(e.images.count()).toBe(0);
});

test("an unknown tag is an error and stores nothing", async () => {
  const e = engine("f");
  await expect(pullImage(e, `${reg.host}/lib/app:nope`)).rejects.toThrow(/manifest unknown|not found/);
  expect(e.images.count()).toBe(0);
});
