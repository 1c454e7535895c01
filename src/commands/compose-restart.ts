/** `bunker compose restart`: restart service containers (docker compose v2's restart). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { restartServices } from "../compose/lifecycle.ts";
import { withDependents } from "../compose/graph.ts";

export default defineCommand({
  meta: { name: "restart", description: "Restart service containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: { ...composeFlags, timeout: { type: "int", alias: "t", description: "Specify a shutdown timeout in seconds", valueHint: "int" }, "no-deps": { type: "boolean", description: "Don't restart dependent services" }, },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    // Dependents restart with the named services unless --no-deps, as in compose v2.
    const named = inv.args.length && !inv.flags["no-deps"] ? withDependents(ctx.project, inv.args) : inv.args;
    await restartServices(ctx, named, inv.flags.timeout);
    return 0;
  },
});
