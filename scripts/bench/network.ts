/**
 * Issue 5's targets, measured (not a test; root): `run --rm busybox true` on the default bridge (median
 * ≤ 50 ms; docker 322 ms here) against `--network none` (must not get slower: ~30 ms), interleaved; and
 * redis-benchmark GET/SET through `-p 127.0.0.1:PORT:6379` against redis-server on the host (≥ 0.85 of it
 * for the kernel path; docker's userland proxy 0.46, iptables 0.94), through the kernel path and through
 * bunker's userland proxy (`--iptables=false`). Also the supervisor's memory: the embedded DNS and the proxy
 * live in it, so it is the supervisor's PSS with and without a user network, and with the proxy idle and
 * under redis-benchmark's 50 connections.
 *
 *   bun scripts/bench/network.ts [rounds]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, median, timed, sh } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { purgeNetworking } from "../../tests/helpers/netcheck.ts";

const rounds = Number(process.argv[2] ?? 30);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
await ensureTestbed();
const reg = await startRegistry({ auth: "none" });
const work = mkdtempSync(join(tmpdir(), "bunker-bench-net-"));
const dataRoot = join(work, "root");
const B = (...a: string[]) => [bunker, "--data-root", dataRoot, ...a];
const busybox = `${reg.host}/busybox`;
const redis = `${reg.host}/redis`;
const free = () => {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
};
const hostRedis: Bun.Subprocess[] = [];
try {
  sh(B("pull", "-q", busybox));
  sh(B("pull", "-q", redis));
  sh(B("run", "--rm", busybox, "true")); // creates bunker0 and its rules once, as the first run does
  await compare(
    "run --rm busybox true",
    [
      { name: "bunker, default bridge", run: () => timed(B("run", "--rm", busybox, "true")) },
      { name: "bunker, --network none", run: () => timed(B("run", "--rm", "--network", "none", busybox, "true")) },
      { name: "bunker, user network", prepare: () => void Bun.spawnSync(B("network", "create", "benchnet")), run: () => timed(B("run", "--rm", "--network", "benchnet", busybox, "true")) },
    ],
    rounds,
  );

  // redis-benchmark: the same redis-server binary on the host vs in a container behind -p 127.0.0.1:P:6379.
  if (Bun.which("redis-benchmark") && Bun.which("redis-server")) {
    const hp = free();
    hostRedis.push(Bun.spawn(["redis-server", "--port", String(hp), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" }));
    const cp = free();
    const pp = free();
    const redisArgs = [redis, "redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"];
    sh(B("run", "-d", "--name", "benchredis", "-p", `127.0.0.1:${cp}:6379`, ...redisArgs));
    // The same data root with the kernel path off: this container's port goes through its supervisor's proxy.
    sh(B("--iptables=false", "run", "-d", "--name", "benchproxy", "-p", `127.0.0.1:${pp}:6379`, ...redisArgs));
    const ping = (p: number) => Bun.spawnSync(["redis-cli", "-p", String(p), "ping"], { stdout: "pipe" }).stdout.toString().includes("PONG");
    for (let i = 0; i < 100 && !(ping(hp) && ping(cp) && ping(pp)); i++) await Bun.sleep(50);
    const benchCmd = (port: number) => ["redis-benchmark", "-h", "127.0.0.1", "-p", String(port), "-t", "get,set", "-n", "100000", "-c", "50", "-q"];
    const parse = (out: string) => ({ get: Number(/GET: ([\d.]+)/.exec(out)?.[1]), set: Number(/SET: ([\d.]+)/.exec(out)?.[1]) });
    const rps = (port: number) => parse(sh(benchCmd(port)));
    const h: { get: number; set: number }[] = [];
    const c: { get: number; set: number }[] = [];
    const u: { get: number; set: number }[] = [];
    const redisRounds = 7;
    for (let i = 0; i < redisRounds; i++) {
      h.push(rps(hp));
      c.push(rps(cp));
      u.push(rps(pp));
    }
    const mg = (xs: { get: number; set: number }[], k: "get" | "set") => median(xs.map((x) => x[k]));
    // Each round runs host, kernel path and proxy back to back: the median of the per-round ratios is what
    // drifts least when the machine's speed does (this VM's host figure moves by ±10% between rounds).
    const ratio = (xs: { get: number; set: number }[], k: "get" | "set") => median(xs.map((x, i) => x[k] / h[i]![k]));
    console.log(`\nredis-benchmark -t get,set -n 100000 -c 50 (${redisRounds} interleaved rounds, medians, requests/s; ratio = median of per-round ratios)`);
    for (const k of ["get", "set"] as const) {
      console.log(`  ${k.toUpperCase()}: host ${mg(h, k).toFixed(0)}, bunker -p 127.0.0.1 (iptables) ${mg(c, k).toFixed(0)}  ratio ${ratio(c, k).toFixed(2)} (target ≥ 0.85; docker iptables 0.94)`);
      console.log(`  ${k.toUpperCase()}: host ${mg(h, k).toFixed(0)}, bunker -p 127.0.0.1 (userland proxy) ${mg(u, k).toFixed(0)}  ratio ${ratio(u, k).toFixed(2)} (docker's userland proxy 0.46)`);
    }

    // The embedded DNS and the proxy live in the supervisor: its PSS with a user network vs the default
    // bridge, and with the proxy idle vs under load.
    const pss = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    const statusOf = (name: string) => JSON.parse(readFileSync(join(dataRoot, "containers", sh(B("inspect", "-f", "{{.Id}}", name)), "status.json"), "utf8"));
    const supervisors = (name: string) => {
      const st = statusOf(name);
      return pss(st.supervisorPid) + pss(st.guardianPid);
    };
    const proxySup = statusOf("benchproxy").supervisorPid as number;
    const idle = pss(proxySup);
    const load = Bun.spawn(benchCmd(pp), { stdout: "ignore", stderr: "ignore" });
    let busy = 0;
    while (load.exitCode === null) {
      busy = Math.max(busy, pss(proxySup));
      await Bun.sleep(20);
    }
    await Bun.sleep(200);
    console.log(`\nuserland proxy, supervisor PSS: idle ${idle} KiB, peak under redis-benchmark -c 50 ${busy} KiB, after ${pss(proxySup)} KiB (kernel-path supervisor: ${pss(statusOf("benchredis").supervisorPid)} KiB)`);
    sh(B("run", "-d", "--name", "dnsuser", "--network", "benchnet", busybox, "sleep", "300"));
    sh(B("run", "-d", "--name", "nodns", busybox, "sleep", "300"));
    sh(B("exec", "dnsuser", "nslookup", "dnsuser")); // let the resolver answer once
    console.log(`\nsupervision PSS (guardian + supervisor): with embedded DNS ${supervisors("dnsuser")} KiB, default bridge ${supervisors("nodns")} KiB; no DNS process exists`);
  } else console.log("(redis-benchmark missing: apt-get install redis-tools redis-server)");
} finally {
  for (const p of hostRedis) p.kill();
  const left = Bun.spawnSync(B("ps", "-aq", "--no-trunc")).stdout.toString().trim();
  if (left) Bun.spawnSync(B("rm", "-f", ...left.split("\n")));
  Bun.spawnSync(B("network", "rm", "benchnet"));
  await reg.stop();
  purgeNetworking(dataRoot); // the data root goes: its bridge, rules and address claims with it
  rmSync(work, { recursive: true, force: true });
}
