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
    every: { type: "duration", description: "duration" },
    opt: { type: "map", alias: "o", description: "map" },
    even: { type: "map", description: "validated map", validate: (v) => { if (!/^[a-z]+=\d*[02468]$/.test(v)) throw new Error(`'${v}' is odd`); return v; } },
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

  test("duration flags are Go durations in ns, refused with Go's own reason", () => {
    expect(parseFlags(["--every", "1m30s"], cmd, "bunker x").flags.every).toBe(90e9);
    expect(parseFlags(["--every=1.5ms"], cmd, "bunker x").flags.every).toBe(1.5e6);
    expect(parseFlags(["--every", "0"], cmd, "bunker x").flags.every).toBe(0);
    expect(error(() => parseFlags(["--every", "soon"], cmd, "bunker x")).message).toBe('invalid argument "soon" for "--every" flag: time: invalid duration "soon"');
    expect(error(() => parseFlags(["--every", "10"], cmd, "bunker x")).message).toBe('invalid argument "10" for "--every" flag: time: missing unit in duration "10"');
    expect(error(() => parseFlags(["--every", "3d"], cmd, "bunker x")).message).toBe('invalid argument "3d" for "--every" flag: time: unknown unit "d" in duration "3d"');
  });

  test("map flags collect key=value as MapOpts does: first '=' splits, bare key is empty, later key wins; validators refuse", () => {
    expect(parseFlags(["-o", "a=1", "-ob=x=y", "--opt", "c", "-o", "a=2"], cmd, "bunker x").flags.opt).toEqual({ a: "2", b: "x=y", c: "" });
    expect(parseFlags(["--even", "n=4"], cmd, "bunker x").flags.even).toEqual({ n: "4" });
    expect(error(() => parseFlags(["--even", "n=3"], cmd, "bunker x")).message).toBe(`invalid argument "n=3" for "--even" flag: 'n=3' is odd`);
  });

  test("run's health durations and --sysctl map are typed; the docker CLI's refusals", () => {
    const inv = parseFlags(["--health-interval", "2s", "--health-retries", "3", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1", "busybox"], runCmd, "bunker run");
    expect(inv.flags).toMatchObject({ "health-interval": 2e9, "health-retries": 3, sysctl: { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1" } });
    expect(error(() => parseFlags(["--health-timeout", "5", "busybox"], runCmd, "bunker run")).message).toBe('invalid argument "5" for "--health-timeout" flag: time: missing unit in duration "5"');
    expect(error(() => parseFlags(["--sysctl", "kernel.hostname=x", "busybox"], runCmd, "bunker run")).message).toBe(`invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed`);
  });
});
