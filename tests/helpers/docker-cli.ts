/**
 * The real docker CLI (and other clients) pointed at a `bunker serve` socket, as the serve-* suites drive it: a clean environment
 * (PATH, its own HOME and DOCKER_CONFIG under `home`, so no user configuration leaks in), output captured.
 */
import { join } from "node:path";
import type { Result } from "./bunker.ts";

/** Debian's docker CLI 28 (the newest client here); /usr/bin/docker is 20.10. */
export const DOCKER = "/usr/local/bin/docker";

/** What one client invocation may add: environment (DOCKER_BUILDKIT…), standard input, a time limit, a directory. */
export interface ClientRunOptions {
  env?: Record<string, string>;
  stdin?: string | Uint8Array | Blob;
  timeout?: number;
  cwd?: string;
}

/** A docker invocation's options: a client's, and another docker binary (the 20.10 client). */
export type DockerRunOptions = ClientRunOptions & { bin?: string };

/** A docker CLI bound to the daemon at `sock`, its configuration under `home`. */
export function dockerCli(sock: string, home: string) {
  /** The environment the CLI runs with, plus `extra`. */
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    DOCKER_CONFIG: join(home, "docker-config"),
    DOCKER_HOST: `unix://${sock}`,
    ...extra,
  });
  /** Runs any client program (docker, docker-compose, python3 with docker-py) in that environment. */
  const run = async (argv: string[], opts: ClientRunOptions = {}): Promise<Result> => {
    const stdin = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : (opts.stdin ?? "ignore");
    const proc = Bun.spawn(argv, { stdin, stdout: "pipe", stderr: "pipe", cwd: opts.cwd, env: env(opts.env), timeout: opts.timeout ?? 120_000 });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  };
  /** Runs `docker args`: its exit code and output. */
  const docker = (args: string[], opts: DockerRunOptions = {}): Promise<Result> => run([opts.bin ?? DOCKER, ...args], opts);
  /** Runs `docker args` and returns its standard output; throws with both outputs when it exits non-zero. */
  const dockerOk = async (args: string[], opts: DockerRunOptions = {}): Promise<string> => {
    const r = await docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  return { run, docker, dockerOk, env };
}
