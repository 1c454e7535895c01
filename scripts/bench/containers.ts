/**
 * Issue 3's targets, measured (not a test): `run --rm busybox true` (median ≤ 30 ms, interleaved with podman
 * and docker when they answer), `ps` with 50 containers (≤ 15 ms), `rm -f` of 20 running (≤ 0.5 s), 20 detached
 * containers started one after another (≤ 1 s), and supervision memory per running container (≤ 3 MiB PSS).
 *
 *   bun scripts/bench/containers.ts [rounds]
 *   BUNKER_BASELINE=/path/to/older/bunker bun scripts/bench/containers.ts   (as pull.ts)
 *
 * BUNKER_BASELINE adds an earlier build of bunker (its own data root) to the interleaved `run --rm` rounds and to
 * the 20 detached starts, alternating old and new, so a change's cost on the start path shows as a ratio
 * measured in one run.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, machineWatch, median, timed, type Contender, sh, unmountUnder } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { purgeNetworking } from "../../tests/helpers/netcheck.ts";

const before = process.env.BUNKER_BASELINE ? resolve(process.env.BUNKER_BASELINE) : undefined;
const rounds = Number(process.argv[2] ?? 30);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-ctr-"));
const dataRoot = join(work, "root");
const B = (...a: string[]) => [bunker, "--data-root", dataRoot, ...a];
const beforeRoot = join(work, "root-before");
const O = (...a: string[]) => [before!, "--data-root", beforeRoot, ...a];
const image = `${reg.host}/busybox`;
try {
  sh(B("pull", "-q", image));
  const contenders: Contender[] = [{ name: "bunker run --rm", run: () => timed(B("run", "--rm", "--network", "none", image, "true")) }];
  if (before) {
    sh(O("pull", "-q", image));
    contenders.push({ name: "bunker (before) run --rm", run: () => timed(O("run", "--rm", "--network", "none", image, "true")) });
  }
  if (has("podman")) {
    const proot = join(work, "podman");
    const P = ["podman", "--root", proot, "--runroot", `${proot}-run`, "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none"];
    sh([...P, "pull", "-q", "--tls-verify=false", image]);
    const probe = Bun.spawnSync([...P, "run", "--rm", "--network", "none", image, "true"], { stderr: "pipe" });
    // On this host podman's runtimes fail to raise RLIMIT_NPROC (no CAP_SYS_RESOURCE): say so rather than stop.
    if (probe.exitCode === 0) contenders.push({ name: "podman run --rm", run: () => timed([...P, "run", "--rm", "--network", "none", image, "true"]) });
    else console.log(`(podman cannot run containers here: ${probe.stderr.toString().trim()}; measured earlier on this machine: 132 ms)`);
  }
  if (has("docker") && Bun.spawnSync(["docker", "info"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) {
    sh(["docker", "pull", "-q", image]);
    contenders.push({ name: "docker run --rm", run: () => timed(["docker", "run", "--rm", "--network", "none", image, "true"]) });
  } else console.log("(docker: no engine answers here; measured earlier on this machine: 229 ms with --network none)");
  const runWatch = machineWatch();
  await compare("run --rm busybox true, --network none", contenders, rounds);
  console.log(`  (machine during these rounds: ${runWatch()})`);

  // 20 detached containers, one after another; with BUNKER_BASELINE, the earlier build's 20 alternate with ours
  // (A B A B), and its containers go before the memory and ps figures below.
  let start20 = 0;
  const start20Before: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    sh(B("run", "-d", image, "sleep", "600"));
    start20 += performance.now() - t0;
    if (!before) continue;
    const t1 = performance.now();
    sh(O("run", "-d", image, "sleep", "600"));
    start20Before.push(performance.now() - t1);
  }
  const sum20Before = start20Before.reduce((a, b) => a + b, 0);
  console.log(`\n20 detached run -d one after another: ${start20.toFixed(0)} ms (target ≤ 1000 ms; docker 5 s here)${before ? `; before: ${sum20Before.toFixed(0)} ms, ratio ${(start20 / sum20Before).toFixed(2)}` : ""}`);
  if (before) {
    const old = sh(O("ps", "-aq", "--no-trunc"));
    if (old) sh(O("rm", "-f", ...old.split("\n")));
  }

  // Supervision memory: PSS of each container's guardian + supervisor (the container's own processes excluded).
  const pss = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  const ids = sh(B("ps", "-q", "--no-trunc")).split("\n");
  const perContainer = ids.map((id) => {
    const st = JSON.parse(readFileSync(join(dataRoot, "containers", id, "status.json"), "utf8"));
    return pss(st.supervisorPid) + pss(st.guardianPid);
  });
  console.log(`supervision PSS per running container (${ids.length} running): median ${(median(perContainer) / 1024).toFixed(2)} MiB, max ${(Math.max(...perContainer) / 1024).toFixed(2)} MiB (target ≤ 3 MiB; containerd-shim 2.9, conmon 0.4)`);

  // ps with 50 containers (20 running + 30 exited).
  for (let i = 0; i < 30; i++) sh(B("create", image, "true"));
  // Interleaved with the bare process (`--version`): this VM's speed drifts by a quarter between minutes, and
  // the baseline shows how fast the machine was while ps was measured.
  const ps: number[] = [];
  const bare: number[] = [];
  const psWatch = machineWatch();
  for (let i = 0; i < 60; i++) {
    ps.push((await timed(B("ps", "-a"))).ms);
    bare.push((await timed([bunker, "--version"])).ms);
  }
  console.log(`ps -a with 50 containers: median ${median(ps).toFixed(1)} ms (target ≤ 15 ms; docker 20 ms with 20); bunker --version in the same run: ${median(bare).toFixed(1)} ms; machine: ${psWatch()}`);

  const rm = await timed(B("rm", "-f", ...ids));
  console.log(`rm -f of 20 running: ${rm.ms.toFixed(0)} ms (target ≤ 500 ms; docker 1.4 s)`);
} finally {
  const left = Bun.spawnSync(B("ps", "-aq", "--no-trunc")).stdout.toString().trim();
  if (left) Bun.spawnSync(B("rm", "-f", ...left.split("\n")));
  await reg.stop();
  unmountUnder(work);
  purgeNetworking(dataRoot); // the data root goes: its bridge, rules and address claims with it
  if (before) {
    const old = Bun.spawnSync(O("ps", "-aq", "--no-trunc")).stdout.toString().trim();
    if (old) Bun.spawnSync(O("rm", "-f", ...old.split("\n")));
    purgeNetworking(beforeRoot);
  }
  rmSync(work, { recursive: true, force: true });
}
