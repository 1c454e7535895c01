/**
 * The bunker CLI driving a real dockerd (Debian's docker.io 20.10, API 1.41) with -H, for the commands both
 * support: the remote transport negotiates the daemon's API version as the docker CLI does. dockerd runs on a
 * private socket and data root with --iptables=false --bridge=none, so it changes nothing on the host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const enabled = process.getuid?.() === 0 && Bun.which("dockerd") !== null;
let reg: Registry;
let dir: string;
let dockerd: ReturnType<typeof Bun.spawn> | undefined;
let host: string;

const bunker = async (...args: string[]) => {
  const p = Bun.spawn([BUNKER, "-H", host, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BUNKER_SHIM: undefined } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
};

beforeAll(async () => {
  if (!enabled) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = tempDir("bunker-dockerd-");
  host = `unix://${dir}/docker.sock`;
  dockerd = Bun.spawn(
    ["dockerd", "--data-root", join(dir, "root"), "--exec-root", join(dir, "exec"), "--host", host, "--pidfile", join(dir, "docker.pid"), "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none", "--containerd-namespace", "bunkertest", "--default-ulimit", "nofile=1024:1024"],
    { stdout: "ignore", stderr: "ignore" },
  );
  for (let i = 0; i < 500 && !existsSync(join(dir, "docker.sock")); i++) await Bun.sleep(20);
  for (let i = 0; i < 100 && (await bunker("version")).code !== 0; i++) await Bun.sleep(50);
}, 120_000);

afterAll(async () => {
  if (!enabled) return;
  dockerd?.kill("SIGTERM");
  await dockerd?.exited;
  // dockerd's mounts under its data root go before the directory can.
  for (const m of readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((p) => p.startsWith(dir)).sort().reverse()) Bun.spawnSync(["umount", "-l", m]);
  rmSync(dir, { recursive: true, force: true });
  await reg?.stop();
});

describe.skipIf(!enabled)("the bunker CLI against a real dockerd", () => {
  test("version negotiates the daemon's API (1.41)", async () => {
    const v = await bunker("version", "--format", "{{.Server.ApiVersion}}");
    expect(v).toEqual({ code: 0, stdout: "1.41\n", stderr: "" });
  });

  test("pull, images, run (exit codes), ps, logs, exec, stop, rm, rmi", async () => {
    const image = `${reg.host}/busybox`;
    expect((await bunker("pull", image)).stdout).toContain(`Status: Downloaded newer image for ${image}:latest`);
    expect((await bunker("images", "--format", "{{.Repository}}:{{.Tag}}")).stdout).toBe(`${image}:latest\n`);
    expect(await bunker("run", "--rm", "--network", "none", image, "sh", "-c", "echo out; exit 4")).toEqual({ code: 4, stdout: "out\n", stderr: "" });
    expect((await bunker("run", "--rm", "--network", "none", image, "nope")).code).toBe(127);
    const id = (await bunker("run", "-d", "--name", "dk1", "--network", "none", image, "sh", "-c", "echo logged; sleep 100")).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await bunker("ps", "--format", "{{.Names}} {{.State}}")).stdout).toBe("dk1 running\n");
    for (let i = 0; i < 50 && !(await bunker("logs", "dk1")).stdout; i++) await Bun.sleep(20);
    expect((await bunker("logs", "dk1")).stdout).toBe("logged\n");
    expect(await bunker("exec", "dk1", "sh", "-c", "echo exec; exit 3")).toEqual({ code: 3, stdout: "exec\n", stderr: "" });
    expect((await bunker("stop", "-t", "1", "dk1")).stdout).toBe("dk1\n");
    expect((await bunker("inspect", "--format", "{{.State.Status}}", "dk1")).stdout).toBe("exited\n");
    expect((await bunker("rm", "dk1")).stdout).toBe("dk1\n");
    expect((await bunker("rmi", image)).stdout).toContain(`Untagged: ${image}:latest`);
    expect((await bunker("ps", "-aq")).stdout).toBe("");
  }, 120_000);
});
