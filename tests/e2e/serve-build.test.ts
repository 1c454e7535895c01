/**
 * POST /build through `bunker serve` with the real clients that call the legacy builder endpoint: the docker
 * CLI 28 and 20.10 with DOCKER_BUILDKIT=0 (their output as against dockerd's legacy builder: Step lines, the
 * image IDs, Successfully built/tagged; a failing step's exit code and no tag; a gzip'd context with
 * --compress; flags bunker does not apply refused by name), docker-py's `images.build` and a docker-compose 1.29
 * `build:` service. Hostile tar contexts (`../` members, absolute symlinks, members through a symlink) touch
 * nothing outside the private context directory, which is gone after every build.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BUNKER, freshDataRoot, serveAt, tempDir, type Result } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { tar as rawTar } from "../helpers/tar-writer.ts";

const DOCKER28 = "/usr/local/bin/docker";
const DOCKER20 = "/usr/bin/docker";
const COMPOSE = "/usr/bin/docker-compose";
const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER28);
const hasPy = Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;

let reg: Registry;
let dir: string;
let dataRoot: string;
let server: Awaited<ReturnType<typeof serveAt>>;

/** Runs a client program against the daemon, with a private Docker config and the legacy builder. */
async function client(argv: string[], opts: { cwd?: string; buildkitEnv?: boolean; stdin?: Uint8Array } = {}): Promise<Result> {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd,
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${server.sock}`, ...(opts.buildkitEnv === false ? {} : { DOCKER_BUILDKIT: "0" }) },
    timeout: 120_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
const docker = (args: string[], cwd?: string) => client([DOCKER28, ...args], { cwd });
async function dockerOk(args: string[]): Promise<string> {
  const r = await docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const idOf = async (name: string) => (await dockerOk(["image", "inspect", "-f", "{{.Id}}", name])).trim();

/** A context directory with these files. */
function context(files: Record<string, string>): string {
  const ctx = join(tempDir("bunker-serve-build-"), "ctx");
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(ctx, name, ".."), { recursive: true });
    writeFileSync(join(ctx, name), data);
  }
  return ctx;
}

/** The build contexts the daemon still holds (none once a build is over). */
const leftContexts = () => (existsSync(join(dataRoot, "build", "contexts")) ? readdirSync(join(dataRoot, "build", "contexts")) : []);

/** POSTs a raw context to /build; the JSON stream's messages (or the HTTP error). */
async function postBuild(body: Uint8Array, query: string): Promise<{ status: number; messages: any[]; text: string }> {
  const res = await server.api(`/v1.41/build?${query}`, { method: "POST", body, headers: { "content-type": "application/x-tar" } });
  const text = await res.text();
  const messages = res.status === 200 ? text.split("\r\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  return { status: res.status, messages, text };
}

beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = tempDir("bunker-serve-build-");
  chmodSync(dir, 0o755);
  dataRoot = freshDataRoot();
  server = await serveAt(dataRoot, ["--registry-mirror", reg.url]);
  await dockerOk(["pull", "-q", "busybox"]);
}, 900_000);
afterAll(async () => {
  const ids = ready ? (await docker(["ps", "-aq"])).stdout.trim() : "";
  if (ids) await docker(["rm", "-f", ...ids.split("\n")]);
  server?.daemon.kill();
  await reg?.stop();
});

const DOCKERFILE = [
  "ARG BASE=busybox",
  "FROM ${BASE} AS first",
  "ARG GREETING=hello",
  "ENV NAME=world \\",
  "    OTHER=x",
  "LABEL a=b",
  "WORKDIR /app",
  'RUN echo "$GREETING from $NAME" > /made && echo out',
  "COPY a.txt /app/",
  "FROM first",
  "EXPOSE 80/tcp",
  "USER nobody",
  "COPY --from=first /made /made2",
  'CMD ["cat", "/made2", "/app/a.txt"]',
  "",
].join("\n");

/**
 * What dockerd 20.10's legacy builder printed for DOCKERFILE (captured with DOCKER_BUILDKIT=0 /usr/bin/docker
 * against a private dockerd; IDs masked): every instruction a Step as written, numbered across the Dockerfile,
 * config-only ones with their container and image.
 */
function dockerdTranscript(cached: boolean, tag: string): string[] {
  const made = (out = "") => (cached ? [" ---> Using cache"] : [" ---> Running in <id>", ...(out ? [out] : []), "Removing intermediate container <id>"]);
  const copied = cached ? [" ---> Using cache"] : [];
  return [
    "Sending build context to Docker daemon  <size>",
    "Step 1/13 : ARG BASE=busybox",
    "Step 2/13 : FROM ${BASE} AS first",
    " ---> <id>",
    "Step 3/13 : ARG GREETING=hello",
    ...made(),
    " ---> <id>",
    "Step 4/13 : ENV NAME=world     OTHER=x",
    ...made(),
    " ---> <id>",
    "Step 5/13 : LABEL a=b",
    ...made(),
    " ---> <id>",
    "Step 6/13 : WORKDIR /app",
    ...made(),
    " ---> <id>",
    'Step 7/13 : RUN echo "$GREETING from $NAME" > /made && echo out',
    ...made("out"),
    " ---> <id>",
    "Step 8/13 : COPY a.txt /app/",
    ...copied,
    " ---> <id>",
    "Step 9/13 : FROM first",
    " ---> <id>",
    "Step 10/13 : EXPOSE 80/tcp",
    ...made(),
    " ---> <id>",
    "Step 11/13 : USER nobody",
    ...made(),
    " ---> <id>",
    "Step 12/13 : COPY --from=first /made /made2",
    ...copied,
    " ---> <id>",
    'Step 13/13 : CMD ["cat", "/made2", "/app/a.txt"]',
    ...made(),
    " ---> <id>",
    "Successfully built <id>",
    `Successfully tagged ${tag}`,
  ];
}

/** The CLI's output as lines, IDs and the context size masked. */
const masked = (out: string) =>
  out
    .replace(/\r/g, "")
    .replace(/^(Sending build context to Docker daemon)\s+\S+\s*$/m, "$1  <size>")
    .replace(/\b[0-9a-f]{12}\b/g, "<id>")
    .split("\n")
    .filter(Boolean);

describe.skipIf(!ready)("docker CLI (legacy builder)", () => {
  for (const [name, bin] of [
    ["28", DOCKER28],
    ["20.10", DOCKER20],
  ] as const) {
    test.skipIf(!existsSync(bin))(`docker ${name}: a multi-stage build prints dockerd's legacy output line by line, cold and cached; each step's image is real`, async () => {
      const ctx = context({ Dockerfile: DOCKERFILE, "a.txt": `copied ${name}\n` });
      const tag = `legacy${name.replace(".", "")}`;
      const r = await client([bin, "build", "--no-cache", "-t", tag, "."], { cwd: ctx });
      expect(r.code).toBe(0);
      expect(masked(r.stdout)).toEqual(dockerdTranscript(false, `${tag}:latest`));
      // The last ID printed is the image's; every ` ---> <id>` is an image (config-only steps' too), and runs.
      const built = /Successfully built ([0-9a-f]{12})/.exec(r.stdout)![1]!;
      expect((await idOf(tag)).slice(7, 19)).toBe(built);
      expect(await dockerOk(["run", "--rm", tag])).toBe(`hello from world\ncopied ${name}\n`);
      const stepIds = [...r.stdout.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1]!);
      expect(stepIds.length).toBe(12);
      for (const id of stepIds) expect((await docker(["image", "inspect", id])).code).toBe(0);
      const env = stepIds[2]!; // after ENV NAME=world
      expect(await dockerOk(["run", "--rm", env, "sh", "-c", "echo $NAME $OTHER"])).toBe("world x\n");
      // images hides the untagged steps that have children, images -a lists them; history names them.
      const listed = (await dockerOk(["images", "-q", "--no-trunc"])).split("\n").map((l) => l.slice(7, 19));
      const all = (await dockerOk(["images", "-aq", "--no-trunc"])).split("\n").map((l) => l.slice(7, 19));
      expect(listed).not.toContain(env);
      expect(all).toContain(env);
      expect((await dockerOk(["history", "-q", tag])).split("\n").slice(0, 4)).toEqual([...stepIds].reverse().slice(0, 4));
      // Again: every step from the cache, the same images.
      const again = await client([bin, "build", "-t", tag, "."], { cwd: ctx });
      expect(again.code).toBe(0);
      expect(masked(again.stdout)).toEqual(dockerdTranscript(true, `${tag}:latest`));
      expect([...again.stdout.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1]!)).toEqual(stepIds);
      // rmi of the tag takes the untagged chain with it (not busybox); a step's image by ID is refused while it has children.
      const step = stepIds[5]!;
      expect((await docker(["rmi", step])).stderr).toContain(`conflict: unable to delete ${step} (cannot be forced) - image has dependent child images`);
      const rmi = await dockerOk(["rmi", tag]);
      for (const id of stepIds.slice(1)) expect(rmi).toContain(`Deleted: sha256:${id}`);
      expect((await docker(["image", "inspect", "busybox"])).code).toBe(0);
      expect(leftContexts()).toEqual([]);
    }, 120_000);
  }

  test("-q prints the image ID only; --iidfile; without DOCKER_BUILDKIT the CLI 28 takes the legacy path (Builder-Version: 1)", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN echo q\n" });
    const iid = join(tempDir("bunker-iid-"), "iid");
    const r = await client([DOCKER28, "build", "-q", "--iidfile", iid, "-t", "legacyq", ctx], { buildkitEnv: false });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(r.stdout.trim()).toBe(await idOf("legacyq"));
    expect(Bun.file(iid).size).toBeGreaterThan(0);
  });

  test("a failing step: dockerd's lines, the legacy error, the step's exit code, no tag", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nENV A=1\nRUN echo err >&2; exit 3\nCMD [\"x\"]\n" });
    const r = await client([DOCKER20, "build", "-t", "legacyfail", ctx]);
    expect(r.code).toBe(3);
    // dockerd 20.10 (the failed container is kept there; bunker's step container is gone either way)
    expect(masked(r.stdout + r.stderr)).toEqual([
      "Sending build context to Docker daemon  <size>",
      "Step 1/4 : FROM busybox",
      " ---> <id>",
      "Step 2/4 : ENV A=1",
      " ---> Running in <id>",
      "Removing intermediate container <id>",
      " ---> <id>",
      "Step 3/4 : RUN echo err >&2; exit 3",
      " ---> Running in <id>",
      "\x1b[91merr",
      "\x1b[0mThe command '/bin/sh -c echo err >&2; exit 3' returned a non-zero code: 3",
    ]);
    expect((await docker(["image", "inspect", "legacyfail"])).code).toBe(1);
    // -q: the daemon held the output back and sends it with the error; the CLI shows both.
    const quiet = await docker(["build", "-q", "-t", "legacyfail", ctx]);
    expect(quiet.code).toBe(3);
    expect(quiet.stderr).toContain("Step 2/4 : ENV A=1\n ---> Using cache\n");
    expect(quiet.stderr).toContain("Step 3/4 : RUN echo err >&2; exit 3\n");
    expect(quiet.stderr).toContain("The command '/bin/sh -c echo err >&2; exit 3' returned a non-zero code: 3");
    expect(leftContexts()).toEqual([]);
  });

  test("docker 20.10 --compress sends a gzip'd context; -f names the Dockerfile in it; build args and labels", async () => {
    const ctx = context({ "sub/My.Dockerfile": "FROM busybox\nARG V\nLABEL v=$V\nRUN echo $V > /v\n" });
    const r = await client([DOCKER20, "build", "--compress", "-f", "sub/My.Dockerfile", "--build-arg", "V=42", "--label", "extra=yes", "-t", "legacygz", "."], { cwd: ctx });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Successfully tagged legacygz:latest\n");
    expect(await dockerOk(["run", "--rm", "legacygz", "cat", "/v"])).toBe("42\n");
    expect(JSON.parse(await dockerOk(["image", "inspect", "-f", "{{json .Config.Labels}}", "legacygz"]))).toMatchObject({ v: "42", extra: "yes" });
  });

  test("--network, --add-host, --shm-size and --ulimit reach the RUN steps", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN (grep myhost /etc/hosts; df -k /dev/shm | tail -1; ulimit -n; ls /sys/class/net) > /seen\n" });
    const r = await docker(["build", "--network", "none", "--add-host", "myhost:10.1.2.3", "--shm-size", "32m", "--ulimit", "nofile=100:200", "-t", "legacyopts", ctx]);
    expect(r.code).toBe(0);
    const [hosts, shm, nofile, ...ifaces] = (await dockerOk(["run", "--rm", "legacyopts", "cat", "/seen"])).trim().split("\n");
    expect(hosts).toMatch(/^10\.1\.2\.3\s+myhost$/);
    expect(shm!.split(/\s+/)[1]).toBe(String(32 * 1024));
    expect(nofile).toBe("100");
    expect(ifaces).toEqual(["lo"]);
  });

  test("docker build - reads a Dockerfile or a tar context from stdin", async () => {
    const df = await client([DOCKER28, "build", "-q", "-t", "legacystdin", "-"], { stdin: new TextEncoder().encode("FROM busybox\nRUN echo from-stdin > /s\n") });
    expect(df.code).toBe(0);
    expect(await dockerOk(["run", "--rm", "legacystdin", "cat", "/s"])).toBe("from-stdin\n");
    const tar = rawTar([{ name: "Dockerfile", data: "FROM busybox\nCOPY f /f\n" }, { name: "f", data: "tar-stdin\n" }]);
    const t = await client([DOCKER20, "build", "-q", "-t", "legacystdintar", "-"], { stdin: tar });
    expect(t.code).toBe(0);
    expect(await dockerOk(["run", "--rm", "legacystdintar", "cat", "/f"])).toBe("tar-stdin\n");
  });

  test("flags bunker's builder does not apply are refused by name", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\n" });
    for (const [flags, field] of [
      [["--memory", "64m"], "memory"],
      [["--cpu-quota", "5000"], "cpuquota"],
      [["--cgroup-parent", "x"], "cgroupparent"],
    ] as const) {
      const r = await docker(["build", ...flags, ctx]);
      expect([flags, r.code]).toEqual([flags, 1]);
      expect(r.stderr).toContain(`Error response from daemon: build option "${field}" is not supported`);
    }
    const remote = await docker(["build", "https://example.com/ctx.tar.gz"]);
    expect(remote.code).not.toBe(0);
    expect(leftContexts()).toEqual([]);
  });
});

describe.skipIf(!ready)("build cache", () => {
  test("docker system df's Build Cache row is bunker's; docker builder prune frees it", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null\n" });
    expect((await docker(["build", "-q", "-t", "cachedf", ctx])).code).toBe(0);
    await dockerOk(["rmi", "cachedf"]);
    const row = (out: string) => out.split("\n").find((l) => l.startsWith("Build Cache"));
    const theirs = row(await dockerOk(["system", "df"]));
    const ours = row(await new Response(Bun.spawn([BUNKER, "-H", `unix://${server.sock}`, "system", "df"], { stdout: "pipe" }).stdout).text());
    expect(theirs).toBe(ours!);
    expect(theirs).toMatch(/^Build Cache\s+[1-9]\d*\s+0\s+\S*MB\s+\S*MB$/);
    const pruned = await docker(["builder", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted build cache objects:\n[0-9a-f]+\n/);
    expect(Number(/Total reclaimed space: ([\d.]+)MB/.exec(pruned.stdout)?.[1])).toBeGreaterThanOrEqual(2);
  });
});

describe.skipIf(!ready)("POST /build with crafted contexts", () => {
  test("a client that goes away mid-step (Ctrl-C during a RUN with no output) ends the step in the daemon", async () => {
    const marker = `gone-${Date.now()}`;
    const ctx = context({ Dockerfile: `FROM busybox\nRUN sleep 300; echo ${marker}\n` });
    const cli = Bun.spawn([DOCKER28, "build", "--no-cache", "-t", "leftbehind", "."], {
      cwd: ctx,
      stdout: "ignore",
      stderr: "ignore",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${server.sock}`, DOCKER_BUILDKIT: "0" },
    });
    // The step's shell, found by the marker on its command line.
    const stepRunning = () => readdirSync("/proc").some((pid) => /^\d+$/.test(pid) && (() => { try { return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(marker); } catch { return false; } })());
    try {
      for (let i = 0; i < 600 && !stepRunning(); i++) await Bun.sleep(100);
      expect(stepRunning()).toBe(true);
      cli.kill("SIGINT");
      await cli.exited;
      // Nothing more is written to the client: only its disconnect can tell the daemon.
      for (let i = 0; i < 150 && stepRunning(); i++) await Bun.sleep(100);
      expect(stepRunning()).toBe(false);
      expect((await docker(["image", "inspect", "leftbehind"])).code).not.toBe(0);
      for (let i = 0; i < 50 && leftContexts().length; i++) await Bun.sleep(100);
      expect(leftContexts()).toEqual([]);
    } finally {
      cli.kill("SIGKILL");
    }
  });

  test("a gzip'd context; the stream is dockerd's (CRLF-ended JSON, aux before Successfully built)", async () => {
    const body = gzipSync(rawTar([{ name: "Dockerfile", data: "FROM busybox\nCOPY f /f\n" }, { name: "f", data: "gz\n" }]));
    const r = await postBuild(body, "t=rawgz");
    expect(r.status).toBe(200);
    expect(r.text.endsWith("\r\n")).toBe(true);
    const aux = r.messages.findIndex((m) => m.aux);
    expect(r.messages[aux].aux.ID).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.messages[aux + 1]).toEqual({ stream: `Successfully built ${r.messages[aux].aux.ID.slice(7, 19)}\n` });
    expect(r.messages.at(-1)).toEqual({ stream: "Successfully tagged rawgz:latest\n" });
    expect(await dockerOk(["run", "--rm", "rawgz", "cat", "/f"])).toBe("gz\n");
    const bz = Bun.spawnSync(["bzip2", "-c"], { stdin: rawTar([{ name: "Dockerfile", data: "FROM busybox\n" }]) }).stdout;
    const refused = await postBuild(bz, "t=rawbz");
    expect([refused.status, JSON.parse(refused.text).message]).toEqual([400, "a bzip2 build context is not supported: send a plain or gzip tar"]);
  });

  test("hostile members touch nothing outside: ../ names are refused, symlinks resolve inside the context", async () => {
    const outside = tempDir("bunker-hostile-outside-");
    const marker = `hostile-${Date.now()}`;
    // A `../` member: the extractor refuses the archive before any build; nothing is written above the context.
    const climb = await postBuild(rawTar([{ name: "Dockerfile", data: "FROM busybox\n" }, { name: `../../../../../../${outside}/${marker}`, data: "x" }]), "t=hostile1");
    expect(climb.status).toBe(400);
    expect(existsSync(join(outside, marker))).toBe(false);
    // An absolute symlink to the outside directory, then a member through it: written inside the context.
    const through = await postBuild(
      rawTar([
        { name: "Dockerfile", data: "FROM busybox\nCOPY link/ /seen/\n" },
        { name: "link", type: "2", linkname: outside },
        { name: `link/${marker}`, data: "inside" },
      ]),
      "t=hostile2",
    );
    expect(existsSync(join(outside, marker))).toBe(false);
    if (through.status === 200 && !through.messages.some((m) => m.error)) expect(await dockerOk(["run", "--rm", "hostile2", "cat", `/seen/${marker}`])).toBe("inside");
    // COPY through an absolute symlink to / reads the context's own tree, never the host's /etc.
    const etc = await postBuild(rawTar([{ name: "Dockerfile", data: "FROM busybox\nCOPY root/etc/hostname /h\n" }, { name: "root", type: "2", linkname: "/" }]), "t=hostile3");
    expect(etc.messages.some((m) => m.error) || etc.status !== 200).toBe(true);
    expect((await docker(["image", "inspect", "hostile3"])).code).toBe(1);
    expect(leftContexts()).toEqual([]);
  });

  test("aux: the image ID after each stage's last step (dockerd's emitImageID), none before API 1.30", async () => {
    const body = rawTar([{ name: "Dockerfile", data: "FROM busybox AS a\nENV S=a\nFROM a\nCMD [\"x\"]\n" }]);
    const r = await postBuild(body, "t=rawaux");
    const aux = r.messages.flatMap((m, i) => (m.aux ? [[i, m.aux.ID]] : []));
    expect(aux.length).toBe(2);
    // each aux follows a " ---> <id>" line naming the same image; the second is the result
    for (const [i, id] of aux) expect(r.messages[i - 1]).toEqual({ stream: ` ---> ${id.slice(7, 19)}\n` });
    expect(r.messages[aux[0]![0] + 1]).toEqual({ stream: "Step 3/4 : FROM a" });
    expect(aux[1]![1]).toBe(await idOf("rawaux"));
    const old = await server.api("/v1.29/build?t=rawaux", { method: "POST", body, headers: { "content-type": "application/x-tar" } });
    const text = await old.text();
    expect(text).toContain("Successfully built");
    expect(text).not.toContain('"aux"');
  });

  test("a 1 GiB context streams through: the daemon's peak memory grows by far less than the context", async () => {
    const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.daemon.pid}/status`, "utf8"))![1]) * 1024;
    const before = hwm();
    const GiB = 1 << 30;
    const chunk = new Uint8Array(1 << 20);
    const head = rawTar([{ name: "Dockerfile", data: "FROM busybox\nCOPY small /small\n" }, { name: "small", data: "s\n" }]);
    // One member of 1 GiB of zeros, written as it is sent (the archive's end blocks after it).
    const header = rawTar([{ name: "big", data: new Uint8Array(0) }]).subarray(0, 512);
    const bigHeader = new Uint8Array(header);
    bigHeader.set(new TextEncoder().encode(GiB.toString(8).padStart(11, "0") + "\0"), 124);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : bigHeader[i]!;
    bigHeader.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(head.subarray(0, head.length - 1024)); // without its end-of-archive blocks
        c.enqueue(bigHeader);
      },
      pull(c) {
        if (sent < GiB) {
          sent += chunk.length;
          c.enqueue(chunk);
        } else {
          c.enqueue(new Uint8Array(1024));
          c.close();
        }
      },
    });
    const res = await server.api("/v1.41/build?t=bigctx&q=1", { method: "POST", body, headers: { "content-type": "application/x-tar" } } as RequestInit);
    const text = await res.text();
    // q: dockerd writes the image ID only (aux and steps held back, dropped on success)
    expect(text).toMatch(/^\{"stream":"sha256:[0-9a-f]{64}\\n"\}\r\n$/);
    expect(hwm() - before).toBeLessThan(200 * 1024 * 1024);
    expect(leftContexts()).toEqual([]);
  }, 120_000);

  test("X-Registry-Config carries the credentials of base image pulls", async () => {
    const authReg = await startRegistry({ auth: "basic" });
    try {
      const body = rawTar([{ name: "Dockerfile", data: `FROM ${authReg.host}/busybox\nRUN echo authed\n` }]);
      const anonymous = await postBuild(body, "t=authed");
      expect(anonymous.messages.find((m) => m.error)?.error ?? anonymous.text).toMatch(/unauthorized|no basic auth credentials/i);
      expect((await docker(["image", "inspect", "authed"])).code).toBe(1);
      const config = Buffer.from(JSON.stringify({ [authReg.host]: { username: authReg.username, password: authReg.password } })).toString("base64url");
      const res = await server.api("/v1.41/build?t=authed", { method: "POST", body, headers: { "content-type": "application/x-tar", "X-Registry-Config": config } });
      const text = await res.text();
      expect(text).toContain('"Successfully tagged authed:latest\\n"');
      expect((await docker(["image", "inspect", "authed"])).code).toBe(0);
    } finally {
      await authReg.stop();
    }
  });

  test("query fields bunker does not apply, and remote contexts, are refused by name", async () => {
    const body = rawTar([{ name: "Dockerfile", data: "FROM busybox\n" }]);
    for (const [q, text] of [
      ["memory=1000000", 'build option \\"memory\\"'],
      ["cpuquota=1", 'build option \\"cpuquota\\"'],
      ["nosuchfield=1", 'build option \\"nosuchfield\\" is not supported'],
      ["remote=https://example.com/x.tar", "remote build contexts are not supported"],
      ["version=2", "buildkit not supported by daemon"],
    ]) {
      const r = await postBuild(body, q!);
      expect([q, r.status]).toEqual([q, 400]);
      expect(r.text).toContain(text!);
    }
  });
});

describe.skipIf(!ready || !hasPy)("docker-py", () => {
  test("client.images.build(path=…, tag=…) returns the image; a failing build raises BuildError", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nENV P=py\nRUN echo $P > /py\n" });
    const script = `
import docker, sys
c = docker.from_env()
img, logs = c.images.build(path=${JSON.stringify(ctx)}, tag="pyimg", rm=True)
print(img.id)
print(img.tags)
print("".join(l.get("stream", "") for l in logs))
gz, _ = c.images.build(path=${JSON.stringify(ctx)}, tag="pygz", gzip=True)
print("gzip same image:", gz.id == img.id)
try:
    c.images.build(fileobj=__import__("io").BytesIO(b"FROM busybox\\nRUN exit 7\\n"), tag="pyfail")
except docker.errors.BuildError as e:
    print("BuildError:", e.msg)
`;
    const r = await client(["python3", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [id, tags, ...rest] = r.stdout.split("\n");
    expect(id).toBe(await idOf("pyimg"));
    expect(tags).toBe("['pyimg:latest']");
    // every instruction a step, as written (the ENV too), each with its image
    expect(rest.join("\n")).toMatch(/Step 1\/3 : FROM busybox\n ---> [0-9a-f]{12}\nStep 2\/3 : ENV P=py\n ---> Running in [0-9a-f]{12}\nRemoving intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\nStep 3\/3 : RUN echo \$P > \/py\n/);
    expect(r.stdout).toContain("BuildError: The command '/bin/sh -c exit 7' returned a non-zero code: 7");
    expect(r.stdout).toContain("gzip same image: True"); // Content-Encoding: gzip, the same context
    expect(await dockerOk(["run", "--rm", "pyimg", "cat", "/py"])).toBe("py\n");
  });
});

describe.skipIf(!ready || !existsSync(COMPOSE))("docker-compose 1.29", () => {
  test("a build: service is built and brought up", async () => {
    const proj = context({
      "docker-compose.yml": 'version: "3"\nservices:\n  app:\n    build:\n      context: ./app\n      args:\n        WHO: compose\n    image: composebuilt\n    network_mode: none\n',
      "app/Dockerfile": "FROM busybox\nARG WHO\nRUN echo built by $WHO > /who\nCMD [\"sh\", \"-c\", \"cat /who; sleep 1000\"]\n",
    });
    const compose = (args: string[]) => client([COMPOSE, "-p", "buildc", ...args], { cwd: proj });
    try {
      const build = await compose(["build"]);
      expect([build.code, build.stderr]).toEqual([0, expect.stringContaining("Building app")]);
      expect(build.stdout).toContain("Successfully tagged composebuilt:latest");
      expect(build.stdout).toMatch(/Step 2\/4 : ARG WHO\n ---> Running in [0-9a-f]{12}\n/);
      expect(build.stdout).toContain("Step 3/4 : RUN echo built by $WHO > /who\n");
      const up = await compose(["up", "-d"]);
      expect([up.code, up.stderr]).toEqual([0, expect.stringContaining("Creating buildc_app_1 ... done")]);
      for (let i = 0; i < 50 && !(await docker(["logs", "buildc_app_1"])).stdout; i++) await Bun.sleep(100);
      expect((await docker(["logs", "buildc_app_1"])).stdout).toBe("built by compose\n");
    } finally {
      await compose(["down", "-t", "1"]);
    }
  }, 120_000);
});
