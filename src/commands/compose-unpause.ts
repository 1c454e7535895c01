/** `bunker compose unpause`: unpause services (docker compose v2's unpause). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { pauseServices } from "../compose/lifecycle.ts";

export default defineCommand({
  meta: { name: "unpause", description: "Unpause services", usage: "[OPTIONS] [SERVICE...]" },
  flags: { ...composeFlags,  },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    await pauseServices(ctx, inv.args, false);
    return 0;
  },
});
