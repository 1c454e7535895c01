/** `bunker compose top`: the processes of each running service container, as docker compose v2 prints them. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { table } from "./_output.ts";
import { projectContainers } from "../compose/state.ts";
import * as L from "../compose/labels.ts";

export default defineCommand({
  meta: { name: "top", description: "Display the running processes", usage: "[SERVICES...]" },
  flags: { ...composeFlags },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    const list = await projectContainers(ctx.backend, ctx.project.name, { running: true, services: inv.args, oneoff: true });
    const tops = await Promise.all(list.map((c) => ctx.backend.top(c.Id)));
    const blocks = list.map((c, i) => `${L.canonicalName(c.Names)}\n${table([tops[i]!.Titles, ...tops[i]!.Processes], 0)}\n`);
    if (blocks.length) console.log(blocks.join("\n"));
    return 0;
  },
});
