/**
 * `commit` of a container whose upper dir holds 100 MB (1000 files of 100 KiB, random data) against the
 * floor, `tar -c upper | sha256sum` (reading and hashing the same tree), and against dockerd's `docker
 * commit` when dockerd is installed; interleaved, medians, ratios, peak RSS of bunker's process. Issue 13's
 * targets: at most 1.5x the floor, at most 150 MB RSS. Each commit gets a fresh layer: the image (and its
 * layer) from the round before is removed untimed, so every run unpacks and stores 100 MB.
 *
 * bunker's commit writes the layer through the unpacker into the layer store (the same path as a pull),
 * so it costs a read, a hash and a write of every changed file: the floor only reads and hashes, so the
 * third contender, GNU tar copying the tree while hashing it, is the floor of any commit that keeps a copy.
 *
 *   bun scripts/bench/commit.ts [rounds] [files]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compare, has, sh, timed, type Contender, startDockerd, tearDown } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const files = Number(process.argv[3] ?? 1000);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
// Under /var/lib (the data root's usual file system), not a tmpfs /tmp: the write is part of the cost.
const work = mkdtempSync(join("/var/lib", "bunker-bench-commit-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];

/** Fills an upper dir with `files` random files of 100 KiB. */
function fill(upper: string) {
  const chunk = new Uint8Array(100 * 1024);
  sh(["mkdir", "-p", join(upper, "data")]);
  for (let i = 0; i < files; i++) {
    // getRandomValues fills at most 64 KiB per call.
    for (let off = 0; off < chunk.length; off += 65536) crypto.getRandomValues(chunk.subarray(off, off + 65536));
    writeFileSync(join(upper, "data", `f${i}`), chunk);
  }
}

try {
  const b = (...args: string[]) => sh([bunker, "--data-root", join(work, "bunker"), "--registry-mirror", reg.url, ...args]);
  b("pull", "-q", "busybox");
  b("create", "--name", "big", "--network", "none", "busybox", "true");
  const upper = b("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "big");
  fill(upper);
  console.log(`upper dir ${upper}: ${sh(["du", "-sh", upper]).split("\t")[0]}`);
  let lastBunker = "";
  const contenders: Contender[] = [
    {
      name: "bunker commit",
      prepare: () => void (lastBunker && b("rmi", lastBunker)),
      run: async () => {
        const r = await timed(["sh", "-c", `'${bunker}' --data-root '${join(work, "bunker")}' commit big > '${work}/id'`]);
        lastBunker = (await Bun.file(`${work}/id`).text()).trim();
        return r;
      },
    },
    { name: "tar -c upper | sha256sum", run: () => timed(["sh", "-c", `tar -C '${upper}' -c . | sha256sum`]) },
    // What any commit that keeps a copy costs at least: read, hash and write the tree once (GNU tar, tee).
    {
      name: "tar -c | tee sha256sum | tar -x",
      prepare: () => void sh(["sh", "-c", `rm -rf '${work}/copy' && mkdir '${work}/copy'`]),
      run: () => timed(["bash", "-c", `tar -C '${upper}' -c . | tee >(sha256sum > /dev/null) | tar -x -C '${work}/copy'`]),
    },
  ];
  const dockerd = await startDockerd(work);
  if (dockerd) {
    procs.push(dockerd.proc);
    const ds = dockerd.host;
    const d = (...args: string[]) => sh(["docker", "-H", ds, ...args]);
    d("pull", "-q", `${reg.host}/busybox`);
    d("create", "--name", "big", "--network", "none", `${reg.host}/busybox`, "true");
    fill(d("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "big"));
    let lastDocker = "";
    contenders.push({
      name: "docker commit (dockerd)",
      prepare: () => void (lastDocker && d("rmi", lastDocker)),
      run: async () => {
        const r = await timed(["sh", "-c", `docker -H '${ds}' commit big > '${work}/did'`]);
        lastDocker = (await Bun.file(`${work}/did`).text()).trim();
        return r;
      },
    });
  } else console.log("(dockerd not installed)");
  const res = await compare(`commit of a ${files / 10} MB upper dir`, contenders, rounds);
  const floor = res["tar -c upper | sha256sum"]!.median;
  console.log(`bunker/floor = ${(res["bunker commit"]!.median / floor).toFixed(2)} (target ≤ 1.5), bunker peak RSS ${(res["bunker commit"]!.maxRss / 1048576).toFixed(0)} MiB (target ≤ 150)`);
} finally {
  await tearDown(work, procs.splice(0));
  await reg.stop();
}
