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
import { tar } from "../helpers/tar-writer.ts";

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
  copyInto(root, step(line, workdir, env), ctx instanceof BuildContext ? { context: ctx } : ctx);
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
    chmodSync(join(root, "exists"), 0o700);
    Bun.spawnSync(["chown", "5:5", join(root, "exists")]);
    await run(root, "COPY a.txt /exists", ctx);
    expect(read(join(root, "exists/a.txt"))).toBe("new");
    // An existing top directory keeps its mode and owner, for a directory source too.
    await run(root, "COPY . /exists/", ctx);
    expect(mode(join(root, "exists"))).toBe(0o700);
    expect(owner(join(root, "exists"))).toBe("5:5");
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
    // Several sources need a directory: one ending in "/", or one that exists (WORKDIR's "." too).
    await expect(run(root, "COPY a.txt c.md /one", ctx)).rejects.toThrow("When using COPY with more than one source file, the destination must be a directory and end with a /");
    await expect(run(root, "COPY *.txt /one", ctx)).rejects.toThrow("the destination must be a directory");
    expect(existsSync(join(root, "one"))).toBe(false);
    await run(root, "COPY *.txt /many", ctx);
    await run(root, "COPY *.txt .", ctx, "/many");
    expect(listing(join(root, "many"))).toEqual(["a.txt", "b.txt", "c.md"]);
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
    await expect(run(root, "COPY --link --chown=app f /f", ctx)).rejects.toThrow("use numeric IDs");
    await run(root, "COPY --link --chown=5:6 f /f", ctx);
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

  test("symlinks already in the root where files land: replaced or resolved in the root, the host's files untouched", async () => {
    const outside = fresh("outside");
    writeFileSync(join(outside, "victim"), "host");
    const ctx = context({ "f": "new", "d/victim": "new" });
    const root = tree({ "last": { link: join(outside, "victim") }, "d/victim": { link: join(outside, "victim") } });
    // The destination itself is a link: followed inside the root, so the file is made at root/<outside>/victim.
    await run(root, "COPY f /last", ctx);
    expect(read(join(root, outside, "victim"))).toBe("new");
    // A link below a copied directory is replaced by the file, never written through.
    await run(root, "COPY d /d", ctx);
    expect(lstatSync(join(root, "d/victim")).isFile()).toBe(true);
    expect(read(join(outside, "victim"))).toBe("host");
  });

  test("a stage root's symlinks are copied as links and its sources resolved inside it", async () => {
    const stage = tree({ "app/bin": "b", "app/etc": { link: "/etc" }, "lnk": { link: "/etc/hostname" }, "inner": { link: "../../app/bin" } });
    const root = fresh("r");
    await run(root, "COPY --from=s /app /app", { root: stage });
    expect(readlinkSync(join(root, "app/etc"))).toBe("/etc");
    await expect(run(root, "COPY --from=s /lnk /x", { root: stage })).rejects.toThrow(SourceNotFoundError);
    // A source that is a link is followed, inside the stage's root.
    await run(root, "COPY --from=s /inner /y", { root: stage });
    expect(read(join(root, "y"))).toBe("b");
    await expect(run(root, "COPY --from=s /../../etc/passwd /x", { root: stage })).rejects.toThrow(SourceNotFoundError);
  });
});

describe("COPY: heredocs, --parents, --exclude", () => {
  test("heredocs: 0644 files named after the delimiter in a dir dest, variables expanded unless quoted, <<- drops tabs", async () => {
    const root = fresh("r");
    const ctx = context({});
    await run(root, 'COPY <<EOF /etc/greeting\nhello $NAME "q"\nEOF', ctx, "/", "ENV NAME=world\n");
    expect(read(join(root, "etc/greeting"))).toBe('hello world "q"\n');
    expect(mode(join(root, "etc/greeting"))).toBe(0o644);
    expect(owner(join(root, "etc/greeting"))).toBe("0:0");
    await run(root, "COPY <<'EOF' <<-TABS /docs/\nraw $NAME\nEOF\n\t\tindented\n\tTABS", ctx, "/", "ENV NAME=world\n");
    expect(read(join(root, "docs/EOF"))).toBe("raw $NAME\n");
    expect(read(join(root, "docs/TABS"))).toBe("indented\n");
    await run(root, "COPY --chmod=755 --chown=3:4 <<EOF /bin/run.sh\n#!/bin/sh\nEOF", ctx);
    expect(mode(join(root, "bin/run.sh"))).toBe(0o755);
    expect(owner(join(root, "bin/run.sh"))).toBe("3:4");
  });

  test("--parents keeps the source's parent directories, from the root or from a /./ pivot", async () => {
    const ctx = context({ "x/a.txt": "a", "x/sub/b.txt": "b", "y/c.txt": "c", "y/d.md": "d", "x/sub/deeper/e.txt": "e" });
    const root = fresh("r");
    await run(root, "COPY --parents x/a.txt y/c.txt /dst/", ctx);
    expect(listing(join(root, "dst"))).toEqual(["x", "x/a.txt", "y", "y/c.txt"]);
    await run(root, "COPY --parents ./x/./sub/b.txt /piv/", ctx);
    expect(listing(join(root, "piv"))).toEqual(["sub", "sub/b.txt"]);
    await run(root, "COPY --parents */*.txt /glob/", ctx);
    expect(listing(join(root, "glob"))).toEqual(["x", "x/a.txt", "y", "y/c.txt"]);
    await run(root, "COPY --parents x/sub /whole/", ctx);
    expect(listing(join(root, "whole"))).toEqual(["x", "x/sub", "x/sub/b.txt", "x/sub/deeper", "x/sub/deeper/e.txt"]);
    await expect(run(root, "COPY --parents x/none.txt /dst/", ctx)).rejects.toThrow('"/x/none.txt": not found');
  });

  test("--exclude patterns are matched below each source", async () => {
    const ctx = context({ "d/a.txt": "a", "d/b.log": "b", "d/sub/c.log": "c", "d/sub/keep.log": "k", "d/cache/x": "x" });
    const root = fresh("r");
    await run(root, "COPY --exclude=*.log --exclude=cache d /d", ctx);
    // patternmatcher: "*" does not cross "/", so only the top b.log goes.
    expect(listing(join(root, "d"))).toEqual(["a.txt", "sub", "sub/c.log", "sub/keep.log"]);
    await run(root, "COPY --exclude=**/*.log --exclude=!sub/keep.log d /e", ctx);
    expect(listing(join(root, "e"))).toEqual(["a.txt", "cache", "cache/x", "sub", "sub/keep.log"]);
  });

  test("a directory onto a file and a file onto a directory are BuildKit's errors", async () => {
    const ctx = context({ "d/f": "f", "f": "f" });
    const root = tree({ "file": "x", "dir/f/inner": "i" });
    await expect(run(root, "COPY d /file", ctx)).rejects.toThrow("cannot copy to non-directory: /file");
    await expect(run(root, "COPY d /dir", ctx)).rejects.toThrow("cannot replace to directory /dir/f with file");
  });

  test("an aborted signal stops the copy", async () => {
    const ctx = context({ "d/a": "a", "d/b": "b" });
    const ac = new AbortController();
    ac.abort(new Error("cancelled"));
    await expect(copyInto(fresh("r"), step("COPY d /d"), { context: ctx }, { signal: ac.signal })).rejects.toThrow("cancelled");
  });
});

describe("ADD", () => {
  const members = [
    { name: "pkg/", type: "5", mode: 0o750, uid: 11, gid: 12 },
    { name: "pkg/bin", data: "#!", mode: 0o755, uid: 11, gid: 12, mtime: 1_234_567 },
    { name: "pkg/link", type: "2", linkname: "/usr/bin/env" },
  ];
  const archive = tar(members);

  test("local tar archives (plain, gzip, bzip2, xz) are extracted into the destination; owners from the archive or --chown", async () => {
    const dir = fresh("c");
    writeFileSync(join(dir, "p.tar"), archive);
    writeFileSync(join(dir, "p.tar.gz"), Bun.gzipSync(new Uint8Array(archive)));
    for (const [tool, ext] of [["bzip2", "bz2"], ["xz", "xz"]] as const) {
      const r = Bun.spawnSync([tool, "-c"], { stdin: archive });
      expect(r.exitCode).toBe(0);
      writeFileSync(join(dir, `p.tar.${ext}`), r.stdout);
    }
    writeFileSync(join(dir, "notar.gz"), Bun.gzipSync(new TextEncoder().encode("just text")));
    const ctx = new BuildContext(dir);
    for (const f of ["p.tar", "p.tar.gz", "p.tar.bz2", "p.tar.xz"]) {
      const root = fresh("r");
      await run(root, `ADD ${f} /opt`, ctx);
      expect(listing(join(root, "opt"))).toEqual(["pkg", "pkg/bin", "pkg/link"]);
      expect(read(join(root, "opt/pkg/bin"))).toBe("#!");
      expect(mode(join(root, "opt/pkg"))).toBe(0o750);
      expect(owner(join(root, "opt/pkg/bin"))).toBe("11:12");
      expect(statSync(join(root, "opt/pkg/bin")).mtimeMs).toBe(1_234_567_000);
      expect(readlinkSync(join(root, "opt/pkg/link"))).toBe("/usr/bin/env");
    }
    const root = fresh("r");
    await run(root, "ADD --chown=5:6 p.tar.gz /o/", ctx);
    expect(owner(join(root, "o/pkg/bin"))).toBe("5:6");
    // Not an archive (a gzip of text): copied as it is. COPY and --unpack=false never extract.
    await run(root, "ADD notar.gz /n/", ctx);
    expect(readFileSync(join(root, "n/notar.gz"))).toEqual(readFileSync(join(dir, "notar.gz")));
    await run(root, "COPY p.tar /c/", ctx);
    expect(readFileSync(join(root, "c/p.tar"))).toEqual(Buffer.from(archive));
    await run(root, "ADD --unpack=false p.tar /u/", ctx);
    expect(listing(join(root, "u"))).toEqual(["p.tar"]);
  });

  test("hostile archives write nothing outside the root: ../ entries and paths through absolute symlinks", async () => {
    const outside = fresh("outside");
    const dir = fresh("c");
    writeFileSync(join(dir, "dots.tar"), tar([{ name: "../../../../../../../../../../.." + outside + "/pwned", data: "x" }]));
    writeFileSync(join(dir, "abs.tar"), tar([{ name: "esc", type: "2", linkname: outside }, { name: "esc/pwned", data: "x" }]));
    writeFileSync(join(dir, "root.tar"), tar([{ name: "up", type: "2", linkname: "/" }, { name: "up" + outside + "/pwned", data: "x" }]));
    const ctx = new BuildContext(dir);
    const r1 = fresh("r");
    await expect(run(r1, "ADD dots.tar /x/", ctx)).rejects.toThrow("is outside of");
    // Through the absolute link the path is looked up in the root, where that directory does not exist.
    const r2 = fresh("r");
    await expect(run(r2, "ADD abs.tar /x/", ctx)).rejects.toThrow();
    expect(readlinkSync(join(r2, "x/esc"))).toBe(outside);
    // A link to "/" is the root itself: the member lands inside it.
    const r3 = fresh("r");
    await run(r3, "ADD root.tar /x/", ctx);
    expect(read(join(r3, outside, "pwned"))).toBe("x");
    // A destination whose parent is a symlink to / is resolved in the root too.
    const r4 = tree({ "evil": { link: "/" } });
    await run(r4, "ADD root.tar /evil/tmp/", ctx);
    expect(readlinkSync(join(r4, "tmp/up"))).toBe("/");
    expect(read(join(r4, outside, "pwned"))).toBe("x");
    expect(readdirSync(outside)).toEqual([]);
  });

  describe("URLs", () => {
    const body = "downloaded content\n";
    const sha = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    let hits = 0;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        hits++;
        const path = new URL(req.url).pathname;
        if (path === "/files/tool.tar") return new Response(archive);
        if (path === "/missing") return new Response("no", { status: 404 });
        return new Response(body, { headers: { "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" } });
      },
    });
    afterAll(() => server.stop(true));
    const base = `http://127.0.0.1:${server.port}`;

    test("downloaded 0600 with Last-Modified as mtime, named after the URL, never extracted", async () => {
      const root = fresh("r");
      await run(root, `ADD ${base}/files/data.txt /dl/`, context({}));
      expect(read(join(root, "dl/data.txt"))).toBe(body);
      expect(mode(join(root, "dl/data.txt"))).toBe(0o600);
      expect(owner(join(root, "dl/data.txt"))).toBe("0:0");
      expect(statSync(join(root, "dl/data.txt")).mtimeMs).toBe(Date.parse("2015-10-21T07:28:00Z"));
      await run(root, `ADD --chmod=644 ${base}/files/data.txt /named`, context({}));
      expect(read(join(root, "named"))).toBe(body);
      expect(mode(join(root, "named"))).toBe(0o644);
      await run(root, `ADD ${base}/files/tool.tar /t/`, context({}));
      expect(listing(join(root, "t"))).toEqual(["tool.tar"]);
      await run(root, `ADD --unpack=true ${base}/files/tool.tar /tu/`, context({}));
      expect(listing(join(root, "tu"))).toEqual(["pkg", "pkg/bin", "pkg/link"]);
    });

    test("--checksum is verified; a mismatch and a bad status are BuildKit's errors", async () => {
      const root = fresh("r");
      await run(root, `ADD --checksum=sha256:${sha} ${base}/f.txt /ok`, context({}));
      expect(read(join(root, "ok"))).toBe(body);
      const sha512 = new Bun.CryptoHasher("sha512").update(body).digest("hex");
      await run(root, `ADD --checksum=sha512:${sha512} ${base}/f.txt /ok512`, context({}));
      expect(read(join(root, "ok512"))).toBe(body);
      const wrong = `sha256:${"0".repeat(64)}`;
      await expect(run(root, `ADD --checksum=${wrong} ${base}/f.txt /bad`, context({}))).rejects.toThrow(`digest mismatch for ${base}/f.txt: sha256:${sha} (expected: ${wrong})`);
      expect(existsSync(join(root, "bad"))).toBe(false);
      await expect(run(root, `ADD --checksum=sha256:abc ${base}/f.txt /bad`, context({}))).rejects.toThrow("invalid checksum digest length");
      await expect(run(root, `ADD ${base}/missing /bad`, context({}))).rejects.toThrow("invalid response status 404");
      await expect(run(root, "ADD --checksum=sha256:abc local.txt /bad", context({ "local.txt": "" }))).rejects.toThrow("checksum requires HTTP(S) or Git sources");
      await expect(run(root, `COPY ${base}/f.txt /bad`, context({}))).rejects.toThrow("source can't be a URL for COPY");
    });

    test("git sources and --keep-git-dir are refused", async () => {
      const root = fresh("r");
      await expect(run(root, "ADD https://github.com/moby/buildkit.git /src", context({}))).rejects.toThrow("git sources are not supported");
      await expect(run(root, "ADD git@github.com:moby/buildkit.git /src", context({}))).rejects.toThrow("git sources are not supported");
      await expect(run(root, "ADD --keep-git-dir=true a /src", context({ a: "" }))).rejects.toThrow("--keep-git-dir");
      expect(listing(root)).toEqual([]);
    });

    test("the checksum of a URL source is its content's; copyInto then writes that very download", async () => {
      const s = step(`ADD ${base}/files/data.txt /dl/`);
      const before = hits;
      const a = await copyChecksum(s, { context: context({}) });
      const root = fresh("r");
      await copyInto(root, s, { context: context({}) });
      expect(hits).toBe(before + 1);
      expect(await copyChecksum(s, { context: context({}) })).toBe(a);
      const pinned = step(`ADD --checksum=sha256:${sha} ${base}/files/data.txt /dl/`);
      const h = hits;
      await copyChecksum(pinned, { context: context({}) });
      expect(hits).toBe(h); // a pinned checksum needs no download
    });
  });
});

describe("copyChecksum", () => {
  const sum = (ctx: BuildContext, line = "COPY . /app/") => copyChecksum(step(line), { context: ctx });

  test("equal for equal content; changes with a copied file's content, mode or name; not with ignored files or mtimes", async () => {
    const files = { "a.txt": "a", "d/b.txt": "b", "skip.log": "s" };
    const c1 = context(files, "*.log");
    const c2 = context(files, "*.log");
    const base = await sum(c1);
    expect(await sum(c2)).toBe(base);
    utimesSync(join(c2.root, "d/b.txt"), 5, 5);
    expect(await sum(c2)).toBe(base);
    writeFileSync(join(c2.root, "skip.log"), "changed");
    expect(await sum(c2)).toBe(base);
    writeFileSync(join(c2.root, "d/b.txt"), "B");
    expect(await sum(c2)).not.toBe(base);
    const c3 = context(files, "*.log");
    chmodSync(join(c3.root, "a.txt"), 0o700);
    expect(await sum(c3)).not.toBe(base);
    const c4 = context({ "a2.txt": "a", "d/b.txt": "b", "skip.log": "s" }, "*.log");
    expect(await sum(c4)).not.toBe(base);
  });

  test("only what a step reads: other files, --exclude'd files; a stage root's files and owners; heredoc text", async () => {
    const c1 = context({ "a.txt": "a", "other": "o", "d/x.log": "1" });
    const c2 = context({ "a.txt": "a", "other": "changed", "d/x.log": "2" });
    expect(await sum(c1, "COPY a.txt /")).toBe(await sum(c2, "COPY a.txt /"));
    expect(await sum(c1, "COPY --exclude=*.log d /d")).toBe(await sum(c2, "COPY --exclude=*.log d /d"));
    expect(await sum(c1, "COPY d /d")).not.toBe(await sum(c2, "COPY d /d"));
    const stage = tree({ "bin/x": "x" });
    const s = step("COPY --from=s /bin /bin");
    const before = await copyChecksum(s, { root: stage });
    Bun.spawnSync(["chown", "7:7", join(stage, "bin/x")]);
    expect(await copyChecksum(s, { root: stage })).not.toBe(before);
    expect(await sum(c1, "COPY <<EOF /f\none\nEOF")).not.toBe(await sum(c1, "COPY <<EOF /f\ntwo\nEOF"));
  });
});
