/**
 * The root command: global options, command lookup (lazy: only the command that runs is loaded),
 * help, and the mapping of errors to the docker CLI's messages and exit codes.
 */
import { EngineError, type ErrorCode } from "../engine/errors.ts";
import type { ContainerStartError, ExecStartError } from "../engine/runtime/index.ts";
import { CliError, type Command, globalFlags, parseFlags, renderHelp } from "./_cli.ts";
import { version, commit } from "../version.ts";

type Loader = () => Promise<{ default: Command }>;

/** Top-level commands; management groups (`image ls`) map onto the same files. */
const commands: Record<string, Loader> = {
  pull: () => import("./pull.ts"),
  images: () => import("./images.ts"),
  history: () => import("./history.ts"),
  inspect: () => import("./inspect.ts"),
  tag: () => import("./tag.ts"),
  rmi: () => import("./rmi.ts"),
  login: () => import("./login.ts"),
  logout: () => import("./logout.ts"),
  version: () => import("./version.ts"),
  info: () => import("./info.ts"),
  serve: () => import("./serve.ts"),
  daemon: () => import("./serve.ts"),
  run: () => import("./run.ts"),
  create: () => import("./create.ts"),
  start: () => import("./start.ts"),
  stop: () => import("./stop.ts"),
  restart: () => import("./restart.ts"),
  kill: () => import("./kill.ts"),
  rm: () => import("./rm.ts"),
  ps: () => import("./ps.ts"),
  wait: () => import("./wait.ts"),
  rename: () => import("./rename.ts"),
  exec: () => import("./exec.ts"),
  logs: () => import("./logs.ts"),
  top: () => import("./top.ts"),
  diff: () => import("./diff.ts"),
  port: () => import("./port.ts"),
  attach: () => import("./attach.ts"),
  events: () => import("./events.ts"),
  cp: () => import("./cp.ts"),
  save: () => import("./save.ts"),
  load: () => import("./load.ts"),
  stats: () => import("./stats.ts"),
  pause: () => import("./pause.ts"),
  unpause: () => import("./unpause.ts"),
  update: () => import("./update.ts"),
  commit: () => import("./commit.ts"),
  export: () => import("./export.ts"),
  import: () => import("./import.ts"),
  push: () => import("./push.ts"),
  compose: () => import("./compose.ts"),
};

/**
 * Docker commands bunker does not have: each answers with one message and exit 1 instead of "unknown
 * command", so a script learns it is a gap, not a typo.
 */
const unsupported = ["search", "swarm", "service", "stack", "node", "secret", "config", "plugin", "trust", "context", "manifest", "buildx", "checkpoint", "scout", "init", "debug", "sbom"];

/** The one wording of a docker command bunker lacks. */
const notSupportedYet = (path: string) => new CliError(`${path} is not supported yet\n\nRun 'bunker --help' for the commands bunker has`, 1);

// Loaders shared by a subcommand and its alias (one object each, so help lists the subcommand once).
const networkLs: Loader = () => import("./network-ls.ts");
const networkRm: Loader = () => import("./network-rm.ts");
const volumeLs: Loader = () => import("./volume-ls.ts");
const volumeRm: Loader = () => import("./volume-rm.ts");

/** `bunker image ls` etc.: group → subcommand → loader. */
const groups: Record<string, { description: string; commands: Record<string, Loader> }> = {
  image: {
    description: "Manage images",
    commands: {
      pull: commands.pull!,
      push: commands.push!,
      ls: commands.images!,
      list: commands.images!,
      history: commands.history!,
      inspect: () => import("./image-inspect.ts"),
      tag: commands.tag!,
      rm: commands.rmi!,
      remove: commands.rmi!,
      rmi: commands.rmi!,
      prune: () => import("./image-prune.ts"),
      save: commands.save!,
      load: commands.load!,
      import: commands.import!,
    },
  },
  container: {
    description: "Manage containers",
    commands: {
      run: commands.run!,
      create: commands.create!,
      start: commands.start!,
      stop: commands.stop!,
      restart: commands.restart!,
      kill: commands.kill!,
      rm: commands.rm!,
      remove: commands.rm!,
      ls: commands.ps!,
      list: commands.ps!,
      ps: commands.ps!,
      inspect: commands.inspect!,
      wait: commands.wait!,
      rename: commands.rename!,
      exec: commands.exec!,
      logs: commands.logs!,
      top: commands.top!,
      diff: commands.diff!,
      port: commands.port!,
      attach: commands.attach!,
      cp: commands.cp!,
      prune: () => import("./container-prune.ts"),
      stats: commands.stats!,
      pause: commands.pause!,
      unpause: commands.unpause!,
      update: commands.update!,
      commit: commands.commit!,
      export: commands.export!,
    },
  },
  network: {
    description: "Manage networks",
    commands: {
      create: () => import("./network-create.ts"),
      ls: networkLs,
      list: networkLs,
      inspect: () => import("./network-inspect.ts"),
      rm: networkRm,
      remove: networkRm,
      connect: () => import("./network-connect.ts"),
      disconnect: () => import("./network-disconnect.ts"),
      prune: () => import("./network-prune.ts"),
    },
  },
  volume: {
    description: "Manage volumes",
    commands: {
      create: () => import("./volume-create.ts"),
      ls: volumeLs,
      list: volumeLs,
      inspect: () => import("./volume-inspect.ts"),
      rm: volumeRm,
      remove: volumeRm,
      prune: () => import("./volume-prune.ts"),
    },
  },
  system: {
    description: "Manage Bunker",
    commands: { df: () => import("./system-df.ts"), info: commands.info!, events: commands.events!, prune: () => import("./system-prune.ts") },
  },
};

const descriptions: [string, string][] = [
  ["run", "Create and run a new container from an image"],
  ["ps", "List containers"],
  ["create", "Create a new container"],
  ["start", "Start one or more stopped containers"],
  ["stop", "Stop one or more running containers"],
  ["restart", "Restart one or more containers"],
  ["kill", "Kill one or more running containers"],
  ["rm", "Remove one or more containers"],
  ["wait", "Block until one or more containers stop, then print their exit codes"],
  ["rename", "Rename a container"],
  ["exec", "Execute a command in a running container"],
  ["logs", "Fetch the logs of a container"],
  ["top", "Display the running processes of a container"],
  ["diff", "Inspect changes to files or directories on a container's filesystem"],
  ["port", "List port mappings or a specific mapping for the container"],
  ["attach", "Attach local standard input, output, and error streams to a running container"],
  ["events", "Get real time events from the server"],
  ["cp", "Copy files/folders between a container and the local filesystem"],
  ["stats", "Display a live stream of container(s) resource usage statistics"],
  ["pause", "Pause all processes within one or more containers"],
  ["unpause", "Unpause all processes within one or more containers"],
  ["update", "Update configuration of one or more containers"],
  ["commit", "Create a new image from a container's changes"],
  ["export", "Export a container's filesystem as a tar archive"],
  ["pull", "Download an image from a registry"],
  ["push", "Upload an image to a registry"],
  ["images", "List images"],
  ["history", "Show the history of an image"],
  ["inspect", "Return low-level information on Bunker objects"],
  ["tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"],
  ["rmi", "Remove one or more images"],
  ["save", "Save one or more images to a tar archive (streamed to STDOUT by default)"],
  ["load", "Load an image from a tar archive or STDIN"],
  ["import", "Import the contents from a tarball to create a filesystem image"],
  ["login", "Authenticate to a registry"],
  ["logout", "Log out from a registry"],
  ["info", "Display system-wide information"],
  ["version", "Show the Bunker version information"],
  ["serve", "Run the Docker Engine API daemon (alias: daemon)"],
  ["compose", "Define and run multi-container applications"],
];

function rootHelp(): string {
  const rows = descriptions.map(([n, d]) => `  ${n.padEnd(12)}${d}`);
  const mg = Object.entries(groups).map(([n, g]) => `  ${n.padEnd(12)}${g.description}`);
  const left = Object.entries(globalFlags).map(([n, f]) => [`  ${f.alias ? `-${f.alias}, ` : "    "}--${n}${f.type === "string" ? ` ${f.valueHint}` : ""}`, f.description] as const);
  const all = [...left, ["  -v, --version", "Print version information and quit"] as const];
  const width = Math.max(...all.map(([l]) => l.length)) + 3;
  const opts = all.map(([l, d]) => l.padEnd(width) + d);
  return ["Usage:  bunker [OPTIONS] COMMAND", "", "A container engine in one file", "", "Commands:", ...rows, "", "Management Commands:", ...mg, "", "Global Options:", ...opts, "", "Run 'bunker COMMAND --help' for more information on a command."].join("\n");
}

/** Runs the CLI with argv (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // Global options stand before the command name, as `docker --data-root x pull`; every command also
  // accepts them among its own flags.
  const pre: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "-") break;
    if (a === "-v" || a === "--version") {
      console.log(`Bunker version ${version}, build ${commit}`);
      return 0;
    }
    if (a === "-h" || a === "--help") {
      console.log(rootHelp());
      return 0;
    }
    pre.push(a);
    const name = a.replace(/^--?/, "").split("=")[0]!;
    const f = globalFlags[name] ?? Object.values(globalFlags).find((g) => g.alias === name);
    if (!f) return fail(new CliError(`unknown flag: ${a.split("=")[0]}\nSee 'bunker --help'.`, 125));
    if (f.type === "string" && !a.includes("=")) pre.push(argv[++i] ?? "");
  }
  const name = argv[i];
  if (name === undefined) {
    console.log(rootHelp());
    return 0;
  }
  let path = `bunker ${name}`;
  let rest = argv.slice(i + 1);
  let loader = commands[name];
  const group = groups[name];
  if (group) {
    const sub = rest[0];
    if (sub === undefined || sub === "--help" || sub === "-h") {
      console.log(await groupHelp(name, group));
      return 0;
    }
    loader = group.commands[sub];
    if (!loader) return fail(new CliError(`bunker: unknown command: bunker ${name} ${sub}\n\nRun 'bunker ${name} --help' for more information`, 1));
    path = `bunker ${name} ${sub}`;
    rest = rest.slice(1);
  }
  if (!loader && unsupported.includes(name)) return fail(notSupportedYet(path));
  if (!loader) return fail(new CliError(`bunker: unknown command: bunker ${name}\n\nRun 'bunker --help' for more information`, 1));
  const cmd = (await loader()).default;
  if (rest.includes("--help") && (cmd.interspersed !== false || rest.indexOf("--help") < firstPositional(rest))) {
    console.log(renderHelp(cmd, path));
    return 0;
  }
  try {
    // Options before the command are global options only (history's -H is --human, the global -H is the host).
    const before = parseFlags(pre, { meta: cmd.meta, flags: {}, run: cmd.run }, path);
    const inv = parseFlags(rest, cmd, path);
    inv.global = { ...before.global, ...inv.global };
    if (inv.global.debug) process.env.BUNKER_DEBUG = "1";
    return (await cmd.run(inv)) ?? 0;
  } catch (e) {
    return fail(e, cmd.meta.name);
  }
}

/**
 * `bunker image --help` as `docker image --help`: each subcommand once (aliases such as `list` share its
 * loader and are left out), sorted, with its description.
 */
async function groupHelp(name: string, group: { description: string; commands: Record<string, Loader> }): Promise<string> {
  const seen = new Set<Loader>();
  const subs = Object.entries(group.commands).filter(([, l]) => !seen.has(l) && seen.add(l));
  const rows = await Promise.all(subs.map(async ([sub, l]) => `  ${sub.padEnd(12)}${(await l()).default.meta.description}`));
  return [`Usage:  bunker ${name} COMMAND`, "", group.description, "", "Commands:", ...rows.sort(), "", `Run 'bunker ${name} COMMAND --help' for more information on a command.`].join("\n");
}

function firstPositional(args: string[]): number {
  const i = args.findIndex((a) => !a.startsWith("-"));
  return i < 0 ? args.length : i;
}

/**
 * Engine failures that the docker CLI or dockerd report themselves, not as a daemon's answer: printed as is,
 * exit 1 (a --since/--until the CLI cannot parse, dockerd refusing its configuration or its listeners).
 */
const reportedAsIs: ErrorCode[] = ["invalidTimestamp", "daemonConfig", "daemonStart", "daemonDenied"];

/**
 * Prints an error as the docker CLI does and returns its exit code: the one place where errors become exit
 * codes (the engine and the server only throw EngineErrors with a kind and a code).
 */
export function fail(e: unknown, command?: string): number {
  // run/create as the docker CLI reports a daemon it may not reach: prefixed, and 126 (toStatusError reads
  // "permission denied" in the text).
  const denied = (e instanceof CliError && e.name === "DataRootDenied") || (e instanceof EngineError && e.code === "daemonDenied");
  if (denied && (command === "run" || command === "create")) {
    console.error(`bunker: ${e.message}\n\nRun 'bunker ${command} --help' for more information`);
    return 126;
  }
  if (e instanceof CliError) {
    console.error(e.message);
    return e.exitCode;
  }
  if (e instanceof EngineError && e.code && reportedAsIs.includes(e.code)) {
    console.error(e.message);
    return 1;
  }
  // run/create report engine failures with 125 (126/127 when the command cannot be run), as `docker run`
  // does, prefixed and followed by a help hint like the docker CLI's; other commands exit 1.
  const runLike = command === "run" || command === "create";
  // exec's start failures carry 126/127 like run's, printed as the docker CLI prints them.
  const started = e instanceof EngineError ? startStatus(e) : undefined;
  if (command === "exec" && started) {
    console.error((e as Error).message);
    return started;
  }
  const engineExit = runLike ? 125 : 1;
  if (e instanceof EngineError) {
    if (runLike) {
      console.error(`bunker: Error response from daemon: ${e.message}\n\nRun 'bunker ${command} --help' for more information`);
      // In-process, a start failure carries the shim's status. Any other failure, and every failure over the
      // API, is only moby's text, from which the docker CLI reads 126/127 (toStatusError), so it is read here.
      return started ?? startErrorStatus(e.message);
    }
    console.error(`Error response from daemon: ${e.message}`);
    return engineExit;
  }
  if (process.env.BUNKER_DEBUG) console.error(e);
  else console.error(`Error: ${(e as Error)?.message ?? String(e)}`);
  return engineExit;
}

/** The status of a process that could not start (in-process: ContainerStartError, ExecStartError), else undefined. */
function startStatus(e: EngineError): number | undefined {
  return e.code === "startFailed" ? (e as ContainerStartError | ExecStartError).exitCode : undefined;
}

/**
 * The docker CLI's toStatusError: a start failure over the API is only text, so 127 (not found) and 126
 * (cannot execute) are read from it; anything else is 125.
 */
function startErrorStatus(message: string): number {
  if (/executable file not found|no such file or directory/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}
