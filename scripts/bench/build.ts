/**
 * `build` of issue 14's benchmark Dockerfile (FROM busybox, ENV, WORKDIR, two RUNs, COPY of 2,000 small files,
 * three more RUNs, CMD) against dockerd's legacy builder and its embedded BuildKit (Debian's docker CLI 20.10
 * with DOCKER_BUILDKIT=0/1) when dockerd is installed; interleaved, medians, ratios, peak RSS of bunker's
 * process (the engine runs in the CLI's process). Three measures:
 *   - cold: `--no-cache`, every step runs (target: at most 0.5x BuildKit);
 *   - warm: nothing changed, every step cached (target: at most 0.1 s);
 *   - one COPY'd file changed: only the COPY and the steps after it run (checked from the output).
 * The private dockerd runs without a bridge, so both of its builders get `--network host`; bunker's RUN
 * steps get `--network none` for the same reason (no network is used by the steps).
 *
 *   bun scripts/bench/build.ts [rounds] [files]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compare, has, sh, timed, type Contender, startDockerd, tearDown } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const files = Number(process.argv[3] ?? 2000);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join("/var/lib", "bunker-bench-build-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];

const dockerfile = `FROM busybox
ENV APP_HOME=/app
WORKDIR /app
RUN echo one > /one
RUN mkdir -p /app/data && echo two > /app/data/two
COPY files/ /app/files/
RUN ls /app/files | wc -l > /app/count
RUN echo three > /three
RUN cat /one /three > /app/both
CMD ["sh"]
`;

/** The context: the Dockerfile and `files` small files of 100 to 1,100 bytes. */
function makeContext(dir: string) {
  mkdirSync(join(dir, "files"), { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (let i = 0; i < files; i++) writeFileSync(join(dir, "files", `f${i}.txt`), `file ${i}\n`.repeat(10 + (i % 100)));
}

try {
  const ctx = join(work, "ctx");
  makeContext(ctx);
  const root = join(work, "bunker");
  const b = (...args: string[]) => sh([bunker, "--data-root", root, "--registry-mirror", reg.url, ...args]);
  b("pull", "-q", "busybox");
  const bunkerBuild = (...flags: string[]) => timed([bunker, "--data-root", root, "build", "--progress=plain", "--network", "none", ...flags, "-t", "bench:bunker", ctx]);
  await bunkerBuild(); // the first build fills the cache for the warm runs
  const cold: Contender[] = [{ name: "bunker build --no-cache", run: () => bunkerBuild("--no-cache") }];
  const warm: Contender[] = [{ name: "bunker build (warm)", run: () => bunkerBuild() }];

  const dockerd = await startDockerd(work);
  if (dockerd) {
    procs.push(dockerd.proc);
    const env = (kit: string) => ({ DOCKER_HOST: dockerd.host, DOCKER_BUILDKIT: kit });
    sh(["docker", "-H", dockerd.host, "pull", "-q", `${reg.host}/busybox`]);
    sh(["docker", "-H", dockerd.host, "tag", `${reg.host}/busybox`, "busybox"]);
    const dockerBuild = (kit: string, ...flags: string[]) => timed(["/usr/bin/docker", "build", "-q", "--network", "host", ...flags, "-t", `bench:kit${kit}`, ctx], { env: env(kit) });
    await dockerBuild("0");
    await dockerBuild("1");
    cold.push({ name: "dockerd BuildKit --no-cache", run: () => dockerBuild("1", "--no-cache") }, { name: "dockerd legacy --no-cache", run: () => dockerBuild("0", "--no-cache") });
    warm.push({ name: "dockerd BuildKit (warm)", run: () => dockerBuild("1") }, { name: "dockerd legacy (warm)", run: () => dockerBuild("0") });
  } else console.log("(dockerd not installed: bunker alone)");

  const c = await compare(`cold build, ${files} files in the context`, cold, rounds);
  const w = await compare("warm build (nothing changed)", warm, rounds);

  // One COPY'd file changed: the steps before the COPY come from the cache, the COPY and those after run.
  writeFileSync(join(ctx, "files", "f7.txt"), `changed at ${Date.now()}\n`);
  const out = Bun.spawnSync([bunker, "--data-root", root, "build", "--progress=plain", "--network", "none", "-t", "bench:bunker", ctx], { stdout: "pipe", stderr: "pipe" });
  const text = out.stdout.toString() + out.stderr.toString();
  const names = new Map([...text.matchAll(/^#(\d+) (\[.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const cachedSteps = [...text.matchAll(/^#(\d+) CACHED$/gm)].map((m) => names.get(m[1]!) ?? `#${m[1]}`);
  console.log(`\none file changed: exit ${out.exitCode}; cached steps: ${cachedSteps.join(" | ") || "(none)"}`);

  const bk = c["dockerd BuildKit --no-cache"]?.median;
  const bunkerCold = c["bunker build --no-cache"]!;
  console.log(`\ncold: bunker ${bunkerCold.median.toFixed(0)} ms${bk ? `, bunker/BuildKit = ${(bunkerCold.median / bk).toFixed(2)} (target ≤ 0.5)` : ""}`);
  console.log(`warm: bunker ${w["bunker build (warm)"]!.median.toFixed(0)} ms (target ≤ 100 ms)`);
  console.log(`peak RSS of bunker build: ${(Math.max(bunkerCold.maxRss, w["bunker build (warm)"]!.maxRss) / 1048576).toFixed(0)} MiB (target ≤ 150)`);
  if (!has("dockerd")) console.log("(no dockerd: no ratios)");
} finally {
  await tearDown(work, procs.splice(0));
  await reg.stop();
}
