/**
 * `bunker cp` through the compiled CLI, as root, with real containers (in-process, or through `bunker serve`
 * with BUNKER_E2E_MODE=daemon): a tree with modes, owners, xattrs, symlinks, hardlinks and a fifo copied into
 * stopped and running containers and back out, compared file by file with the tree and with GNU tar's
 * reading of `cp ... -`; Docker's path rules (dest exists or not, trailing "/", "/.", file onto dir, dir onto
 * file); -a (the container user's ids), -L; volumes, bind mounts, read-only mounts and --read-only; Docker's
 * errors; and escape attempts: container symlinks to host paths, hostile tars on stdin (../, absolute names,
 * symlink then write through it, hardlinks out, device nodes in a volume, NUL names), a symlink swapped
 * while copying into a running container. Containers run with --network none: cp needs no network, and
 * the tests then do not depend on the bridge other suites create and remove.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync, lutimesSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, tempDir, startWithBusybox, removeAllAndStop } from "../helpers/bunker.ts";
import { type Registry } from "../helpers/registry.ts";
import { listTree, tar, type RawMember } from "../helpers/tar-writer.ts";
import { sys } from "../../src/sys/index.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let work: string;
let tree: string;

/** A tree with every kind of member and metadata cp must carry; mtimes in whole seconds, as tar keeps them. */
function makeTree(dir: string): void {
  mkdirSync(join(dir, "sub/deep"), { recursive: true });
  writeFileSync(join(dir, "file.txt"), "hello\n");
  chownSync(join(dir, "file.txt"), 1234, 5678);
  chmodSync(join(dir, "file.txt"), 0o640);
  writeFileSync(join(dir, "suid"), "#!/bin/sh\n");
  chmodSync(join(dir, "suid"), 0o4755);
  writeFileSync(join(dir, "sub/deep/big"), Buffer.alloc(300_000, 7));
  writeFileSync(join(dir, ".wh.notawhiteout"), "plain file\n");
  linkSync(join(dir, "file.txt"), join(dir, "sub/hard"));
  symlinkSync("../file.txt", join(dir, "sub/rel-link"));
  symlinkSync("/etc/hostname", join(dir, "abs-link"));
  Bun.spawnSync(["mkfifo", join(dir, "fifo")]);
  chmodSync(join(dir, "sub"), 0o750);
  chownSync(join(dir, "sub"), 42, 43);
  sys().lsetxattr(join(dir, "file.txt"), "user.origin", new TextEncoder().encode("host"));
  const t = 1_700_000_000;
  for (const p of ["file.txt", "suid", "sub/deep/big", ".wh.notawhiteout", "fifo", "sub/deep", "sub", "."]) utimesSync(join(dir, p), t, t);
  for (const p of ["sub/rel-link", "abs-link"]) lutimesSync(join(dir, p), t, t);
}

/** The container's upper dir on the host (where a stopped container's writes to its root land). */
async function upperDir(ref: string): Promise<string> {
  const data = JSON.parse(await b.ok(["inspect", "--format", "{{json .GraphDriver.Data}}", ref]));
  return data.UpperDir as string;
}

/** GNU tar's extraction (owners and xattrs kept) of a tar held in memory. */
function gnuExtract(archive: Uint8Array, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "--same-owner", "-xpf", "-", "-C", dir], { stdin: archive });
  if (r.exitCode !== 0) throw new Error(`tar: ${r.stderr}`);
}

/** Runs bunker with bytes on stdin and stdout as bytes. */
async function runBytes(args: string[], stdin?: Uint8Array): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const proc = Bun.spawn([(await import("../helpers/bunker.ts")).BUNKER, ...(await b.prefix()), ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: new Uint8Array(out), stderr: err };
}

/** A listing with every owner root's (cp out leaves files owned by whoever runs it, as the docker CLI does). */
function asRoot(t: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.replace(/ \d+:\d+ /, " 0:0 ")]));
}

beforeAll(async () => {
  if (!root) return;
  ({ reg, b, busybox } = await startWithBusybox());
  work = tempDir("bunker-cp-");
  tree = join(work, "tree");
  mkdirSync(tree);
  makeTree(tree);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  await removeAllAndStop(b, reg, ["-f", "-v"]);
});

describe.skipIf(!root)("cp round trips", () => {
  for (const state of ["stopped", "running"] as const) {
    test(`a tree into a ${state} container and back out, file by file as the tree and as GNU tar reads cp's stream`, async () => {
      const id = (await b.ok(state === "running" ? ["run", "--network", "none", "-d", busybox, "sleep", "600"] : ["create", "--network", "none", busybox])).trim();
      const r = await b.run(["cp", tree, `${id}:/data`]);
      expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" }); // no terminal: no progress, as docker
      const want = listTree(tree);
      if (state === "stopped") expect(listTree(join(await upperDir(id), "data"))).toEqual(want);
      else expect(await b.ok(["exec", id, "cat", "/data/sub/rel-link", "/data/.wh.notawhiteout"])).toBe("hello\nplain file\n");

      // Out as a stream: GNU tar reads it back to the same tree, owners and xattrs included.
      const streamed = await runBytes(["cp", `${id}:/data`, "-"]);
      expect(streamed.code).toBe(0);
      gnuExtract(streamed.stdout, join(work, `gnu-${state}`));
      expect(listTree(join(work, `gnu-${state}`, "data"))).toEqual(want);

      // Out to a new local path: the tree under that name, owned by the caller.
      const out = join(work, `out-${state}`);
      expect((await b.run(["cp", `${id}:/data`, out])).code).toBe(0);
      expect(listTree(out)).toEqual(asRoot(want));
      await b.ok(["rm", "-f", id]);
    });
  }
});

describe.skipIf(!root)("Docker's path rules", () => {
  test("into a container: file or directory, destination present or not, trailing / and /.", async () => {
    const id = (await b.ok(["create", "--network", "none", "--name", "cp-rules", busybox])).trim();
    const up = await upperDir(id);
    const src = join(work, "rules");
    mkdirSync(join(src, "d/inner"), { recursive: true });
    writeFileSync(join(src, "f"), "F\n");
    writeFileSync(join(src, "d/inner/x"), "X\n");
    // file -> missing path: a file of that name; -> existing dir: inside it; -> existing file: replaced.
    await b.ok(["cp", join(src, "f"), "cp-rules:/newfile"]);
    expect(readFileSync(join(up, "newfile"), "utf8")).toBe("F\n");
    await b.ok(["cp", join(src, "f"), "cp-rules:/etc"]);
    expect(readFileSync(join(up, "etc/f"), "utf8")).toBe("F\n");
    writeFileSync(join(src, "f"), "F2\n");
    await b.ok(["cp", join(src, "f"), "cp-rules:/newfile"]);
    expect(readFileSync(join(up, "newfile"), "utf8")).toBe("F2\n");
    // dir -> missing path: the dir under the new name; -> existing dir: inside it; dir/. -> its contents.
    await b.ok(["cp", join(src, "d"), "cp-rules:/copied"]);
    expect(readFileSync(join(up, "copied/inner/x"), "utf8")).toBe("X\n");
    await b.ok(["cp", join(src, "d"), "cp-rules:/copied"]);
    expect(readFileSync(join(up, "copied/d/inner/x"), "utf8")).toBe("X\n");
    await b.ok(["cp", `${join(src, "d")}/.`, "cp-rules:/tmp"]);
    expect(readFileSync(join(up, "tmp/inner/x"), "utf8")).toBe("X\n");
    // Relative local paths count from the working directory (the stat of the stopped container before must not move it).
    const rel = Bun.spawnSync([(await import("../helpers/bunker.ts")).BUNKER, ...(await b.prefix()), "cp", "f", "cp-rules:/relative"], { cwd: src, stderr: "pipe" });
    expect(rel.exitCode).toBe(0);
    expect(readFileSync(join(up, "relative"), "utf8")).toBe("F2\n");
    // A local symlink goes as a link, or (-L) as the file it points to, under the link's name.
    symlinkSync("f", join(src, "lnk"));
    await b.ok(["cp", join(src, "lnk"), "cp-rules:/tmp/"]);
    expect(lstatSync(join(up, "tmp/lnk")).isSymbolicLink()).toBe(true);
    await b.ok(["cp", "-L", join(src, "lnk"), "cp-rules:/etc/"]);
    expect(readFileSync(join(up, "etc/lnk"), "utf8")).toBe("F2\n");
    // A tar on stdin, plain or gzip (the API decompresses), into an existing directory.
    const gz = Bun.spawnSync(["tar", "-czf", "-", "-C", src, "f"]).stdout;
    expect((await runBytes(["cp", "-", "cp-rules:/copied"], gz)).code).toBe(0);
    expect(readFileSync(join(up, "copied/f"), "utf8")).toBe("F2\n");
    // Errors as the docker CLI words them.
    expect(await b.run(["cp", join(src, "d"), "cp-rules:/newfile"])).toMatchObject({ code: 1, stderr: "cannot copy directory\n" });
    mkdirSync(join(src, "file-named-inner"), { recursive: true });
    writeFileSync(join(src, "file-named-inner", "inner"), "a file\n");
    expect(await b.run(["cp", join(src, "file-named-inner", "inner"), "cp-rules:/copied/"])).toMatchObject({ code: 1, stderr: 'Error response from daemon: cannot overwrite directory "/copied/inner" with non-directory "/copied"\n' });
    expect(await b.run(["cp", join(src, "f"), "cp-rules:/missing/"])).toMatchObject({ code: 1, stderr: "no such directory\n" });
    expect(await b.run(["cp", join(src, "f"), "cp-rules:/nowhere/at/all"])).toMatchObject({ code: 1, stderr: "Error response from daemon: Could not find the file /nowhere/at in container cp-rules\n" });
    expect(await b.run(["cp", join(src, "nope"), "cp-rules:/"])).toMatchObject({ code: 1, stderr: `lstat ${join(src, "nope")}: no such file or directory\n` });
    expect(await b.run(["cp", "-", "cp-rules:/newfile"], { stdin: "" })).toMatchObject({ code: 1, stderr: 'destination "cp-rules:/newfile" must be a directory\n' });
    await b.ok(["rm", id]);
  });

  test("out of a container: the same rules on the local side; -L follows a symlink source; errors", async () => {
    const id = (await b.ok(["create", "--network", "none", "--name", "cp-out", busybox])).trim();
    await b.ok(["cp", tree, "cp-out:/data"]);
    const out = join(work, "rules-out");
    mkdirSync(out);
    await b.ok(["cp", "cp-out:/data/file.txt", out]);
    expect(readFileSync(join(out, "file.txt"), "utf8")).toBe("hello\n");
    await b.ok(["cp", "cp-out:/data/file.txt", join(out, "renamed")]);
    expect(readFileSync(join(out, "renamed"), "utf8")).toBe("hello\n");
    await b.ok(["cp", "cp-out:/data/sub/.", join(out, "contents")]);
    expect(readdirSync(join(out, "contents")).sort()).toEqual(["deep", "hard", "rel-link"]);
    // A symlink is copied as a link, or (-L) as what it points to, under the link's name.
    await b.ok(["cp", "cp-out:/data/sub/rel-link", join(out, "l1")]);
    expect(lstatSync(join(out, "l1")).isSymbolicLink()).toBe(true);
    await b.ok(["cp", "-L", "cp-out:/data/sub/rel-link", out]);
    expect(lstatSync(join(out, "rel-link")).isFile()).toBe(true);
    expect(readFileSync(join(out, "rel-link"), "utf8")).toBe("hello\n");
    expect(await b.run(["cp", "cp-out:/data", join(out, "renamed")])).toMatchObject({ code: 1, stderr: "cannot copy directory\n" });
    expect(await b.run(["cp", "cp-out:/nope", out])).toMatchObject({ code: 1, stderr: "Error response from daemon: Could not find the file /nope in container cp-out\n" });
    expect(await b.run(["cp", "nosuch:/etc", out])).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: nosuch\n" });
    expect(await b.run(["cp", "cp-out:/etc/passwd", join(out, "missing/dir/x")])).toMatchObject({ code: 1, stderr: `invalid output path: directory "${join(out, "missing/dir")}" does not exist\n` });
    expect(await b.run(["cp", "cp-out:/a", "cp-out:/b"])).toMatchObject({ code: 1, stderr: "copying between containers is not supported\n" });
    expect(await b.run(["cp", "a", "b"])).toMatchObject({ code: 1, stderr: "must specify at least one container source\n" });
    await b.ok(["rm", id]);
  });

  test("-a: files take the container user's ids; without it, the archive's", async () => {
    const id = (await b.ok(["create", "--network", "none", "-u", "nobody", busybox])).trim();
    const up = await upperDir(id);
    await b.ok(["cp", join(tree, "file.txt"), `${id}:/tmp/plain`]);
    await b.ok(["cp", "-a", join(tree, "file.txt"), `${id}:/tmp/archived`]);
    expect([lstatSync(join(up, "tmp/plain")).uid, lstatSync(join(up, "tmp/plain")).gid]).toEqual([1234, 5678]);
    expect([lstatSync(join(up, "tmp/archived")).uid, lstatSync(join(up, "tmp/archived")).gid]).toEqual([65534, 65534]);
    // The container's /etc/passwd is the container's to replace: a fifo there must not hang the lookup.
    expect((await runBytes(["cp", "-", `${id}:/etc`], tar([{ name: "passwd", type: "6" }]))).code).toBe(0);
    const fifo = await b.run(["cp", "-a", join(tree, "file.txt"), `${id}:/tmp/again`], { timeout: 30_000 });
    expect(fifo).toMatchObject({ code: 1, stderr: 'Error response from daemon: failed to look up user "nobody" in container: no matching entries in passwd file\n' });
    await b.ok(["rm", id]);
  });
});

describe.skipIf(!root)("volumes, bind mounts and read-only", () => {
  for (const state of ["stopped", "running"] as const) {
    test(`${state}: writes land in the volume or the bind's source; read-only ones refuse with Docker's errors`, async () => {
      const bind = join(work, `bind-${state}`);
      const ro = join(work, `ro-${state}`);
      mkdirSync(bind);
      mkdirSync(ro);
      writeFileSync(join(bind, "seen"), "from host\n");
      const vol = `cpvol-${state}`;
      const args = ["-v", `${vol}:/vol`, "-v", `${bind}:/bind`, "-v", `${ro}:/ro:ro`];
      const id = (await b.ok(state === "running" ? ["run", "--network", "none", "-d", ...args, busybox, "sleep", "600"] : ["create", "--network", "none", ...args, busybox])).trim();
      await b.ok(["cp", join(tree, "file.txt"), `${id}:/vol/in-volume`]);
      expect(readFileSync(join(b.dataRoot, "volumes", vol, "_data", "in-volume"), "utf8")).toBe("hello\n");
      await b.ok(["cp", join(tree, "sub"), `${id}:/bind/`]);
      expect(readFileSync(join(bind, "sub/deep/big")).length).toBe(300_000);
      const back = await runBytes(["cp", `${id}:/bind/seen`, "-"]);
      expect(new TextDecoder().decode(back.stdout)).toContain("from host\n");
      expect(await b.run(["cp", join(tree, "file.txt"), `${id}:/ro/`])).toMatchObject({ code: 1, stderr: "Error response from daemon: mounted volume is marked read-only\n" });
      expect(readdirSync(ro)).toEqual([]);
      await b.ok(["rm", "-f", "-v", id]);
    });
  }

  test("--read-only: the root refuses, a volume in it takes the copy", async () => {
    const id = (await b.ok(["create", "--network", "none", "--read-only", "-v", "/scratch", busybox])).trim();
    expect(await b.run(["cp", join(tree, "file.txt"), `${id}:/tmp/`])).toMatchObject({ code: 1, stderr: "Error response from daemon: container rootfs is marked read-only\n" });
    await b.ok(["cp", join(tree, "file.txt"), `${id}:/scratch/`]);
    expect((await runBytes(["cp", `${id}:/scratch/file.txt`, "-"])).code).toBe(0);
    await b.ok(["rm", "-v", id]);
  });
});

describe.skipIf(!root)("escape attempts", () => {
  for (const state of ["stopped", "running"] as const) {
    test(`${state}: symlinks in the container resolve inside its root, never to the host's files`, async () => {
      const host = join(work, `host-${state}`);
      mkdirSync(host);
      writeFileSync(join(host, "secret"), "host secret\n");
      const mark = `escape-${state}-${Date.now()}`;
      const setup = `mkdir /data && ln -s ${host} /data/abs && ln -s ../../../../../../../.. /data/up && ln -s /etc /data/etc`;
      const id = `cp-esc-${state}`;
      await b.ok(["run", "--network", "none", "--name", id, ...(state === "running" ? ["-d"] : []), busybox, "sh", "-c", state === "running" ? `${setup} && sleep 600` : setup]);
      if (state === "running") for (let i = 0; i < 50 && (await b.run(["exec", id, "test", "-L", "/data/etc"])).code !== 0; i++) await Bun.sleep(100);
      const up = await upperDir(id);
      // Reading: the host path named by an absolute link does not exist inside the container.
      expect(await b.run(["cp", `${id}:/data/abs/secret`, "-"])).toMatchObject({ code: 1, stderr: `Error response from daemon: Could not find the file /data/abs/secret in container ${id}\n` });
      expect((await b.run(["cp", "-L", `${id}:/data/abs`, join(work, `l-${state}`)])).code).toBe(1);
      // /data/etc/hostname is the container's (a bind of its own file while it runs), not the host's.
      const hostname = await runBytes(["cp", `${id}:/data/up/etc/passwd`, "-"]);
      expect(hostname.code).toBe(0);
      expect(new TextDecoder().decode(hostname.stdout)).not.toContain(readFileSync("/etc/passwd", "utf8").split("\n")[0]!);
      // Writing through a climbing link lands in the container's /tmp; through the absolute one, nowhere.
      await b.ok(["cp", join(tree, "file.txt"), `${id}:/data/up/tmp/${mark}`]);
      expect(existsSync(`/tmp/${mark}`)).toBe(false);
      if (state === "stopped") expect(readFileSync(join(up, "tmp", mark), "utf8")).toBe("hello\n");
      else expect(await b.ok(["exec", id, "cat", `/tmp/${mark}`])).toBe("hello\n");
      expect((await b.run(["cp", join(tree, "file.txt"), `${id}:/data/abs/`])).code).toBe(1);
      expect(readdirSync(host)).toEqual(["secret"]);
      await b.ok(["rm", "-f", id]);
    });
  }

  test("hostile archives on stdin: refused or contained, nothing written outside the target", async () => {
    const id = (await b.ok(["create", "--network", "none", "-v", "cp-devvol:/vol", busybox])).trim();
    const up = await upperDir(id);
    const mark = `pwned-${Date.now()}`;
    const put = (members: RawMember[], dest = "/tmp") => runBytes(["cp", "-", `${id}:${dest}`], tar(members));
    // ".." above the extraction directory: refused; nothing in the container's root nor the host's.
    const dotdot = await put([{ name: `../../${mark}`, data: "x" }]);
    expect(dotdot.code).toBe(1);
    expect(dotdot.stderr).toContain("is outside of");
    expect(existsSync(join(up, mark)) || existsSync(`/${mark}`) || existsSync(`/tmp/${mark}`)).toBe(false);
    // An absolute name counts from the extraction directory, as in moby.
    expect((await put([{ name: `/abs-${mark}`, data: "x" }])).code).toBe(0);
    expect(readFileSync(join(up, "tmp", `abs-${mark}`), "utf8")).toBe("x");
    // A symlink to "/" then a member through it: resolved inside the container's root.
    expect((await put([{ name: "root", type: "2", linkname: "/" }, { name: `root/etc/${mark}`, data: "y" }])).code).toBe(0);
    expect(readFileSync(join(up, "etc", mark), "utf8")).toBe("y");
    expect(existsSync(`/etc/${mark}`)).toBe(false);
    // A relative symlink climbing out of the target, a hardlink to a path outside it: refused (moby's breakout checks).
    const climb = await put([{ name: "up", type: "2", linkname: "../../../../../../" }]);
    expect(climb).toMatchObject({ code: 1 });
    expect(climb.stderr).toContain("invalid symlink");
    const hard = await put([{ name: "h", type: "1", linkname: "../../etc/passwd" }]);
    expect(hard.code).toBe(1);
    expect(lstatSync("/etc/passwd").nlink).toBe(1);
    expect((await put([{ name: "h2", type: "1", linkname: "/etc/passwd" }])).code).toBe(1);
    // A NUL byte in a name (pax path): refused.
    const nul = await put([{ name: "ok", pax: { path: "a\0b" }, data: "z" }]);
    expect(nul.code).toBe(1);
    expect(nul.stderr).toContain("NUL");
    // Device nodes: made in the container's own root (nodev overlay, devices cgroup), refused in a volume the host can reach.
    expect((await put([{ name: `null-${mark}`, type: "3", devmajor: 1, devminor: 3, mode: 0o666 }])).code).toBe(0);
    expect(lstatSync(join(up, "tmp", `null-${mark}`)).isCharacterDevice()).toBe(true);
    const dev = await put([{ name: "sda", type: "4", devmajor: 8, devminor: 0, mode: 0o666 }], "/vol");
    expect(dev.code).toBe(1);
    expect(dev.stderr).toContain("refusing to create device node");
    expect(readdirSync(join(b.dataRoot, "volumes", "cp-devvol", "_data"))).toEqual([]);
    // `.wh.` names are plain files here, not whiteouts.
    expect((await put([{ name: ".wh.passwd", data: "w" }], "/etc")).code).toBe(0);
    expect(readFileSync(join(up, "etc/.wh.passwd"), "utf8")).toBe("w");
    await b.ok(["rm", "-v", id]);
  });

  test("a component swapped for a symlink to a host path while copying into a running container never leads out", async () => {
    const host = join(work, "swap-target");
    mkdirSync(host);
    const id = (await b.ok(["run", "--network", "none", "-d", busybox, "sh", "-c", `mkdir -p /data; while true; do rm -rf /data/d; mkdir /data/d; rm -rf /data/d; ln -s ${host} /data/d; done`])).trim();
    const src = join(work, "swap-src");
    mkdirSync(join(src, "x/y"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(src, "x/y", `f${i}`), "data");
    // Each copy races the loop: some land in the container's /data/d, some fail; none may reach the host.
    for (let i = 0; i < 15; i++) await b.run(["cp", join(src, "x"), `${id}:/data/d/`]);
    expect(readdirSync(host)).toEqual([]);
    await b.ok(["rm", "-f", id]);
  });
});

describe.skipIf(!root)("progress", () => {
  test("on a terminal: docker's progress and `Successfully copied <tar bytes> to <dest>`; -q silences it", async () => {
    const id = (await b.ok(["create", "--network", "none", "--name", "cp-progress", busybox])).trim();
    const dest = join(work, "progress-out");
    const viaTty = async (args: string[]) => {
      const cmd = [(await import("../helpers/bunker.ts")).BUNKER, ...(await b.prefix()), ...args].map((a) => `'${a}'`).join(" ");
      const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
      return { out, code };
    };
    // A 6-byte file travels as a 2048-byte tar (header, one block, the end blocks), which docker reports.
    const six = join(work, "six");
    writeFileSync(six, "hello\n");
    await b.ok(["cp", six, `${id}:/etc/hostname`]);
    const r = await viaTty(["cp", `${id}:/etc/hostname`, dest]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Copying from container - ");
    expect(r.out).toContain(`Successfully copied 2.05kB to ${dest}\r\n`);
    const into = await viaTty(["cp", six, `${id}:/tmp/`]);
    expect(into.out).toContain(`Successfully copied 2.05kB to ${id}:/tmp/\r\n`);
    const quiet = await viaTty(["cp", "-q", `${id}:/etc/hostname`, dest]);
    expect(quiet).toEqual({ out: "", code: 0 });
    await b.ok(["rm", id]);
  });
});
