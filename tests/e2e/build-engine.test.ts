/**
 * The build executor in-process (engine `build()` through its lazy seam), on real containers as root and the
 * test bed's busybox from the real registry: each instruction's effect in the image (config and history
 * against tests/fixtures/buildkit-reference), the cache (hits, a changed file, an ignored file), multi-stage
 * graphs (an unused stage never runs, independent stages overlap), failures (nothing tagged, nothing left
 * mounted or running, the scratch area empty) and hostile steps (RUN cannot write the host, a bind mount
 * cannot leave the context).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { build as buildArea } from "../../src/engine/lazy.ts";
import { pullImage } from "../../src/engine/pull.ts";
import { tagImage, imageHistory, removeImage } from "../../src/engine/images.ts";
import { exportContainer } from "../../src/engine/commit.ts";
import type { BuildEvent, BuildOptions } from "../../src/engine/build/types.ts";
import { freshDataRoot, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const FIXTURE = join(import.meta.dir, "../fixtures/buildkit-reference");

let reg: Registry;
let engine: Engine;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  cleanups.push(() => reg.stop());
  engine = new Engine({ dataRoot: freshDataRoot(), registryMirrors: [reg.url], insecureRegistries: [], debug: false, configFile: "/nonexistent/daemon.json", iptables: false } as never);
  cleanups.push(() => engine.close());
  await pullImage(engine, "busybox:latest");
}, 900_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A context directory with these files (paths relative to it). */
function context(files: Record<string, string>): string {
  const dir = tempDir("bunker-build-ctx-");
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return dir;
}

/** Builds `dir` (its Dockerfile unless `dockerfile`), collecting the events. */
async function build(dir: string, o: Partial<BuildOptions> = {}) {
  const events: BuildEvent[] = [];
  const opts: BuildOptions = { contextDir: dir, dockerfile: { path: "Dockerfile" }, tags: [], buildArgs: new Map(), labels: {}, noCache: false, pull: false, cacheFrom: [], network: "default", extraHosts: [], shmSize: 0, ulimits: [], secrets: new Map(), ...o };
  try {
    const result = await buildArea().build(engine, opts, (e) => events.push(e));
    return { result, events, error: undefined as Error | undefined };
  } catch (e) {
    return { result: undefined, events, error: e as Error };
  }
}

const names = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { type: "start" }> => e.type === "start").map((e) => e.vertex.name);
const cachedNames = (events: BuildEvent[]) => {
  const byId = new Map(events.filter((e): e is Extract<BuildEvent, { type: "start" }> => e.type === "start").map((e) => [e.vertex.id, e.vertex.name]));
  return events.filter((e) => e.type === "cached").map((e) => byId.get((e as { vertexId: number }).vertexId)!);
};
const logText = (events: BuildEvent[]) => events.filter((e) => e.type === "log").map((e) => new TextDecoder().decode((e as { data: Uint8Array }).data)).join("");

/** A file of an image's merged root, read through export's packer (no container). */
async function fileOf(id: string, path: string): Promise<string | undefined> {
  const { packDir } = await import("../../src/fs/pack.ts");
  const img = engine.images.get(id)!;
  const empty = tempDir("bunker-empty-");
  const tar = new Uint8Array(await new Response(packDir(empty, { lower: engine.layers.diffDirs(img.topLayer) })).arrayBuffer());
  const { TarReader } = await import("../../src/fs/tar.ts");
  void TarReader;
  // Small images: find the member by scanning headers.
  for (let off = 0; off + 512 <= tar.length; ) {
    const name = new TextDecoder().decode(tar.subarray(off, off + 100)).replace(/\0.*$/s, "");
    const prefix = new TextDecoder().decode(tar.subarray(off + 345, off + 500)).replace(/\0.*$/s, "");
    const size = parseInt(new TextDecoder().decode(tar.subarray(off + 124, off + 136)).replace(/\0.*$/s, "").trim() || "0", 8);
    if (!name) break;
    const full = (prefix ? `${prefix}/${name}` : name).replace(/^\.?\//, "");
    if (full === path.replace(/^\//, "")) return new TextDecoder().decode(tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

describe("build: a Dockerfile using every instruction, against BuildKit's", () => {
  test("config, history and progress as BuildKit's", async () => {
    const dir = context({ Dockerfile: readFileSync(join(FIXTURE, "Dockerfile"), "utf8"), "a.txt": readFileSync(join(FIXTURE, "a.txt"), "utf8") });
    mkdirSync(join(dir, "dir"));
    for (const n of readdirSync(join(FIXTURE, "dir"))) writeFileSync(join(dir, "dir", n), readFileSync(join(FIXTURE, "dir", n)));
    const { result, events, error } = await build(dir, { buildArgs: new Map([["V", "2.5"]]), tags: ["ref:bk1"] });
    expect(error).toBeUndefined();
    const ref = JSON.parse(readFileSync(join(FIXTURE, "config.json"), "utf8"));
    const img = engine.images.get(result!.id)!;
    expect(img.config.config).toEqual(ref.config);
    expect(img.config.author).toBe(ref.author);
    expect(img.config.history!.map((h) => [h.created_by, h.comment, !!h.empty_layer])).toEqual(ref.history.map((h: any) => [h.created_by, h.comment, !!h.empty_layer]));
    expect(img.config.rootfs.diff_ids.length).toBe(ref.rootfs.diff_ids.length);
    expect(result!.tags).toEqual(["ref:bk1"]);
    expect(engine.images.lookup("ref:bk1")?.id).toBe(result!.id);
    // BuildKit's vertex names (progress-plain.txt), with the same step numbers and expanded text.
    const plain = readFileSync(join(FIXTURE, "progress-plain.txt"), "utf8");
    const steps = [...plain.matchAll(/^#\d+ (\[\d+\/\d+\] .*)$/gm)].map((m) => m[1]!.replace("docker.io/library/busybox", ""));
    expect(names(events).filter((n) => /^\[\d/.test(n)).map((n) => n.replace(/ FROM .*busybox.*/, " FROM "))).toEqual(steps.map((n) => n.replace(/ FROM .*/, " FROM ")));
    expect(logText(events)).toContain("json form");
    expect(await fileOf(result!.id, "/built")).toBe("v=2.5 a=1\n");
    expect(await fileOf(result!.id, "/app/a.txt")).toBe(readFileSync(join(FIXTURE, "a.txt"), "utf8"));
    // history as docker history shows it (newest first): sizes of the layer steps.
    const h = imageHistory(engine, result!.id) as any[];
    expect(h[0].CreatedBy).toBe('CMD ["/bin/sh" "-ec" "echo hi"]');
  }, 120_000);
});
