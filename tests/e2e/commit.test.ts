/**
 * commit, export and import through the CLI (in-process, and through `bunker serve` in the daemon pass):
 * a committed image run again shows the container's files, hides what it deleted (whiteouts) and what an
 * opaque directory replaced, and carries the --change config and a history entry; export then import
 * gives back the same tree (compared with GNU tar's extraction and listTree); hostile tars are refused
 * with nothing stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNKER, bunkerAt, DAEMON_MODE, freshDataRoot } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { gnuTarExtract, listTree, tar } from "../helpers/tar-writer.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let dir: string;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  dir = mkdtempSync(join(tmpdir(), "bunker-commit-e2e-"));
  chmodSync(dir, 0o755);
  await b.ok(["pull", "-q", "alpine"]);
}, 900_000);
afterAll(async () => {
  if (!root) return;
  await b.run(["rm", "-f", "src", "exp", "empty", "fromimport", "running"]);
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const inspect = async (name: string) => JSON.parse(await b.ok(["image", "inspect", name]))[0];

/** The staging and layer directories of the data root, to show a refused import left nothing. */
function storeState(): string[] {
  const list = (d: string) => (existsSync(d) ? readdirSync(d).map((n) => `${d}/${n}`) : []);
  return [...list(join(b.dataRoot, "overlay2")), ...list(join(b.dataRoot, "tmp"))].sort();
}

describe.skipIf(!root)("commit", () => {
  test("the new image has the container's files, hides its deletions and replaced directories, and its config", async () => {
    // /etc/hosts deleted (a whiteout), /home replaced by a new directory (opaque), files added.
    await b.ok(["run", "--name", "src", "-e", "FROM_RUN=1", "alpine", "sh", "-c", "echo hi > /new; mkdir -p /d; echo x > /d/f; rm /etc/group; rm -rf /home; mkdir /home; echo mine > /home/only"]);
    const diff = await b.ok(["diff", "src"]);
    expect(diff).toContain("D /etc/group");
    const id = (await b.ok(["commit", "-a", "Ann <ann@example.com>", "-m", "the message", "-c", "ENV A=1 B=two", "-c", 'CMD ["cat", "/new"]', "-c", "EXPOSE 8080/udp 9000", "-c", 'LABEL "com.example.x"="y z"', "-c", "WORKDIR /d", "-c", "STOPSIGNAL SIGUSR1", "-c", "VOLUME /data", "-c", "HEALTHCHECK --interval=5s --retries=2 CMD true", "-c", "ONBUILD RUN echo hi", "src", "snap:v1"])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await b.ok(["run", "--rm", "snap:v1"])).toBe("hi\n");
    const seen = await b.run(["run", "--rm", "snap:v1", "sh", "-c", "pwd; cat f; ls /etc/group; ls /home; echo $A $B $FROM_RUN"]);
    expect(seen.stdout).toBe("/d\nx\nonly\n1 two 1\n");
    expect(seen.stderr).toContain("/etc/group: No such file or directory");

    const img = await inspect("snap:v1");
    const parent = await inspect("alpine");
    expect(img.Id).toBe(id);
    expect(img.Author).toBe("Ann <ann@example.com>");
    expect(img.RootFS.Layers).toEqual([...parent.RootFS.Layers, expect.stringMatching(/^sha256:[0-9a-f]{64}$/)]);
    expect(img.Config.Cmd).toEqual(["cat", "/new"]);
    expect(img.Config.Env).toEqual(expect.arrayContaining(["A=1", "B=two", "FROM_RUN=1"]));
    expect(img.Config.ExposedPorts).toEqual({ "8080/udp": {}, "9000/tcp": {} });
    expect(img.Config.Labels["com.example.x"]).toBe("y z");
    expect(img.Config.WorkingDir).toBe("/d");
    expect(img.Config.StopSignal).toBe("SIGUSR1");
    expect(img.Config.Volumes).toEqual({ "/data": {} });
    expect(img.Config.Healthcheck).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 5e9, Retries: 2 });
    expect(img.Config.OnBuild).toEqual(["RUN echo hi"]);
    expect(img.ContainerConfig).toBeUndefined(); // gone from API 1.45 on, as in moby

    // A container of that image committed again keeps the image's healthcheck (moby merges it at create).
    await b.ok(["create", "--name", "hc", "snap:v1"]);
    expect((await inspect((await b.ok(["commit", "hc"])).trim())).Config.Healthcheck).toEqual(img.Config.Healthcheck);
    await b.ok(["rm", "hc"]);

    const hist = (await b.ok(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "snap:v1"])).split("\n");
    expect(hist[0]).toBe("sh -c echo hi > /new; mkdir -p /d; echo x > /d/f; rm /etc/group; rm -rf /home; mkdir /home; echo mine > /home/only|the message");
  });

  test("an untouched container gives moby's empty layer: a history entry, no new layer", async () => {
    await b.ok(["create", "--name", "empty", "alpine", "true"]);
    const id = (await b.ok(["commit", "empty"])).trim();
    const img = await inspect(id);
    expect(img.RootFS.Layers).toEqual((await inspect("alpine")).RootFS.Layers);
    expect(img.RepoTags).toEqual([]);
    const hist = (await b.ok(["history", "-q", id])).trim().split("\n");
    expect(hist.length).toBe((await b.ok(["history", "-q", "alpine"])).trim().split("\n").length + 1);
  });

  test("a running container can be committed; a second commit of the same changes reuses the layer", async () => {
    await b.ok(["run", "-d", "--name", "running", "-v", "commitvol:/vol", "alpine", "sh", "-c", "echo in-volume > /vol/v; echo live > /live; sleep 60"]);
    for (let i = 0; i < 50 && !(await b.run(["diff", "running"])).stdout.includes("/live"); i++) await Bun.sleep(100);
    // export of a running container: its root file system, without the volume's contents
    const out = join(dir, "running.tar");
    await b.ok(["export", "-o", out, "running"]);
    const names = Bun.spawnSync(["tar", "-tf", out]).stdout.toString().split("\n");
    expect(names).toContain("live");
    expect(names).toContain("bin/busybox");
    expect(names.filter((n) => n.startsWith("vol/"))).toEqual(["vol/"]);
    const since = Math.floor(Date.now() / 1000) - 1;
    const one = await inspect((await b.ok(["commit", "running", "live:1"])).trim());
    const two = await inspect((await b.ok(["commit", "--pause=false", "running", "live:2"])).trim());
    expect(one.RootFS.Layers.at(-1)).toBe(two.RootFS.Layers.at(-1));
    // Paused while its layer was read (the first commit only), and running again afterwards, as moby's commit.
    const events = await b.ok(["events", "--since", String(since), "--until", String(Math.ceil(Date.now() / 1000) + 1), "--filter", "container=running", "--format", "{{.Action}}"]);
    expect(events.split("\n").filter((a) => ["pause", "unpause", "commit"].includes(a))).toEqual(["pause", "commit", "unpause", "commit"]);
    expect((await b.ok(["inspect", "-f", "{{.State.Status}}", "running"])).trim()).toBe("running");
    expect(await b.ok(["run", "--rm", "live:1", "cat", "/live"])).toBe("live\n");
    await b.ok(["rm", "-f", "running"]);
    await b.ok(["volume", "rm", "commitvol"]);
  });

  test.skipIf(DAEMON_MODE)("kill -9 during a commit leaves no image and no staging data once an engine starts", async () => {
    await b.ok(["create", "--name", "killed", "alpine", "true"]);
    const upper = (await b.ok(["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "killed"])).trim();
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 150; i++) writeFileSync(join(upper, `f${i}`), chunk);
    const images = await b.ok(["images", "-aq", "--no-trunc"]);
    const tmpDir = join(b.dataRoot, "tmp");
    const proc = await b.spawn(["commit", "killed", "killed:img"]);
    for (let i = 0; i < 400 && !(existsSync(tmpDir) && readdirSync(tmpDir).length); i++) await Bun.sleep(5);
    expect(readdirSync(tmpDir).length).toBeGreaterThan(0); // caught mid-commit
    proc.kill("SIGKILL");
    await proc.exited;
    expect(await b.ok(["images", "-aq", "--no-trunc"])).toBe(images); // this engine start removed the staging
    expect(readdirSync(tmpDir)).toEqual([]);
    await b.ok(["rm", "killed"]);
  });

  test("errors: an instruction commit does not take, a bad reference, no such container", async () => {
    const run = await b.run(["commit", "-c", "RUN echo no", "src"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("Error response from daemon: run is not a valid change command\n");
    const from = await b.run(["commit", "--change", "from alpine", "src"]);
    expect(from.stderr).toBe("Error response from daemon: from is not a valid change command\n");
    const missing = await b.run(["commit", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error response from daemon: No such container: nope\n");
    // moby's conflict while a removal is in progress (an intent owned by a live process: this one)
    const id = (await b.ok(["inspect", "-f", "{{.Id}}", "src"])).trim();
    const { processStartTime } = await import("../../src/engine/runtime/status.ts");
    const intent = join(b.dataRoot, "removing", id);
    mkdirSync(join(b.dataRoot, "removing"), { recursive: true });
    writeFileSync(intent, JSON.stringify({ owner: `${process.pid}-${processStartTime(process.pid)}`, cacheId: id, volumes: [] }));
    try {
      const removing = await b.run(["commit", "src"]);
      expect(removing.code).toBe(1);
      expect(removing.stderr).toBe(`Error response from daemon: You cannot commit container ${id} which is being removed\n`);
    } finally {
      rmSync(intent, { force: true });
    }
    const bad = await b.run(["commit", "src", "Bad:Name"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("invalid reference format");
  });
});

describe.skipIf(!root)("export and import", () => {
  test("export refuses a terminal; -o writes the container's root; import gives back the same tree", async () => {
    const prefix = (await b.prefix()).map((a) => `'${a}'`).join(" ");
    const tty = Bun.spawnSync(["script", "-qec", `${BUNKER} ${prefix} export src`, "/dev/null"], { stdout: "pipe", stderr: "pipe" });
    expect(tty.exitCode).toBe(1);
    expect(tty.stdout.toString()).toContain("cowardly refusing to save to a terminal. Use the -o flag or redirect");

    const first = join(dir, "first.tar");
    await b.ok(["export", "-o", first, "src"]);
    const id = (await b.ok(["import", "-m", "round trip", "-c", "CMD /bin/sh", first, "imported:v1"])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const img = await inspect("imported:v1");
    expect(img.RootFS.Layers).toHaveLength(1);
    expect(img.Comment).toBe("round trip");
    expect(img.Config.Cmd).toEqual(["/bin/sh", "-c", "/bin/sh"]);
    expect((await b.ok(["history", "--format", "{{.Comment}}", "imported:v1"])).trim()).toBe("round trip");

    await b.ok(["create", "--name", "fromimport", "imported:v1"]);
    const second = join(dir, "second.tar");
    await b.ok(["export", "-o", second, "fromimport"]);
    const [x, y] = [join(dir, "x"), join(dir, "y")];
    for (const [t, d] of [[first, x], [second, y]] as const) {
      mkdirSync(d);
      gnuTarExtract(t, d);
    }
    const tx = listTree(x);
    const ty = listTree(y);
    delete tx["."];
    delete ty["."];
    expect(tx["new"]).toStartWith("file 644 0:0 size=3");
    expect(tx["etc/group"]).toBeUndefined(); // deleted in the container
    expect(tx["home/only"]).toBeDefined();
    expect(tx["home/user"]).toBeUndefined(); // behind the opaque directory
    expect(ty).toEqual(tx);
  });

  test("import from stdin (gzip and zstd), and from an http URL with Docker's messages", async () => {
    const plain = join(dir, "small.tar");
    writeFileSync(plain, tar([{ name: "hello", data: "world\n" }, { name: "sub/", type: "5", mode: 0o755 }]));
    for (const [tool, name] of [["gzip", "gz"], ["zstd", "zst"]]) {
      const packed = join(dir, `small.tar.${name}`);
      Bun.spawnSync([tool, "-kfc", plain], { stdout: Bun.file(packed) });
      const proc = Bun.spawn([BUNKER, ...(await b.prefix()), "import", "-", `compressed:${name}`], { stdin: Bun.file(packed), stdout: "pipe", stderr: "pipe" });
      const out = await new Response(proc.stdout).text();
      expect(await proc.exited).toBe(0);
      expect(out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect((await inspect(`compressed:${name}`)).Comment).toBe("Imported from -");
    }
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(Bun.file(plain)) });
    try {
      const r = await b.run(["import", `http://127.0.0.1:${server.port}/small.tar`, "fromurl"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Downloading from http://127.0.0.1:${server.port}/small.tar`);
      expect(r.stdout.trimEnd().split("\n").at(-1)).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect((await inspect("fromurl")).Comment).toBe(`Imported from http://127.0.0.1:${server.port}/small.tar`);
    } finally {
      server.stop(true);
    }
  });

  test("hostile tars are refused and nothing is stored", async () => {
    const before = storeState();
    const images = await b.ok(["images", "-q", "--no-trunc"]);
    const hostile: Record<string, Uint8Array> = {
      dotdot: tar([{ name: "../escape", data: "x" }]),
      absolute: tar([{ name: "/abs", data: "x" }]),
      hardlink: tar([{ name: "l", type: "1", linkname: "../../../etc/passwd" }]),
      symlinkParent: tar([{ name: "s", type: "2", linkname: "/tmp" }, { name: "s/through", data: "x" }]),
      truncated: tar([{ name: "big", data: "x".repeat(4096) }]).subarray(0, 1024),
    };
    for (const [name, bytes] of Object.entries(hostile)) {
      const file = join(dir, `${name}.tar`);
      writeFileSync(file, bytes);
      const r = await b.run(["import", file, `hostile:${name}`]);
      expect({ name, code: r.code }).toEqual({ name, code: 1 });
      expect(r.stderr).toStartWith("Error response from daemon: ");
    }
    expect(existsSync("/escape")).toBe(false);
    expect(existsSync("/tmp/through")).toBe(false);
    expect(storeState()).toEqual(before);
    expect(await b.ok(["images", "-q", "--no-trunc"])).toBe(images);
  });

  test("import refuses URLs other than http(s) and a missing file", async () => {
    const ftp = await b.run(["import", "file:///etc/passwd"]);
    expect(ftp.code).toBe(1);
    expect(ftp.stderr).toBe("open file:///etc/passwd: no such file or directory\n");
    const missing = await b.run(["import", join(dir, "nope.tar")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such file or directory");
  });
});
