/**
 * Runtime benchmarks (root): start -> exit of `true` on a busybox overlay, interleaved with baselines,
 * and the supervisor's PSS per running container with 20 running.
 *
 *   bun scripts/bench/runtime.ts [rounds=30]
 *
 * Contenders: startContainer() attached from a warm Bun process (what `bunker run --rm` pays after CLI
 * start-up); the shim alone from a shell (no Bun at all); runc and crun on an OCI bundle of the same rootfs
 * (crun refuses this host's hybrid cgroup layout and is skipped if it fails); unshare + chroot as the floor.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, encodePlan, execInContainer, logPath, resolveCapabilities, startContainer, type ContainerPlan } from "../../src/engine/runtime/index.ts";
import { compare, has, median, timed, type Contender } from "./_lib.ts";

const rounds = Number(process.argv[2] ?? 30);
const repo = join(import.meta.dir, "..", "..");
const base = mkdtempSync(join(tmpdir(), "bunker-bench-rt-"));
const pids: number[] = [];

function cleanup() {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  rmSync(base, { recursive: true, force: true });
}
process.on("SIGINT", () => (cleanup(), process.exit(130)));

try {
  const shim = join(base, "bunker-shim");
  if (Bun.spawnSync(["sh", join(repo, "scripts/build-shim.sh"), shim]).exitCode !== 0) throw new Error("build-shim failed");
  process.env.BUNKER_SHIM = shim;
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(existsSync)!;
  const lower = join(base, "lower");
  for (const d of ["bin", "etc", "tmp"]) mkdirSync(join(lower, d), { recursive: true });
  writeFileSync(join(lower, "bin/busybox"), readFileSync(busybox), { mode: 0o755 });
  for (const a of ["sh", "true", "sleep"]) Bun.spawnSync(["ln", "-s", "busybox", join(lower, "bin", a)]);
  writeFileSync(join(lower, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");

  let n = 0;
  const plan = (args: string[]): ContainerPlan => {
    const id = `${(++n).toString(16).padStart(6, "0")}`.padEnd(64, "b");
    const dir = join(base, "containers", id);
    rmSync(dir, { recursive: true, force: true });
    for (const d of ["upper", "work", "merged"]) mkdirSync(join(dir, d), { recursive: true });
    return {
      id, rootfs: { lowerDirs: [lower], upperDir: join(dir, "upper"), workDir: join(dir, "work"), mergedDir: join(dir, "merged") },
      hostname: id.slice(0, 12), args, env: [], cwd: "/", user: "", tty: false, openStdin: false,
      capabilities: resolveCapabilities({}), noNewPrivileges: false, seccomp: true, privileged: false, network: "private", binds: [],
      maskedPaths: [...DEFAULT_MASKED_PATHS], readonlyPaths: [...DEFAULT_READONLY_PATHS], containerDir: dir, restart: { name: "no" },
    };
  };

  // a fixed detached plan for the shim-only contender (its container dir is reused run after run)
  const fixed = plan(["true"]);
  await startContainer(fixed); // writes the /etc files
  writeFileSync(join(fixed.containerDir, "plan"), encodePlan(fixed, { waitAttach: false, logPath: logPath(fixed) }));

  // an OCI bundle for runc/crun
  const bundle = join(base, "bundle");
  mkdirSync(bundle);
  Bun.spawnSync(["runc", "spec", "-b", bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  spec.root = { path: lower, readonly: true };
  spec.process.args = ["true"];
  spec.process.terminal = false;
  delete spec.linux.resources;
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));

  const contenders: Contender[] = [
    {
      name: "startContainer (attached)",
      async run() {
        const p = plan(["true"]);
        const t0 = performance.now();
        const { attach } = await startContainer(p, "attached");
        const code = await attach!.exited;
        if (code !== 0) throw new Error(`exit ${code}`);
        return { ms: performance.now() - t0, maxRss: NaN }; // in this process: no peak of its own
      },
    },
    { name: "bunker-shim alone (detached)", run: () => timed([shim, "run", join(fixed.containerDir, "plan")]) },
    { name: "runc run (bundle)", run: () => timed(["runc", "run", "-b", bundle, `r${++n}`]) },
  ];
  if (has("crun") && Bun.spawnSync(["crun", "run", "-b", bundle, "probe"]).exitCode === 0)
    contenders.push({ name: "crun run (bundle)", run: () => timed(["crun", "run", "-b", bundle, `c${++n}`]) });
  else console.log("crun: skipped (it refuses this host's hybrid cgroup layout)");
  contenders.push({ name: "unshare + chroot (floor)", run: () => timed(["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "--", "chroot", lower, "/bin/true"]) });
  await compare("start -> exit of `true`", contenders, rounds);

  // exec `true` into a running container
  {
    const target = plan(["sleep", "3600"]);
    const { pid } = await startContainer(target);
    const st = JSON.parse(readFileSync(join(target.containerDir, "status.json"), "utf8"));
    pids.push(st.pid, st.supervisorPid, st.guardianPid);
    mkdirSync(join(target.containerDir, "execs"), { recursive: true });
    let e = 0;
    const execPlan = join(target.containerDir, "execs", "bench.plan");
    const planBytes = (id: string) =>
      `${["id", target.id, "dir", target.containerDir, "exec", id, "pid", pid, "pidstart", st.pidStart, "arg", "true", "env", "PATH=/bin", "caps", "a80425fb"].join("\0")}\0`;
    const execs: Contender[] = [
      {
        name: "execInContainer (attached)",
        async run() {
          const t0 = performance.now();
          const { attach } = await execInContainer(target.containerDir, { execId: `b${++e}`, args: ["true"] });
          const code = await attach!.exited;
          if (code !== 0) throw new Error(`exit ${code}`);
          return { ms: performance.now() - t0, maxRss: NaN }; // in this process: no peak of its own
        },
      },
      {
        name: "bunker-shim exec alone",
        prepare: () => writeFileSync(execPlan, planBytes(`s${++e}`)),
        run: () => timed([shim, "exec", execPlan]),
      },
      { name: "nsenter (floor)", run: () => timed(["nsenter", "-t", String(pid), "-m", "-u", "-i", "-n", "-p", "-F", "--", "/bin/true"]) },
    ];
    // runc exec needs a runc container: the bundle above, sleeping
    spec.process.args = ["sleep", "3600"];
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    const runcOk = Bun.spawnSync(["runc", "run", "-d", "-b", bundle, "bench-exec"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    if (runcOk) execs.push({ name: "runc exec", run: () => timed(["runc", "exec", "bench-exec", "true"]) });
    else console.log("runc exec: skipped (runc run -d failed)");
    try {
      await compare("exec `true` into a running container", execs, rounds);
    } finally {
      if (runcOk) Bun.spawnSync(["runc", "delete", "-f", "bench-exec"]);
    }
  }

  // PSS of the supervision (guardian + supervisor) per running container, 20 running
  const pss = (pid: number) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  const dirs: string[] = [];
  for (let i = 0; i < 20; i++) {
    const p = plan(["sleep", "3600"]);
    await startContainer(p);
    dirs.push(p.containerDir);
  }
  await Bun.sleep(300);
  const sup: number[] = [];
  const own: number[] = [];
  for (const d of dirs) {
    const st = JSON.parse(readFileSync(join(d, "status.json"), "utf8"));
    pids.push(st.pid, st.supervisorPid, st.guardianPid);
    sup.push(pss(st.supervisorPid) + pss(st.guardianPid));
    own.push(pss(st.pid));
  }
  const kib = (xs: number[]) => `median ${median(xs)} KiB, total ${xs.reduce((a, b) => a + b, 0)} KiB`;
  console.log(`\nPSS with 20 running (sleep 3600):`);
  console.log(`  supervision per container (guardian + supervisor): ${kib(sup)}`);
  console.log(`  the container's own process (busybox sleep):       ${kib(own)}`);
} finally {
  cleanup();
}
