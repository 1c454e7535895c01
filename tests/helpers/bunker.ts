/** Runs the compiled dist/bunker as a user would, with an isolated data root per test file. */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The binary under test (built by `bun run test`; build it first when running a file alone). */
export const BUNKER = resolve(import.meta.dir, "../../dist/bunker");

/** What a command printed and returned. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A bunker bound to one data root and optional global options. */
export function bunkerAt(dataRoot: string, globals: string[] = [], env: Record<string, string> = {}) {
  if (!existsSync(BUNKER)) throw new Error(`${BUNKER} is missing: run \`bun run build\` first`);
  // The binary uses the shim it embeds: a BUNKER_SHIM that a runtime test set in this process must not leak in.
  const childEnv = () => {
    const e: Record<string, string | undefined> = { ...process.env, ...env };
    delete e.BUNKER_SHIM;
    return e;
  };
  const run = async (args: string[], opts: { stdin?: string; timeout?: number } = {}): Promise<Result> => {
    const proc = Bun.spawn([BUNKER, "--data-root", dataRoot, ...globals, ...args], {
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
  return { run, ok, dataRoot, spawn: (args: string[]) => Bun.spawn([BUNKER, "--data-root", dataRoot, ...globals, ...args], { stdout: "pipe", stderr: "pipe", env: childEnv() }) };
}

/** A fresh data root in a temp dir. */
export function freshDataRoot(): string {
  return join(mkdtempSync(join(tmpdir(), "bunker-e2e-")), "root");
}
