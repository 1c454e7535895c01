/**
 * Errors become exit codes in one place, the command layer's fail(): the engine and the server throw
 * EngineErrors (a kind and a code), the commands CliErrors; the output and codes are the docker CLI's.
 */
import { afterEach, beforeEach, expect, spyOn, test } from "bun:test";
import { fail } from "../../src/commands/index.ts";
import { CliError } from "../../src/commands/_cli.ts";
import { EngineError, invalidParameter } from "../../src/engine/errors.ts";
import { loadConfig } from "../../src/engine/config.ts";
import { parseTimeArgNs } from "../../src/engine/containers/logs.ts";
import { ContainerStartError, ExecStartError } from "../../src/engine/runtime/index.ts";
import { parseHost } from "../../src/server/daemon.ts";

let printed: string[] = [];
let spy: ReturnType<typeof spyOn>;
beforeEach(() => {
  printed = [];
  spy = spyOn(console, "error").mockImplementation((m: unknown) => void printed.push(String(m)));
});
afterEach(() => spy.mockRestore());

/** What fail() prints and returns for the error `f` throws. */
function outcome(f: () => unknown, command?: string): [string, number] {
  try {
    f();
  } catch (e) {
    printed = [];
    const code = fail(e, command);
    return [printed.join("\n"), code];
  }
  throw new Error("did not throw");
}

test("a CliError is printed as is with its own exit code", () => {
  expect(outcome(() => { throw new CliError("tag can't be used with --all-tags/-a", 1); }, "pull")).toEqual(["tag can't be used with --all-tags/-a", 1]);
  expect(outcome(() => { throw new CliError("bad flag", 125); }, "run")).toEqual(["bad flag", 125]);
});

test("failures the CLI or dockerd report themselves are printed as is, exit 1", () => {
  expect(outcome(() => parseTimeArgNs("yesterday"), "logs")).toEqual(['failed to parse value as time or duration: "yesterday"', 1]);
  expect(outcome(() => loadConfig({ "config-file": "/nonexistent/daemon.json" }), "ps")).toEqual([
    "unable to configure the Docker daemon with file /nonexistent/daemon.json: open /nonexistent/daemon.json: no such file or directory",
    1,
  ]);
  expect(outcome(() => parseHost("tcp://h:x"), "serve")).toEqual(["Invalid bind address format: tcp://h:x", 1]);
});

test("other engine errors are the daemon's answer: exit 1, run/create 125 with a help hint", () => {
  expect(outcome(() => { throw invalidParameter("bad"); }, "ps")).toEqual(["Error response from daemon: bad", 1]);
  expect(outcome(() => { throw invalidParameter("bad"); }, "create")).toEqual(["bunker: Error response from daemon: bad\n\nRun 'bunker create --help' for more information", 125]);
});

test("run: the start failure's own status in-process, the docker CLI's reading of the text over the API", () => {
  expect(outcome(() => { throw new ContainerStartError("exec /x failed", 126); }, "run")[1]).toBe(126);
  expect(outcome(() => { throw new ContainerStartError("shim failed", 125); }, "run")[1]).toBe(125);
  const remote = (m: string) => () => { throw new EngineError("system", m); };
  expect(outcome(remote('exec: "nope": executable file not found in $PATH'), "run")[1]).toBe(127);
  expect(outcome(remote("exec /etc: permission denied"), "run")[1]).toBe(126);
  expect(outcome(remote("something else"), "run")[1]).toBe(125);
});

test("exec: a process that cannot start exits 126/127, printed as is", () => {
  expect(outcome(() => { throw new ExecStartError('OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH', 127); }, "exec")).toEqual([
    'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH',
    127,
  ]);
});
