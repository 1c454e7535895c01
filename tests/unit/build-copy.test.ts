/**
 * COPY/ADD's file work on real files (as root, so owners and modes are checked): destination rules, modes,
 * owners, links, --chown/--chmod/--parents/--exclude, heredocs, ADD's archives and URLs, checksums, and the
 * hostile cases that must write nothing outside the root nor read anything outside the context.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuildContext, SourceNotFoundError } from "../../src/engine/build/context.ts";
import { copyChecksum, copyInto, type CopyStep } from "../../src/engine/build/copy.ts";
import { resolveMetaArgs, StageState } from "../../src/engine/build/dispatch.ts";
import { planDockerfile } from "../../src/engine/build/dockerfile/instructions.ts";
import { Dockerignore, readDockerignore } from "../../src/engine/build/dockerignore.ts";

const tmp = mkdtempSync(join(tmpdir(), "bunker-copy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => {
  const d = join(tmp, `${what}${n++}`);
  mkdirSync(d);
  return d;
};

type Spec = string | { link: string } | { dir: true } | { data: string; mode?: number; mtime?: number };
/** A directory with `files` (parents made 0755); returns its path. */
function tree(files: Record<string, Spec>, into = fresh("t")): string {
  for (const [p, v] of Object.entries(files)) {
    const at = join(into, p);
    mkdirSync(join(at, ".."), { recursive: true });
    if (typeof v === "string") writeFileSync(at, v);
    else if ("link" in v) symlinkSync(v.link, at);
    else if ("dir" in v) mkdirSync(at, { recursive: true });
    else {
      writeFileSync(at, v.data);
      if (v.mode !== undefined) chmodSync(at, v.mode);
      if (v.mtime !== undefined) utimesSync(at, v.mtime, v.mtime);
    }
  }
  return into;
}
const context = (files: Record<string, Spec>, ignore = "") => new BuildContext(tree(files), new Dockerignore(readDockerignore(ignore)));

/** The one COPY/ADD step of `line` in a stage with WORKDIR `workdir` (the dispatcher's expansion applied). */
function step(line: string, workdir = "/", env = ""): CopyStep {
  const plan = planDockerfile(`FROM scratch\n${env}WORKDIR ${workdir}\n${line}\n`);
  const state = new StageState(null, new Map(), resolveMetaArgs(plan.metaArgs, new Map(), new Map()), plan.escapeToken);
  let last = null;
  for (const ins of plan.stages[0]!.instructions) last = state.dispatch(ins) ?? last;
  if (last?.kind !== "copy") throw new Error("not a copy step");
  return last;
}

const mode = (p: string) => lstatSync(p).mode & 0o7777;
const owner = (p: string) => `${lstatSync(p).uid}:${lstatSync(p).gid}`;
const read = (p: string) => readFileSync(p, "utf8");
const run = (root: string, line: string, ctx: BuildContext | { root: string }, workdir = "/", env = "") =>
  copyInto(root, step(line, workdir, env), ctx instanceof BuildContext ? { context: ctx } : ctx, { workdir });
/** Everything below `dir` (sorted relative paths), to prove nothing else was written. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (lstatSync(join(dir, r)).isDirectory()) visit(r);
    }
  };
  visit("");
  return out;
}

describe("COPY: destinations", () => {
  test("a file to a path, to a dir/ (made 0755), and relative to WORKDIR", async () => {
    const ctx = context({ "a.txt": { data: "A", mode: 0o640, mtime: 1_000_000 } });
    const root = fresh("r");
    await run(root, "COPY a.txt /x/y/file", ctx);
    expect(read(join(root, "x/y/file"))).toBe("A");
    expect(mode(join(root, "x/y/file"))).toBe(0o640);
    expect(statSync(join(root, "x/y/file")).mtimeMs).toBe(1_000_000_000);
    expect(mode(join(root, "x"))).toBe(0o755);
    expect(mode(join(root, "x/y"))).toBe(0o755);
    await run(root, "COPY a.txt /d/", ctx);
    expect(read(join(root, "d/a.txt"))).toBe("A");
    await run(root, "COPY a.txt rel/", ctx, "/work");
    expect(read(join(root, "work/rel/a.txt"))).toBe("A");
    await run(root, "COPY a.txt .", ctx, "/work");
    expect(read(join(root, "work/a.txt"))).toBe("A");
  });

  test("a file onto an existing directory lands inside it; onto a file replaces it", async () => {
    const ctx = context({ "a.txt": "new" });
    const root = tree({ "exists/keep": "k", "file": "old" });
    await run(root, "COPY a.txt /exists", ctx);
    expect(read(join(root, "exists/a.txt"))).toBe("new");
    await run(root, "COPY a.txt /file", ctx);
    expect(read(join(root, "file"))).toBe("new");
  });

  test("a directory copies its contents, keeping modes, mtimes, symlinks as links and hardlinks", async () => {
    const dir = tree({ "src/f": { data: "f", mode: 0o600, mtime: 2_000_000 }, "src/sub/g": { data: "g", mode: 0o755 }, "src/link": { link: "/etc" }, "src/rel": { link: "sub/g" } });
    linkSync(join(dir, "src/f"), join(dir, "src/hard"));
    chmodSync(join(dir, "src/sub"), 0o750);
    const ctx = new BuildContext(dir);
    const root = fresh("r");
    await run(root, "COPY src /out", ctx);
    expect(listing(join(root, "out"))).toEqual(["f", "hard", "link", "rel", "sub", "sub/g"]);
    expect(mode(join(root, "out/f"))).toBe(0o600);
    expect(mode(join(root, "out/sub"))).toBe(0o750);
    expect(mode(join(root, "out/sub/g"))).toBe(0o755);
    expect(statSync(join(root, "out/f")).mtimeMs).toBe(2_000_000_000);
    expect(readlinkSync(join(root, "out/link"))).toBe("/etc");
    expect(readlinkSync(join(root, "out/rel"))).toBe("sub/g");
    expect(statSync(join(root, "out/hard")).ino).toBe(statSync(join(root, "out/f")).ino);
    // A made top directory is 0755, not the source's mode.
    expect(mode(join(root, "out"))).toBe(0o755);
  });

  test("context files are 0:0; a stage's files keep their owners", async () => {
    const dir = tree({ "f": "f", "d/g": "g" });
    Bun.spawnSync(["chown", "-R", "1234:4321", dir]);
    const root = fresh("r");
    await run(root, "COPY . /ctx/", new BuildContext(dir));
    expect(owner(join(root, "ctx/f"))).toBe("0:0");
    expect(owner(join(root, "ctx/d/g"))).toBe("0:0");
    await run(root, "COPY --from=stage / /stage/", { root: dir });
    expect(owner(join(root, "stage/f"))).toBe("1234:4321");
    expect(owner(join(root, "stage/d"))).toBe("1234:4321");
  });

  test("several sources and wildcards; a wildcard matching nothing copies nothing; a missing path is BuildKit's error", async () => {
    const ctx = context({ "a.txt": "a", "b.txt": "b", "c.md": "c" });
    const root = fresh("r");
    await run(root, "COPY a.txt c.md /many/", ctx);
    expect(listing(join(root, "many"))).toEqual(["a.txt", "c.md"]);
    await run(root, "COPY *.txt /glob/", ctx);
    expect(listing(join(root, "glob"))).toEqual(["a.txt", "b.txt"]);
    await run(root, "COPY *.none /empty/", ctx);
    expect(existsSync(join(root, "empty"))).toBe(false); // BuildKit returns before making the destination
    await expect(run(root, "COPY nope.txt /x/", ctx)).rejects.toThrow(new SourceNotFoundError("/nope.txt"));
  });

  test(".dockerignore applies below copied directories", async () => {
    const ctx = context({ "d/keep": "k", "d/secret.key": "s", "d/logs/a.log": "l" }, "**/*.key\nd/logs\n");
    const root = fresh("r");
    await run(root, "COPY d /d", ctx);
    expect(listing(join(root, "d"))).toEqual(["keep"]);
  });
});

describe("COPY: --chown and --chmod", () => {
  const passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
  const group = "root:x:0:\napp:x:1001:\nstaff:x:50:\n";

  test("numeric ids, names from the destination's /etc/passwd and /etc/group, user only means the user's group", async () => {
    const ctx = context({ "d/f": "f" });
    const root = tree({ "etc/passwd": passwd, "etc/group": group });
    await run(root, "COPY --chown=7:8 d /n", ctx);
    expect(owner(join(root, "n/f"))).toBe("7:8");
    await run(root, "COPY --chown=9 d/f /n9", ctx);
    expect(owner(join(root, "n9"))).toBe("9:9");
    await run(root, "COPY --chown=app d /named/sub/", ctx);
    expect(owner(join(root, "named/sub/f"))).toBe("1000:1001");
    // Parents the copy makes belong to --chown too (fsutil's MkdirAll with the chowner).
    expect(owner(join(root, "named"))).toBe("1000:1001");
    await run(root, "COPY --chown=app:staff d/f /g", ctx);
    expect(owner(join(root, "g"))).toBe("1000:50");
    await run(root, "COPY --chown=root:staff d/f /h", ctx);
    expect(owner(join(root, "h"))).toBe("0:50");
    await expect(run(root, "COPY --chown=nobody d/f /x", ctx)).rejects.toThrow("unable to find user nobody: no matching entries in passwd file");
    await expect(run(root, "COPY --chown=app:nogroup d/f /x", ctx)).rejects.toThrow("unable to find group nogroup: no matching entries in group file");
    expect(existsSync(join(root, "x"))).toBe(false);
  });

  test("names are read inside the destination root: a symlinked /etc/passwd pointing at the host's is resolved in the root", async () => {
    const ctx = context({ f: "f" });
    const root = tree({ "etc/passwd": { link: "/etc/../../../etc/shadow-like" }, "etc/shadow-like": "ghost:x:4242:4242::/:/bin/sh\n" });
    await run(root, "COPY --chown=ghost f /f", ctx);
    expect(owner(join(root, "f"))).toBe("4242:4242");
    // The host's root user is not known to a root without passwd entries.
    const bare = tree({ "etc/passwd": { link: "/etc/passwd" } });
    await expect(run(bare, "COPY --chown=daemon f /f", ctx)).rejects.toThrow("unable to find user daemon");
  });

  test("--chmod octal (setuid too) and symbolic; parents made with the octal mode", async () => {
    const ctx = context({ "d/f": { data: "f", mode: 0o600 }, "d/x": { data: "x", mode: 0o700 }, "d/sub/g": { data: "g", mode: 0o644 } });
    const root = fresh("r");
    await run(root, "COPY --chmod=4755 d/f /oct/f", ctx);
    expect(mode(join(root, "oct/f"))).toBe(0o4755);
    expect(mode(join(root, "oct"))).toBe(0o4755 & 0o7777);
    // setmode(3): X only counts with "+" (directories, or files some x bit is set on).
    await run(root, "COPY --chmod=a=r,u+w,a+X d /sym", ctx);
    expect(mode(join(root, "sym/f"))).toBe(0o644);
    expect(mode(join(root, "sym/x"))).toBe(0o755);
    expect(mode(join(root, "sym/sub"))).toBe(0o755);
    expect(mode(join(root, "sym/sub/g"))).toBe(0o644);
    await run(root, "COPY --chmod=g+w,o-r d/sub/g /plus", ctx);
    expect(mode(join(root, "plus"))).toBe(0o660);
    await expect(run(root, "COPY --chmod=999 d/f /bad", ctx)).rejects.toThrow("invalid chmod parameter: '999'. it should be octal string and between 0 and 07777");
    await expect(run(root, "COPY --chmod=17777 d/f /bad", ctx)).rejects.toThrow("invalid chmod parameter");
    await expect(run(root, "COPY --chmod=u*x d/f /bad", ctx)).rejects.toThrow("invalid syntax");
  });

  test("--link with a --chown name is refused (no /etc/passwd in a linked layer); ids work", async () => {
    const ctx = context({ f: "f" });
    const root = fresh("r");
    await expect(run(root, "COPY --link=true --chown=app f /f", ctx)).rejects.toThrow("use numeric IDs");
    await run(root, "COPY --link=true --chown=5:6 f /f", ctx);
    expect(owner(join(root, "f"))).toBe("5:6");
  });
});

describe("COPY: hostile paths", () => {
  test("a context symlink to /etc is copied as a link, a source through it stays in the context", async () => {
    const ctx = context({ "d/etc": { link: "/etc" }, "up": { link: "../../../../.." } });
    const root = fresh("r");
    await run(root, "COPY d /d", ctx);
    expect(readlinkSync(join(root, "d/etc"))).toBe("/etc");
    expect(lstatSync(join(root, "d/etc")).isSymbolicLink()).toBe(true);
    // Resolving d/etc/passwd starts again at the context's root: there is no /etc/passwd in the context.
    await expect(run(root, "COPY d/etc/passwd /p", ctx)).rejects.toThrow(SourceNotFoundError);
    await expect(run(root, "COPY ../../etc/passwd /p", ctx)).rejects.toThrow('"/etc/passwd": not found');
    await expect(run(root, "COPY up/etc/passwd /p", ctx)).rejects.toThrow(SourceNotFoundError);
    expect(existsSync(join(root, "p"))).toBe(false);
  });

  test("a destination whose parent is a symlink to / writes inside the root", async () => {
    const ctx = context({ "evil.txt": "x", "d/f": "y" });
    const outside = fresh("outside");
    const root = tree({ "escape": { link: "/" }, "esc2": { link: `../../../../../../../..${outside}` }, "dots": { link: "../../../../.." } });
    await run(root, "COPY evil.txt /escape/tmp/evil.txt", ctx);
    expect(read(join(root, "tmp/evil.txt"))).toBe("x");
    expect(existsSync("/tmp/evil.txt")).toBe(false);
    await run(root, "COPY d /esc2/", ctx);
    await run(root, "COPY evil.txt /dots/", ctx);
    expect(readdirSync(outside)).toEqual([]);
    expect(read(join(root, outside, "f"))).toBe("y");
    expect(read(join(root, "evil.txt"))).toBe("x");
  });

  test("a stage root's symlinks are copied as links and its sources resolved inside it", async () => {
    const stage = tree({ "app/bin": "b", "app/etc": { link: "/etc" }, "lnk": { link: "/etc/hostname" } });
    const root = fresh("r");
    await run(root, "COPY --from=s /app /app", { root: stage });
    expect(readlinkSync(join(root, "app/etc"))).toBe("/etc");
    await expect(run(root, "COPY --from=s /lnk /x", { root: stage })).rejects.toThrow(SourceNotFoundError);
    await expect(run(root, "COPY --from=s /../../etc/passwd /x", { root: stage })).rejects.toThrow(SourceNotFoundError);
  });
});
