/**
 * Push of the debian test image (~49 MB compressed) to an empty local registry, interleaved with dockerd's
 * push of the same image when a dockerd can be started here (one of our own, on private paths, stopped at
 * the end); then a second push of the same image to the same registry. Prints medians, ratios, peak RSS.
 * Targets (issue 13): push ≤ 0.5x docker's time, second push ≤ 0.2 s, peak RSS ≤ 150 MB.
 *
 *   bun scripts/bench/push.ts [rounds]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, timed, median, type Contender, startDockerd } from "./_lib.ts";
import { ensureTestbed, startRegistry, type Registry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
const testbed = await ensureTestbed();
const src = await startRegistry();
const work = mkdtempSync(join(tmpdir(), "bunker-bench-push-"));
const root = join(work, "bunker");
const ref = `${src.host}/debian:bookworm`;
const registries: Registry[] = [];
let dockerd: Awaited<ReturnType<typeof startDockerd>>;

try {
  const layer = testbed.image("debian", "bookworm").layers![0]!;
  console.log(`debian: ${(layer.size / 1e6).toFixed(1)} MB compressed, ${rounds} rounds`);
  Bun.spawnSync([bunker, "--data-root", root, "pull", "-q", ref]);
  dockerd = await startDockerd(join(work, "docker-bench"));
  const sock = dockerd?.host;
  const docker = (args: string[]) => ["docker", "-H", sock!, ...args];
  if (sock) Bun.spawnSync(docker(["pull", "-q", ref]), { stdout: "ignore" });
  else console.log("(dockerd could not be started here: bunker alone)");

  // Each push goes to a registry of its own, so every layer is uploaded (nothing to skip or mount).
  let target = "";
  const fresh = async () => {
    const r = await startRegistry({ storage: "empty" });
    registries.push(r);
    target = `${r.host}/deb:1`;
  };
  const contenders: Contender[] = [
    {
      name: "bunker push",
      prepare: async () => {
        await fresh();
        Bun.spawnSync([bunker, "--data-root", root, "tag", ref, target]);
      },
      run: () => timed([bunker, "--data-root", root, "push", "-q", target]),
    },
  ];
  if (sock) {
    contenders.push({
      name: "docker push",
      prepare: async () => {
        await fresh();
        Bun.spawnSync(docker(["tag", ref, target]));
      },
      run: () => timed(docker(["push", "-q", target])),
    });
  }
  const res = await compare("push of debian:bookworm to an empty registry", contenders, rounds);
  const push = res["bunker push"]!;

  // Second push: same image, same registry (the last one bunker pushed to).
  await fresh();
  Bun.spawnSync([bunker, "--data-root", root, "tag", ref, target]);
  Bun.spawnSync([bunker, "--data-root", root, "push", "-q", target]);
  const again: number[] = [];
  for (let i = 0; i < rounds; i++) again.push((await timed([bunker, "--data-root", root, "push", "-q", target])).ms);
  // Its peak RSS from one more (untimed) push under the probe: the push is the same each time.
  const againRss = (await timed([bunker, "--data-root", root, "push", "-q", target], { rss: true })).maxRss;
  console.log(`\nsecond push of the same image: median ${median(again).toFixed(1)} ms, peak RSS ${(againRss / 1048576).toFixed(1)} MiB`);
  const d = res["docker push"];
  console.log(
    `  targets: ≤ 0.5x docker → ${d ? (push.median / d.median).toFixed(2) + "x" : "n/a (no dockerd)"}; second push ≤ 200 ms → ${median(again).toFixed(0)} ms; ≤ 150 MB RSS → ${(Math.max(push.maxRss, againRss) / 1e6).toFixed(0)} MB`,
  );
} finally {
  if (dockerd) {
    await dockerd.stop();
  }
  for (const r of registries) await r.stop();
  await src.stop();
  rmSync(work, { recursive: true, force: true });
}
