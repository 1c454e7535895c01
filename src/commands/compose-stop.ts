/** `bunker compose stop`: stop services (docker compose v2's stop). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { stopServices } from "../compose/lifecycle.ts";

export default defineCommand({
  meta: { name: "stop", description: "Stop services", usage: "[OPTIONS] [SERVICE...]" },
  flags: { ...composeFlags, timeout: { type: "int", alias: "t", description: "Specify a shutdown timeout in seconds", valueHint: "int" }, },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    await stopServices(ctx, inv.args, inv.flags.timeout);
    return 0;
  },
});
