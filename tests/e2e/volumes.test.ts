/**
 * Bind mounts and local volumes through the compiled CLI, as root, with real containers (in-process, or
 * through `bunker serve` with BUNKER_E2E_MODE=daemon): -v binds rw and ro, a file bind, -v creating a
 * missing host directory, --mount/-v errors as Docker's, named volumes persisting across containers, the
 * copy of an image's content into a new volume, anonymous volumes (image VOLUMEs, -v /path) removed by
 * rm -v and --rm, volume ls/inspect/rm/prune output, in-use refusal, --tmpfs, ps --filter volume, and
 * symlinks in the image at a mount target that must not lead out of the container's root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, freshDataRoot, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let volimg: string;
let torture: string;
let host: string;

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  busybox = `${reg.host}/busybox`;
  volimg = `${reg.host}/volumes`;
  torture = `${reg.host}/torture`;
  for (const img of [busybox, volimg, torture]) await b.ok(["pull", "-q", img]);
  host = tempDir("bunker-volumes-host-");
}, 900_000);

afterAll(async () => {
  if (!root) return;
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", "-v", ...ids.split("\n")]);
  await reg?.stop();
});

const volumes = async () => (await b.ok(["volume", "ls", "-q"])).trim().split("\n").filter(Boolean);
const mountsOf = async (ref: string) => JSON.parse(await b.ok(["inspect", "--format", "{{json .Mounts}}", ref])) as { Type: string; Name?: string; Source: string; Destination: string; Driver?: string; Mode: string; RW: boolean; Propagation: string }[];
const dataDir = (name: string) => join(b.dataRoot, "volumes", name, "_data");

describe.skipIf(!root)("bind mounts", () => {
  test("-v: read-write, read-only, a single file; inspect shows the mounts and Binds as Docker does", async () => {
    const dir = join(host, "rw");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "f"), "from the host\n");
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/mnt`, busybox, "sh", "-c", "cat /mnt/f; echo from-container > /mnt/w"])).toBe("from the host\n");
    expect(readFileSync(join(dir, "w"), "utf8")).toBe("from-container\n");

    const ro = await b.run(["run", "--rm", "-v", `${dir}:/mnt:ro`, busybox, "sh", "-c", "cat /mnt/f && echo x > /mnt/ro"]);
    expect(ro.code).toBe(1);
    expect(ro.stdout).toBe("from the host\n");
    expect(ro.stderr).toContain("Read-only file system");
    expect(existsSync(join(dir, "ro"))).toBe(false);

    // A file onto a path the image lacks: the target file is made inside the root.
    expect(await b.ok(["run", "--rm", "-v", `${dir}/f:/etc/app.conf:ro`, busybox, "cat", "/etc/app.conf"])).toBe("from the host\n");

    const id = (await b.ok(["create", "-v", `${dir}:/mnt:ro,z`, "-v", `${dir}/f:/f`, busybox])).trim();
    expect(await mountsOf(id)).toEqual([
      { Type: "bind", Source: `${dir}/f`, Destination: "/f", Mode: "", RW: true, Propagation: "rprivate" },
      { Type: "bind", Source: dir, Destination: "/mnt", Mode: "ro,z", RW: false, Propagation: "rprivate" },
    ]);
    expect(JSON.parse(await b.ok(["inspect", "--format", "{{json .HostConfig.Binds}}", id]))).toEqual([`${dir}:/mnt:ro,z`, `${dir}/f:/f`]);
    await b.ok(["rm", id]);
  });

  test("-v creates a missing host directory (as dockerd does); --mount refuses a missing source", async () => {
    const missing = join(host, "made", "by", "run");
    expect(await b.ok(["run", "--rm", "-v", `${missing}:/data`, busybox, "sh", "-c", "echo made > /data/x; ls /data"])).toBe("x\n");
    expect(statSync(missing).isDirectory()).toBe(true);
    expect(readFileSync(join(missing, "x"), "utf8")).toBe("made\n");

    const gone = join(host, "never-there");
    const r = await b.run(["run", "--rm", "--mount", `type=bind,source=${gone},target=/x`, busybox, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${gone}`);
    expect(existsSync(gone)).toBe(false);
    // --mount with an existing source, read-only.
    expect(await b.ok(["run", "--rm", "--mount", `type=bind,src=${missing},dst=/m,readonly`, busybox, "sh", "-c", "cat /m/x; touch /m/y 2>/dev/null || echo ro"])).toBe("made\nro\n");
  });

  test("errors as Docker's, and nothing is left behind by a refused create", async () => {
    const before = (await b.ok(["ps", "-aq"])).trim();
    const cases: [string[], string][] = [
      [["--mount", "type=bind,target=/x"], `invalid mount config for type "bind": field Source must not be empty`],
      [["--mount", "type=nfs,target=/x"], `invalid mount config for type "nfs": mount type unknown`],
      [["--mount", "type=bind,src=rel,dst=/x"], `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [["--mount", "src=/a"], `invalid argument "src=/a" for "--mount" flag: target is required`],
      [["--mount", "type=bind,src=/a,dst=/x,bogus=1"], `invalid argument "type=bind,src=/a,dst=/x,bogus=1" for "--mount" flag: unexpected key 'bogus' in 'bogus=1'`],
      [["-v", "rel/dir:/x"], `create rel/dir: "rel/dir" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`],
      [["-v", "/a::/x"], "bunker: invalid spec: /a::/x: empty section between colons"],
      [["-v", `${host}:/x:bogus`], "invalid mode: bogus"],
      [["-v", `${host}:/x`, "-v", `${host}/rw:/x`], "Duplicate mount point: /x"],
      [["-v", `${host}:/x`, "--tmpfs", "/x"], "Duplicate mount point: /x"],
      [["-v", `${host}:relative`], `invalid volume specification: '${host}:relative': invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`],
      [["-v", `${host}:/`], `invalid volume specification: '${host}:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
    ];
    for (const [flags, message] of cases) {
      const r = await b.run(["run", "--rm", ...flags, busybox, "true"]);
      expect({ flags, code: r.code, has: r.stderr.includes(message) }).toEqual({ flags, code: 125, has: true });
    }
    expect((await b.ok(["ps", "-aq"])).trim()).toBe(before);
  });
});

describe.skipIf(!root)("named volumes", () => {
  test("created on first use under <data-root>/volumes/<name>/_data, kept across containers; inspect as Docker", async () => {
    expect(await b.ok(["run", "--rm", "-v", "keep1:/data", busybox, "sh", "-c", "echo persisted > /data/f"])).toBe("");
    expect(readFileSync(join(dataDir("keep1"), "f"), "utf8")).toBe("persisted\n");
    expect(await b.ok(["run", "--rm", "-v", "keep1:/other:ro", busybox, "cat", "/other/f"])).toBe("persisted\n");
    const [v] = JSON.parse(await b.ok(["volume", "inspect", "keep1"]));
    expect(v).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/), Driver: "local", Labels: null, Mountpoint: dataDir("keep1"), Name: "keep1", Options: null, Scope: "local" });
    expect(Object.keys(v)).toEqual(["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    const id = (await b.ok(["create", "-v", "keep1:/data:ro", "--mount", "source=keep2,target=/two", busybox])).trim();
    expect(await mountsOf(id)).toEqual([
      { Type: "volume", Name: "keep1", Source: dataDir("keep1"), Destination: "/data", Driver: "local", Mode: "ro", RW: false, Propagation: "" },
      { Type: "volume", Name: "keep2", Source: dataDir("keep2"), Destination: "/two", Driver: "local", Mode: "z", RW: true, Propagation: "" },
    ]);
    await b.ok(["rm", "-v", id]); // named volumes stay, even with -v
    expect(await volumes()).toEqual(expect.arrayContaining(["keep1", "keep2"]));
    await b.ok(["volume", "rm", "keep1", "keep2"]);
  });

  test("a volume some container uses (running or not) is refused removal with Docker's message", async () => {
    const id = (await b.ok(["run", "-d", "--name", "holder", "-v", "held:/data", busybox, "sleep", "60"])).trim();
    const r = await b.run(["volume", "rm", "held"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: remove held: volume is in use - [${id}]\n` });
    await b.ok(["stop", "-t", "0", "holder"]);
    expect((await b.run(["volume", "rm", "-f", "held"])).stderr).toContain("volume is in use");
    expect((await b.ok(["volume", "prune", "-af"])).includes("held")).toBe(false);
    await b.ok(["rm", "holder"]);
    expect(await b.ok(["volume", "rm", "held"])).toBe("held\n");
    expect(existsSync(join(b.dataRoot, "volumes", "held"))).toBe(false);
  });
});

describe.skipIf(!root)("the image's content in a new volume", () => {
  test("VOLUME paths get anonymous volumes filled with the image's files: owner, mode, symlinks as links", async () => {
    await b.ok(["run", "--name", "copy1", volimg, "true"]);
    const mounts = await mountsOf("copy1");
    expect(mounts.map((m) => [m.Destination, m.Type, m.Mode, m.RW])).toEqual([["/data", "volume", "", true], ["/empty", "volume", "", true]]);
    const data = dataDir(mounts[0]!.Name!);
    expect(readFileSync(join(data, "hello"), "utf8")).toBe("hello from the image\n");
    expect(readFileSync(join(data, "sub/deep"), "utf8")).toBe("deep\n");
    const st = statSync(data);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o750]); // the volume dir takes the image dir's owner and mode
    const hello = statSync(join(data, "hello"));
    expect([hello.uid, hello.mode & 0o7777, hello.mtimeMs]).toEqual([1000, 0o640, 1700000000000]);
    // The image's symlink that points out of its root is copied as a link, never followed.
    expect(lstatSync(join(data, "escape")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(data, "escape"))).toBe("../../../../../etc");
    expect(readdirSync(dataDir(mounts[1]!.Name!))).toEqual([]);
    // Each volume is labelled anonymous, as moby labels the volumes it names.
    const [v] = JSON.parse(await b.ok(["volume", "inspect", mounts[0]!.Name!]));
    expect(v.Labels).toEqual({ "com.docker.volume.anonymous": "" });
    await b.ok(["rm", "-v", "copy1"]);
  });

  test("a named volume is filled once, only while empty; nocopy leaves it empty", async () => {
    expect(await b.ok(["run", "--rm", "-v", "filled:/data", volimg, "ls", "/data"])).toBe("escape\nhello\nsub\n");
    await b.ok(["run", "--rm", "-v", "filled:/x", busybox, "rm", "-rf", "/x/sub", "/x/escape"]);
    // Not empty: a later container's image content is not copied again.
    expect(await b.ok(["run", "--rm", "-v", "filled:/data", volimg, "ls", "/data"])).toBe("hello\n");
    expect(await b.ok(["run", "--rm", "-v", "bare:/data:nocopy", volimg, "ls", "-A", "/data"])).toBe("");
    expect(await b.ok(["run", "--rm", "--mount", "src=bare2,dst=/data,volume-nocopy", volimg, "ls", "-A", "/data"])).toBe("");
    await b.ok(["volume", "rm", "filled", "bare", "bare2"]);
  });

  test("a symlink in the image at the mount target resolves inside the root: the copy reads the image's /etc, not the host's", async () => {
    // torture's /links/escape -> ../../../../etc: in the root, that is the image's own /etc.
    expect(await b.ok(["run", "--rm", "-v", "fromlink:/links/escape", torture, "busybox", "cat", "/etc/passwd"])).toContain("user:x:1000:1000");
    const copied = readdirSync(dataDir("fromlink")).sort();
    expect(copied).toEqual(["group", "hostname", "hosts", "passwd", "resolv.conf"]); // the image's two files, then the /etc files mounted over it
    expect(readFileSync(join(dataDir("fromlink"), "passwd"), "utf8")).toBe("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    await b.ok(["volume", "rm", "fromlink"]);
  });
});

describe.skipIf(!root)("symlinks at bind targets", () => {
  test("a bind onto an image symlink lands inside the container's root, never on the host path it names", async () => {
    const dir = join(host, "marker-dir");
    mkdirSync(dir, { recursive: true });
    const marker = `bunker-marker-${process.pid}`;
    writeFileSync(join(dir, marker), "inside\n");
    const hostPasswd = readFileSync("/etc/passwd", "utf8");
    // /links/escape -> ../../../../etc and /links/abs-dir -> /etc: both are the image's /etc here.
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/links/escape`, torture, "busybox", "cat", `/etc/${marker}`])).toBe("inside\n");
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/links/abs-dir`, torture, "busybox", "cat", `/etc/${marker}`])).toBe("inside\n");
    // /links/abs -> /etc/passwd: a file bind onto it replaces the image's passwd, not the host's.
    expect(await b.ok(["run", "--rm", "-v", `${dir}/${marker}:/links/abs`, torture, "busybox", "cat", "/etc/passwd"])).toBe("inside\n");
    expect(existsSync(`/etc/${marker}`)).toBe(false);
    expect(readFileSync("/etc/passwd", "utf8")).toBe(hostPasswd);
  });
});

describe.skipIf(!root)("anonymous volumes", () => {
  test("-v /path and image VOLUMEs: kept by rm, removed by rm -v and by --rm, and by volume prune", async () => {
    const start = await volumes();
    const fresh = async () => (await volumes()).filter((v) => !start.includes(v));
    await b.ok(["create", "--name", "anon1", "-v", "/scratch", volimg]);
    const made = await fresh();
    expect(made).toHaveLength(3);
    for (const v of made) expect(v).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(await b.ok(["inspect", "--format", "{{json .Config.Volumes}}", "anon1"]))).toEqual({ "/scratch": {}, "/data": {}, "/empty": {} });
    await b.ok(["rm", "anon1"]);
    expect(await fresh()).toHaveLength(3); // plain rm keeps them, as Docker
    const pruned = await b.ok(["volume", "prune", "-f"]);
    expect(pruned).toMatch(/^Deleted Volumes:\n([0-9a-f]{64}\n){3}\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
    expect(await fresh()).toEqual([]);

    await b.ok(["create", "--name", "anon2", "-v", "/scratch", "-v", "named-stays:/n", volimg]);
    expect(await fresh()).toHaveLength(4);
    await b.ok(["rm", "-v", "anon2"]);
    expect(await fresh()).toEqual(["named-stays"]);

    expect(await b.ok(["run", "--rm", "-v", "/scratch", volimg, "cat", "/data/hello"])).toBe("hello from the image\n");
    expect(await fresh()).toEqual(["named-stays"]);
    const bg = (await b.ok(["run", "-d", "--rm", volimg, "true"])).trim();
    await b.run(["wait", bg]);
    for (let i = 0; i < 50 && (await fresh()).length > 1; i++) await Bun.sleep(100);
    expect(await fresh()).toEqual(["named-stays"]);
    await b.ok(["volume", "rm", "named-stays"]);
  });
});

describe.skipIf(!root)("volume commands", () => {
  test("create, ls (sorted, -q, filters, --format), inspect, rm and prune with Docker's columns and messages", async () => {
    const anon = (await b.ok(["volume", "create"])).trim();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect(await b.ok(["volume", "create", "--label", "team=core", "vol10"])).toBe("vol10\n");
    expect(await b.ok(["volume", "create", "vol9"])).toBe("vol9\n");
    expect(await b.ok(["volume", "create", "vol9"])).toBe("vol9\n"); // an existing name is no error
    expect(await b.ok(["volume", "ls"])).toBe(`DRIVER    VOLUME NAME\nlocal     ${anon}\nlocal     vol9\nlocal     vol10\n`);
    expect(await b.ok(["volume", "ls", "-q", "--filter", "label=team=core"])).toBe("vol10\n");
    expect(await b.ok(["volume", "ls", "-q", "--filter", "name=vol"])).toBe("vol9\nvol10\n");
    expect(await b.ok(["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}", "--filter", "dangling=true", "--filter", "name=vol1"])).toBe("vol10 local local team=core\n");
    expect(await b.ok(["volume", "ls", "--format", "table {{.Name}}\t{{.Mountpoint}}", "-f", "name=vol9"])).toBe(`VOLUME NAME   MOUNTPOINT\nvol9          ${dataDir("vol9")}\n`);
    expect(JSON.parse(await b.ok(["volume", "inspect", "vol10"]))[0].Labels).toEqual({ team: "core" });
    expect(await b.ok(["volume", "inspect", "--format", "{{.Name}} {{.Driver}}", "vol9", "vol10"])).toBe("vol9 local\nvol10 local\n");

    const missing = await b.run(["volume", "inspect", "vol9", "nope"]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).map((v: { Name: string }) => v.Name)).toEqual(["vol9"]);
    expect(missing.stderr).toBe("Error response from daemon: get nope: no such volume\n");
    expect(await b.run(["volume", "rm", "nope"])).toEqual({ code: 1, stdout: "", stderr: "Error response from daemon: get nope: no such volume\n" });
    expect(await b.ok(["volume", "rm", "-f", "nope"])).toBe("nope\n");
    const short = await b.run(["volume", "create", "x"]);
    expect(short).toEqual({ code: 1, stdout: "", stderr: "Error response from daemon: create x: volume name is too short, names should be at least two alphanumeric characters\n" });
    expect((await b.run(["volume", "create", "-d", "nfs", "vv"])).stderr).toBe(`Error response from daemon: create vv: error looking up volume plugin nfs: plugin "nfs" not found\n`);

    writeFileSync(join(dataDir("vol9"), "data"), "x".repeat(2000));
    // Without --all only anonymous volumes go; with it, every unused one.
    expect(await b.ok(["volume", "prune", "-f"])).toBe(`Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 0B\n`);
    expect(await b.ok(["volume", "prune", "-f", "--all", "--filter", "label=team=core"])).toBe("Deleted Volumes:\nvol10\n\nTotal reclaimed space: 0B\n");
    expect(await b.ok(["volume", "prune", "-af"])).toBe("Deleted Volumes:\nvol9\n\nTotal reclaimed space: 2kB\n");
    expect(await b.ok(["volume", "prune", "-af"])).toBe("Total reclaimed space: 0B\n");
    expect(await b.ok(["volume", "ls", "-q"])).toBe("");
  });
});

describe.skipIf(!root)("tmpfs, ps and df", () => {
  test("--tmpfs and --mount type=tmpfs: Docker's default options, always nodev; only --mount's shows in Mounts", async () => {
    const out = await b.ok(["run", "--rm", "--tmpfs", "/run:size=2m,exec", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", busybox, "sh", "-c", "grep -E ' /(run|t) ' /proc/mounts | cut -d' ' -f2,4 | sort"]);
    expect(out).toBe("/run rw,nosuid,nodev,relatime,size=2048k\n/t rw,nosuid,nodev,noexec,relatime,size=1024k\n");
    const id = (await b.ok(["create", "--tmpfs", "/run", "--mount", "type=tmpfs,dst=/t", busybox])).trim();
    expect(JSON.parse(await b.ok(["inspect", "--format", "{{json .HostConfig.Tmpfs}}", id]))).toEqual({ "/run": "" });
    expect(await mountsOf(id)).toEqual([{ Type: "tmpfs", Source: "", Destination: "/t", Mode: "", RW: true, Propagation: "" }]);
    await b.ok(["rm", id]);
  });

  test("ps --filter volume= by name or destination; the Mounts column; system df counts volumes", async () => {
    await b.ok(["create", "--name", "withvol", "-v", "psvol:/data", "-v", `${host}:/h`, busybox]);
    await b.ok(["create", "--name", "without", busybox]);
    expect(await b.ok(["ps", "-a", "--filter", "volume=psvol", "--format", "{{.Names}}"])).toBe("withvol\n");
    expect(await b.ok(["ps", "-a", "--filter", "volume=/h", "--format", "{{.Names}}"])).toBe("withvol\n");
    expect(await b.ok(["ps", "-a", "--filter", "volume=nothing", "--format", "{{.Names}}"])).toBe("");
    const cut = host.length > 15 ? `${host.slice(0, 14)}…` : host;
    expect(await b.ok(["ps", "-a", "--filter", "name=withvol", "--format", "{{.Mounts}}"])).toBe(`psvol,${cut}\n`);
    writeFileSync(join(dataDir("psvol"), "blob"), "y".repeat(5000));
    const df = (await b.ok(["system", "df"])).split("\n").find((l) => l.startsWith("Local Volumes"));
    expect(df).toMatch(/^Local Volumes\s+1\s+1\s+5kB\s+0B \(0%\)$/);
    await b.ok(["rm", "withvol", "without"]);
    expect((await b.ok(["system", "df"])).split("\n").find((l) => l.startsWith("Local Volumes"))).toMatch(/^Local Volumes\s+1\s+0\s+5kB\s+5kB \(100%\)$/);
    await b.ok(["volume", "rm", "psvol"]);
  });
});
