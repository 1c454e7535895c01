/**
 * The test command (README, CI): builds dist/bunker, then runs every bun:test suite and closes with the
 * plain "N passed, N failed" line that CI reads. Extra arguments go to `bun test` (a path filter, -t ...).
 */
import { $ } from "bun";

await $`bun scripts/build.ts`;
// Build (or find in the cache) the offline test images first, so no test's timeout has to cover a cold build.
await $`bun scripts/testbed/build-images.ts`.quiet();
const args = process.argv.slice(2);
const proc = Bun.spawn(["bun", "test", ...(args.length ? args : ["tests/"])], { stdout: "inherit", stderr: "pipe", env: process.env });
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
}
const code = await proc.exited;
const count = (word: string) => Number(tail.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
const passed = count("pass");
const failed = count("fail");
const skipped = count("skip");
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code !== 0 ? code : failed > 0 ? 1 : 0);
