/**
 * save and load of the debian test image, interleaved with the floor (`tar -c` of the layer's files for
 * save, also with a sha256sum of the stream, as save verifies each layer's diff ID; `tar -x` of the layer tar
 * for load: the same data, moved by GNU tar) and, when dockerd is installed,
 * with dockerd's save/load (a private dockerd on its own data root and socket, stopped at the end). Prints
 * medians, ratios and peak RSS. Targets (issue 13): each at most 1.2x its floor; peak RSS at most 150 MB.
 * With BUNKER_BASELINE=<another bunker binary> (an earlier build), that one runs too, interleaved: before/after.
 *
 *   bun scripts/bench/save-load.ts [rounds]
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, machineWatch, sh, timed, type Contender, startDockerd } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
const baseline = process.env.BUNKER_BASELINE ? resolve(process.env.BUNKER_BASELINE) : undefined;
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-saveload-"));
let dockerd: Awaited<ReturnType<typeof startDockerd>>;
const watch = machineWatch();
try {
  const ref = `${reg.host}/debian:bookworm`;
  const store = join(work, "store");
  sh([bunker, "--data-root", store, "pull", "-q", ref]);
  const archive = join(work, "debian.tar");
  sh([bunker, "--data-root", store, "save", "-o", archive, ref]);
  const manifest = JSON.parse(sh(["tar", "-xOf", archive, "manifest.json"]));
  const layerTar = join(work, "layer.tar");
  sh(["sh", "-c", `tar -xOf '${archive}' '${manifest[0].Layers[0]}' > '${layerTar}'`]);
  const diff = join(store, "overlay2", readdirSync(join(store, "overlay2")).find((n) => n !== "l")!, "diff");
  console.log(`debian: layer tar ${(Bun.file(layerTar).size / 1e6).toFixed(1)} MB, ${rounds} rounds`);

  let n = 0;
  const fresh = (name: string) => join(work, `${name}-${n++}`);
  dockerd = await startDockerd(work);
  const withDocker = !!dockerd;
  const dockerEnv = { DOCKER_HOST: dockerd?.host ?? "" };
  if (dockerd) {
    sh(["sh", "-c", `DOCKER_HOST=${dockerEnv.DOCKER_HOST} docker load -q -i '${archive}'`]);
  }

  // Every run writes into a fresh file or directory and nothing is deleted until the end (see pull.ts). Each
  // save starts with no dirty pages waiting (`sync` before it, untimed): otherwise a run pays for the
  // writeback of the 121 MB the one before it wrote, whoever that was, and the ratios swing 1.3x-1.9x.
  const settle = () => void Bun.spawnSync(["sync"]);
  const saves: Contender[] = [
    { name: "bunker save", prepare: settle, run: () => timed([bunker, "--data-root", store, "save", "-o", fresh("save.tar"), ref]) },
    { name: "floor: tar -c", prepare: settle, run: () => timed(["sh", "-c", `tar -c -C '${diff}' . > '${fresh("floor.tar")}'`]) },
    // save must also hash every layer tar it rebuilds (the diff ID check): the floor with that hash.
    { name: "tar -c | tee | sha256sum", prepare: settle, run: () => timed(["sh", "-c", `tar -c -C '${diff}' . | tee '${fresh("floor-hash.tar")}' | sha256sum > /dev/null`]) },
    ...(baseline ? [{ name: "baseline save", prepare: settle, run: () => timed([baseline, "--data-root", store, "save", "-o", fresh("base.tar"), ref]) }] : []),
    ...(withDocker ? [{ name: "docker save", prepare: settle, run: () => timed(["docker", "save", "-o", fresh("docker.tar"), ref], { env: dockerEnv }) }] : []),
  ];
  await compare("save of the debian image", saves, rounds);

  const loads: Contender[] = [
    { name: "bunker load", run: () => timed([bunker, "--data-root", fresh("load-root"), "load", "-q", "-i", archive]) },
    {
      name: "floor: tar -x",
      run: () => {
        const dir = fresh("floor-x");
        mkdirSync(dir);
        return timed(["tar", "-x", "-C", dir, "-f", layerTar]);
      },
    },
    ...(baseline ? [{ name: "baseline load", run: () => timed([baseline, "--data-root", fresh("base-root"), "load", "-q", "-i", archive]) }] : []),
    ...(withDocker
      ? [
          {
            name: "docker load",
            prepare: () => void Bun.spawnSync(["sh", "-c", `docker rmi -f $(docker images -q) >/dev/null 2>&1; docker system prune -af >/dev/null 2>&1`], { env: { ...process.env, ...dockerEnv } }),
            run: () => timed(["docker", "load", "-q", "-i", archive], { env: dockerEnv }),
          },
        ]
      : []),
  ];
  await compare("load of the debian image", loads, rounds);
  console.log(`\nmachine: ${watch()}`);
} finally {
  if (dockerd) {
    await dockerd.stop();
  }
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
