/**
 * `docker diff` from hand-built layers: lower dirs and an overlay upper dir with whiteouts (char 0:0,
 * mknod as root) and an opaque directory (trusted.overlay.opaque via sys().lsetxattr, root), checked
 * against the exact list moby's overlay walk produces.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { changeLetter, containerChanges } from "../../src/engine/containers/diff.ts";
import { makedev, S_IF, sys } from "../../src/sys/index.ts";

const root = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), "bunker-diff-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

const T_IMAGE = 1_700_000_000; // whole seconds, as layers unpacked from tar have
const T_NEW = 1_800_000_000.5;

/** A tree: "dir/" = directory, "file" = content, null = whiteout, { opaque: true } = opaque directory. */
type Tree = Record<string, string | null | { opaque: true }>;

function build(tree: Tree): string {
  const dir = join(base, `l${n++}`);
  mkdirSync(dir);
  const dirs: string[] = [];
  for (const [p, v] of Object.entries(tree)) {
    const full = join(dir, p);
    mkdirSync(dirname(full), { recursive: true });
    if (p.endsWith("/") || (v && typeof v === "object")) {
      mkdirSync(full, { recursive: true });
      if (v && typeof v === "object") sys().lsetxattr(full, "trusted.overlay.opaque", new TextEncoder().encode("y"));
      dirs.push(full);
    } else if (v === null) sys().mknod(full, S_IF.CHR | 0o000, makedev(0, 0));
    else writeFileSync(full, v);
  }
  return dir;
}

/** Gives every directory of a tree the image's mode and mtime, so unchanged copied-up dirs compare equal. */
function settle(dir: string, except: string[] = []) {
  const walk = (d: string, rel: string) => {
    for (const e of require("node:fs").readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        walk(p, `${rel}/${e.name}`);
        chmodSync(p, 0o755);
        if (!except.includes(`${rel}/${e.name}`)) utimesSync(p, T_IMAGE, T_IMAGE);
        else utimesSync(p, T_NEW, T_NEW);
      }
    }
  };
  walk(dir, "");
}

const show = (dir: string, lowers: string[]) => containerChanges(dir, lowers).map((c) => `${changeLetter(c.Kind)} ${c.Path}`);

test("added and modified, no whiteouts", () => {
  const lower = build({ "etc/passwd": "root", "etc/hosts": "h", "bin/sh": "sh", "usr/lib/": "" });
  const upper = build({ "etc/passwd": "root\nalice", "etc/new": "x", "root/.ash_history": "ls", "usr/lib/": "" });
  settle(lower);
  settle(upper, ["/etc"]);
  expect(show(upper, [lower])).toEqual(["C /etc", "A /etc/new", "C /etc/passwd", "A /root", "A /root/.ash_history"]);
  expect(containerChanges(upper, [lower])[0]).toEqual({ Path: "/etc", Kind: 0 });
  expect(containerChanges(upper, [lower])[1]).toEqual({ Path: "/etc/new", Kind: 1 });
});

test("a copied-up dir with the same metadata is reported only as the parent of a change", () => {
  const lower = build({ "a/b/c/old": "1" });
  const upper = build({ "a/b/c/new": "2" });
  settle(lower);
  settle(upper);
  expect(show(upper, [lower])).toEqual(["C /a/b/c", "A /a/b/c/new"]);
});

test("walk order is Go's: names in byte order, a directory before its contents", () => {
  const upper = build({ "a-b": "x", "a/z": "y", "B": "z", "é": "w", "a.b": "v" });
  settle(upper);
  expect(show(upper, [])).toEqual(["A /B", "A /a", "A /a/z", "A /a-b", "A /a.b", "A /é"]);
});

test("symlinks are compared as links, not followed", () => {
  const lower = build({ "usr/lib/x": "1" });
  symlinkSync("/nonexistent", join(lower, "lib"));
  const upper = build({});
  symlinkSync("usr/lib", join(upper, "lib"));
  symlinkSync("/etc/passwd", join(upper, "passwd-link"));
  settle(lower);
  settle(upper);
  expect(show(upper, [lower])).toEqual(["C /lib", "A /passwd-link"]);
});

describe.skipIf(!root)("whiteouts and opaque dirs (root)", () => {
  test("the exact list moby's overlay walk produces", () => {
    const lower1 = build({
      "etc/passwd": "root",
      "etc/hosts": "h",
      "bin/sh": "sh",
      "var/lib/x/old": "o",
      "usr/share/doc/a": "a",
    });
    const lower2 = build({ "etc/old.conf": "c", "opt/data/file": "f", "opt/data/keep": "k" });
    const upper = build({
      "etc/passwd": "root\nalice",
      "etc/new": "n",
      "etc/hosts": null,
      "opt/data/file": null,
      "tmp/a": "a",
      "usr/share/doc": null,
      "var/lib/x": { opaque: true },
      "var/lib/x/newer": "n",
      "var/lib/x/old": "recreated",
    });
    settle(lower1);
    settle(lower2);
    settle(upper, ["/etc", "/tmp"]);
    expect(show(upper, [lower1, lower2])).toEqual([
      "C /etc",
      "D /etc/hosts",
      "A /etc/new",
      "C /etc/passwd",
      "C /opt/data",
      "D /opt/data/file",
      "A /tmp",
      "A /tmp/a",
      "C /usr/share",
      "D /usr/share/doc",
      "C /var/lib",
      "D /var/lib/x",
      "A /var/lib/x/newer",
      "C /var/lib/x/old",
    ]);
    expect(containerChanges(upper, [lower1, lower2]).find((c) => c.Path === "/etc/hosts")).toEqual({ Path: "/etc/hosts", Kind: 2 });
  });

  test("a deleted directory at the top level has no parent line", () => {
    const lower = build({ "srv/www/index.html": "i" });
    const upper = build({ srv: null });
    expect(show(upper, [lower])).toEqual(["D /srv"]);
  });

  test("matches what a real overlay mount leaves in its upper dir", () => {
    const lower = build({ "etc/passwd": "root", "etc/hosts": "h", "var/cache/a": "a", "var/cache/b": "b", "srv/x": "x" });
    settle(lower);
    const upper = join(base, `u${n}`);
    const work = join(base, `w${n}`);
    const merged = join(base, `m${n++}`);
    for (const d of [upper, work, merged]) mkdirSync(d);
    const script = [
      `mount -t overlay overlay -o lowerdir=${lower},upperdir=${upper},workdir=${work} ${merged}`,
      `cd ${merged}`,
      "echo alice >> etc/passwd && rm etc/hosts && rm -rf var/cache && mkdir var/cache && echo n > var/cache/new && rm -r srv && mkdir tmp && touch tmp/t",
    ].join(" && ");
    // a private mount namespace: the mount goes away with it
    const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    expect(show(upper, [lower])).toEqual(["C /etc", "D /etc/hosts", "C /etc/passwd", "D /srv", "A /tmp", "A /tmp/t", "C /var", "D /var/cache", "A /var/cache/new"]);
  });
});
