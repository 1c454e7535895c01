// The front doors of the builder without a build: progress renderers driven by BuildEvent sequences (plain
// checked line by line against BuildKit's output captured in tests/fixtures/buildkit-reference), the legacy
// JSON stream both ways, POST /build's query parsing and the CLI's stdin and --secret parsing.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildProgress, sourceSnippet } from "../../src/commands/_build-progress.ts";
import { cacheSource, isArchive, parseSecrets } from "../../src/commands/build.ts";
import { LegacyStreamReader, LegacyStreamWriter, legacyError, type LegacyMessage } from "../../src/engine/build/legacy-stream.ts";
import type { BuildEvent } from "../../src/engine/build/types.ts";
import { parseBuildQuery, decodeRegistryConfig } from "../../src/server/routes/build.ts";
import { packDir } from "../../src/fs/pack.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/buildkit-reference");
const enc = (s: string) => new TextEncoder().encode(s);

/** A clock the test moves. */
function clock() {
  let t = 1000;
  return { now: () => t, tick: (ms: number) => void (t += ms) };
}

/** Events of the fixture's build (progress-plain.txt), in BuildKit's order. */
function fixtureEvents(tick: (ms: number) => void): BuildEvent[] {
  const ev: BuildEvent[] = [];
  const v = (id: number, name: string, step?: { n: number; of: number; instruction: string }) => ev.push({ type: "start", vertex: { id, name, step } });
  v(1, "[internal] load build definition from Dockerfile");
  ev.push({ type: "status", vertexId: 1, text: "transferring dockerfile: 32B 0.0s", done: true });
  ev.push({ type: "done", vertexId: 1, ms: 100 });
  v(2, "[internal] load .dockerignore");
  ev.push({ type: "status", vertexId: 2, text: "transferring context:" });
  ev.push({ type: "status", vertexId: 2, text: "transferring context: 2B", done: true });
  ev.push({ type: "done", vertexId: 2, ms: 0 });
  v(3, "[internal] load metadata for docker.io/library/busybox:latest");
  ev.push({ type: "done", vertexId: 3, ms: 0 });
  v(4, "[1/7] FROM docker.io/library/busybox", { n: 1, of: 7, instruction: "FROM busybox" });
  ev.push({ type: "done", vertexId: 4, ms: 0, imageId: "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741" });
  v(5, "[2/7] WORKDIR /app/2.5", { n: 2, of: 7, instruction: "WORKDIR /app/$V" });
  ev.push({ type: "cached", vertexId: 5 });
  v(8, "[internal] load build context");
  ev.push({ type: "status", vertexId: 8, text: "transferring context: 73B", done: true });
  ev.push({ type: "done", vertexId: 8, ms: 0 });
  v(6, '[3/7] RUN echo "v=2.5 a=1" > /built', { n: 3, of: 7, instruction: 'RUN echo "v=$V a=$A" > /built' });
  ev.push({ type: "done", vertexId: 6, ms: 700 });
  v(7, '[4/7] RUN ["/bin/echo", "json form"]', { n: 4, of: 7, instruction: 'RUN ["/bin/echo", "json form"]' });
  ev.push({ type: "log", vertexId: 7, stream: 1, data: enc("json form\n") });
  ev.push({ type: "done", vertexId: 7, ms: 400 });
  v(9, "[5/7] COPY a.txt /app/", { n: 5, of: 7, instruction: "COPY a.txt /app/" });
  ev.push({ type: "done", vertexId: 9, ms: 100 });
  v(10, "[6/7] COPY --chown=1:2 dir /app/dir", { n: 6, of: 7, instruction: "COPY --chown=1:2 dir /app/dir" });
  ev.push({ type: "done", vertexId: 10, ms: 0 });
  v(11, "[7/7] ADD a.txt /added", { n: 7, of: 7, instruction: "ADD a.txt /added" });
  ev.push({ type: "done", vertexId: 11, ms: 100 });
  v(12, "exporting to image");
  ev.push({ type: "status", vertexId: 12, text: "exporting layers" });
  ev.push({ type: "status", vertexId: 12, text: "exporting layers 0.2s", done: true });
  ev.push({ type: "status", vertexId: 12, text: "writing image sha256:65e0456524cbe712639a1d847335424f6f77a5ddafd3fcb0fae855c69fc236ce", done: true });
  ev.push({ type: "status", vertexId: 12, text: "naming to docker.io/library/ref:bk1", done: true });
  ev.push({ type: "done", vertexId: 12, ms: 200 });
  void tick;
  return ev;
}

/** Timing numbers out: "0.123", "0.2s". */
const untimed = (s: string) => s.replace(/\b\d+\.\d+s?\b/g, "T");

describe("plain progress", () => {
  test("has the shape of BuildKit's --progress=plain, line by line", () => {
    const c = clock();
    let out = "";
    const p = buildProgress("plain", { write: (s) => void (out += s) }, c.now);
    for (const e of fixtureEvents(c.tick)) p.event(e);
    p.end(false);
    const want = readFileSync(join(FIXTURES, "progress-plain.txt"), "utf8");
    // BuildKit numbers vertices as it first prints them; the fixture's #8 came between #5 and #6 by its own order.
    const renumber = (s: string) => {
      const map = new Map<string, number>();
      return s.replace(/^#(\d+)/gm, (_m, n) => `#${map.get(n) ?? (map.set(n, map.size + 1), map.size)}`);
    };
    expect(untimed(renumber(out)).split("\n")).toEqual(untimed(renumber(want)).split("\n"));
  });

  test("output lines carry their time since the step started; interleaved steps get '...' and their header again", () => {
    const c = clock();
    let out = "";
    const p = buildProgress("plain", { write: (s) => void (out += s) }, c.now);
    p.event({ type: "start", vertex: { id: 1, name: "[a 1/2] RUN x" } });
    c.tick(451);
    p.event({ type: "log", vertexId: 1, stream: 1, data: enc("out\npart") });
    p.event({ type: "start", vertex: { id: 2, name: "[b 1/2] RUN y" } });
    c.tick(8);
    p.event({ type: "log", vertexId: 1, stream: 2, data: enc("ial\n") });
    p.event({ type: "error", vertexId: 1, message: 'process "/bin/sh -c x" did not complete successfully: exit code: 3' });
    p.end(true);
    expect(out).toBe(
      [
        "#1 [a 1/2] RUN x",
        "#1 0.451 out",
        "#1 ...",
        "#2 [b 1/2] RUN y",
        "#2 ...",
        "#1 [a 1/2] RUN x",
        "#1 0.451 partial",
        '#1 ERROR: process "/bin/sh -c x" did not complete successfully: exit code: 3',
        "------",
        " > [a 1/2] RUN x:",
        "0.451 out",
        "0.451 partial",
        "------",
        "",
      ].join("\n"),
    );
  });
});

describe("tty progress", () => {
  test("redraws in place: running steps with their last output lines, CACHED, then FINISHED", () => {
    const c = clock();
    let out = "";
    const p = buildProgress("tty", { write: (s) => void (out += s), columns: 60 }, c.now);
    p.event({ type: "start", vertex: { id: 1, name: "[1/3] FROM docker.io/library/busybox" } });
    p.event({ type: "cached", vertexId: 1 });
    p.event({ type: "start", vertex: { id: 2, name: "[2/3] RUN for i in 1 2 3 4 5 6 7 8; do echo $i; done" } });
    c.tick(300);
    p.event({ type: "log", vertexId: 2, stream: 1, data: enc("1\n2\n3\n4\n5\n6\n7\n8\n") });
    const running = out.split("\x1b[K\n");
    expect(running.at(-1)).toBe("");
    // The last frame: header, two vertices, the last 6 output lines.
    const frame = out.slice(out.lastIndexOf("[+] Building")).split("\x1b[K\n").slice(0, -1);
    expect(frame[0]).toBe("[+] Building 0.3s (1/2)");
    expect(frame[1]).toBe(" => CACHED [1/3] FROM docker.io/library/busybox        0.0s");
    expect(frame[2]!.startsWith(" => [2/3] RUN for i in")).toBe(true);
    expect(frame[2]!.endsWith(" 0.3s")).toBe(true);
    expect(frame[2]!.length).toBe(59);
    expect(frame.slice(3)).toEqual(["3", "4", "5", "6", "7", "8"].map((n) => ` => => # ${n}`));
    c.tick(200);
    p.event({ type: "done", vertexId: 2, ms: 500 });
    p.end(false);
    // Each redraw goes back up over the previous frame (9 lines), then the final frame has no output lines.
    expect(out).toContain("\x1b[9A\r");
    const last = out.slice(out.lastIndexOf("[+] Building")).split("\x1b[K\n").slice(0, -1);
    expect(last[0]).toBe("[+] Building 0.5s (2/2) FINISHED");
    expect(last.length).toBe(3);
    expect(last[2]!.endsWith(" 0.5s")).toBe(true);
  });

  test("a live frame keeps to the terminal's height; the final frame is whole", () => {
    const c = clock();
    let out = "";
    const p = buildProgress("tty", { write: (s) => void (out += s), columns: 60, rows: 6 }, c.now);
    for (let i = 1; i <= 8; i++) p.event({ type: "start", vertex: { id: i, name: `[${i}/8] RUN step ${i}` } });
    const frame = out.slice(out.lastIndexOf("[+] Building")).split("\x1b[K\n").slice(0, -1);
    expect(frame.length).toBe(5);
    expect(frame[0]).toStartWith("[+] Building");
    expect(frame.at(-1)).toStartWith(" => [8/8] RUN step 8");
    p.end(false);
    const last = out.slice(out.lastIndexOf("[+] Building")).split("\x1b[K\n").slice(0, -1);
    expect(last.length).toBe(9);
    expect(out.slice(out.lastIndexOf("[+] Building") - 5, out.lastIndexOf("[+] Building"))).toBe("\x1b[5A\r"); // back over the 5 lines drawn
  });

  test("a failed step stays with its output, marked ERROR, and the error box follows", () => {
    const c = clock();
    let out = "";
    const p = buildProgress("tty", { write: (s) => void (out += s), columns: 80 }, c.now);
    p.event({ type: "start", vertex: { id: 1, name: "[2/2] RUN exit 3" } });
    p.event({ type: "log", vertexId: 1, stream: 2, data: enc("err\n") });
    p.event({ type: "error", vertexId: 1, message: "exit code: 3" });
    p.end(true);
    expect(out).toContain(" => ERROR [2/2] RUN exit 3");
    expect(out).toContain(" => => # err\x1b[K\n");
    expect(out.endsWith("------\n > [2/2] RUN exit 3:\n0.000 err\n------\n")).toBe(true);
  });
});

test("quiet progress writes nothing", () => {
  let out = "";
  const p = buildProgress("quiet", { write: (s) => void (out += s) });
  for (const e of fixtureEvents(() => {})) p.event(e);
  p.end(true);
  expect(out).toBe("");
});

describe("legacy JSON stream", () => {
  const ins = (n: number, text: string, stage: number, o: { container?: boolean; endsStage?: boolean; trigger?: { index: number; of: number } } = {}): BuildEvent => ({
    type: "instruction",
    instruction: { n, of: 8, text, stage, endsStage: o.endsStage ?? false, container: o.container ?? stage >= 0, ...(o.trigger ? { trigger: o.trigger } : {}) },
  });
  const ID = (c: string) => `sha256:${c.repeat(64)}`;
  // A meta ARG; stage 0 (an ONBUILD trigger in its FROM, a cached ENV, a RUN with output); stage 1 built
  // concurrently, its events arriving while stage 0 runs (a COPY), and a --label step at its end.
  const events: BuildEvent[] = [
    { type: "start", vertex: { id: 0, name: "[internal] load build definition from Dockerfile" } },
    { type: "done", vertexId: 0, ms: 1 },
    ins(1, "ARG V=1", -1, { container: false }),
    { type: "instructionDone", n: 1, cached: false },
    ins(2, "FROM ${BASE} AS a", 0, { container: false }),
    { type: "start", vertex: { id: 1, name: "[a 1/3] FROM docker.io/library/busybox", step: { n: 1, of: 3, instruction: "FROM ${BASE}", legacy: { n: 2 } } } },
    { type: "done", vertexId: 1, ms: 0 },
    ins(2, "RUN echo trig", 0, { trigger: { index: 0, of: 1 } }),
    { type: "start", vertex: { id: 2, name: "[a 2/3] RUN echo trig", step: { n: 2, of: 3, instruction: "RUN echo trig", legacy: { n: 2, trigger: 0 } } } },
    { type: "log", vertexId: 2, stream: 1, data: enc("trig\n") },
    { type: "done", vertexId: 2, ms: 5 },
    { type: "instructionDone", n: 2, trigger: 0, imageId: ID("1"), cached: false },
    { type: "instructionDone", n: 2, imageId: ID("1"), cached: false },
    // stage 1 starts now: held until stage 0 is done
    ins(5, "FROM busybox AS b", 1, { container: false }),
    { type: "instructionDone", n: 5, imageId: ID("0"), cached: false },
    ins(6, "COPY f /f", 1, { container: false }),
    { type: "start", vertex: { id: 4, name: "[b 2/2] COPY f /f", step: { n: 2, of: 2, instruction: "COPY f /f", legacy: { n: 6 } } } },
    { type: "done", vertexId: 4, ms: 2 },
    { type: "instructionDone", n: 6, imageId: ID("6"), cached: false },
    ins(3, "ENV A=1", 0),
    { type: "instructionDone", n: 3, imageId: ID("2"), cached: true },
    ins(4, "RUN echo hi; echo err >&2", 0, { endsStage: true }),
    { type: "start", vertex: { id: 3, name: "[a 3/3] RUN echo hi; echo err >&2", step: { n: 3, of: 3, instruction: "RUN echo hi; echo err >&2", legacy: { n: 4 } } } },
    { type: "log", vertexId: 3, stream: 1, data: enc("hi\n") },
    { type: "log", vertexId: 3, stream: 2, data: enc("err\n") },
    { type: "done", vertexId: 3, ms: 300 },
    { type: "instructionDone", n: 4, imageId: ID("3"), cached: false },
    ins(7, "CMD x", 1),
    { type: "instructionDone", n: 7, imageId: ID("7"), cached: false },
    ins(8, "LABEL k=v w", 1, { endsStage: true }),
    { type: "instructionDone", n: 8, imageId: ID("8"), cached: true },
  ];
  const c = "0123456789ab";
  // dockerd 20.10's legacy builder for such a build, message by message (captured with the IDs replaced).
  const dockerd: LegacyMessage[] = [
    { stream: "Step 1/8 : ARG V=1" },
    { stream: "\n" },
    { stream: "Step 2/8 : FROM ${BASE} AS a" },
    { stream: "\n" },
    { stream: "# Executing 1 build trigger" },
    { stream: "\n" },
    { stream: ` ---> Running in ${c}\n` },
    { stream: "trig\n" },
    { stream: `Removing intermediate container ${c}\n` },
    { stream: " ---> 111111111111\n" },
    { stream: "Step 3/8 : ENV A=1" },
    { stream: "\n" },
    { stream: " ---> Using cache\n" },
    { stream: " ---> 222222222222\n" },
    { stream: "Step 4/8 : RUN echo hi; echo err >&2" },
    { stream: "\n" },
    { stream: ` ---> Running in ${c}\n` },
    { stream: "hi\n" },
    { stream: "\x1b[91merr\n\x1b[0m" },
    { stream: `Removing intermediate container ${c}\n` },
    { stream: " ---> 333333333333\n" },
    { aux: { ID: ID("3") } },
    { stream: "Step 5/8 : FROM busybox AS b" },
    { stream: "\n" },
    { stream: " ---> 000000000000\n" },
    { stream: "Step 6/8 : COPY f /f" },
    { stream: "\n" },
    { stream: " ---> 666666666666\n" },
    { stream: "Step 7/8 : CMD x" },
    { stream: "\n" },
    { stream: ` ---> Running in ${c}\n` },
    { stream: `Removing intermediate container ${c}\n` },
    { stream: " ---> 777777777777\n" },
    { stream: "Step 8/8 : LABEL k=v w" },
    { stream: "\n" },
    { stream: " ---> Using cache\n" },
    { stream: " ---> 888888888888\n" },
    { aux: { ID: ID("8") } },
    { stream: "Successfully built 888888888888\n" },
    { stream: "Successfully tagged x:latest\n" },
    { stream: "Successfully tagged localhost:5000/y:1\n" },
  ];

  test("is written as dockerd's legacy builder writes it: every instruction, in order, concurrent stages held back", () => {
    const got: LegacyMessage[] = [];
    const w = new LegacyStreamWriter((m) => got.push(m), { quiet: false, rm: true, forceRm: false, newId: () => c });
    for (const e of events) w.event(e);
    w.result({ id: ID("8"), tags: [] }, ["x:latest", "localhost:5000/y:1"]);
    expect(got).toEqual(dockerd);
  });

  test("rm=0 leaves out the removal lines; API < 1.30 has no aux; quiet holds everything back and writes the ID only", () => {
    const got: LegacyMessage[] = [];
    const w = new LegacyStreamWriter((m) => got.push(m), { quiet: false, rm: false, forceRm: false, aux: false, newId: () => c });
    for (const e of events) w.event(e);
    w.result({ id: ID("8"), tags: [] }, []);
    expect(got).toEqual(dockerd.filter((m) => !m.aux && !m.stream?.startsWith("Removing") && !m.stream?.startsWith("Successfully tagged")));

    const quiet: LegacyMessage[] = [];
    const q = new LegacyStreamWriter((m) => quiet.push(m), { quiet: true, rm: true, forceRm: false });
    for (const e of events) q.event(e);
    expect(q.written).toBe(false);
    q.result({ id: ID("8"), tags: [] }, ["x:latest"]);
    expect(quiet).toEqual([{ stream: `${ID("8")}\n` }]);
  });

  test("two triggers: dockerd's three writes; FROM scratch: an empty ID and no aux", () => {
    const got: LegacyMessage[] = [];
    const w = new LegacyStreamWriter((m) => got.push(m), { quiet: false, rm: false, forceRm: false, newId: () => c });
    for (const e of [
      ins(1, "FROM base", 0, { container: false }),
      ins(1, "ENV A=1", 0, { trigger: { index: 0, of: 2 } }),
      { type: "instructionDone", n: 1, trigger: 0, imageId: ID("1"), cached: true },
      ins(1, "ENV B=1", 0, { trigger: { index: 1, of: 2 } }),
      { type: "instructionDone", n: 1, trigger: 1, imageId: ID("2"), cached: true },
      { type: "instructionDone", n: 1, imageId: ID("2"), cached: false },
      ins(2, "FROM scratch", 1, { container: false, endsStage: true }),
      { type: "instructionDone", n: 2, cached: false },
    ] as BuildEvent[])
      w.event(e);
    expect(got).toEqual([
      { stream: "Step 1/8 : FROM base" },
      { stream: "\n" },
      { stream: "# Executing 2 build trigger" },
      { stream: "s" },
      { stream: "\n" },
      { stream: " ---> Using cache\n" },
      { stream: " ---> Using cache\n" },
      { stream: " ---> 222222222222\n" },
      { stream: "Step 2/8 : FROM scratch" },
      { stream: "\n" },
      { stream: " ---> \n" },
    ]);
  });

  test("a failed RUN is the legacy JSONError with the exit code; held output (quiet, later stages) comes out before it", () => {
    expect(legacyError('process "/bin/sh -c exit 3" did not complete successfully: exit code: 3')).toEqual({ code: 3, message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" });
    expect(legacyError("dockerfile parse error on line 1")).toEqual({ message: "dockerfile parse error on line 1" });
    const got: LegacyMessage[] = [];
    const w = new LegacyStreamWriter((m) => got.push(m), { quiet: true, rm: true, forceRm: true, newId: () => c });
    expect(w.started).toBe(false);
    w.event(ins(2, "RUN exit 3", 0));
    w.event({ type: "start", vertex: { id: 1, name: "[2/2] RUN exit 3", step: { n: 2, of: 2, instruction: "RUN exit 3", legacy: { n: 2 } } } });
    w.event({ type: "error", vertexId: 1, message: "x" });
    expect([w.written, w.started]).toEqual([false, true]);
    w.error('process "/bin/sh -c exit 3" did not complete successfully: exit code: 3');
    expect(got).toEqual([
      { stream: "Step 2/8 : RUN exit 3" },
      { stream: "\n" },
      { stream: ` ---> Running in ${c}\n` },
      { stream: `Removing intermediate container ${c}\n` },
      { errorDetail: { code: 3, message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" }, error: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" },
    ]);
  });

  test("is read back into BuildEvents (the remote Backend)", () => {
    const c = clock();
    const got: BuildEvent[] = [];
    const r = new LegacyStreamReader((e) => got.push(e), c.now);
    for (const m of dockerd) r.message(m);
    r.close();
    expect(r.imageId).toBe(ID("8"));
    expect(r.tags).toEqual(["x:latest", "localhost:5000/y:1"]);
    const dec = (e: BuildEvent) => (e.type === "log" ? { ...e, data: new TextDecoder().decode(e.data) } : e);
    const vertex = (id: number, n: number, text: string) => ({ type: "start", vertex: { id, name: `[${n}/8] ${text}`, step: { n, of: 8, instruction: text } } });
    expect(got.map(dec) as unknown[]).toEqual([
      vertex(1, 1, "ARG V=1"),
      { type: "done", vertexId: 1, ms: 0, imageId: undefined },
      vertex(2, 2, "FROM ${BASE} AS a"),
      { type: "log", vertexId: 2, stream: 1, data: "# Executing 1 build trigger" },
      { type: "log", vertexId: 2, stream: 1, data: "\n" },
      { type: "log", vertexId: 2, stream: 1, data: "trig\n" },
      { type: "done", vertexId: 2, ms: 0, imageId: "111111111111" },
      vertex(3, 3, "ENV A=1"),
      { type: "cached", vertexId: 3, imageId: "222222222222" },
      vertex(4, 4, "RUN echo hi; echo err >&2"),
      { type: "log", vertexId: 4, stream: 1, data: "hi\n" },
      { type: "log", vertexId: 4, stream: 2, data: "err\n" },
      { type: "done", vertexId: 4, ms: 0, imageId: "333333333333" },
      vertex(5, 5, "FROM busybox AS b"),
      { type: "done", vertexId: 5, ms: 0, imageId: "000000000000" },
      vertex(6, 6, "COPY f /f"),
      { type: "done", vertexId: 6, ms: 0, imageId: "666666666666" },
      vertex(7, 7, "CMD x"),
      { type: "done", vertexId: 7, ms: 0, imageId: "777777777777" },
      vertex(8, 8, "LABEL k=v w"),
      { type: "cached", vertexId: 8, imageId: "888888888888" },
    ] as unknown[]);
  });

  test("the reader throws the stream's error in BuildKit's words and marks the step failed", () => {
    const got: BuildEvent[] = [];
    const r = new LegacyStreamReader((e) => got.push(e));
    r.message({ stream: "Step 2/2 : RUN exit 3" });
    r.message({ stream: "\n" });
    expect(() => r.message({ errorDetail: { code: 3, message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" }, error: "x" })).toThrow('process "/bin/sh -c exit 3" did not complete successfully: exit code: 3');
    expect(got.at(-1)).toEqual({ type: "error", vertexId: 1, message: 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3' });
  });
});

describe("POST /build query", () => {
  const h = new Headers();
  // What docker CLI 28 sends with DOCKER_BUILDKIT=0 (client/image_build.go imageBuildOptionsToQuery).
  const cli = "t=x&t=localhost:5000/y:1&extrahosts=h1:10.0.0.1&cpusetcpus=&networkmode=default&cpusetmems=&cpushares=0&cpuquota=0&cpuperiod=0&memory=0&memswap=0&cgroupparent=&shmsize=0&dockerfile=sub%2FDockerfile&target=&ulimits=null&buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&cachefrom=null&version=1&rm=1";

  test("the docker CLI's query becomes typed options", async () => {
    const q = await parseBuildQuery(new URLSearchParams(cli), h);
    expect(q.options.tags).toEqual(["docker.io/library/x:latest", "localhost:5000/y:1"]);
    expect(q.familiarTags).toEqual(["x:latest", "localhost:5000/y:1"]);
    expect(q.options.dockerfile).toEqual({ path: "sub/Dockerfile" });
    expect([...q.options.buildArgs]).toEqual([["A", "1"]]);
    expect(q.options.labels).toEqual({ l: "v" });
    expect(q.options.extraHosts).toEqual([{ name: "h1", address: "10.0.0.1" }]);
    expect(q.options.network).toBe("default");
    expect(q.options.ulimits).toEqual([]);
    expect(q.options.cacheFrom).toEqual([]);
    expect(q.options.target).toBeUndefined();
    expect(q.rm).toBe(true);
    expect(q.quiet).toBe(false);
  });

  test("docker-py's query (rm=False, booleans as words, no version) and defaults", async () => {
    const q = await parseBuildQuery(new URLSearchParams("t=img&q=False&nocache=True&rm=False&forcerm=False&pull=True&dockerfile=Dockerfile"), h);
    expect(q.rm).toBe(false);
    expect(q.options.noCache).toBe(true);
    expect(q.options.pull).toBe(true);
    expect((await parseBuildQuery(new URLSearchParams(""), h)).rm).toBe(true);
  });

  test("ulimits, shmsize, networkmode, platform, cachefrom are typed", async () => {
    const q = await parseBuildQuery(new URLSearchParams(`ulimits=${encodeURIComponent('[{"Name":"nofile","Soft":100,"Hard":200}]')}&shmsize=1048576&networkmode=none&cachefrom=${encodeURIComponent('["a:1"]')}&platform=linux/amd64`), h);
    expect(q.options.ulimits).toEqual([{ name: "nofile", soft: 100, hard: 200 }]);
    expect(q.options.shmSize).toBe(1048576);
    expect(q.options.network).toBe("none");
    expect(q.options.cacheFrom).toEqual(["a:1"]);
    expect(q.options.platform).toBe("linux/amd64");
  });

  test("what is not applied is refused by name", async () => {
    const refuse = (qs: string) => parseBuildQuery(new URLSearchParams(qs), h);
    await expect(refuse("memory=1000000")).rejects.toThrow('build option "memory" is not supported');
    await expect(refuse("cpuquota=5000")).rejects.toThrow('"cpuquota"');
    await expect(refuse("squash=1")).rejects.toThrow('"squash"');
    await expect(refuse("bogus=1")).rejects.toThrow('build option "bogus" is not supported');
    await expect(refuse("remote=https://example.com/ctx.tar")).rejects.toThrow("remote build contexts are not supported");
    await expect(refuse("version=2")).rejects.toThrow("buildkit not supported by daemon");
    await expect(refuse("networkmode=container:abc")).rejects.toThrow('network mode "container:abc"');
    await expect(refuse("t=Bad")).rejects.toThrow("must be lowercase");
    await expect(refuse(`t=${encodeURIComponent("x@sha256:" + "a".repeat(64))}`)).rejects.toThrow("build tag cannot contain a digest");
    await expect(refuse("buildargs=%7Bnot")).rejects.toThrow("invalid buildargs parameter");
    await expect(refuse(`ulimits=${encodeURIComponent('[{"Name":"bogus","Soft":1,"Hard":1}]')}`)).rejects.toThrow("invalid ulimit type: bogus");
    await expect(refuse("extrahosts=nocolon")).rejects.toThrow("bad format for add-host");
  });

  test("X-Registry-Config gives credentials by registry host", () => {
    const cfg = { "localhost:5000": { username: "u", password: "p" }, "https://index.docker.io/v1/": { auth: Buffer.from("a:b").toString("base64") } };
    const m = decodeRegistryConfig(Buffer.from(JSON.stringify(cfg)).toString("base64url"));
    expect([...m]).toEqual([["localhost:5000", { username: "u", password: "p" }], ["https://index.docker.io/v1/", { username: "a", password: "b" }]]);
    expect(decodeRegistryConfig("%%%").size).toBe(0);
  });
});

describe("bunker build's parsing", () => {
  test("stdin is an archive when compressed or a valid tar header, else a Dockerfile", async () => {
    const tar = new Uint8Array(await new Response(packDir(FIXTURES)).arrayBuffer());
    expect(isArchive(tar.subarray(0, 512))).toBe(true);
    expect(isArchive(new Uint8Array([0x1f, 0x8b, 8, 0]))).toBe(true);
    expect(isArchive(enc("FROM busybox\nRUN echo hi\n"))).toBe(false);
    const corrupt = tar.slice(0, 512);
    corrupt[0] = corrupt[0]! ^ 1;
    expect(isArchive(corrupt)).toBe(false);
  });

  test("--secret: src, env, type=env, the ID as the variable, and the refusals", () => {
    const cleanups: (() => void)[] = [];
    process.env.BUNKER_TEST_SECRET = "s3cret";
    try {
      const m = parseSecrets([`id=a,src=${join(FIXTURES, "a.txt")}`, "id=b,env=BUNKER_TEST_SECRET", "type=env,src=BUNKER_TEST_SECRET", "id=BUNKER_TEST_SECRET"], cleanups);
      expect(m.get("a")).toEqual({ src: join(FIXTURES, "a.txt") });
      for (const id of ["b", "BUNKER_TEST_SECRET"]) expect(readFileSync(m.get(id)!.src, "utf8")).toBe("s3cret");
      expect(() => parseSecrets(["id=x,src=/nonexistent/file"], cleanups)).toThrow("failed to stat /nonexistent/file");
      expect(() => parseSecrets(["id=x,bogus=1"], cleanups)).toThrow("unexpected key 'bogus'");
      expect(() => parseSecrets(["type=ssh,id=x"], cleanups)).toThrow('unsupported secret type "ssh"');
      expect(() => parseSecrets(["id=NOPE_NOT_SET_ANYWHERE"], cleanups)).toThrow("NOPE_NOT_SET_ANYWHERE is not set");
    } finally {
      for (const c of cleanups) c();
      delete process.env.BUNKER_TEST_SECRET;
    }
  });

  test("--cache-from: a name, or type=registry,ref=NAME; other cache types refused", () => {
    expect(cacheSource("app:1")).toBe("app:1");
    expect(cacheSource("type=registry,ref=localhost:5000/app:cache")).toBe("localhost:5000/app:cache");
    expect(() => cacheSource("type=local,src=/tmp/cache")).toThrow("--cache-from type=local is not supported");
    expect(() => cacheSource("type=registry")).toThrow("ref= is missing");
  });
});

test("BuildKit's source snippet: the failed line marked, two lines of context either side", () => {
  expect(sourceSnippet("FROM busybox\nRUN echo out; echo err >&2; exit 3\n", "Dockerfile", 2)).toBe(
    ["Dockerfile:2", "--------------------", "   1 |     FROM busybox", "   2 | >>> RUN echo out; echo err >&2; exit 3", "   3 |     ", "--------------------", ""].join("\n"),
  );
  const long = Array.from({ length: 9 }, (_, i) => `L${i + 1}`).join("\n");
  expect(sourceSnippet(long, "x.Dockerfile", 5).split("\n").slice(2, -2)).toEqual(["   3 |     L3", "   4 |     L4", "   5 | >>> L5", "   6 |     L6", "   7 |     L7"]);
  expect(sourceSnippet(long, "x", 1).split("\n").slice(2, -2)).toEqual(["   1 | >>> L1", "   2 |     L2", "   3 |     L3"]); // BuildKit pads by steps, not lines
  expect(sourceSnippet(long, "x", 42)).toBe("");
});
