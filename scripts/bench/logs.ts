/**
 * `docker logs` benchmark: a generated 100k-line json-file log in moby's exact format (mixed stdout/stderr,
 * some escapes), read end to end by a compiled Bun binary that does what the CLI's `logs` does
 * (renderLogs with outputSplit() -> the CLI's stdSink on fds 1/2; the children's stdout and stderr are both
 * /dev/null here, as both are one terminal interactively, so "merged"), interleaved with `cat` of the same file (the floor: a process
 * start plus copying the bytes) and `podman logs` of a 100k-line container when podman can run one
 * offline (a busybox rootfs imported as an image); docker when its daemon answers.
 *
 *   bun scripts/bench/logs.ts [rounds=15] [lines=100000]
 *
 * Also prints in-process medians (warm, no process start) of renderLogs and of readLogs (one object per
 * record), and the `-t` and `--tail 10` variants.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeLogLine, readLogs, renderLogs } from "../../src/engine/containers/logs.ts";
import { compare, has, median, timed, type Contender } from "./_lib.ts";

const rounds = Number(process.argv[2] ?? 15);
const lines = Number(process.argv[3] ?? 100_000);
const repo = join(import.meta.dir, "..", "..");
const base = mkdtempSync(join(tmpdir(), "bunker-bench-logs-"));
const cleanups: (() => void)[] = [];
const cleanup = () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {}
  }
  rmSync(base, { recursive: true, force: true });
};
process.on("SIGINT", () => (cleanup(), process.exit(130)));

try {
  // the log: ~1 ms apart, 1 in 10 on stderr, 1 in 50 with characters Go escapes
  const logFile = join(base, "c-json.log");
  const t0 = BigInt(Date.UTC(2026, 10, 28, 5)) * 1_000_000n;
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) {
    const text = i % 50 === 0 ? `request ${i} <"quoted"> & tab\there\n` : `2026-11-28 05:00:00 INFO worker-${i % 8} handled request id=${i} status=200 bytes=${(i * 37) % 9000}\n`;
    parts.push(encodeLogLine(i % 10 === 9 ? "stderr" : "stdout", text, t0 + BigInt(i) * 1_000_123n));
  }
  writeFileSync(logFile, parts.join(""));
  const size = Bun.file(logFile).size;
  console.log(`log: ${lines} lines, ${(size / 1048576).toFixed(1)} MiB`);

  // what the CLI does, compiled: start-up + renderLogs + writes
  const probeSrc = join(base, "probe.ts");
  writeFileSync(
    probeSrc,
    `import { outputSplit, renderLogs } from ${JSON.stringify(join(repo, "src/engine/containers/logs.ts"))};
import { stdSink } from ${JSON.stringify(join(repo, "src/commands/_stdio.ts"))};
const [file, ...flags] = process.argv.slice(2);
const tail = flags.includes("--tail") ? Number(flags[flags.indexOf("--tail") + 1]) : -1;
const split = flags.includes("--ordered") ? "ordered" : outputSplit();
const out = stdSink(1);
const err = stdSink(2);
for await (const batch of renderLogs(file!, { tail, timestamps: flags.includes("-t"), split })) {
  for (const c of batch) (c.stream === "stderr" ? err : out).write(c.data);
  out.flush();
  err.flush();
}
`,
  );
  const probe = join(base, "logs-probe");
  const b = Bun.spawnSync(["bun", "build", "--compile", "--minify", probeSrc, "--outfile", probe], { stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`bun build: ${b.stderr}`);
  const empty = join(base, "empty.ts");
  writeFileSync(empty, "");
  const emptyBin = join(base, "empty-bin");
  Bun.spawnSync(["bun", "build", "--compile", empty, "--outfile", emptyBin]);

  // sanity: the probe's output equals the records' text
  const out = Bun.spawnSync([probe, logFile], { stdout: "pipe", stderr: "pipe" });
  const expectOut = parts.filter((_, i) => i % 10 !== 9).length;
  if (out.stdout.toString().split("\n").length - 1 !== expectOut) throw new Error("probe output mismatch");

  const contenders: Contender[] = [
    { name: "logs (compiled renderLogs)", run: () => timed([probe, logFile]) },
    { name: "cat (floor)", run: () => timed(["cat", logFile]) },
    { name: "empty compiled bun binary", run: () => timed([emptyBin]) },
    { name: "logs -t", run: () => timed([probe, logFile, "-t"]) },
    { name: "logs --tail 10", run: () => timed([probe, logFile, "--tail", "10"]) },
    { name: "logs, a write per stream switch", run: () => timed([probe, logFile, "--ordered"]) },
  ];

  // podman: a container whose log holds the same number of lines (its own k8s-file format)
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(existsSync);
  if (has("podman") && busybox && process.getuid?.() === 0) {
    try {
      const rootfs = join(base, "rootfs");
      mkdirSync(join(rootfs, "bin"), { recursive: true });
      writeFileSync(join(rootfs, "bin/busybox"), readFileSync(busybox), { mode: 0o755 });
      for (const a of ["sh", "seq"]) Bun.spawnSync(["ln", "-s", "busybox", join(rootfs, "bin", a)]);
      Bun.spawnSync(["tar", "-C", rootfs, "-cf", join(base, "rootfs.tar"), "."]);
      const img = "localhost/bunker-bench-logs:latest";
      if (Bun.spawnSync(["podman", "import", join(base, "rootfs.tar"), img], { stdout: "ignore", stderr: "pipe" }).exitCode !== 0) throw new Error("podman import failed");
      cleanups.push(() => Bun.spawnSync(["podman", "rmi", "-f", img], { stdout: "ignore", stderr: "ignore" }));
      const name = `bunker-bench-logs-${process.pid}`;
      const run = Bun.spawnSync(["podman", "run", "--name", name, "--log-driver", "k8s-file", "--network", "none", img, "sh", "-c", `seq 1 ${lines} | while read i; do echo "2026-11-28 05:00:00 INFO worker handled request id=$i status=200"; done`], { stdout: "ignore", stderr: "pipe" });
      cleanups.push(() => Bun.spawnSync(["podman", "rm", "-f", name], { stdout: "ignore", stderr: "ignore" }));
      if (run.exitCode !== 0) throw new Error(`podman run: ${run.stderr.toString().trim().split("\n").pop()}`);
      const n = Bun.spawnSync(["podman", "logs", name], { stdout: "pipe" }).stdout.toString().split("\n").length - 1;
      if (n !== lines) throw new Error(`podman logs printed ${n} lines`);
      contenders.push({ name: "podman logs (k8s-file)", run: () => timed(["podman", "logs", name]) });
    } catch (e) {
      console.log(`podman: skipped (${(e as Error).message})`);
    }
  }
  if (has("docker") && Bun.spawnSync(["docker", "info"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) console.log("docker: daemon answers, but this bench does not create docker containers (add one to compare)");
  else console.log("docker: skipped (no daemon)");

  await compare(`logs of ${lines} lines, end to end`, contenders, rounds);

  // in-process, warm
  const warm: Record<string, number[]> = { renderLogs: [], "renderLogs -t": [], readLogs: [] };
  const sink = (c: Uint8Array) => c.length;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    for await (const batch of renderLogs(logFile)) for (const c of batch) sink(c.data);
    warm.renderLogs!.push(performance.now() - t);
    t = performance.now();
    for await (const batch of renderLogs(logFile, { timestamps: true })) for (const c of batch) sink(c.data);
    warm["renderLogs -t"]!.push(performance.now() - t);
    t = performance.now();
    let k = 0;
    for await (const rec of readLogs(logFile)) k += rec.log.length;
    warm.readLogs!.push(performance.now() - t);
  }
  console.log(`\nin-process, warm (${rounds} rounds, medians)`);
  for (const [k, v] of Object.entries(warm)) console.log(`  ${k.padEnd(28)} ${median(v).toFixed(1).padStart(8)} ms`);
} finally {
  cleanup();
}
