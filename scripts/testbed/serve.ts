#!/usr/bin/env bun
/**
 * Starts an open, read-only registry on the cached test-bed storage (building it first if needed), prints
 * its URL on stdout and writes its pid to PIDFILE, so a shell script can stop it with `kill "$(cat PIDFILE)"`.
 * Its config and log go to PIDFILE.d/.
 *
 *   url=$(bun scripts/testbed/serve.ts /tmp/registry.pid)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnRegistry } from "./registry-run.ts";

const pidFile = process.argv[2];
if (!pidFile) {
  console.error("usage: bun scripts/testbed/serve.ts PIDFILE");
  process.exit(2);
}
const build = Bun.spawn([process.execPath, join(import.meta.dir, "build-images.ts")], { stdio: ["ignore", "pipe", "inherit"] });
const dir = (await new Response(build.stdout).text()).trim();
if ((await build.exited) !== 0 || !dir) process.exit(1);

const workDir = resolve(`${pidFile}.d`);
mkdirSync(workDir, { recursive: true });
const reg = await spawnRegistry({ storageDir: join(dir, "registry"), workDir, readOnly: true, detached: true });
reg.proc.unref();
writeFileSync(pidFile, `${reg.proc.pid}\n`);
console.log(reg.url);
