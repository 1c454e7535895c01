/**
 * Who may reach `bunker serve`: the unix socket is 0660 root:root (a non-root user is refused even when
 * the directory is open), plain TCP is refused unless explicitly forced, TCP with --tlsverify needs a
 * client certificate signed by the CA (docker CLI with DOCKER_CERT_PATH works, curl without a cert does
 * not). Also the pidfile guard, a second daemon on a live socket, and a clean SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, freshDataRoot } from "../helpers/bunker.ts";

const DOCKER = "/usr/local/bin/docker";
const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER) && existsSync("/usr/bin/openssl");

let dir: string;
const started: Subprocess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-sec-"));
  // World-traversable, so a refusal can only come from the socket's own mode.
  chmodSync(dir, 0o755);
});
afterAll(async () => {
  for (const p of started) {
    if (p.exitCode === null) p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

function run(cmd: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(cmd, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), ...env }, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Starts a daemon; resolves once its log says it listens (or it exited). */
async function startDaemon(args: string[]) {
  const p = Bun.spawn([BUNKER, "serve", "--data-root", freshDataRoot(), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.push(p);
  let log = "";
  const reader = p.stderr.getReader();
  const dec = new TextDecoder();
  const end = Date.now() + 10_000;
  while (Date.now() < end && !log.includes("Daemon has completed initialization")) {
    const r = await Promise.race([reader.read(), p.exited.then(() => ({ done: true, value: undefined }))]);
    if (r.done) break;
    log += dec.decode(r.value);
  }
  reader.releaseLock();
  return { proc: p, log: () => log };
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

describe.skipIf(!ready)("unix socket", () => {
  test("0660 root:root; root connects, nobody is refused; SIGTERM removes socket and pidfile", async () => {
    const sock = join(dir, "root-only.sock");
    const pidfile = join(dir, "run", "bunker.pid");
    const d = await startDaemon(["-H", `unix://${sock}`, "--pidfile", pidfile]);
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(readFileSync(pidfile, "utf8").trim()).toBe(String(d.proc.pid));

    expect(run(["curl", "-sf", "--unix-socket", sock, "http://x/_ping"]).stdout).toBe("OK");
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const curl = run([...asNobody, "curl", "-s", "--unix-socket", sock, "http://x/_ping"]);
    expect(curl.code).not.toBe(0);
    expect(curl.stdout).toBe("");
    const dock = run([...asNobody, DOCKER, "-H", `unix://${sock}`, "version", "--format", "{{.Server.Version}}"], { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" });
    expect(dock.code).toBe(1);
    expect(dock.stderr).toContain("permission denied");

    // A second daemon: the pidfile names a live process; the socket has a live listener.
    const again = run([BUNKER, "serve", "--data-root", freshDataRoot(), "-H", `unix://${join(dir, "other.sock")}`, "--pidfile", pidfile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`pid file found, ensure bunker is not running or delete ${pidfile}`);
    const twice = run([BUNKER, "serve", "--data-root", freshDataRoot(), "-H", `unix://${sock}`]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`another daemon is listening on ${sock}`);

    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
  });

  test("SIGTERM while docker events streams: the stream ends cleanly and the daemon exits at once", async () => {
    const sock = join(dir, "events.sock");
    const d = await startDaemon(["-H", `unix://${sock}`]);
    const events = Bun.spawn([DOCKER, "-H", `unix://${sock}`, "events"], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH!, HOME: dir, DOCKER_CONFIG: join(dir, "docker-config") } });
    started.push(events);
    await Bun.sleep(300);
    const t = performance.now();
    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
    expect(performance.now() - t).toBeLessThan(1500);
    expect(await events.exited).toBe(0);
    expect(await new Response(events.stderr).text()).toBe("");
    expect(existsSync(sock)).toBe(false);
  });

  test("a stale socket file (daemon killed with -9) is replaced", async () => {
    const sock = join(dir, "stale.sock");
    const d1 = await startDaemon(["-H", `unix://${sock}`]);
    d1.proc.kill("SIGKILL");
    await d1.proc.exited;
    expect(existsSync(sock)).toBe(true);
    const d2 = await startDaemon(["-H", `unix://${sock}`]);
    expect(run(["curl", "-sf", "--unix-socket", sock, "http://x/_ping"]).stdout).toBe("OK");
    d2.proc.kill("SIGINT");
    expect(await d2.proc.exited).toBe(0);
  });
});

describe.skipIf(!ready)("TCP", () => {
  test("plain TCP is refused with dockerd's reasons; --tls=false forces it with a warning", async () => {
    const port = await freePort();
    const refused = run([BUNKER, "serve", "--data-root", freshDataRoot(), "-H", `tcp://127.0.0.1:${port}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network");
    expect(refused.stderr).toContain("'--tls=false'");
    const forced = await startDaemon(["-H", `tcp://127.0.0.1:${port}`, "--tls=false"]);
    expect(forced.log()).toContain("level=warning");
    expect(run([DOCKER, "-H", `tcp://127.0.0.1:${port}`, "version", "--format", "{{.Server.APIVersion}}"]).stdout.trim()).toBe("1.50");
    forced.proc.kill("SIGTERM");
    await forced.proc.exited;
  });

  test("--tlsverify: the docker CLI with a client certificate works; without one it is rejected", async () => {
    const certs = join(dir, "certs");
    mkdirSync(certs);
    const ssl = (args: string[]) => {
      const r = run(["openssl", ...args]);
      if (r.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    };
    const p = (f: string) => join(certs, f);
    ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bunker test CA", "-keyout", p("ca-key.pem"), "-out", p("ca.pem")]);
    ssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", p("server-key.pem"), "-out", p("server.csr")]);
    writeFileSync(p("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    ssl(["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca-key.pem"), "-CAcreateserial", "-days", "1", "-extfile", p("server.ext"), "-out", p("server-cert.pem")]);
    ssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client", "-keyout", p("key.pem"), "-out", p("client.csr")]);
    writeFileSync(p("client.ext"), "extendedKeyUsage=clientAuth\n");
    ssl(["x509", "-req", "-in", p("client.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca-key.pem"), "-CAcreateserial", "-days", "1", "-extfile", p("client.ext"), "-out", p("cert.pem")]);
    // A client certificate from another CA must not pass either.
    ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rogue", "-keyout", p("rogue-key.pem"), "-out", p("rogue.pem")]);

    const port = await freePort();
    const d = await startDaemon(["-H", `tcp://127.0.0.1:${port}`, "--tlsverify", "--tlscacert", p("ca.pem"), "--tlscert", p("server-cert.pem"), "--tlskey", p("server-key.pem")]);
    expect(d.log()).toContain(`API listen on tcp://127.0.0.1:${port}`);
    expect(d.log()).not.toContain("level=warning");

    const ok = run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certs });
    expect(ok.stderr).toBe("");
    expect(ok.stdout.trim()).toBe("1.50");
    expect(run(["curl", "-sf", "--cacert", p("ca.pem"), "--cert", p("cert.pem"), "--key", p("key.pem"), `https://127.0.0.1:${port}/_ping`]).stdout).toBe("OK");

    const noCert = run(["curl", "-s", "--cacert", p("ca.pem"), `https://127.0.0.1:${port}/_ping`]);
    expect(noCert.code).not.toBe(0);
    expect(noCert.stdout).toBe("");
    const rogue = run(["curl", "-s", "--cacert", p("ca.pem"), "--cert", p("rogue.pem"), "--key", p("rogue-key.pem"), `https://127.0.0.1:${port}/_ping`]);
    expect(rogue.code).not.toBe(0);
    expect(rogue.stdout).toBe("");
    const plain = run(["curl", "-s", `http://127.0.0.1:${port}/_ping`]);
    expect(plain.stdout).not.toBe("OK");
    // The daemon is still fine after the rejected handshakes.
    expect(run(["curl", "-sf", "--cacert", p("ca.pem"), "--cert", p("cert.pem"), "--key", p("key.pem"), `https://127.0.0.1:${port}/_ping`]).stdout).toBe("OK");

    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
  });

  test("--tlsverify without the files is an error before anything listens", () => {
    const r = run([BUNKER, "serve", "--data-root", freshDataRoot(), "-H", "tcp://127.0.0.1:0", "--tlsverify"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--tlsverify needs --tlscacert, --tlscert and --tlskey");
  });
});
