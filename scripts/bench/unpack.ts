/**
 * Layer unpack benchmark: bunker's unpackLayer against the floor, `gzip -dc layer.tar.gz | tar -x`, run
 * interleaved (A B A B) because this ext4 is much slower right after mass deletes. Prints medians, the
 * ratio and bunker's peak RSS.
 *
 *   bun scripts/bench/unpack.ts LAYER.tar.gz [ROUNDS]
 *
 * Make a realistic layer without naming a mirror: the machine's own apt sources go in on stdin,
 *   cat /etc/apt/sources.list.d/debian.sources | mmdebstrap --variant=minbase --format=tar bookworm x.tar - && gzip x.tar
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { unpackLayer } from "../../src/fs/unpack.ts";

const [mode, ...args] = process.argv.slice(2);

if (mode === "--one") {
  // Child process: one unpack, so the peak RSS is the unpack's, or this script's own if that is more (a vfork'd
  // child's peak counts what its parent had at the exec: _lib.ts, GNU_TIME), an upper bound either way.
  const [layer, dest] = args as [string, string];
  const r = await unpackLayer(Bun.file(layer).stream(), dest);
  console.log(JSON.stringify({ ...r, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

if (!mode) {
  console.error("usage: bun scripts/bench/unpack.ts LAYER.tar.gz [ROUNDS]");
  process.exit(2);
}
const layer = resolve(mode);
const rounds = Number(args[0] ?? 5);
// Same file system as the layer (the benchmark is mostly file creation), cleaned up whatever happens.
const work = mkdtempSync(join(dirname(layer), "unpack-bench-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let runs = 0;
function timed(cmd: string[]): { ms: number; out: string } {
  // A fresh directory per run, all deleted at the end: deleting between runs would slow the next one.
  const dest = join(work, `dest${runs++}`);
  mkdirSync(dest);
  Bun.spawnSync(["sync"]);
  const t = performance.now();
  const r = Bun.spawnSync(cmd.map((a) => a.replace("DEST", dest)), { stderr: "inherit" });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited with ${r.exitCode}`);
  return { ms, out: r.stdout.toString() };
}

try {
  const bunker: number[] = [];
  const floor: number[] = [];
  let rss = 0;
  for (let i = 0; i < rounds; i++) {
    const a = timed([process.execPath, import.meta.path, "--one", layer, "DEST"]);
    bunker.push(a.ms);
    rss = Math.max(rss, JSON.parse(a.out).maxRssMiB);
    floor.push(timed(["sh", "-c", `gzip -dc '${layer}' | tar -x -C DEST`]).ms);
    console.log(`round ${i + 1}: bunker ${a.ms.toFixed(0)} ms, gzip -dc | tar -x ${floor.at(-1)!.toFixed(0)} ms`);
  }
  const [a, b] = [median(bunker), median(floor)];
  console.log(`median: bunker ${a.toFixed(0)} ms, floor ${b.toFixed(0)} ms, ratio ${(a / b).toFixed(2)}, bunker peak RSS ${rss.toFixed(0)} MiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
