/** `bunker compose`: docker compose v2's commands, built in; this file parses the global flags and dispatches. */
import { CliError, type Command, parseFlags, renderHelp } from "./_cli.ts";
import { composeFlags, composeSubcommands, mergeComposeFlags } from "./_compose.ts";
import { ComposeError } from "../compose/errors.ts";

const compose: Command = {
  meta: { name: "compose", description: "Define and run multi-container applications", usage: "[OPTIONS] COMMAND" },
  flags: composeFlags,
  interspersed: false,
  async run({ flags, args, global }) {
    const [sub, ...rest] = args;
    if (sub === undefined) {
      console.log(await help());
      return 0;
    }
    const loader = composeSubcommands[sub];
    if (!loader) throw new CliError(`unknown docker command: "compose ${sub}"`, 1);
    const cmd = (await loader()).default;
    const path = `bunker compose ${sub}`;
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(renderHelp(cmd, path));
      return 0;
    }
    const inv = parseFlags(rest, cmd, path);
    try {
      return await cmd.run({ ...inv, global: { ...global, ...inv.global }, flags: mergeComposeFlags(flags, inv.flags) });
    } catch (e) {
      // compose's refusals print as docker compose prints them: the message, exit 1 (or the code it carries).
      if (e instanceof ComposeError) throw new CliError(e.message, e.exitCode);
      throw e;
    }
  },
};

/** The list of compose's subcommands with their descriptions. */
async function help(): Promise<string> {
  const rows = await Promise.all(Object.entries(composeSubcommands).map(async ([n, l]) => `  ${n.padEnd(12)}${(await l()).default.meta.description}`));
  const opts = Object.entries(composeFlags).map(([n, f]) => `  ${f.alias ? `-${f.alias}, ` : "    "}--${n} ${f.valueHint ?? ""}`.padEnd(40) + (f.description ?? "").split("\n")[0]);
  return ["Usage:  bunker compose [OPTIONS] COMMAND", "", "Define and run multi-container applications with Bunker", "", "Options:", ...opts, "", "Commands:", ...rows.sort(), "", "Run 'bunker compose COMMAND --help' for more information on a command."].join("\n");
}

export default compose;
