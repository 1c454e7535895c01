/**
 * Runs the real CNCF distribution registry (Debian's /usr/bin/docker-registry, 2.8) on a free loopback port
 * with a generated config. Shared by the image build (to push), serve.ts and tests/helpers/registry.ts.
 */
import { writeFileSync, readFileSync, existsSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** Authentication the registry enforces. */
export type RegistryAuthConfig =
  | { htpasswd: { realm: string; path: string } }
  | { token: { realm: string; service: string; issuer: string; rootcertbundle: string } };

/** What spawnRegistry needs. */
export interface RegistryRunOptions {
  /** The storage root (filesystem driver). */
  storageDir: string;
  /** Directory for config.yml and registry.log. */
  workDir: string;
  /** Refuse writes (for the shared cached storage, which several registries may serve at once). */
  readOnly?: boolean;
  auth?: RegistryAuthConfig;
  /** Keep the registry running after this process exits (serve.ts). */
  detached?: boolean;
}

/** A started registry process. */
export interface RunningRegistry {
  proc: Subprocess;
  port: number;
  host: string;
  url: string;
  logPath: string;
}

/** Asks the kernel for a free 127.0.0.1 TCP port. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Writes the registry config; JSON is valid YAML, so no YAML writer is needed. */
function writeConfig(opts: RegistryRunOptions, port: number): string {
  const config = {
    version: "0.1",
    log: { level: "info", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: opts.storageDir },
      delete: { enabled: true },
      // The purger would walk (and could delete from) a storage dir that other registries share.
      maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: !!opts.readOnly } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: "bunker-testbed", headers: { "X-Content-Type-Options": ["nosniff"] } },
    health: { storagedriver: { enabled: false } },
    ...(opts.auth ? { auth: opts.auth } : {}),
  };
  const path = join(opts.workDir, "config.yml");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Starts docker-registry and resolves once GET /v2/ answers (200 or 401). Retries on a lost port race. */
export async function spawnRegistry(opts: RegistryRunOptions): Promise<RunningRegistry> {
  const logPath = join(opts.workDir, "registry.log");
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = freePort();
    const configPath = writeConfig(opts, port);
    const logFd = openSync(logPath, "a");
    const proc = Bun.spawn(["/usr/bin/docker-registry", "serve", configPath], {
      stdin: "ignore",
      stdout: logFd,
      stderr: logFd,
      detached: opts.detached,
    });
    closeSync(logFd);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const res = await fetch(`${url}/v2/`);
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 401) return { proc, port, host: `127.0.0.1:${port}`, url, logPath };
      } catch {
        // Not listening yet.
      }
      await Bun.sleep(25);
    }
    proc.kill();
    await proc.exited;
    lastError = existsSync(logPath) ? readFileSync(logPath, "utf8").slice(-2000) : "(no log)";
  }
  throw new Error(`docker-registry did not start: ${lastError}`);
}

/** Stops a registry by pid (SIGTERM, then SIGKILL after 5 s) and waits for it. */
export async function stopRegistry(proc: Subprocess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await proc.exited;
  clearTimeout(timer);
}
