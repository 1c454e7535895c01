/**
 * Cold pull of the debian test image from the local registry, interleaved with the floor (`gzip -dc | tar -x`
 * of the same blob) and with podman/docker when installed; prints medians, ratios and peak RSS.
 * Then `images` with 50 images. Targets (issue 2): pull ≤ 1.2x the floor and ≤ half of docker pull,
 * peak RSS ≤ 150 MB; `images` ≤ 30 ms.
 *
 *   bun scripts/bench/pull.ts [rounds]
 *   BUNKER_BASELINE=/work/main/dist/bunker bun scripts/bench/pull.ts   (also pulls with that build, interleaved)
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, timed, median, type Contender, tearDown } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
const testbed = await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-pull-"));
try {
  const layer = testbed.image("debian", "bookworm").layers![0]!;
  const hex = layer.digest.slice(7);
  const blob = join(reg.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
  const ref = `${reg.host}/debian:bookworm`;
  console.log(`debian: ${(layer.size / 1e6).toFixed(1)} MB compressed, ${rounds} rounds`);

  // Every run writes into a fresh directory and nothing is deleted until the end: on this ext4 (no journal)
  // creating files right after deleting thousands is several times slower, which would swamp the comparison.
  let n = 0;
  const fresh = (name: string) => join(work, `${name}-${n++}`);
  const contenders: Contender[] = [
    { name: "bunker pull", run: () => timed([bunker, "--data-root", fresh("bunker"), "pull", "-q", ref]) },
    ...(process.env.BUNKER_BASELINE ? [{ name: "baseline pull", run: () => timed([process.env.BUNKER_BASELINE!, "--data-root", fresh("baseline"), "pull", "-q", ref]) }] : []),
    {
      name: "floor: gzip -dc | tar -x",
      run: () => {
        const dir = fresh("floor");
        return timed(["sh", "-c", `mkdir -p '${dir}' && gzip -dc '${blob}' | tar -x -C '${dir}'`]);
      },
    },
  ];
  if (has("podman")) {
    contenders.push({
      name: "podman pull",
      run: () => {
        const proot = fresh("podman");
        return timed(["podman", "--root", proot, "--runroot", `${proot}-run`, "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref]);
      },
    });
  }
  if (has("docker") && Bun.spawnSync(["docker", "info"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) {
    contenders.push({
      name: "docker pull",
      prepare: () => void Bun.spawnSync(["docker", "rmi", "-f", ref], { stdout: "ignore", stderr: "ignore" }),
      run: () => timed(["docker", "pull", "-q", ref]),
    });
  } else {
    console.log("(docker: no engine answers here; docker pull measured earlier on this machine: 1.91 s)");
  }
  const res = await compare("cold pull of debian:bookworm", contenders, rounds);
  const pull = res["bunker pull"]!;
  const floor = res["floor: gzip -dc | tar -x"]!;
  if (res["baseline pull"]) console.log(`  baseline: ${(res["baseline pull"].median / floor.median).toFixed(2)}x floor; this build ${(pull.median / floor.median).toFixed(2)}x`);
  // Against docker measured in this run when a daemon answered, else the figure measured earlier here.
  const docker = res["docker pull"];
  const dockerNote = docker ? `docker in this run (${(docker.median / 1000).toFixed(2)} s)` : "docker measured earlier (1.91 s)";
  console.log(`  target: ≤ 1.2x floor → ${(pull.median / floor.median).toFixed(2)}x; ≤ 150 MB RSS → ${(pull.maxRss / 1e6).toFixed(0)} MB; ≤ half of ${dockerNote} → ${(pull.median / (docker?.median ?? 1910)).toFixed(2)}`);

  // `images` with 50 images: tag-distinct images made by re-committing the debian config with a new label.
  const listRoot = join(work, "list");
  Bun.spawnSync([bunker, "--data-root", listRoot, "pull", "-q", ref]);
  const { Engine } = await import("../../src/engine/engine.ts");
  const { loadConfig } = await import("../../src/engine/config.ts");
  const engine = new Engine(loadConfig({ "data-root": listRoot }));
  const img = engine.images.all()[0]!;
  for (let i = 0; i < 49; i++) {
    const config = { ...img.config, config: { ...img.config.config, Labels: { n: String(i) } } };
    const raw = new TextEncoder().encode(JSON.stringify(config));
    const id = `sha256:${new Bun.CryptoHasher("sha256").update(raw).digest("hex")}`;
    engine.images.commit({ id, rawConfig: raw, chainIds: engine.images.chainIds(img.id), size: img.size, tag: { repository: `docker.io/library/bench${i}`, tag: "latest" } });
  }
  engine.close();
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push((await timed([bunker, "--data-root", listRoot, "images"])).ms);
  console.log(`\nimages with 50 images: median ${median(times).toFixed(1)} ms (target ≤ 30 ms)`);
} finally {
  await reg.stop();
  await tearDown(work); // podman's overlay mounts under its roots go before the tree
}
