/**
 * The test command (README, CI): builds dist/bunker and the offline test images, runs every bun:test suite,
 * then runs the CLI end-to-end suites again with the CLI talking to `bunker serve` (BUNKER_E2E_MODE=daemon),
 * and closes with the plain "N passed, N failed" line that CI reads. Arguments replace the suite list of
 * the first run (a path filter, -t ...); with arguments the daemon pass is skipped.
 */
import { $ } from "bun";

await $`bun scripts/build.ts`;
// Build (or find in the cache) the offline test images first, so no test's timeout has to cover a cold build.
await $`bun scripts/testbed/build-images.ts`.quiet();

/** Runs bun test, echoing its output; returns its exit code, counts, and what each failing test printed. */
async function bunTest(args: string[], env: Record<string, string> = {}) {
  // The per-test default is 5 s; e2e tests that pull and run containers need more on a loaded machine
  // (bunfig.toml's [test] timeout is not read by this Bun).
  const proc = Bun.spawn(["bun", "test", "--timeout=120000", ...args], { stdout: "inherit", stderr: "pipe", env: { ...process.env, ...env } });
  let tail = "";
  let partial = "";
  // bun prints a test's errors and output before its "(fail)" line: the lines since the previous result are its own.
  let since: string[] = [];
  let summary = false; // bun's closing lists name the failed tests again, with nothing new to keep
  const failures: string[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    process.stderr.write(chunk);
    const text = decoder.decode(chunk, { stream: true });
    tail = (tail + text).slice(-4096);
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (/^\d+ tests? (failed|skipped|todo):$/.test(line)) summary = true;
      if (summary) continue;
      if (/^\((pass|skip|todo)\) /.test(line) || /^tests\/.*:$/.test(line)) since = [];
      else if (/^\(fail\) /.test(line)) {
        failures.push([...since.slice(-80), line].join("\n"));
        since = [];
      } else since.push(line);
    }
  }
  const code = await proc.exited;
  const count = (word: string) => Number(tail.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
  return { code, passed: count("pass"), failed: count("fail"), skipped: count("skip"), failures };
}

const args = process.argv.slice(2);
const runs = [await bunTest(args.length ? args : ["tests/"])];
if (!args.length) {
  console.error("\n== the CLI suites again, through bunker serve ==");
  // The CLI suites that run again with the CLI talking to `bunker serve`, one a line.
  const daemonPass = [
    "tests/e2e/pull.test.ts",
    "tests/e2e/images-cli.test.ts",
    "tests/e2e/containers.test.ts",
    "tests/e2e/network.test.ts",
    "tests/e2e/hostile-registry.test.ts",
    "tests/e2e/create-validation.test.ts",
    "tests/e2e/cp.test.ts",
    "tests/e2e/health.test.ts",
    "tests/e2e/compose.test.ts",
    "tests/e2e/save-load.test.ts",
    "tests/e2e/sharing.test.ts",
    "tests/e2e/ops.test.ts",
    "tests/e2e/push.test.ts",
    "tests/e2e/build-cli.test.ts",
  ];
  runs.push(await bunTest(daemonPass, { BUNKER_E2E_MODE: "daemon" }));
}
// Repeated at the end, where a CI log that keeps only its tail still shows why each test failed.
const failures = runs.flatMap((r) => r.failures);
if (failures.length) console.error(`\n== what the failing tests printed ==\n${failures.join("\n\n")}`);
const sum = (k: "passed" | "failed" | "skipped") => runs.reduce((a, r) => a + r[k], 0);
console.log(`\n${sum("passed")} passed, ${sum("failed")} failed${sum("skipped") ? `, ${sum("skipped")} skipped` : ""}`);
process.exit(runs.some((r) => r.code !== 0) || sum("failed") > 0 ? 1 : 0);
