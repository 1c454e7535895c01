/**
 * The daemon's numbers: idle RSS/PSS of `dist/bunker serve` (target ≤ 60 MiB), request latency over the
 * socket for GET /_ping, /images/json (with the test-bed images pulled) and /containers/json (target with
 * 50 containers: p50 ≤ 2 ms), measured both with a raw keep-alive HTTP/1.1 client (the daemon's cost) and
 * with fetch (what a Bun client sees); then `docker images`, `docker version`, `docker ps` and `docker run
 * --rm` against bunker serve, interleaved with the in-process `bunker images`, `ps` and `run --rm`.
 *
 *   bun scripts/bench/api.ts [requests=2000] [rounds=15]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compare, has, timed } from "./_lib.ts";
import { ensureTestbed, startRegistry } from "../../tests/helpers/registry.ts";
import { purgeNetworking } from "../../tests/helpers/netcheck.ts";

const requests = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 15);
const bunker = resolve(import.meta.dir, "../../dist/bunker");
const work = mkdtempSync(join(tmpdir(), "bunker-bench-api-"));
const sock = join(work, "bunker.sock");
const dataRoot = join(work, "root");

function memory(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string, text: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  let pss = 0;
  try {
    pss = kb("Pss", readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  } catch {}
  return { rss: kb("VmRSS", status) / 1024, pss: pss / 1024 };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** A raw HTTP/1.1 keep-alive client: one request at a time, the response read by Content-Length. */
async function rawClient(path: string) {
  let buf = "";
  let wake: (() => void) | undefined;
  const s = await Bun.connect({
    unix: path,
    socket: {
      data(_s, d) {
        buf += new TextDecoder().decode(d);
        wake?.();
      },
    },
  });
  return {
    async get(target: string): Promise<void> {
      buf = "";
      s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end >= 0) {
          const cl = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
          if (Buffer.byteLength(buf.slice(end + 4)) >= cl) return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    },
    close: () => s.end(),
  };
}

async function latency(label: string, target: string) {
  const raw = await rawClient(sock);
  for (let i = 0; i < 200; i++) await raw.get(target);
  const rawT: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    await raw.get(target);
    rawT.push(performance.now() - t);
  }
  raw.close();
  const fetchT: number[] = [];
  for (let i = 0; i < 200; i++) await (await fetch(`http://x${target}`, { unix: sock } as RequestInit)).arrayBuffer();
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    await (await fetch(`http://x${target}`, { unix: sock } as RequestInit)).arrayBuffer();
    fetchT.push(performance.now() - t);
  }
  const f = (x: number) => x.toFixed(3).padStart(7);
  console.log(`  ${label.padEnd(28)} raw p50 ${f(pct(rawT, 50))} ms  p99 ${f(pct(rawT, 99))} ms   fetch p50 ${f(pct(fetchT, 50))} ms  p99 ${f(pct(fetchT, 99))} ms`);
}

const reg = await (async () => {
  await ensureTestbed();
  return startRegistry({ auth: "none" });
})();
const daemon = Bun.spawn([bunker, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, "--registry-mirror", reg.url], { stdout: "ignore", stderr: "ignore" });
try {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch("http://x/_ping", { unix: sock } as RequestInit)).ok) break;
    } catch {}
    await Bun.sleep(25);
  }
  await Bun.sleep(1000);
  const fresh = memory(daemon.pid);
  console.log(`daemon idle, just started: RSS ${fresh.rss.toFixed(1)} MiB, PSS ${fresh.pss.toFixed(1)} MiB (target RSS ≤ 60 MiB; dockerd + containerd: 113 MiB)`);

  for (const img of ["ubuntu", "alpine", "nginx", "redis", "busybox", "debian:bookworm"]) {
    const p = Bun.spawn([bunker, "--data-root", dataRoot, "--registry-mirror", reg.url, "pull", "-q", img], { stdout: "ignore", stderr: "inherit" });
    if ((await p.exited) !== 0) throw new Error(`pull ${img} failed`);
  }
  // 50 containers, as the target states it: 10 running, 20 exited, 20 created.
  const post = (path: string, body?: object) => fetch(`http://x${path}`, { unix: sock, method: "POST", headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) } as RequestInit);
  for (let i = 0; i < 50; i++) {
    const cmd = i < 10 ? ["sleep", "1000"] : ["true"];
    const { Id } = (await (await post(`/containers/create?name=bench-${i}`, { Image: "alpine", Cmd: cmd, Labels: { bench: "api" } })).json()) as { Id: string };
    if (i < 30) await post(`/containers/${Id}/start`);
  }
  const images = ((await (await fetch("http://x/images/json", { unix: sock } as RequestInit)).json()) as unknown[]).length;
  console.log(`\nlatency over the socket, ${requests} sequential requests on one keep-alive connection (${images} images, 50 containers, 10 running):`);
  await latency("GET /_ping", "/_ping");
  await latency("GET /v1.50/images/json", "/v1.50/images/json");
  await latency("GET /v1.50/containers/json?all=1", "/v1.50/containers/json?all=1");
  await latency("GET /v1.50/containers/json", "/v1.50/containers/json");
  await latency("GET /v1.50/containers/{id}/json", "/v1.50/containers/bench-0/json");
  await latency("GET /v1.50/version", "/v1.50/version");

  const after = memory(daemon.pid);
  console.log(`\ndaemon after ${requests * 8 + 1600} requests: RSS ${after.rss.toFixed(1)} MiB, PSS ${after.pss.toFixed(1)} MiB`);
  // The daemon collects garbage once it has been quiet for up to 30 s after serving requests.
  await Bun.sleep(31_000);
  const settled = memory(daemon.pid);
  console.log(`daemon idle again (31 s later): RSS ${settled.rss.toFixed(1)} MiB, PSS ${settled.pss.toFixed(1)} MiB`);

  if (has("docker")) {
    const env = { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(work, "docker-config") };
    await compare(
      "`docker images` against bunker serve vs in-process `bunker images`",
      [
        { name: "docker images (bunker serve)", run: () => timed(["docker", "images"], { env }) },
        { name: "bunker images (in-process)", run: () => timed([bunker, "--data-root", dataRoot, "images"]) },
        { name: "docker version (bunker serve)", run: () => timed(["docker", "version"], { env }) },
      ],
      rounds,
    );
    await compare(
      "`docker ps -a` against bunker serve vs in-process `bunker ps -a` (50 containers; dockerd: 0.020 s for docker ps)",
      [
        { name: "docker ps -a (bunker serve)", run: () => timed(["docker", "ps", "-a"], { env }) },
        { name: "bunker ps -a (in-process)", run: () => timed([bunker, "--data-root", dataRoot, "ps", "-a"]) },
        { name: "docker ps (bunker serve)", run: () => timed(["docker", "ps"], { env }) },
      ],
      rounds,
    );
    await compare(
      "a container's whole life: `docker run --rm alpine true` against bunker serve vs in-process `bunker run --rm`",
      [
        { name: "docker run --rm (bunker serve)", run: () => timed(["docker", "run", "--rm", "alpine", "true"], { env }) },
        { name: "bunker run --rm (in-process)", run: () => timed([bunker, "--data-root", dataRoot, "run", "--rm", "alpine", "true"]) },
      ],
      rounds,
    );
  }
} finally {
  try {
    const list = (await (await fetch("http://x/containers/json?all=1", { unix: sock } as RequestInit)).json()) as { Id: string }[];
    for (const c of list) await fetch(`http://x/containers/${c.Id}?force=1`, { unix: sock, method: "DELETE" } as RequestInit);
  } catch {}
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg.stop();
  purgeNetworking(dataRoot); // the data root goes: its bridge, rules and address claims with it
  rmSync(work, { recursive: true, force: true });
}
