/**
 * `bunker compose`: docker compose v2 in the binary. Its own options (-f, -p, --profile, --env-file,
 * --project-directory, --ansi, --progress) stand before the subcommand, as the compose plugin's; each
 * subcommand is one file (compose-<name>.ts), loaded only when it runs.
 */
import { CliError, defineCommand, parseFlags, renderHelp, type Command } from "./_cli.ts";
import { ComposeError } from "../compose/errors.ts";
import { composeFlags, type ComposeInvocation } from "./_compose-project.ts";

type Loader = () => Promise<{ default: Command }>;

/** The subcommands, as docker compose v2 names them. */
const subcommands: Record<string, Loader> = {
  up: () => import("./compose-up.ts"),
  down: () => import("./compose-down.ts"),
  ps: () => import("./compose-ps.ts"),
  logs: () => import("./compose-logs.ts"),
  exec: () => import("./compose-exec.ts"),
  run: () => import("./compose-run.ts"),
  create: () => import("./compose-create.ts"),
  start: () => import("./compose-start.ts"),
  stop: () => import("./compose-stop.ts"),
  restart: () => import("./compose-restart.ts"),
  kill: () => import("./compose-kill.ts"),
  rm: () => import("./compose-rm.ts"),
  pause: () => import("./compose-pause.ts"),
  unpause: () => import("./compose-unpause.ts"),
  ls: () => import("./compose-ls.ts"),
  top: () => import("./compose-top.ts"),
  port: () => import("./compose-port.ts"),
  images: () => import("./compose-images.ts"),
  pull: () => import("./compose-pull.ts"),
  push: () => import("./compose-push.ts"),
  events: () => import("./compose-events.ts"),
  wait: () => import("./compose-wait.ts"),
  cp: () => import("./compose-cp.ts"),
  build: () => import("./compose-build.ts"),
};

/** `bunker compose --help`: the options, then each subcommand with its description. */
async function help(): Promise<string> {
  const own = renderHelp({ meta: { name: "compose", description: "Define and run multi-container applications with Bunker", usage: "[OPTIONS] COMMAND" }, flags: composeFlags, run: async () => {} }, "bunker compose");
  const rows = await Promise.all(Object.entries(subcommands).map(async ([n, l]) => `  ${n.padEnd(12)}${(await l()).default.meta.description}`));
  return `${own}\n\nCommands:\n${rows.sort().join("\n")}\n\nRun 'bunker compose COMMAND --help' for more information on a command.`;
}

export default defineCommand({
  meta: { name: "compose", description: "Define and run multi-container applications with Bunker", usage: "[OPTIONS] COMMAND" },
  flags: composeFlags,
  interspersed: false,
  async run(inv) {
    const [name, ...rest] = inv.args;
    if (name === undefined) {
      console.log(await help());
      return 0;
    }
    const loader = subcommands[name];
    if (!loader) throw new CliError(`unknown docker command: "compose ${name}"`, 1);
    const cmd = (await loader()).default;
    const path = `bunker compose ${name}`;
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(renderHelp(cmd, path));
      return 0;
    }
    const sub = parseFlags(rest, cmd, path) as ComposeInvocation;
    sub.global = { ...inv.global, ...sub.global };
    sub.compose = inv.flags;
    try {
      return await cmd.run(sub);
    } catch (e) {
      // compose's own failures print as docker compose prints them: the message, exit 1 (or the service's code).
      if (e instanceof ComposeError) throw new CliError(e.message, e.exitCode);
      throw e;
    }
  },
});
