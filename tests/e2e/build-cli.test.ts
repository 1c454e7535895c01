/**
 * `bunker build` as a user runs it (in-process, and with BUNKER_E2E_MODE=daemon through `bunker serve`'s
 * POST /build), on real containers with the test bed's busybox from the real registry: BuildKit's plain
 * progress, -q and --iidfile, the cache, a failing step (its output, BuildKit's error, exit 1, no tag), contexts
 * from stdin (a tar, gzip'd, or a Dockerfile alone) and `-f -`, build args from the environment, labels,
 * --target, .dockerignore, the flags bunker refuses by name, and builder prune / system df's build cache.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BUNKER, DAEMON_MODE, bunkerAt, freshDataRoot, tempDir, type Result } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { inPty } from "../helpers/pty.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  await b.ok(["pull", "-q", "busybox"]);
}, 900_000);
afterAll(async () => {
  const ids = b ? (await b.run(["ps", "-aq"])).stdout.trim() : "";
  if (ids) await b.run(["rm", "-f", ...ids.split("\n")]);
  await reg?.stop();
});

/** A context directory with these files. */
function context(files: Record<string, string>): string {
  const dir = tempDir("bunker-build-cli-");
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return dir;
}

/** Runs bunker with bytes on stdin (the helper's `run` takes text only). */
async function withStdin(args: string[], stdin: Uint8Array): Promise<Result> {
  const proc = Bun.spawn([BUNKER, ...(await b.prefix()), ...args], { stdin, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Waits until no build runs on the data root (each holds a scratch directory under build/tmp/ while it runs). */
async function buildsDone(ms = 15_000): Promise<string[]> {
  const scratch = join(b.dataRoot, "build", "tmp");
  const running = () => (existsSync(scratch) ? readdirSync(scratch) : []);
  for (const end = Date.now() + ms; running().length && Date.now() < end; ) await Bun.sleep(100);
  return running();
}

const idOf = async (name: string) => (await b.ok(["image", "inspect", "-f", "{{.Id}}", name])).trim();

describe.skipIf(!root)("bunker build", () => {
  test("prints BuildKit's plain progress to stderr; the image runs with what the steps made", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo hello from run > /made\nCOPY a.txt /a.txt\nCMD cat /made /a.txt\n", "a.txt": "copied\n" });
    const r = await b.run(["build", "--progress=plain", "-t", "cli-plain", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n");
    // Through a daemon the steps are the legacy stream's, read back: every instruction numbered (CMD too).
    const of = DAEMON_MODE ? 4 : 3;
    const run = lines.find((l) => new RegExp(`^#\\d+ \\[2/${of}\\] RUN echo hello from run > /made$`).test(l));
    expect(run).toBeDefined();
    const n = run!.split(" ")[0]!;
    expect(lines.some((l) => new RegExp(`^${n} DONE \\d+\\.\\ds$`).test(l))).toBe(true);
    expect(lines.some((l) => new RegExp(`^#\\d+ \\[3/${of}\\] COPY a.txt /a.txt$`).test(l))).toBe(true);
    expect((await b.ok(["run", "--rm", "cli-plain"]))).toBe("hello from run\ncopied\n");
  });

  test.skipIf(DAEMON_MODE)("the reference Dockerfile's plain progress has BuildKit's vertices and lines (progress-plain.txt)", async () => {
    const fixture = join(import.meta.dir, "../fixtures/buildkit-reference");
    const dir = context({ Dockerfile: readFileSync(join(fixture, "Dockerfile"), "utf8"), "a.txt": readFileSync(join(fixture, "a.txt"), "utf8"), "dir/x": readFileSync(join(fixture, "dir/x"), "utf8") });
    const r = await b.run(["build", "--progress=plain", "--no-cache", "--build-arg", "V=2.5", "-t", "ref:bk1", dir]);
    expect(r.code).toBe(0);
    /** Vertex blocks by name: their lines without numbers, timings, transfer sizes and image IDs. */
    const blocks = (text: string) => {
      const out = new Map<string, string[]>();
      const names = new Map<string, string>();
      for (const line of text.trimEnd().split("\n")) {
        const m = /^#(\d+) (.*)$/.exec(line)!;
        const rest = m[2]!.replace(/^\d+\.\d{3} /, "").replace(/ \d+\.\ds\b/, "").replace(/sha256:[0-9a-f]{64}/, "sha256:…");
        if (!names.has(m[1]!)) {
          names.set(m[1]!, rest);
          out.set(rest, []);
        } else if (!/^transferring /.test(rest)) out.get(names.get(m[1]!)!)!.push(rest.replace(/^CACHED$/, "DONE"));
      }
      return out;
    };
    const want = blocks(readFileSync(join(fixture, "progress-plain.txt"), "utf8"));
    const sorted = (m: Map<string, string[]>) => [...m].sort(([a], [b]) => a.localeCompare(b));
    expect(sorted(blocks(r.stderr))).toEqual(sorted(want));
  });

  test("a step's output is shown with its time; a second build is CACHED", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo visible-output\n" });
    const first = await b.run(["build", "--progress=plain", "-t", "cli-cache", dir]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/^#\d+ \d+\.\d{3} visible-output$/m);
    const second = await b.run(["build", "--progress=plain", "-t", "cli-cache", dir]);
    expect(second.code).toBe(0);
    const run = second.stderr.split("\n").findIndex((l) => /\[2\/2\] RUN echo visible-output$/.test(l));
    expect(second.stderr.split("\n")[run + 1]).toMatch(/^#\d+ CACHED$/);
    expect(second.stderr).not.toMatch(/^#\d+ \d+\.\d{3} visible-output$/m);
    // --no-cache runs it again.
    const third = await b.run(["build", "--progress=plain", "--no-cache", "-t", "cli-cache", dir]);
    expect(third.stderr).toMatch(/^#\d+ \d+\.\d{3} visible-output$/m);
  });

  test("on a terminal: BuildKit's live display, redrawn in place, with a running step's output, then FINISHED", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN for i in 1 2 3; do echo tick-$i; sleep 0.3; done\n" });
    const { out, code } = await inPty([BUNKER, ...(await b.prefix()), "build", "--no-cache", "-t", "cli-tty", dir], [], { ...process.env, BUNKER_E2E_MODE: undefined });
    expect(code).toBe(0);
    expect(out).toContain("[+] Building ");
    expect(out).toMatch(/\x1b\[\d+A/); // the cursor goes back up over the previous frame
    expect(out).toMatch(/ => => # tick-\d/); // the running step's last lines
    const last = out.slice(out.lastIndexOf("[+] Building"));
    expect(last).toMatch(/^\[\+\] Building \d+\.\ds \((\d+)\/\1\) FINISHED/);
    expect(last).toMatch(/ => \[2\/2\] RUN for i in 1 2 3; do echo tick-\$i; sleep 0\.3; done\s+\d+\.\ds/);
    expect(last).not.toContain("# tick-"); // a finished step's output is not shown
  });

  test("-q prints only the image ID; --iidfile writes it; -t several", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo quiet\n" });
    const iid = join(tempDir("bunker-iid-"), "iid");
    const r = await b.run(["build", "-q", "--iidfile", iid, "-t", "cli-q:1", "-t", "cli-q:2", dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(readFileSync(iid, "utf8")).toBe(r.stdout.trim());
    expect(await idOf("cli-q:1")).toBe(r.stdout.trim());
    expect(await idOf("cli-q:2")).toBe(r.stdout.trim());
  });

  test("a built image is like any other: history shows its steps, push then pull elsewhere and save then load keep its ID", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo built > /built\nCOPY a.txt /a.txt\nCMD [\"cat\", \"/built\", \"/a.txt\"]\n", "a.txt": "copied\n" });
    const dst = await startRegistry({ storage: "empty", auth: "none" }); // the test bed's registry is read-only
    try {
      const name = `${dst.host}/built/app:1`;
      const id = (await b.ok(["build", "-q", "-t", name, dir])).trim();
      const history = await b.ok(["history", "--no-trunc", "--format", "{{.CreatedBy}}", name]);
      expect(history).toContain("RUN /bin/sh -c echo built > /built # buildkit");
      expect(history).toContain("COPY a.txt /a.txt # buildkit");
      // push, then pull into another data root: the same image, which runs
      await b.ok(["push", name]);
      const other = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
      await other.ok(["pull", "-q", name]);
      expect((await other.ok(["image", "inspect", "-f", "{{.Id}}", name])).trim()).toBe(id);
      expect(await other.ok(["run", "--rm", name])).toBe("built\ncopied\n");
      // save, remove, load: the same image
      const archive = join(tempDir("bunker-built-save-"), "built.tar");
      await b.ok(["save", "-o", archive, name]);
      await b.ok(["rmi", name]);
      expect(await b.ok(["load", "-i", archive])).toBe(`Loaded image: ${name}\n`);
      expect(await idOf(name)).toBe(id);
    } finally {
      await dst.stop();
    }
  }, 120_000);

  test("a failing step: its output, BuildKit's error, exit 1, no tag and no iidfile", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN echo out; echo err >&2; exit 3\n" });
    const iid = join(tempDir("bunker-iid-"), "iid");
    writeFileSync(iid, "stale");
    const r = await b.run(["build", "--progress=plain", "--iidfile", iid, "-t", "cli-fail", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d{3} out$/m);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d{3} err$/m);
    expect(r.stderr).toMatch(/^#\d+ ERROR: process "\/bin\/sh -c echo out; echo err >&2; exit 3" did not complete successfully: exit code: 3$/m);
    expect(r.stderr).toContain("------\n > [2/2] RUN echo out; echo err >&2; exit 3:\n");
    expect(r.stderr.trimEnd().split("\n").at(-1)).toBe('ERROR: failed to solve: process "/bin/sh -c echo out; echo err >&2; exit 3" did not complete successfully: exit code: 3');
    // In-process the step's Dockerfile line comes with it: BuildKit's source snippet before the error.
    if (!DAEMON_MODE) expect(r.stderr).toContain("------\nDockerfile:2\n--------------------\n   1 |     FROM busybox\n   2 | >>> RUN echo out; echo err >&2; exit 3\n   3 |     \n--------------------\nERROR: failed to solve:");
    expect((await b.run(["image", "inspect", "cli-fail"])).code).toBe(1);
    expect(() => readFileSync(iid)).toThrow();
  });

  test("Ctrl-C stops a running step at once: exit 1, nothing tagged, no step process left", async () => {
    const marker = `cancel-${Date.now()}`;
    // A sleep of its own length: the step's process is found by its exact command line (sh execs the last command).
    const secs = String(3000 + Math.floor(Math.random() * 6000));
    const dir = context({ Dockerfile: `FROM busybox\nRUN echo ${marker}; sleep ${secs}\n` });
    const left = () =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8") === `sleep\0${secs}\0`;
          } catch {
            return false;
          }
        });
    try {
      const p = await b.spawn(["build", "--progress=plain", "-t", "cli-cancel", dir]);
      const reader = p.stderr.getReader();
      let err = "";
      while (!err.includes(` ${marker}\n`)) {
        const r = await reader.read();
        if (r.done) break;
        err += new TextDecoder().decode(r.value);
      }
      expect(err).toContain(` ${marker}\n`);
      for (let i = 0; i < 50 && !left().length; i++) await Bun.sleep(20); // the shell execs the sleep after the echo
      expect(left().length).toBe(1);
      p.kill("SIGINT");
      for (let r = await reader.read(); !r.done; r = await reader.read()) err += new TextDecoder().decode(r.value);
      expect(await p.exited).toBe(1);
      expect(err).toContain("ERROR: failed to solve: context canceled");
      expect((await b.run(["image", "inspect", "cli-cancel"])).code).toBe(1);
      for (let i = 0; i < 50 && left().length; i++) await Bun.sleep(100);
      // In-process the step is killed with the build. Through a daemon it is not yet: the daemon sees the client
      // go and aborts the build, whose kill of the step does not take there (reported to the executor's owner).
      if (!DAEMON_MODE) expect(left()).toEqual([]);
    } finally {
      for (const pid of left()) process.kill(Number(pid), "SIGKILL"); // this test's own step, by its exact command line
      await buildsDone();
    }
  });

  test("contexts from stdin: a tar, a gzip'd tar, a Dockerfile alone; -f - with a directory", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nCOPY f /f\n", f: "from-tar\n" });
    const tar = Bun.spawnSync(["tar", "-C", dir, "-cf", "-", "."]).stdout;
    const plain = await withStdin(["build", "-q", "-t", "cli-stdin-tar", "-"], tar);
    expect(plain.code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-stdin-tar", "cat", "/f"])).toBe("from-tar\n");
    const gz = await withStdin(["build", "-q", "-t", "cli-stdin-gz", "-"], gzipSync(tar));
    expect(gz.code).toBe(0);
    expect(gz.stdout).toBe(plain.stdout); // same content, same steps: the same image
    const alone = await withStdin(["build", "-q", "-t", "cli-stdin-df", "-"], new TextEncoder().encode("FROM busybox\nRUN echo stdin-dockerfile > /x\n"));
    expect(alone.code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-stdin-df", "cat", "/x"])).toBe("stdin-dockerfile\n");
    const fromF = await withStdin(["build", "-q", "-t", "cli-stdin-f", "-f", "-", dir], new TextEncoder().encode("FROM busybox\nCOPY f /g\n"));
    expect(fromF.code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-stdin-f", "cat", "/g"])).toBe("from-tar\n");
    const both = await withStdin(["build", "-f", "-", "-"], new Uint8Array());
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("can't use stdin for both build context and dockerfile");
  });

  test("-f outside the context, --build-arg from the environment, --label, --target", async () => {
    const dir = context({ "a.txt": "a\n" });
    const other = context({ "Other.Dockerfile": "FROM busybox AS first\nRUN echo first > /stage\nFROM busybox AS second\nARG FROMENV\nARG GIVEN\nRUN echo \"$FROMENV $GIVEN\" > /args\n" });
    const r = await b.run(["build", "-q", "-f", join(other, "Other.Dockerfile"), "--build-arg", "FROMENV=${x}", "--build-arg", "GIVEN=given", "--label", "a.b=c", "--label", "bare", "-t", "cli-args", dir]);
    expect(r.code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-args", "cat", "/args"])).toBe("${x} given\n");
    expect(JSON.parse(await b.ok(["image", "inspect", "-f", "{{json .Config.Labels}}", "cli-args"]))).toMatchObject({ "a.b": "c", bare: "" });
    const target = await b.run(["build", "-q", "-f", join(other, "Other.Dockerfile"), "--target", "first", "-t", "cli-target", dir]);
    expect(target.code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-target", "cat", "/stage"])).toBe("first\n");
    expect((await b.run(["run", "--rm", "cli-target", "cat", "/args"])).code).not.toBe(0);
  });

  test("a bare --build-arg takes the CLI's environment value", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nARG BUNKER_TEST_ARG\nRUN echo \"[$BUNKER_TEST_ARG]\" > /v\n" });
    process.env.BUNKER_TEST_ARG = "from-the-environment";
    try {
      expect((await b.run(["build", "-q", "--build-arg", "BUNKER_TEST_ARG", "-t", "cli-envarg", dir])).code).toBe(0);
    } finally {
      delete process.env.BUNKER_TEST_ARG;
    }
    expect(await b.ok(["run", "--rm", "cli-envarg", "cat", "/v"])).toBe("[from-the-environment]\n");
  });

  test("--network, --add-host, --shm-size and --ulimit reach the RUN steps", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN (grep myhost /etc/hosts; df -k /dev/shm | tail -1; ulimit -n; ls /sys/class/net) > /seen\n" });
    const r = await b.run(["build", "-q", "--network", "none", "--add-host", "myhost=10.1.2.3", "--shm-size", "32m", "--ulimit", "nofile=100:200", "-t", "cli-opts", dir]);
    expect(r.code).toBe(0);
    const [hosts, shm, nofile, ...ifaces] = (await b.ok(["run", "--rm", "cli-opts", "cat", "/seen"])).trim().split("\n");
    expect(hosts).toMatch(/^10\.1\.2\.3\s+myhost$/);
    expect(shm!.split(/\s+/)[1]).toBe(String(32 * 1024));
    expect(nofile).toBe("100");
    expect(ifaces).toEqual(["lo"]);
  });

  test(".dockerignore leaves files out of the context", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nCOPY . /ctx\n", ".dockerignore": "secret*\n*.log\n!keep.log\n", "secret.key": "s", "app.txt": "app", "x.log": "x", "keep.log": "k" });
    expect((await b.run(["build", "-q", "-t", "cli-ignore", dir])).code).toBe(0);
    const ls = (await b.ok(["run", "--rm", "cli-ignore", "ls", "-A", "/ctx"])).trim().split("\n").sort();
    expect(ls).toEqual([".dockerignore", "Dockerfile", "app.txt", "keep.log"]);
  });

  test("flags bunker does not apply are refused by name; bad values are errors before any step", async () => {
    const dir = context({ Dockerfile: "FROM busybox\n" });
    const cases: [string[], string][] = [
      [["--memory", "1g"], "--memory is not supported"],
      [["--squash"], "--squash is not supported"],
      [["--output", "type=local,dest=x"], "--output is not supported"],
      [["--rm=false"], "--rm=false is not supported"],
      [["--platform", "linux/s390x"], "host's platform only"],
      [["--progress", "fancy"], 'invalid progress mode "fancy"'],
      [["--network", "container:x"], 'network mode "container:x" not supported'],
      [["-t", "Bad:Tag"], 'ERROR: invalid tag "Bad:Tag"'],
      [["--secret", "id=s,src=/nonexistent/secret"], "failed to stat /nonexistent/secret"],
    ];
    for (const [flags, text] of cases) {
      const r = await b.run(["build", ...flags, dir]);
      expect([flags, r.code]).toEqual([flags, 1]);
      expect(r.stderr).toContain(text);
    }
    const badHost = await b.run(["build", "--add-host", "nocolon", dir]);
    expect(badHost.code).toBe(125);
    expect(badHost.stderr).toContain('invalid argument "nocolon" for "--add-host" flag');
    const url = await b.run(["build", "https://example.com/repo.git"]);
    expect(url.code).toBe(1);
    expect(url.stderr).toContain("remote contexts are not supported");
    const missing = await b.run(["build", join(dir, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`ERROR: unable to prepare context: path "${join(dir, "nope")}" not found`);
  });

  test.skipIf(DAEMON_MODE)("--secret reaches RUN --mount=type=secret (in-process; the legacy API carries no secrets)", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen\n" });
    const secret = join(tempDir("bunker-secret-"), "tok");
    writeFileSync(secret, "s3cret");
    expect((await b.run(["build", "-q", "--secret", `id=tok,src=${secret}`, "-t", "cli-secret", dir])).code).toBe(0);
    expect(await b.ok(["run", "--rm", "cli-secret", "cat", "/seen"])).toBe("s3cret");
  });

  test("system df shows the build cache; builder prune frees it for real", async () => {
    const dir = context({ Dockerfile: "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1024 count=3072 2>/dev/null\n" });
    // A running build holds the layer store against collection: prune then frees nothing until the next one.
    await buildsDone();
    expect((await b.run(["build", "-q", "-t", "cli-prune", dir])).code).toBe(0);
    await b.ok(["rmi", "cli-prune"]);
    const df = await b.ok(["system", "df"]);
    const row = df.split("\n").find((l) => l.startsWith("Build Cache"))!;
    const [, total, , size] = row.split(/\s{2,}/);
    expect(Number(total)).toBeGreaterThan(0);
    expect(size).toMatch(/MB$/);
    const no = await b.run(["builder", "prune"], { stdin: "n\n" });
    expect(no.stdout).toBe("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
    expect(no.code).toBe(0);
    const r = await b.run(["builder", "prune", "-f"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Deleted build cache objects:\n/);
    const freed = /Total reclaimed space: ([\d.]+)MB/.exec(r.stdout);
    if (!(Number(freed?.[1]) >= 3)) console.log("PRUNE", JSON.stringify(r.stdout), JSON.stringify(await b.ok(["system", "df"])), await buildsDone(1));
    expect([Number(freed?.[1]) >= 3, r.stdout]).toEqual([true, r.stdout]);
    // system prune takes the build cache too.
    expect((await b.run(["build", "-q", "--no-cache", "-t", "cli-prune", dir])).code).toBe(0);
    await b.ok(["rmi", "cli-prune"]);
    const sys = await b.ok(["system", "prune", "-f"]);
    expect(sys).toContain("Deleted build cache objects:\n");
    const sysTotal = /Total reclaimed space: ([\d.]+)(kB|MB|GB)\n/.exec(sys);
    expect([Number(sysTotal?.[1]) * ({ kB: 1e-3, MB: 1, GB: 1e3 }[sysTotal?.[2] as "MB"] ?? 0) >= 3, sys]).toEqual([true, sys]);
    const filtered = await b.run(["builder", "prune", "-f", "--filter", "bogus=1"]);
    expect(filtered.code).toBe(1);
    expect(filtered.stderr).toContain("invalid filter 'bogus'");
  });
});
