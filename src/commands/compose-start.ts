/** `bunker compose start`: start services (docker compose v2's start). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { startServices } from "../compose/lifecycle.ts";

export default defineCommand({
  meta: { name: "start", description: "Start services", usage: "[OPTIONS] [SERVICE...]" },
  flags: { ...composeFlags, wait: { type: "boolean", description: "Wait for services to be running|healthy. Implies detached mode." }, "wait-timeout": { type: "int", description: "Maximum duration in seconds to wait for the project to be running|healthy", valueHint: "int" }, },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    await startServices(ctx, inv.args, { wait: inv.flags.wait });
    return 0;
  },
});
