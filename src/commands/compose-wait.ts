/** `bunker compose wait`: blocks until the services' containers stop; exits with the first one's code. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { projectContainers } from "../compose/state.ts";
import { down } from "../compose/down.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "wait", description: "Block until containers of all (or specified) services stop.", usage: "SERVICE [SERVICE...] [OPTIONS]" },
  flags: { ...composeFlags, "down-project": { type: "boolean", description: "Drops project when the first container stops" } },
  args: { min: 1 },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    const list = await projectContainers(ctx.backend, ctx.project.name, { services: inv.args });
    if (!list.length) throw new ComposeError(`no containers for project "${ctx.project.name}"`);
    const code = await Promise.race(list.map((c) => ctx.backend.waitContainer(c.Id)));
    if (inv.flags["down-project"]) await down(ctx, {});
    return code;
  },
});
