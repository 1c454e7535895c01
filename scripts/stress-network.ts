/**
 * Stress for races between processes of one data root on the host's network: one loop creates a network,
 * runs a container on it and removes it; the other leaves a crashed process's intent file and runs a
 * command, so every one of its commands reconciles. Before reconciliation read the networks under the host
 * lock, a few percent of the runs failed with "bridge bk-…: No such device". Exits 1 on any failed run.
 *
 *   bun scripts/stress-network.ts [seconds=60] [bunker binary=dist/bunker]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureTestbed, startRegistry } from "../tests/helpers/registry.ts";

const seconds = Number(process.argv[2] ?? 60);
const bin = resolve(process.argv[3] ?? join(import.meta.dir, "../dist/bunker"));
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const root = mkdtempSync(join(tmpdir(), "bunker-stress-net-"));
const cli = (...args: string[]) => Bun.spawn([bin, "--data-root", root, "--registry-mirror", reg.url, ...args], { stdout: "ignore", stderr: "pipe" });
const image = `${reg.host}/busybox`;
let runs = 0;
let failures = 0;
try {
  await cli("pull", "-q", image).exited;
  const end = Date.now() + seconds * 1000;
  const creator = async () => {
    for (let i = 0; Date.now() < end; i++) {
      await cli("network", "create", `stress${i}`).exited;
      const p = cli("run", "--rm", "--network", `stress${i}`, image, "true");
      const err = await new Response(p.stderr).text();
      if ((await p.exited) !== 0) {
        failures++;
        console.log(`run ${i}: ${err.trim().split("\n")[0]}`);
      }
      runs++;
      await cli("network", "rm", `stress${i}`).exited;
    }
  };
  const reconciler = async () => {
    const intents = join(root, "network", "intent");
    while (Date.now() < end) {
      mkdirSync(intents, { recursive: true });
      writeFileSync(join(intents, "999999999-1"), ""); // a process that died mid-change
      await cli("network", "inspect", "bridge").exited;
    }
  };
  await Promise.all([creator(), reconciler()]);
} finally {
  await cli("network", "prune", "-f").exited;
  await reg.stop();
  rmSync(root, { recursive: true, force: true });
}
console.log(`${runs} runs, ${failures} failed`);
process.exit(failures ? 1 : 0);
