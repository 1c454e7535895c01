/**
 * Issue 14's build benchmark: the Dockerfile of the issue (FROM busybox, ENV, WORKDIR, two RUNs, a COPY of
 * 2,000 small files, three more RUNs, CMD), built cold (`--no-cache`), warm (nothing changed) and after one
 * changed file, by `bunker build` and, when dockerd is installed, by dockerd 20.10's legacy builder and its
 * BuildKit (Debian's docker CLI, DOCKER_BUILDKIT=0/1) on a private dockerd. Interleaved, medians, ratios,
 * peak RSS of bunker's process; and the legacy path (the docker CLI with DOCKER_BUILDKIT=0 against `bunker
 * serve`, which keeps intermediate images). Targets: cold ≤ 0.5x BuildKit's, warm ≤ 0.1 s, ≤ 150 MB RSS.
 *
 *   bun scripts/bench/build.ts [rounds]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compare, sh, startDockerd, tearDown, timed, waitForPath, type Contender } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";

const rounds = Number(process.argv[2] ?? 5);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join("/var/lib", "bunker-bench-build-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];

/** The context: the issue's Dockerfile and 2,000 small files. */
function makeContext(dir: string, base: string) {
  mkdirSync(join(dir, "files"), { recursive: true });
  for (let i = 0; i < 2000; i++) writeFileSync(join(dir, "files", `f${i}.txt`), `file ${i}\n`.repeat(4));
  writeFileSync(
    join(dir, "Dockerfile"),
    [`FROM ${base}`, "ENV APP=bench", "WORKDIR /app", "RUN echo one > /one", "RUN echo two > /two", "COPY files /app/files", "RUN ls /app/files | wc -l > /count", "RUN echo three > /three", "RUN echo four > /four", 'CMD ["sh"]', ""].join("\n"),
  );
}

try {
  const ctx = join(work, "ctx");
  makeContext(ctx, "busybox");
  const root = join(work, "bunker");
  const b = (...args: string[]) => [bunker, "--data-root", root, "--registry-mirror", reg.url, ...args];
  sh(b("pull", "-q", "busybox"));
  sh(b("build", "-q", "-t", "bench:warm", ctx)); // the cache the warm runs reuse
  let n = 0;
  const contenders: Contender[] = [
    { name: "bunker build --no-cache (cold)", run: () => timed(b("build", "-q", "--no-cache", ctx)) },
    { name: "bunker build (warm)", run: () => timed(b("build", "-q", ctx)) },
    {
      name: "bunker build (one file changed)",
      prepare: () => writeFileSync(join(ctx, "files", "f7.txt"), `changed ${++n}\n`),
      run: () => timed(b("build", "-q", ctx)),
    },
  ];
  // The legacy path: Debian's docker CLI with DOCKER_BUILDKIT=0 against `bunker serve` (POST /build, which
  // keeps every instruction's image as dockerd's legacy builder does), on the same data root.
  if (Bun.which("/usr/bin/docker")) {
    const sock = join(work, "bunker.sock");
    const serve = Bun.spawn([bunker, "serve", "-H", `unix://${sock}`, "--data-root", root, "--registry-mirror", reg.url], { stdout: "ignore", stderr: "ignore" });
    procs.push(serve);
    await waitForPath(sock);
    const viaServe = (...args: string[]) => timed(["/usr/bin/docker", "-H", `unix://${sock}`, "build", "-q", ...args, ctx], { env: { DOCKER_BUILDKIT: "0" } });
    await viaServe(); // the intermediate images the warm runs find
    contenders.push(
      { name: "docker → bunker serve --no-cache (cold)", run: () => viaServe("--no-cache") },
      { name: "docker → bunker serve (warm)", run: () => viaServe() },
    );
  }
  const dockerd = await startDockerd(work);
  if (dockerd && Bun.which("/usr/bin/docker")) {
    procs.push(dockerd.proc);
    const d = (env: Record<string, string>, ...args: string[]) => timed(["/usr/bin/docker", "-H", dockerd.host, ...args], { env });
    sh(["/usr/bin/docker", "-H", dockerd.host, "pull", "-q", `${reg.host}/library/busybox`]);
    sh(["/usr/bin/docker", "-H", dockerd.host, "tag", `${reg.host}/library/busybox`, "busybox"]);
    const legacy = { DOCKER_BUILDKIT: "0" };
    const kit = { DOCKER_BUILDKIT: "1" };
    await d(legacy, "build", "-q", ctx);
    await d(kit, "build", "-q", "--network", "host", ctx);
    contenders.push(
      { name: "legacy builder --no-cache (cold)", run: () => d(legacy, "build", "-q", "--no-cache", ctx) },
      { name: "legacy builder (warm)", run: () => d(legacy, "build", "-q", ctx) },
      { name: "BuildKit --no-cache (cold)", run: () => d(kit, "build", "-q", "--network", "host", "--no-cache", ctx) },
      { name: "BuildKit (warm)", run: () => d(kit, "build", "-q", "--network", "host", ctx) },
    );
  } else console.log("(dockerd or Debian's docker CLI not installed: bunker only)");
  const res = await compare("the issue's benchmark Dockerfile (2,000-file COPY)", contenders, rounds);
  const ms = (k: string) => res[k]?.median;
  const cold = ms("bunker build --no-cache (cold)")!;
  const warm = ms("bunker build (warm)")!;
  const kitCold = ms("BuildKit --no-cache (cold)");
  console.log(`bunker warm ${warm.toFixed(0)} ms (target ≤ 100)${kitCold ? `, cold bunker/BuildKit = ${(cold / kitCold).toFixed(2)} (target ≤ 0.5)` : ""}`);
  const serveWarm = ms("docker → bunker serve (warm)");
  const legacyWarm = ms("legacy builder (warm)");
  if (serveWarm) console.log(`legacy path warm: docker → bunker serve ${serveWarm.toFixed(0)} ms${legacyWarm ? ` against dockerd's legacy builder ${legacyWarm.toFixed(0)} ms (${(serveWarm / legacyWarm).toFixed(2)}x)` : ""}`);
  console.log(`bunker peak RSS ${(Math.max(...Object.entries(res).filter(([k]) => k.startsWith("bunker")).map(([, v]) => v.maxRss)) / 1048576).toFixed(0)} MiB (target ≤ 150)`);
} finally {
  await tearDown(work, procs.splice(0));
  await reg.stop();
}
