import { describe, expect, test } from "bun:test";
import { CliError, defineCommand, parseFlags } from "../../src/commands/_cli.ts";

const run = defineCommand({
  meta: { name: "run", description: "Create and run a new container from an image", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]" },
  flags: {
    env: { type: "string", alias: "e", multiple: true, description: "Set environment variables" },
    interactive: { type: "boolean", alias: "i", description: "Keep STDIN open" },
    tty: { type: "boolean", alias: "t", description: "Allocate a pseudo-TTY" },
    name: { type: "string", description: "Assign a name" },
    publish: { type: "string", alias: "p", multiple: true, description: "Publish ports" },
  },
  interspersed: false,
  args: { min: 1 },
  run: async () => 0,
});
const images = defineCommand({
  meta: { name: "images", description: "List images", usage: "[OPTIONS] [REPOSITORY[:TAG]]" },
  flags: { quiet: { type: "boolean", alias: "q", description: "Only IDs" }, filter: { type: "string", alias: "f", multiple: true, description: "Filter" } },
  args: { max: 1 },
  run: async () => 0,
});

function error(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e) {
    return e as CliError;
  }
  throw new Error("expected an error");
}

describe("parseFlags (pflag rules)", () => {
  test("repeated flags accumulate and bundles split", () => {
    const inv = parseFlags(["-it", "-e", "A=1", "--env=B=2", "-eC=3", "--name", "x", "busybox", "sh", "-c", "echo -e hi"], run, "bunker run");
    expect(inv.flags.env).toEqual(["A=1", "B=2", "C=3"]);
    expect(inv.flags.interactive).toBe(true);
    expect(inv.flags.tty).toBe(true);
    expect(inv.flags.name).toBe("x");
    expect(inv.args).toEqual(["busybox", "sh", "-c", "echo -e hi"]);
  });
  test("flags after the image belong to the container when not interspersed", () => {
    expect(parseFlags(["busybox", "--name", "y"], run, "bunker run").args).toEqual(["busybox", "--name", "y"]);
  });
  test("interspersed commands read flags after positionals", () => {
    const inv = parseFlags(["ubuntu", "-q", "--filter", "dangling=true"], images, "bunker images");
    expect(inv.args).toEqual(["ubuntu"]);
    expect(inv.flags.quiet).toBe(true);
    expect(inv.flags.filter).toEqual(["dangling=true"]);
  });
  test("-- ends flags", () => {
    expect(parseFlags(["--", "-q"], images, "bunker images").args).toEqual(["-q"]);
  });
  test("global options are accepted by every command", () => {
    const inv = parseFlags(["--data-root", "/x", "--registry-mirror", "http://a", "--registry-mirror=http://b", "-q"], images, "bunker images");
    expect(inv.global).toEqual({ "data-root": "/x", "registry-mirror": ["http://a", "http://b"] });
  });
  test("boolean values", () => {
    expect(parseFlags(["--quiet=false"], images, "bunker images").flags.quiet).toBe(false);
    const e = error(() => parseFlags(["--quiet=maybe"], images, "bunker images"));
    expect(e.message).toStartWith('invalid argument "maybe" for "--quiet" flag');
    expect(e.exitCode).toBe(125);
  });
  test("unknown flags are Docker's errors with exit 125", () => {
    const e = error(() => parseFlags(["--foo"], images, "bunker images"));
    expect(e.exitCode).toBe(125);
    expect(e.message).toBe("unknown flag: --foo\n\nUsage:  bunker images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'bunker images --help' for more information");
    expect(error(() => parseFlags(["-x", "busybox"], run, "bunker run")).message).toStartWith("unknown shorthand flag: 'x' in -x\n");
    expect(error(() => parseFlags(["--name"], run, "bunker run")).message).toStartWith("flag needs an argument: --name\n");
    expect(error(() => parseFlags(["-e"], run, "bunker run")).message).toStartWith("flag needs an argument: 'e' in -e\n");
  });
  test("argument counts are cobra's messages with exit 1", () => {
    const e = error(() => parseFlags([], run, "bunker run"));
    expect(e.exitCode).toBe(1);
    expect(e.message).toStartWith("bunker: 'bunker run' requires at least 1 argument\n\nUsage:  bunker run [OPTIONS] IMAGE [COMMAND] [ARG...]");
    expect(error(() => parseFlags(["a", "b"], images, "bunker images")).message).toStartWith("bunker: 'bunker images' accepts at most 1 argument");
  });
});
