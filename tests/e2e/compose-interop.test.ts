/**
 * `bunker compose` and Debian's docker-compose 1.29 on one `bunker serve` (issue 16): they share the
 * com.docker.compose.* labels, so a project started by one is listed and taken down by the other, both
 * ways, and nothing of it (containers, the <project>_default network) is left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, freshDataRoot, serveAt, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
const haveCompose = existsSync("/usr/bin/docker-compose");
let reg: Registry;
let sock: string;
let api: (path: string, init?: RequestInit) => Promise<Response>;
let dir: string;

const file = () => join(dir, "docker-compose.yml");
const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${sock}` });
/** docker-compose 1.29 against the daemon. */
const v1 = (...args: string[]) => {
  const r = Bun.spawnSync(["/usr/bin/docker-compose", "-p", "interop", "-f", file(), ...args], { cwd: dir, env: env(), stdout: "pipe", stderr: "pipe", timeout: 90_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};
/** bunker compose against the same daemon. */
const bunker = (...args: string[]) => {
  const r = Bun.spawnSync([BUNKER, "-H", `unix://${sock}`, "compose", "-p", "interop", "-f", file(), ...args], { cwd: dir, env: env(), stdout: "pipe", stderr: "pipe", timeout: 90_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};
/** The project's containers and networks as the daemon lists them. */
const left = async () => {
  const q = encodeURIComponent(JSON.stringify({ label: ["com.docker.compose.project=interop"] }));
  const containers = (await (await api(`/containers/json?all=1&filters=${q}`)).json()) as { Names: string[] }[];
  const networks = (await (await api(`/networks?filters=${encodeURIComponent(JSON.stringify({ name: ["interop_default"] }))}`)).json()) as { Name: string }[];
  return { containers: containers.map((c) => c.Names[0]).sort(), networks: networks.map((n) => n.Name) };
};

beforeAll(async () => {
  if (!root || !haveCompose) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = tempDir("bunker-compose-interop-");
  ({ api, sock } = await serveAt(freshDataRoot(), ["--registry-mirror", reg.url], { sock: join(dir, "d.sock") }));
  await (await api("/images/create?fromImage=busybox&tag=latest", { method: "POST" })).text();
  writeFileSync(
    file(),
    `version: "2.4"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; exec sleep 600"]
    stop_signal: SIGKILL
    depends_on: [db]
  db:
    image: busybox
    command: ["sh", "-c", "exec sleep 600"]
    stop_signal: SIGKILL
`,
  );
}, 900_000);

afterAll(async () => {
  if (!root || !haveCompose) return;
  v1("down", "-t", "0", "--remove-orphans");
  bunker("down", "-t", "0", "--remove-orphans");
  await reg?.stop();
});

describe.skipIf(!root || !haveCompose)("bunker compose and docker-compose 1.29 on one daemon", () => {
  test("started by bunker compose: listed, logged and taken down by docker-compose 1.29", async () => {
    const up = bunker("up", "-d");
    expect([up.code, up.stderr]).toEqual([0, expect.stringContaining(" Container interop-web-1  Started")]);
    const ps = v1("ps");
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/interop-web-1\s.*Up/);
    expect(ps.stdout).toMatch(/interop-db-1\s.*Up/);
    expect(v1("ps", "--services").stdout.trim().split("\n").sort()).toEqual(["db", "web"]);
    expect(v1("logs", "--no-color", "web").stdout).toContain("web up");
    const down = v1("down", "-t", "0");
    expect(down.code).toBe(0);
    expect(down.stderr).toContain("Removing interop-web-1");
    expect(down.stderr).toContain("Removing network interop_default");
    expect(await left()).toEqual({ containers: [], networks: [] });
  }, 120_000);

  test("started by docker-compose 1.29: listed, logged, converged and taken down by bunker compose", async () => {
    const up = v1("up", "-d");
    expect([up.code, up.stderr]).toEqual([0, expect.stringContaining("Creating interop_web_1")]);
    const ps = bunker("ps", "--format", "{{.Name}} {{.Service}} {{.State}}");
    expect([ps.code, ps.stdout]).toEqual([0, "interop_db_1 db running\ninterop_web_1 web running\n"]);
    expect(bunker("ls", "--format", "json").stdout).toContain('"Name":"interop","Status":"running(2)"');
    expect(bunker("logs", "--no-color", "web").stdout).toContain("web_1  | web up");
    // `up` over 1.29's containers: the same project, so they are replaced (compose v2's names), not doubled
    const up2 = bunker("up", "-d");
    expect([up2.code, up2.stderr]).toEqual([0, expect.stringContaining(" Container interop-web-1  Recreated")]);
    expect(up2.stderr).not.toContain("orphan");
    expect((await left()).containers).toEqual(["/interop-db-1", "/interop-web-1"]);
    const down = bunker("down", "-t", "0");
    expect(down.code).toBe(0);
    expect(down.stderr).toContain(" Container interop-web-1  Removed");
    expect(down.stderr).toContain(" Network interop_default  Removed");
    expect(await left()).toEqual({ containers: [], networks: [] });
  }, 120_000);
});
