/** `bunker compose down`: stops and removes the project's containers and networks (-v volumes, --rmi images). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { down } from "../compose/down.ts";

export default defineCommand({
  meta: { name: "down", description: "Stop and remove containers, networks", usage: "[OPTIONS] [SERVICES]" },
  flags: {
    ...composeFlags,
    "remove-orphans": { type: "boolean", description: "Remove containers for services not defined in the Compose file" },
    rmi: { type: "string", description: 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")', valueHint: "string" },
    timeout: { type: "int", alias: "t", description: "Specify a shutdown timeout in seconds", valueHint: "int" },
    volumes: { type: "boolean", alias: "v", description: "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers" },
  },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    await down(ctx, { volumes: inv.flags.volumes, rmi: inv.flags.rmi, removeOrphans: inv.flags["remove-orphans"], timeout: inv.flags.timeout, services: inv.args });
    return 0;
  },
});
