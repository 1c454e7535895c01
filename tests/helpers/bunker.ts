/**
 * Runs the compiled dist/bunker as a user would, with an isolated data root per test file. With
 * BUNKER_E2E_MODE=daemon the same tests run against `bunker serve` on that data root: the CLI then talks
 * to the daemon over its socket (-H), and the daemon gets the global options (registry mirrors...).
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureTestbed } from "./images.ts";
import { startRegistry, type Registry } from "./registry.ts";

/** The binary under test (built by `bun run test`; build it first when running a file alone). */
export const BUNKER = resolve(import.meta.dir, "../../dist/bunker");

/** True when this run drives a daemon instead of the in-process engine. */
export const DAEMON_MODE = process.env.BUNKER_E2E_MODE === "daemon";

/** What a command printed and returned. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Daemons started for this test process, stopped by the preload's afterAll (tests/preload.ts): process exit
 * handlers do not run under bun test, and a daemon left running would hold the runner's output open.
 */
const daemons: Set<ReturnType<typeof Bun.spawn>> = ((globalThis as any).__bunkerE2eDaemons ??= new Set());

/** A bunker bound to one data root and optional global options. */
export function bunkerAt(dataRoot: string, globals: string[] = [], env: Record<string, string> = {}) {
  if (!existsSync(BUNKER)) throw new Error(`${BUNKER} is missing: run \`bun run build\` first`);
  // The binary uses the shim it embeds: a BUNKER_SHIM that a runtime test set in this process must not leak in.
  const childEnv = () => {
    const e: Record<string, string | undefined> = { ...process.env, ...env };
    delete e.BUNKER_SHIM;
    delete e.BUNKER_E2E_MODE;
    return e;
  };
  let daemonReady: Promise<string[]> | undefined;
  /** The CLI's leading arguments: the data root in-process, or -H to a daemon started on first use. */
  const prefix = (): Promise<string[]> => {
    if (!DAEMON_MODE) return Promise.resolve(["--data-root", dataRoot, ...globals]);
    daemonReady ??= (async () => {
      const sock = `${dataRoot}.sock`;
      const d = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, ...globals], { stdout: "ignore", stderr: "ignore", env: childEnv() });
      daemons.add(d);
      d.unref();
      await waitForDaemon(sock);
      return ["-H", `unix://${sock}`];
    })();
    return daemonReady;
  };
  const run = async (args: string[], opts: { stdin?: string; timeout?: number } = {}): Promise<Result> => {
    const proc = Bun.spawn([BUNKER, ...(await prefix()), ...args], {
      stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: childEnv(),
      timeout: opts.timeout ?? 120_000,
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  };
  /** Runs and fails the test with the output when the exit code is not 0. */
  const ok = async (args: string[]): Promise<string> => {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`bunker ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  /** Starts a command without waiting (for kill -9 tests). */
  const spawn = async (args: string[]) => Bun.spawn([BUNKER, ...(await prefix()), ...args], { stdout: "pipe", stderr: "pipe", env: childEnv() });
  /** The arguments that select this bunker (for commands run through script(1) and the like). */
  return { run, ok, dataRoot, spawn, prefix };
}

/** Waits until a daemon answers `GET /_ping` on the unix socket at `path`. */
export async function waitForDaemon(path: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch("http://x/_ping", { unix: path } as RequestInit)).status === 200) return;
    } catch {}
    await Bun.sleep(20);
  }
  throw new Error(`daemon did not answer on ${path}`);
}

/**
 * Starts `bunker serve` on a data root and waits for it: the socket is `<dataRoot>.sock` unless given, the
 * daemon is stopped by the preload's afterAll if the test does not stop it. `api` sends a request to it.
 */
export async function serveAt(dataRoot: string, globals: string[] = [], opts: { sock?: string; output?: "pipe" | "ignore" } = {}) {
  const sock = opts.sock ?? `${dataRoot}.sock`;
  const output = opts.output ?? "ignore";
  const daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, ...globals], { stdin: "ignore", stdout: output, stderr: output });
  daemons.add(daemon);
  await waitForDaemon(sock);
  const api = (path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { unix: sock, ...init } as RequestInit);
  return { daemon, sock, api };
}

/** Temp dirs of this test process, removed by the preload's afterAll after the daemons have stopped. */
const temps: Set<string> = ((globalThis as any).__bunkerE2eTemps ??= new Set());

/** A temp dir that is removed when the test run ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.add(dir);
  return dir;
}

/** A fresh data root in a temp dir (removed when the test run ends). */
export function freshDataRoot(): string {
  return join(tempDir("bunker-e2e-"), "root");
}

/**
 * The set-up most container suites share: the offline test images, a registry serving them, a fresh data
 * root whose CLI uses that registry as its mirror, and busybox pulled into it.
 */
export async function startWithBusybox(): Promise<{ reg: Registry; b: ReturnType<typeof bunkerAt>; busybox: string }> {
  await ensureTestbed();
  const reg = await startRegistry({ auth: "none" });
  const b = bunkerAt(freshDataRoot(), ["--registry-mirror", reg.url]);
  const busybox = `${reg.host}/busybox`;
  await b.ok(["pull", "-q", busybox]);
  return { reg, b, busybox };
}

/** Removes every container a suite's data root still has (what a failed test left running), then stops its registry. */
export async function removeAllAndStop(b: ReturnType<typeof bunkerAt> | undefined, reg: Registry | undefined, rmFlags: string[] = ["-f"]): Promise<void> {
  const ids = b ? (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim() : "";
  if (ids) await b!.run(["rm", ...rmFlags, ...ids.split("\n")]);
  await reg?.stop();
}
