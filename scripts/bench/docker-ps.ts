/**
 * `docker ps` against `bunker serve` and against dockerd (when installed), 20 running containers each,
 * interleaved. Issue 4's target: no slower than against dockerd. dockerd runs on a private socket and data
 * root with --iptables=false --bridge=none, so it changes nothing on the host; both are stopped by pid.
 *
 *   bun scripts/bench/docker-ps.ts [rounds]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, timed, type Contender, startDockerd, tearDown, waitForPath, dockerAt } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { purgeNetworking } from "../../tests/helpers/netcheck.ts";

const rounds = Number(process.argv[2] ?? 30);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-dps-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const waitFor = waitForPath;
const docker = dockerAt;
const fill = (host: string) => {
  docker(host, "pull", "-q", `${reg.host}/busybox`);
  for (let i = 0; i < 20; i++) docker(host, "run", "-d", "--network", "none", `${reg.host}/busybox`, "sleep", "600");
};
try {
  const bs = `unix://${work}/bunker.sock`;
  procs.push(Bun.spawn([bunker, "serve", "-H", bs, "--data-root", join(work, "bunker")], { stdout: "ignore", stderr: "ignore" }));
  await waitFor(`${work}/bunker.sock`);
  fill(bs);
  const contenders: Contender[] = [{ name: "docker ps → bunker serve", run: () => timed(["docker", "ps"], { env: { DOCKER_HOST: bs } }) }];
  const dockerd = await startDockerd(work);
  if (dockerd) {
    procs.push(dockerd.proc);
    const ds = dockerd.host;
    fill(ds);
    contenders.push({ name: "docker ps → dockerd", run: () => timed(["docker", "ps"], { env: { DOCKER_HOST: ds } }) });
  } else console.log("(dockerd not installed: measured earlier on this machine: 20 ms)");
  await compare("docker ps with 20 running containers", contenders, rounds);
  for (const host of [bs, ...(dockerd ? [dockerd.host] : [])]) {
    const ids = docker(host, "ps", "-aq").stdout.toString().trim();
    if (ids) docker(host, "rm", "-f", ...ids.split("\n"));
  }
} finally {
  await tearDown(work, procs.splice(0));
  purgeNetworking(join(work, "bunker")); // the data root goes: its bridge, rules and address claims with it
  await reg.stop();
}
