/** `bunker compose kill`: force stop service containers (docker compose v2's kill). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { killServices } from "../compose/lifecycle.ts";

export default defineCommand({
  meta: { name: "kill", description: "Force stop service containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: { ...composeFlags, signal: { type: "string", alias: "s", description: "SIGNAL to send to the container", valueHint: "string", default: "SIGKILL" } },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    await killServices(ctx, inv.args, inv.flags.signal);
    return 0;
  },
});
