/** Typed flags: values are parsed once by the command framework, with pflag's error text (exit 125). */
import { describe, expect, test } from "bun:test";
import { defineCommand, flagError, parseFlags } from "../../src/commands/_cli.ts";
import { CliError } from "../../src/commands/_cli.ts";
import runCmd from "../../src/commands/run.ts";
import psCmd from "../../src/commands/ps.ts";
import stopCmd from "../../src/commands/stop.ts";

const cmd = defineCommand({
  meta: { name: "x", description: "typed", usage: "[OPTIONS]" },
  flags: {
    last: { type: "int", alias: "n", description: "int", default: "-1" },
    memory: { type: "bytes", alias: "m", description: "bytes" },
    swap: { type: "memswap", description: "memswap" },
    port: { type: "int", multiple: true, description: "ints" },
  },
  run: async () => 0,
});

function error(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    return e as CliError;
  }
  throw new Error("no error");
}

describe("typed flags", () => {
  test("int, bytes and memswap values arrive typed; defaults are parsed too", () => {
    expect(parseFlags([], cmd, "bunker x").flags).toEqual({ last: -1 });
    expect(parseFlags(["-n", "+3", "-m", "1g", "--swap=-1", "--port", "1", "--port=2"], cmd, "bunker x").flags).toEqual({ last: 3, memory: 1024 ** 3, swap: -1, port: [1, 2] });
    expect(parseFlags(["--memory=", "--swap", "64k"], cmd, "bunker x").flags).toEqual({ last: -1, swap: 65536 });
  });

  test("a refused value is pflag's error, named -s, --long when the flag has a shorthand", () => {
    const e = error(() => parseFlags(["-n", "x"], cmd, "bunker x"));
    expect([e.exitCode, e.message]).toEqual([125, 'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax']);
    expect(error(() => parseFlags(["--port", "1.5"], cmd, "bunker x")).message).toBe('invalid argument "1.5" for "--port" flag: strconv.ParseInt: parsing "1.5": invalid syntax');
    expect(error(() => parseFlags(["-mlots"], cmd, "bunker x")).message).toBe(`invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`);
    expect(error(() => parseFlags(["--swap", "-2"], cmd, "bunker x")).message).toBe(`invalid argument "-2" for "--swap" flag: invalid size: '-2'`);
    expect(flagError("filter", "a", "why", "f").message).toBe('invalid argument "a" for "-f, --filter" flag: why');
  });

  test("the commands' own flags are typed: run's resources, ps -n, stop -t", () => {
    const inv = parseFlags(["-m", "512m", "--memory-swap", "-1", "--pids-limit", "10", "-c", "512", "--shm-size", "1m", "--stop-timeout", "3", "busybox"], runCmd, "bunker run");
    expect(inv.flags).toMatchObject({ memory: 512 * 1024 ** 2, "memory-swap": -1, "pids-limit": 10, "cpu-shares": 512, "shm-size": 1024 ** 2, "stop-timeout": 3 });
    expect(parseFlags([], psCmd, "bunker ps").flags.last).toBe(-1);
    expect(error(() => parseFlags(["-n", "two"], psCmd, "bunker ps")).message).toBe('invalid argument "two" for "-n, --last" flag: strconv.ParseInt: parsing "two": invalid syntax');
    expect(error(() => parseFlags(["-t", "soon", "c1"], stopCmd, "bunker stop")).message).toBe('invalid argument "soon" for "-t, --time" flag: strconv.ParseInt: parsing "soon": invalid syntax');
    expect(parseFlags(["--time=5", "c1"], stopCmd, "bunker stop").flags.time).toBe(5);
  });
});
