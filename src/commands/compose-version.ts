/** `bunker compose version`: the docker compose v2 release whose behaviour and labels bunker compose follows. */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand } from "./_cli.ts";
import { COMPOSE_VERSION } from "../compose/labels.ts";
import { version } from "../version.ts";

export default defineCommand({
  meta: { name: "version", description: "Show the Bunker Compose version information", usage: "[OPTIONS]" },
  flags: {
    ...composeFlags,
    format: { type: "string", alias: "f", description: "Format the output. Values: [pretty | json]. (Default: pretty)", valueHint: "string" },
    short: { type: "boolean", description: "Shows only Compose's version number" },
  },
  args: { max: 0 },
  async run({ flags }) {
    if (flags.short) console.log(COMPOSE_VERSION);
    else if (flags.format === "json") console.log(JSON.stringify({ version: `v${COMPOSE_VERSION}` }));
    else if (!flags.format || flags.format === "pretty") console.log(`Bunker Compose version v${COMPOSE_VERSION} (bunker ${version})`);
    else throw new CliError(`ERROR: Invalid format type ${flags.format}`, 1);
    return 0;
  },
});
