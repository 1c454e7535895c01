/**
 * `bunker cp` measured (not a test; issue 13 sets no target for cp): a 100 MB tree (2,000 files of 50 kB in
 * 20 directories) copied into a stopped container, into a running one, and back out, interleaved with the
 * floor, GNU `tar -c | tar -x` of the same tree between two local directories. Prints medians, ratios and
 * peak RSS (cp streams: its memory must not grow with the tree).
 *
 *   bun scripts/bench/cp.ts [rounds]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, sh, timed } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-cp-"));
const dataRoot = join(work, "root");
const B = (...a: string[]) => [bunker, "--data-root", dataRoot, ...a];
const image = `${reg.host}/busybox`;
const ids: string[] = [];
try {
  const tree = join(work, "tree");
  const chunk = Buffer.alloc(50_000);
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), chunk.fill((d * 100 + f) & 0xff));
  }
  sh(B("pull", "-q", image));
  const stopped = sh(B("create", "--network", "none", image)).trim();
  const running = sh(B("run", "-d", "--network", "none", image, "sleep", "3600")).trim();
  ids.push(stopped, running);
  const out = join(work, "out");
  const floorDst = join(work, "floor");
  const fresh = (dir: string) => () => {
    rmSync(dir, { recursive: true, force: true });
  };
  await compare(
    "100 MB tree, 2,000 files",
    [
      { name: "tar -c | tar -x (floor)", prepare: () => (fresh(floorDst)(), mkdirSync(floorDst)), run: () => timed(["sh", "-c", `tar -C "$1" -cf - . | tar -C "$2" -xf -`, "sh", tree, floorDst]) },
      { name: "cp into stopped", run: () => timed(B("cp", tree, `${stopped}:/t${Math.random().toString(36).slice(2)}`)) },
      { name: "cp into running", run: () => timed(B("cp", tree, `${running}:/t${Math.random().toString(36).slice(2)}`)) },
    ],
    rounds,
  );
  sh(B("cp", tree, `${running}:/bench`));
  await compare("out of a running container: the same tree", [
    { name: "tar -c | tar -x (floor)", prepare: () => (fresh(floorDst)(), mkdirSync(floorDst)), run: () => timed(["sh", "-c", `tar -C "$1" -cf - . | tar -C "$2" -xf -`, "sh", tree, floorDst]) },
    { name: "cp out of running", prepare: fresh(out), run: () => timed(B("cp", `${running}:/bench`, out)) },
  ], rounds);
} finally {
  if (ids.length) Bun.spawnSync(B("rm", "-f", ...ids));
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
