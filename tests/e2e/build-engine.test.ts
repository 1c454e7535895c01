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
import { tagImage, imageHistory, removeImage, listImages, pruneImages } from "../../src/engine/images.ts";
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

/** The merged root of an image as name -> content ("" for non-files), read through export's packer (no container). */
async function rootOf(id: string): Promise<Map<string, string>> {
  const { packDir } = await import("../../src/fs/pack.ts");
  const img = engine.images.get(id)!;
  const empty = tempDir("bunker-empty-");
  const tar = new Uint8Array(await new Response(packDir(empty, { lower: engine.layers.diffDirs(img.topLayer) })).arrayBuffer());
  const out = new Map<string, string>();
  const text = (a: number, b: number) => new TextDecoder().decode(tar.subarray(a, b)).replace(/\0.*$/s, "");
  let longName: string | undefined;
  for (let off = 0; off + 512 <= tar.length; ) {
    const name = text(off, off + 100);
    if (!name) break;
    const size = parseInt(text(off + 124, off + 136).trim() || "0", 8);
    const type = text(off + 156, off + 157);
    const body = new TextDecoder().decode(tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "L" || type === "x") {
      if (type === "L") longName = body.replace(/\0.*$/s, "");
      else longName = /\d+ path=([^\n]*)\n/.exec(body)?.[1] ?? longName;
      continue;
    }
    const prefix = text(off - 512 - Math.ceil(size / 512) * 512 + 345, off - 512 - Math.ceil(size / 512) * 512 + 500);
    const full = (longName ?? (prefix ? `${prefix}/${name}` : name)).replace(/^\.?\//, "").replace(/\/$/, "");
    longName = undefined;
    out.set(`/${full}`, type === "0" || type === "" ? body : "");
  }
  return out;
}

/** A file of an image's merged root; undefined when absent. */
async function fileOf(id: string, path: string): Promise<string | undefined> {
  return (await rootOf(id)).get(path);
}

describe("build: a Dockerfile using every instruction, against BuildKit's", () => {
  test("config, history and progress as BuildKit's", async () => {
    const dir = context({ Dockerfile: readFileSync(join(FIXTURE, "Dockerfile"), "utf8"), "a.txt": readFileSync(join(FIXTURE, "a.txt"), "utf8") });
    mkdirSync(join(dir, "dir"));
    for (const n of readdirSync(join(FIXTURE, "dir"))) writeFileSync(join(dir, "dir", n), readFileSync(join(FIXTURE, "dir", n)));
    const { result, events, error } = await build(dir, { buildArgs: new Map([["V", "2.5"]]), tags: ["ref:bk1", "localhost:5000/ref/two:x"], labels: { "from.cli": "yes" } });
    expect(error).toBeUndefined();
    const ref = JSON.parse(readFileSync(join(FIXTURE, "config.json"), "utf8"));
    const img = engine.images.get(result!.id)!;
    // --label lands in the config only (no history entry), as BuildKit's.
    expect(img.config.config!.Labels!["from.cli"]).toBe("yes");
    delete img.config.config!.Labels!["from.cli"];
    expect(img.config.config).toEqual(ref.config);
    expect(engine.images.lookup("localhost:5000/ref/two:x")?.id).toBe(result!.id);
    // Each step's done/cached event carries an image ID, as the legacy builder prints "---> id".
    const stepIds = new Set(events.filter((e) => e.type === "start" && /^\[\d/.test(e.vertex.name) && !e.vertex.name.includes(" FROM ")).map((e) => (e as { vertex: { id: number } }).vertex.id));
    const ended = events.filter((e) => (e.type === "done" || e.type === "cached") && stepIds.has(e.vertexId)) as { imageId?: string }[];
    expect(ended.length).toBe(6);
    for (const e of ended) expect(e.imageId).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(img.config.author).toBe(ref.author);
    expect(img.config.history!.map((h) => [h.created_by, h.comment, !!h.empty_layer])).toEqual(ref.history.map((h: any) => [h.created_by, h.comment, !!h.empty_layer]));
    expect(img.config.rootfs.diff_ids.length).toBe(ref.rootfs.diff_ids.length);
    expect(result!.tags).toEqual(["ref:bk1", "localhost:5000/ref/two:x"]);
    expect(engine.images.lookup("ref:bk1")?.id).toBe(result!.id);
    // BuildKit's vertex names (progress-plain.txt), with the same step numbers and expanded text.
    const plain = readFileSync(join(FIXTURE, "progress-plain.txt"), "utf8");
    const steps = [...plain.matchAll(/^#\d+ (\[\d+\/\d+\] .*)$/gm)].map((m) => m[1]!.replace("docker.io/library/busybox", ""));
    expect(names(events).filter((n) => /^\[\d/.test(n)).map((n) => n.replace(/ FROM .*busybox.*/, " FROM "))).toEqual(steps.map((n) => n.replace(/ FROM .*/, " FROM ")));
    expect(logText(events)).toContain("json form");
    expect(await fileOf(result!.id, "/built")).toBe("v=2.5 a=1\n");
    expect(await fileOf(result!.id, "/app/a.txt")).toBe(readFileSync(join(FIXTURE, "a.txt"), "utf8"));
    // Every layer's tar rebuilds from the store with its diff ID (what save and push send).
    const { assembleLayerTar } = await import("../../src/fs/tar-split.ts");
    const chains = engine.images.chainIds(result!.id);
    for (const [i, chain] of chains.entries()) {
      const rec = engine.layers.get(chain)!;
      const bytes = new Uint8Array(await new Response(assembleLayerTar(engine.layers.dir(rec), img.config.rootfs.diff_ids[i]!)).arrayBuffer());
      expect(`sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`).toBe(img.config.rootfs.diff_ids[i]!);
    }
    // `docker history --no-trunc` of BuildKit's image, entry for entry: CREATED BY, comment and each layer's size.
    const { humanSize } = await import("../../src/engine/units.ts");
    const want = JSON.parse(readFileSync(join(FIXTURE, "history.json"), "utf8"));
    // (The base layer's size is the store's count of busybox, not the build's: compared without it.)
    expect(imageHistory(engine, result!.id).map((h) => ({ CreatedBy: h.CreatedBy, Comment: h.Comment, Size: humanSize(h.Size) })).slice(0, -1)).toEqual(want.slice(0, -1));
  }, 120_000);
});

/** Mounts of this host under the data root (a build must leave none). */
const mountsUnder = (root: string) => readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes(root));
/** Entries of the build scratch area (empty between builds). */
const scratchLeft = () => {
  const d = join(engine.root.root, "build", "tmp");
  return existsSync(d) ? readdirSync(d) : [];
};
/** Processes whose command line mentions the data root (shims of RUN steps). */
function processesUnder(root: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes(root) && Number(pid) !== process.pid) out.push(`${pid} ${cmd.replace(/\0/g, " ")}`);
    } catch {}
  }
  return out;
}

describe("build: definition and context", () => {
  test("errors before any step: a missing Dockerfile, a parse error with its line, an unknown target; nothing made", async () => {
    const before = engine.images.all().length;
    const none = await build(context({ "a.txt": "a" }));
    expect(none.error?.message).toContain("failed to read dockerfile: open Dockerfile: no such file or directory");
    const bad = await build(context({ Dockerfile: "FROM busybox\nRUN true\nFOO bar\n" }));
    expect(bad.error?.message).toContain("dockerfile parse error on line 3: unknown instruction: FOO");
    const target = await build(context({ Dockerfile: "FROM busybox AS a\n" }), { target: "b" });
    expect(target.error?.message).toContain("target stage b could not be found");
    expect(engine.images.all().length).toBe(before);
  }, 120_000);

  test("Dockerfile.dockerignore beside the Dockerfile wins over .dockerignore; -f text; the Dockerfile cannot be a link out", async () => {
    const dir = context({ "sub/Dockerfile": "FROM busybox\nCOPY . /ctx\n", "sub/Dockerfile.dockerignore": "b.txt\n", ".dockerignore": "a.txt\n", "a.txt": "a", "b.txt": "b" });
    const r = await build(dir, { dockerfile: { path: "sub/Dockerfile" } });
    expect(r.error).toBeUndefined();
    const root = await rootOf(r.result!.id);
    expect(root.get("/ctx/a.txt")).toBe("a");
    expect(root.has("/ctx/b.txt")).toBe(false);
    const text = await build(dir, { dockerfile: { text: "FROM busybox\nCOPY . /ctx\n", name: "stdin" } });
    const troot = await rootOf(text.result!.id);
    expect(troot.has("/ctx/a.txt")).toBe(false);
    expect(troot.get("/ctx/b.txt")).toBe("b");
    const outside = tempDir("bunker-outside-");
    writeFileSync(join(outside, "Dockerfile"), "FROM busybox\nRUN echo outside\n");
    symlinkSync(join(outside, "Dockerfile"), join(dir, "Linked"));
    expect((await build(dir, { dockerfile: { path: "Linked" } })).error?.message).toContain("no such file or directory");
  }, 120_000);
});

describe("build: layers", () => {
  test("deletions are whiteouts: the image's root lacks them and the layer tars rebuild with their diff IDs", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN mkdir -p /d/sub && echo x > /d/sub/f && echo y > /d/keep\nRUN rm -rf /d/sub && rm /bin/ls && echo z > /d/new\n" });
    const { result, error } = await build(dir);
    expect(error).toBeUndefined();
    const root = await rootOf(result!.id);
    expect(root.has("/d/sub")).toBe(false);
    expect(root.has("/bin/ls")).toBe(false);
    expect(root.get("/d/keep")).toBe("y\n");
    expect(root.get("/d/new")).toBe("z\n");
    const { assembleLayerTar } = await import("../../src/fs/tar-split.ts");
    const img = engine.images.get(result!.id)!;
    const chains = engine.images.chainIds(result!.id);
    const top = engine.layers.get(chains.at(-1)!)!;
    const tar = new Uint8Array(await new Response(assembleLayerTar(engine.layers.dir(top), img.config.rootfs.diff_ids.at(-1)!)).arrayBuffer());
    expect(`sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`).toBe(img.config.rootfs.diff_ids.at(-1)!);
    expect(new TextDecoder().decode(tar)).toContain("bin/.wh.ls");
  }, 120_000);
});

describe("build: cache", () => {
  test("a second build reuses every step; a changed file rebuilds from its COPY; an ignored file keeps the cache", async () => {
    const dir = context({
      Dockerfile: "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n",
      "a.txt": "a1\n",
      "b.txt": "b1\n",
      "ignored.txt": "x\n",
      ".dockerignore": "ignored.txt\n",
    });
    const first = await build(dir);
    expect(first.error).toBeUndefined();
    expect(cachedNames(first.events)).toEqual([]);
    const again = await build(dir);
    expect(again.result!.id).toBe(first.result!.id); // same image: history times come from the cache
    expect(cachedNames(again.events)).toEqual(["[2/5] RUN echo one > /one", "[3/5] COPY a.txt /a.txt", "[4/5] RUN cat /a.txt > /copy", "[5/5] COPY b.txt /b.txt"]);
    // An ignored file: nothing the steps read changed.
    writeFileSync(join(dir, "ignored.txt"), "changed\n");
    expect(cachedNames((await build(dir)).events).length).toBe(4);
    // Same content rewritten (new mtime): still cached, the key is the content.
    writeFileSync(join(dir, "a.txt"), "a1\n");
    expect(cachedNames((await build(dir)).events).length).toBe(4);
    // A changed file: its COPY and every later step run again, the steps before it are cached.
    writeFileSync(join(dir, "a.txt"), "a2\n");
    const changed = await build(dir);
    expect(cachedNames(changed.events)).toEqual(["[2/5] RUN echo one > /one"]);
    expect(await fileOf(changed.result!.id, "/copy")).toBe("a2\n");
    // --no-cache runs everything.
    expect(cachedNames((await build(dir, { noCache: true })).events)).toEqual([]);
  }, 120_000);

  test("an ENV or build-arg change misses only the steps that see it", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo base > /base\nARG X=1\nRUN echo $X > /x\n" });
    await build(dir);
    const other = await build(dir, { buildArgs: new Map([["X", "2"]]) });
    expect(cachedNames(other.events)).toEqual(["[2/3] RUN echo base > /base"]);
    expect(await fileOf(other.result!.id, "/x")).toBe("2\n");
  }, 120_000);

  test("cache layers survive rmi and image prune; builder prune frees them and reports the bytes", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN head -c 300000 /dev/zero > /big\n" });
    const first = await build(dir, { tags: ["cachekeep:1"] });
    removeImage(engine, "cachekeep:1");
    const again = await build(dir);
    expect(cachedNames(again.events)).toEqual(["[2/2] RUN head -c 300000 /dev/zero > /big"]);
    expect(again.result!.id).toBe(first.result!.id);
    removeImage(engine, again.result!.id);
    const usage = buildArea().buildCacheUsage(engine);
    expect(usage.some((u) => u.Description.includes("head -c 300000") && u.Size >= 300000)).toBe(true);
    const pruned = await buildArea().pruneBuildCache(engine, {});
    expect(pruned.SpaceReclaimed).toBeGreaterThanOrEqual(300000);
    expect(pruned.CachesDeleted!.length).toBeGreaterThan(0);
    expect(buildArea().buildCacheUsage(engine).some((u) => u.Description.includes("head -c 300000"))).toBe(false);
    expect(cachedNames((await build(dir)).events)).toEqual([]);
  }, 120_000);

  test("builder prune: filters by name, keep-storage keeps the most recently used, --all also what images share", async () => {
    await buildArea().pruneBuildCache(engine, { all: true });
    const a = await build(context({ Dockerfile: "FROM busybox\nRUN head -c 200000 /dev/zero > /a\n" }), { tags: ["prune-a:1"] });
    await Bun.sleep(20);
    const b = await build(context({ Dockerfile: "FROM busybox\nRUN head -c 100000 /dev/zero > /b\n" }));
    removeImage(engine, b.result!.id); // its layer is now the cache's alone
    const usage = () => buildArea().buildCacheUsage(engine).filter((u) => u.Type === "regular");
    expect(usage().length).toBe(2);
    await expect(buildArea().pruneBuildCache(engine, { filters: { dangling: ["true"] } })).rejects.toThrow("invalid filter 'dangling'");
    await expect(buildArea().pruneBuildCache(engine, { filters: { until: ["soon"] } })).rejects.toThrow("invalid filter 'until=soon'");
    // Nothing unused for an hour yet.
    expect((await buildArea().pruneBuildCache(engine, { filters: { until: ["1h"] } })).CachesDeleted).toBeNull();
    // Without --all, the record whose layer prune-a:1 uses stays; keep-storage 1 byte removes the rest.
    const r = await buildArea().pruneBuildCache(engine, { keepStorage: 1 });
    expect(r.CachesDeleted!.length).toBe(1);
    expect(usage().map((u) => u.Description)).toEqual(["RUN /bin/sh -c head -c 200000 /dev/zero > /a # buildkit"]);
    expect(usage()[0]!.Shared).toBe(true);
    const all = await buildArea().pruneBuildCache(engine, { all: true });
    expect(all.CachesDeleted!.length).toBe(1);
    expect(all.SpaceReclaimed).toBe(0); // the image still holds the layer
    expect(engine.images.get(a.result!.id)).toBeDefined();
    expect(engine.layers.get(engine.images.get(a.result!.id)!.topLayer!)).toBeDefined();
  }, 120_000);

  test("--cache-from: an image's history satisfies RUN steps on the same parent", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo from-cache > /c\n" });
    const first = await build(dir, { tags: ["cachefrom:1"] });
    await buildArea().pruneBuildCache(engine, { all: true });
    const again = await build(dir, { cacheFrom: ["cachefrom:1"] });
    expect(cachedNames(again.events)).toEqual(["[2/2] RUN echo from-cache > /c"]);
    expect(again.result!.id).toBe(first.result!.id);
  }, 120_000);
});

describe("build: stages", () => {
  test("only what the target needs is built; stages by name and index; the fixture's multi-stage progress", async () => {
    const dir = context({ Dockerfile: readFileSync(join(FIXTURE, "multi-stage/Dockerfile"), "utf8").replace("RUN echo never", "RUN echo never; exit 9") });
    const { result, events, error } = await build(dir);
    expect(error).toBeUndefined();
    const plain = readFileSync(join(FIXTURE, "multi-stage/progress-plain.txt"), "utf8");
    const want = [...plain.matchAll(/^#\d+ (\[(?:build|stage-2) \d\/\d\] (?:RUN|COPY).*)$/gm)].map((m) => m[1]);
    expect(names(events).filter((n) => /^\[(build|stage-2|unused) \d/.test(n) && !n.includes(" FROM "))).toEqual(want as string[]);
    expect(names(events).some((n) => n.includes("unused"))).toBe(false);
    expect(logText(events)).toContain("global=g1 local=l1");
    expect(await fileOf(result!.id, "/from-build")).toBe("global=g1 local=l1\n");
    // --target: the stage and what it needs only; the failing stage fails the build when asked for.
    const t = await build(dir, { target: "build" });
    expect(t.error).toBeUndefined();
    expect(await fileOf(t.result!.id, "/dist/out")).toBe("global=g1 local=l1\n");
    const bad = await build(dir, { target: "unused" });
    expect(bad.error?.message).toBe('process "/bin/sh -c echo never; exit 9" did not complete successfully: exit code: 9');
    const idx = context({ Dockerfile: "FROM busybox\nRUN echo zero > /z\nFROM scratch\nCOPY --from=0 /z /z\n" });
    const r = await build(idx);
    expect(r.error).toBeUndefined();
    expect(await fileOf(r.result!.id, "/z")).toBe("zero\n");
    // The FROM is step 1 of every stage, a vertex only for an image (BuildKit's numbering).
    expect(names(r.events).filter((n) => n.startsWith("[stage"))).toEqual(["[stage-0 1/2] FROM docker.io/library/busybox", "[stage-0 2/2] RUN echo zero > /z", "[stage-1 2/2] COPY --from=0 /z /z"]);
    expect(engine.images.get(r.result!.id)!.config.rootfs.diff_ids.length).toBe(1);
  }, 120_000);

  test("independent stages run concurrently", async () => {
    // /proc/uptime is the host's clock in every container (no time namespace).
    const stage = (n: string) => `FROM busybox AS ${n}\nRUN cut -d' ' -f1 /proc/uptime > /start; sleep 1; cut -d' ' -f1 /proc/uptime > /end\n`;
    const dir = context({ Dockerfile: `${stage("a")}${stage("b")}FROM busybox\nCOPY --from=a /start /a-start\nCOPY --from=a /end /a-end\nCOPY --from=b /start /b-start\nCOPY --from=b /end /b-end\n` });
    const { result, error } = await build(dir, { noCache: true });
    expect(error).toBeUndefined();
    const t = async (p: string) => Number(await fileOf(result!.id, p));
    expect(Number.isFinite(await t("/a-start"))).toBe(true);
    const [as, ae, bs, be] = [await t("/a-start"), await t("/a-end"), await t("/b-start"), await t("/b-end")];
    // Each ran a second; they overlap when each started before the other ended.
    expect(as < be && bs < ae).toBe(true);
  }, 120_000);

  test("scratch, ONBUILD triggers of a base and --platform", async () => {
    const parent = await build(context({ Dockerfile: "FROM busybox\nONBUILD RUN echo triggered > /t\n" }), { tags: ["onbuild-parent:1"] });
    expect(parent.error).toBeUndefined();
    const child = await build(context({ Dockerfile: "FROM onbuild-parent:1\nRUN cat /t\n" }));
    expect(child.error).toBeUndefined();
    expect(logText(child.events)).toContain("triggered");
    const other = await build(context({ Dockerfile: "FROM busybox\n" }), { platform: "linux/s390x" });
    expect(other.error?.message).toContain("only the host's platform");
    const from = await build(context({ Dockerfile: "FROM --platform=linux/s390x busybox\n" }));
    expect(from.error?.message).toContain("FROM --platform=linux/s390x");
    const ok = await build(context({ Dockerfile: "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nRUN echo $TARGETARCH > /arch\n" }));
    expect(ok.error).toBeUndefined();
    expect((await fileOf(ok.result!.id, "/arch"))!.trim()).toBe(process.arch === "x64" ? "amd64" : process.arch);
  }, 120_000);
});

describe("build: the legacy builder's instructions and intermediate images (POST /build)", () => {
  type Ins = Extract<BuildEvent, { type: "instruction" }>["instruction"];
  type Done = Extract<BuildEvent, { type: "instructionDone" }>;
  const instructions = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { type: "instruction" }> => e.type === "instruction").map((e) => e.instruction);
  const dones = (events: BuildEvent[]) => events.filter((e): e is Done => e.type === "instructionDone");
  const DF = "ARG BASE=busybox\nFROM ${BASE} AS first\nENV NAME=world \\\n    OTHER=x\nWORKDIR /app\nRUN echo \"$NAME\" > /greet\nFROM busybox AS unused\nRUN echo never\nFROM first\nEXPOSE 80\nCOPY --from=first /greet /g2\nCMD [\"cat\", \"/g2\"]\n";

  test("every instruction numbered across the Dockerfile as written (meta ARG, config-only, --label last; an unused stage not built)", async () => {
    const r = await build(context({ Dockerfile: DF }), { labels: { zz: "1", aa: "x y" } });
    expect(r.error).toBeUndefined();
    const seen = instructions(r.events).map((i: Ins) => [i.n, i.of, i.text, i.stage, i.container, i.endsStage]);
    expect(seen).toEqual([
      [1, 11, "ARG BASE=busybox", -1, false, false],
      [2, 11, "FROM ${BASE} AS first", 0, false, false],
      [3, 11, "ENV NAME=world     OTHER=x", 0, true, false],
      [4, 11, "WORKDIR /app", 0, true, false],
      [5, 11, "RUN echo \"$NAME\" > /greet", 0, true, true],
      [6, 11, "FROM first", 2, false, false],
      [7, 11, "EXPOSE 80", 2, true, false],
      [8, 11, "COPY --from=first /greet /g2", 2, false, false],
      [9, 11, 'CMD ["cat", "/g2"]', 2, true, false],
      [10, 11, "LABEL aa=x y", 2, true, false],
      [11, 11, "LABEL zz=1", 2, true, true],
    ]);
    // Without intermediate images (bunker build) the IDs are computed, none is kept; the last is the result's.
    const ids = dones(r.events).map((d) => d.imageId);
    expect(ids[0]).toBeUndefined();
    expect(ids[1]).toBe(engine.images.lookup("busybox")!.id);
    expect(ids.at(-1)).toBe(r.result!.id);
    for (const id of ids.slice(2, -1)) expect(engine.images.get(id!)).toBeUndefined();
    // BuildKit's progress is unchanged: config-only instructions have no vertex.
    expect(names(r.events).filter((n) => n.includes("ENV") || n.includes("EXPOSE"))).toEqual([]);
  }, 120_000);

  test("kept: each instruction's image is real and runs, parent-linked; images hides them, -a shows them; a rebuild is cached; rmi takes the untagged chain", async () => {
    const ctx = context({ Dockerfile: DF.replace("world", "legacy") });
    const r = await build(ctx, { intermediateImages: true, tags: ["legacy-chain:1"] });
    expect(r.error).toBeUndefined();
    const made = dones(r.events).filter((d) => d.n > 1);
    const busybox = engine.images.lookup("busybox")!.id;
    // n: 2 FROM first, 3 ENV, 4 WORKDIR, 5 RUN, 6 FROM first, 7 EXPOSE, 8 COPY, 9 CMD
    expect(made.map((d) => d.n)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(made[0]!.imageId).toBe(busybox);
    expect(made[4]!.imageId).toBe(made[3]!.imageId); // FROM first: the stage's image
    expect(made.at(-1)!.imageId).toBe(r.result!.id);
    const chain = [...new Set(made.map((d) => d.imageId!))];
    for (let k = 1; k < chain.length; k++) expect([k, engine.images.parent(chain[k]!)]).toEqual([k, chain[k - 1]]);
    expect(engine.images.get(chain[3]!)!.config.config?.Env).toContain("NAME=legacy");
    expect(await fileOf(chain[3]!, "/greet")).toBe("legacy\n"); // the RUN's image has its layer
    const shown = listImages(engine).map((i) => i.Id);
    const all = listImages(engine, { all: true });
    for (const id of chain.slice(1, -1)) {
      expect(shown).not.toContain(id);
      expect(all.find((i) => i.Id === id)?.RepoTags).toEqual([]);
    }
    expect(all.find((i) => i.Id === r.result!.id)!.ParentId).toBe(chain.at(-2)!);
    // history: the entries carry the IDs of the image and its parents
    expect(imageHistory(engine, "legacy-chain:1").slice(0, chain.length).map((h) => h.Id)).toEqual([...chain].reverse());
    // a rebuild: every instruction cached (FROMs are never "cached"), the same images
    const again = await build(ctx, { intermediateImages: true, tags: ["legacy-chain:1"] });
    expect(dones(again.events).filter((d) => d.n > 1 && ![2, 6].includes(d.n)).map((d) => d.cached)).toEqual([true, true, true, true, true, true]);
    expect(again.result!.id).toBe(r.result!.id);
    // an intermediate image by ID cannot go (it has children); rmi of the tag takes the untagged chain, not busybox
    expect(() => removeImage(engine, chain[2]!)).toThrow("image has dependent child images");
    const removed = removeImage(engine, "legacy-chain:1").filter((i) => "Deleted" in i).map((i) => (i as { Deleted: string }).Deleted);
    for (const id of chain.slice(1)) expect(removed).toContain(id);
    expect(engine.images.get(busybox)).toBeDefined();
    // image prune (dangling) removes an untagged build with its chain
    const untagged = await build(ctx, { intermediateImages: true });
    const pruned = pruneImages(engine).ImagesDeleted!.map((i) => (i as { Deleted?: string }).Deleted);
    for (const id of [...new Set(dones(untagged.events).filter((d) => d.n > 2).map((d) => d.imageId!))]) expect(pruned).toContain(id);
    expect(engine.images.get(busybox)).toBeDefined();
  }, 180_000);
});

describe("build: a base image with children (intermediate images built on it)", () => {
  test("rmi by name only untags it and keeps it; by ID it is refused while it has children", async () => {
    const busybox = engine.images.lookup("busybox")!.id;
    tagImage(engine, "busybox", "legacy-base:1");
    const r = await build(context({ Dockerfile: "FROM legacy-base:1\nENV CHILD=1\n" }), { intermediateImages: true, tags: ["legacy-child:1"] });
    expect(r.error).toBeUndefined();
    expect(engine.images.parent(r.result!.id)).toBe(busybox);
    expect(() => removeImage(engine, busybox)).toThrow(`conflict: unable to delete ${busybox.slice(7, 19)} (cannot be forced) - image has dependent child images`);
    expect(removeImage(engine, "legacy-base:1")).toEqual([{ Untagged: "legacy-base:1" }]);
    expect(engine.images.get(busybox)).toBeDefined();
    removeImage(engine, "legacy-child:1");
    expect(engine.images.get(r.result!.id)).toBeUndefined();
    expect(engine.images.get(busybox)).toBeDefined(); // still tagged busybox:latest: not an untagged parent
  }, 60_000);
});

describe("build: RUN", () => {
  test("a step's root is overlayfs with `volatile` (its unmount syncs nothing) where the kernel has it; its files land in the layer", async () => {
    const [major, minor] = readFileSync("/proc/sys/kernel/osrelease", "latin1").split(/[.-]/).map(Number) as [number, number];
    const { result, error } = await build(context({ Dockerfile: "FROM busybox\nRUN grep ' / / ' /proc/self/mountinfo > /root-mount\n" }), { noCache: true });
    expect(error).toBeUndefined();
    const line = (await fileOf(result!.id, "/root-mount"))!;
    expect(line).toMatch(/^\S+ \S+ \S+ \/ \/ .* - overlay overlay [^\n]*\n$/);
    // older kernels show `volatile`, newer ones `fsync=volatile`
    expect(/[,=]volatile(,|\n)/.test(line)).toBe(major > 5 || (major === 5 && minor >= 10));
    expect(scratchLeft()).toEqual([]);
  }, 120_000);

  test("a failing step: BuildKit's message, its output logged, nothing tagged, nothing left", async () => {
    const dir = context({ Dockerfile: readFileSync(join(FIXTURE, "failing-step.Dockerfile"), "utf8") });
    const before = engine.images.all().length;
    const { error, events } = await build(dir, { tags: ["failing:1"] });
    expect(error?.message).toBe('process "/bin/sh -c echo out; echo err >&2; exit 3" did not complete successfully: exit code: 3');
    const err = events.find((e) => e.type === "error") as { message: string } | undefined;
    expect(err?.message).toBe(error!.message);
    expect(logText(events)).toContain("out\n");
    expect(logText(events)).toContain("err\n");
    expect(engine.images.lookup("failing:1")).toBeUndefined();
    expect(engine.images.all().length).toBe(before);
    expect(mountsUnder(engine.root.root)).toEqual([]);
    expect(scratchLeft()).toEqual([]);
    expect(processesUnder(engine.root.root)).toEqual([]);
    // A program that does not exist: the runtime's error, and nothing left either.
    const missing = await build(context({ Dockerfile: 'FROM busybox\nRUN ["/no/such/program"]\n' }));
    expect(missing.error?.message).toContain("/no/such/program");
    expect(mountsUnder(engine.root.root)).toEqual([]);
    expect(scratchLeft()).toEqual([]);
    expect(processesUnder(engine.root.root)).toEqual([]);
  }, 120_000);

  test("a --no-cache build stopped midway leaves no cache record that a later build stacks on the wrong parent", async () => {
    const again = context({ Dockerfile: "FROM busybox\nRUN date +%s%N > /t\nRUN sleep 2; echo two > /two\n" });
    // A build of both steps to cache them, then a --no-cache one that redoes the first step and stops in the second.
    expect((await build(again)).error).toBeUndefined();
    const ac = new AbortController();
    const opts: BuildOptions = { contextDir: again, dockerfile: { path: "Dockerfile" }, tags: [], buildArgs: new Map(), labels: {}, noCache: true, pull: false, cacheFrom: [], network: "default", extraHosts: [], shmSize: 0, ulimits: [], secrets: new Map(), signal: ac.signal };
    const stopped = await buildArea()
      .build(engine, opts, (e) => {
        if (e.type === "start" && e.vertex.name.includes("echo two")) ac.abort(new Error("context canceled"));
      })
      .catch((e: Error) => e);
    expect(stopped).toBeInstanceOf(Error);
    // The first step's record now names the new layer; the second's still sits on the old one: not a hit.
    const next = await build(again);
    expect(next.error).toBeUndefined();
    expect(cachedNames(next.events)).toEqual(["[2/3] RUN date +%s%N > /t"]); // the second runs again
    expect(await fileOf(next.result!.id, "/two")).toBe("two\n");
  }, 120_000);

  test("an aborted build kills its step and leaves nothing", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN sleep 30\n" });
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 700);
    const { error } = await build(dir, { signal: ac.signal, noCache: true });
    expect(error?.message).toBe("context canceled");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(mountsUnder(engine.root.root)).toEqual([]);
    expect(scratchLeft()).toEqual([]);
    expect(processesUnder(engine.root.root)).toEqual([]);
  }, 120_000);

  test("a failing stage stops a concurrent one: nothing tagged, nothing left running", async () => {
    const dir = context({ Dockerfile: "FROM busybox AS slow\nRUN sleep 30\nFROM busybox AS bad\nRUN sleep 0.3; exit 4\nFROM busybox\nCOPY --from=slow /etc/passwd /a\nCOPY --from=bad /etc/passwd /b\n" });
    const t0 = Date.now();
    const { error } = await build(dir, { tags: ["two-stages:1"], noCache: true });
    expect(error?.message).toBe('process "/bin/sh -c sleep 0.3; exit 4" did not complete successfully: exit code: 4');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(engine.images.lookup("two-stages:1")).toBeUndefined();
    expect(mountsUnder(engine.root.root)).toEqual([]);
    expect(scratchLeft()).toEqual([]);
    expect(processesUnder(engine.root.root)).toEqual([]);
  }, 120_000);

  test("a build whose process is killed mid-step: the next build ends its step and removes what it left", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo started > /dev/stderr; sleep 313\n" });
    const script = join(tempDir("bunker-killed-"), "run.ts");
    writeFileSync(
      script,
      `import { Engine } from ${JSON.stringify(join(import.meta.dir, "../../src/engine/engine.ts"))};
import { build } from ${JSON.stringify(join(import.meta.dir, "../../src/engine/build/builder.ts"))};
const engine = new Engine({ dataRoot: ${JSON.stringify(engine.root.root)}, registryMirrors: [], insecureRegistries: [], debug: false, configFile: "/nonexistent", iptables: false } as never);
await build(engine, { contextDir: ${JSON.stringify(dir)}, dockerfile: { path: "Dockerfile" }, tags: [], buildArgs: new Map(), labels: {}, noCache: true, pull: false, cacheFrom: [], network: "none", extraHosts: [], shmSize: 0, ulimits: [], secrets: new Map() }, (e) => { if (e.type === "log") process.stdout.write("step running\\n"); });
`,
    );
    const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    for (let out = ""; !out.includes("step running"); ) {
      const r = await reader.read();
      if (r.done) throw new Error("the child build ended before its step ran");
      out += new TextDecoder().decode(r.value);
    }
    child.kill("SIGKILL");
    await child.exited;
    // Its step's container outlives it (containers survive their engine), and so does its scratch area.
    expect(scratchLeft().length).toBe(1);
    const sleeping = () => readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8") === "sleep\x00313\x00";
      } catch {
        return false;
      }
    });
    const before = sleeping();
    expect(before.length).toBeGreaterThan(0);
    const next = await build(context({ Dockerfile: "FROM busybox\n" }));
    expect(next.error).toBeUndefined();
    expect(scratchLeft()).toEqual([]);
    expect(sleeping().filter((p) => before.includes(p))).toEqual([]);
    expect(mountsUnder(engine.root.root)).toEqual([]);
  }, 120_000);

  test("heredocs, user, workdir, network none, extra hosts, ulimits, shm size", async () => {
    const dir = context({
      Dockerfile: [
        "FROM busybox",
        "RUN <<EOF",
        "echo heredoc-one > /h1",
        "echo heredoc-two >> /h1",
        "EOF",
        "RUN <<EOF",
        "#!/bin/sh -e",
        "echo shebang $0 > /h3",
        "EOF",
        "RUN cat <<EOF > /h2",
        "inline $HOSTNAME",
        "EOF",
        "WORKDIR /w/x",
        "USER 1000:1000",
        "WORKDIR /w/y",
        "RUN id -u > /tmp/uid; pwd > /tmp/pwd",
        "USER root",
        "RUN --network=none ip link | grep -c ': ' > /links",
        "RUN ip -4 -o addr show eth0 | awk '{print $4}' > /bridge-addr; ip route | grep -c default > /bridge-route; grep -c \"$(hostname)\" /etc/hosts > /hostname-line",
        "RUN --network=host cat /proc/net/dev > /host-dev",
        "RUN grep myhost /etc/hosts > /hosts; ulimit -n > /nofile; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm",
      ].join("\n"),
    });
    const { result, error, events } = await build(dir, { extraHosts: [{ name: "myhost", address: "10.1.2.3" }], ulimits: [{ name: "nofile", soft: 777, hard: 777 }], shmSize: 8 * 1024 * 1024 });
    expect(error).toBeUndefined();
    expect(await fileOf(result!.id, "/h1")).toBe("heredoc-one\nheredoc-two\n");
    expect(await fileOf(result!.id, "/h2")).toBe("inline buildkitsandbox\n");
    expect(await fileOf(result!.id, "/h3")).toBe("shebang /dev/pipes/EOF\n");
    expect((await rootOf(result!.id)).has("/dev/pipes")).toBe(false);
    expect(await fileOf(result!.id, "/tmp/uid")).toBe("1000\n");
    expect(await fileOf(result!.id, "/tmp/pwd")).toBe("/w/y\n");
    expect(await fileOf(result!.id, "/links")).toBe("1\n"); // lo only
    // The default network: an address on the default bridge (10.199.0.0/16) and a default route; released after.
    expect(await fileOf(result!.id, "/bridge-addr")).toMatch(/^10\.199\.\d+\.\d+\/16\n$/);
    expect(await fileOf(result!.id, "/bridge-route")).toBe("1\n");
    expect(await fileOf(result!.id, "/hostname-line")).toBe("1\n");
    const claimsDir = "/run/bunker/ipam/bunker0";
    const mine = existsSync(claimsDir) ? readdirSync(claimsDir).filter((f) => readFileSync(join(claimsDir, f), "utf8").startsWith(engine.root.root)) : [];
    expect(mine).toEqual([]);
    // --network=host: the host's interfaces.
    const hostIfs = readFileSync("/proc/net/dev", "utf8").split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter((n) => n && n !== "lo" && !/^(bk|bb|veth)/.test(n));
    const seen = (await fileOf(result!.id, "/host-dev"))!.split("\n").slice(2).map((l) => l.split(":")[0]!.trim());
    expect(hostIfs.length).toBeGreaterThan(0);
    for (const n of hostIfs.slice(0, 3)) expect(seen).toContain(n);
    expect(await fileOf(result!.id, "/hosts")).toBe("10.1.2.3\tmyhost\n");
    expect(await fileOf(result!.id, "/nofile")).toBe("777\n");
    expect(await fileOf(result!.id, "/shm")).toBe("8192\n");
    expect(names(events).filter((n) => /^\[\d/.test(n)).length).toBe(11);
  }, 120_000);

  test("--mount: cache kept between builds, tmpfs, secret, bind from the context and from a stage; ssh refused", async () => {
    const dir = context({
      Dockerfile: [
        "FROM busybox AS src",
        "RUN mkdir /data && echo from-stage > /data/f",
        "FROM busybox",
        "ARG N",
        "RUN --mount=type=cache,target=/cache echo $N >> /cache/runs; cat /cache/runs > /runs",
        "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && mount | grep -c ' /scratch ' > /tmpfs",
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen; test ! -e /run/secrets/tok.x",
        "RUN --mount=type=bind,source=sub,target=/ctx cat /ctx/in.txt > /bound",
        "RUN --mount=type=bind,from=src,source=/data,target=/d cat /d/f > /from-stage",
      ].join("\n"),
      "sub/in.txt": "in-context\n",
    });
    const secret = join(tempDir("bunker-secret-"), "tok");
    writeFileSync(secret, "s3cret\n");
    const first = await build(dir, { buildArgs: new Map([["N", "1"]]), secrets: new Map([["tok", { src: secret }]]) });
    expect(first.error).toBeUndefined();
    expect(await fileOf(first.result!.id, "/runs")).toBe("1\n");
    const second = await build(dir, { buildArgs: new Map([["N", "2"]]), secrets: new Map([["tok", { src: secret }]]) });
    expect(await fileOf(second.result!.id, "/runs")).toBe("1\n2\n");
    expect(await fileOf(second.result!.id, "/tmpfs")).toBe("1\n");
    expect(await fileOf(second.result!.id, "/seen")).toBe("s3cret\n");
    expect(await fileOf(second.result!.id, "/run/secrets/tok")).toBeUndefined();
    expect(await fileOf(second.result!.id, "/bound")).toBe("in-context\n");
    expect(await fileOf(second.result!.id, "/from-stage")).toBe("from-stage\n");
    // Mount points the runtime made are not in the layers (BuildKit's neither).
    const root = await rootOf(second.result!.id);
    for (const p of ["/cache", "/scratch", "/run/secrets", "/ctx", "/d"]) expect(root.has(p)).toBe(false);
    const ssh = await build(context({ Dockerfile: "FROM busybox\nRUN --mount=type=ssh true\n" }));
    expect(ssh.error?.message).toContain("type=ssh is not supported");
  }, 120_000);
});

describe("build: hostile steps", () => {
  test("RUN writes to / stay in its layer, never on the host", async () => {
    const outside = tempDir("bunker-outside-");
    const dir = context({ Dockerfile: `FROM busybox\nRUN echo pwned > /etc/passwd-x; mkdir -p ${outside} && echo pwned > ${outside}/written\n` });
    const { result, error } = await build(dir);
    expect(error).toBeUndefined();
    expect(existsSync("/etc/passwd-x")).toBe(false);
    expect(existsSync(join(outside, "written"))).toBe(false);
    expect(await fileOf(result!.id, "/etc/passwd-x")).toBe("pwned\n");
    expect(await fileOf(result!.id, `${outside}/written`)).toBe("pwned\n");
  }, 120_000);

  test("WORKDIR through a symlink the image holds resolves inside the image, never on the host", async () => {
    const outside = tempDir("bunker-outside-");
    const dir = context({ Dockerfile: `FROM busybox\nRUN ln -s ${outside} /evil && ln -s ../../../../../${outside} /evil-rel\nWORKDIR /evil/made\nWORKDIR /evil-rel/made2\n` });
    const { result, error } = await build(dir);
    expect(error).toBeUndefined();
    expect(readdirSync(outside)).toEqual([]);
    const root = await rootOf(result!.id);
    expect(root.has(`${outside}/made`)).toBe(true);
    expect(root.has(`${outside}/made2`)).toBe(true);
  }, 120_000);

  test("--mount=type=bind cannot reach outside the context: symlinks and .. resolve inside it", async () => {
    const outside = tempDir("bunker-outside-");
    writeFileSync(join(outside, "secret"), "host-only\n");
    const dir = context({ Dockerfile: "FROM busybox\nRUN true\n", "inside/secret": "context-copy\n" });
    symlinkSync(outside, join(dir, "abs-link"));
    symlinkSync("../../../../../../../..", join(dir, "rel-link"));
    const attempt = async (source: string) => {
      writeFileSync(join(dir, "Dockerfile"), `FROM busybox\nRUN --mount=type=bind,source=${source},target=/e cat /e/secret > /got\n`);
      return build(dir);
    };
    // An absolute symlink is followed from the context's root: the host directory is not found there.
    expect((await attempt("abs-link")).error?.message).toContain("not found");
    // ".." never climbs above the context: "../../<outside>" is "<outside>" inside the context.
    expect((await attempt(`../../../..${outside}`)).error?.message).toContain("not found");
    // A relative symlink climbing out stops at the context's root.
    const rel = await attempt("rel-link/inside");
    expect(rel.error).toBeUndefined();
    expect(await fileOf(rel.result!.id, "/got")).toBe("context-copy\n");
    // A bind is read-only: the context is not written.
    writeFileSync(join(dir, "Dockerfile"), "FROM busybox\nRUN --mount=type=bind,source=inside,target=/e sh -c 'echo x > /e/new'\n");
    const ro = await build(dir);
    expect(ro.error?.message).toContain("did not complete successfully");
    expect(existsSync(join(dir, "inside", "new"))).toBe(false);
  }, 120_000);
});
