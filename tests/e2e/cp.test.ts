/**
 * `bunker cp` through the compiled CLI, as root, with real containers (in-process, or through `bunker serve`
 * with BUNKER_E2E_MODE=daemon): a tree with modes, owners, xattrs, symlinks, hardlinks and a fifo copied into
 * stopped and running containers and back out, compared file by file with the tree and with GNU tar's
 * reading of `cp ... -`; Docker's path rules (dest exists or not, trailing "/", "/.", file onto dir, dir onto
 * file); -a (the container user's ids), -L; volumes, bind mounts, read-only mounts and --read-only; Docker's
 * errors; and escape attempts: container symlinks to host paths, hostile tars on stdin (../, absolute names,
 * symlink then write through it, hardlinks out, device nodes in a volume, NUL names), a symlink swapped
 * while copying into a running container.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, lutimesSync } from "node:fs";
import { join } from "node:path";
import { bunkerAt, freshDataRoot, tempDir, DAEMON_MODE } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
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
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  busybox = `${reg.host}/busybox`;
  await b.ok(["pull", "-q", busybox]);
  work = tempDir("bunker-cp-");
  tree = join(work, "tree");
  mkdirSync(tree);
  makeTree(tree);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", "-v", ...ids.split("\n")]);
  await reg?.stop();
});

describe.skipIf(!root)("cp round trips", () => {
  for (const state of ["stopped", "running"] as const) {
    test(`a tree into a ${state} container and back out, file by file as the tree and as GNU tar reads cp's stream`, async () => {
      const id = (await b.ok(state === "running" ? ["run", "-d", busybox, "sleep", "600"] : ["create", busybox])).trim();
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
