/** `bunker compose pause`: pause services (docker compose v2's pause). */
import { defineCommand } from "./_cli.ts";
import { openProject, type ComposeInvocation } from "./_compose-project.ts";
import { pauseServices } from "../compose/lifecycle.ts";

export default defineCommand({
  meta: { name: "pause", description: "Pause services", usage: "[OPTIONS] [SERVICE...]" },
  flags: {  },
  async run(inv) {
    const ctx = await openProject(inv as ComposeInvocation, { labelsOnly: true });
    await pauseServices(ctx, inv.args, true);
    return 0;
  },
});
