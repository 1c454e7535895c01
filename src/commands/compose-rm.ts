/** `bunker compose rm`: removes the project's stopped service containers (-s stops them first). */
import { isatty } from "node:tty";
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject, writeErr } from "./_compose-project.ts";
import { confirm } from "./_output.ts";
import { removableContainers } from "../compose/lifecycle.ts";
import { removeContainers } from "../compose/down.ts";
import * as L from "../compose/labels.ts";

export default defineCommand({
  meta: { name: "rm", description: "Removes stopped service containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    force: { type: "boolean", alias: "f", description: "Don't ask to confirm removal" },
    stop: { type: "boolean", alias: "s", description: "Stop the containers, if required, before removing" },
    volumes: { type: "boolean", alias: "v", description: "Remove any anonymous volumes attached to containers" },
    all: { type: "boolean", alias: "a", description: "Deprecated - no effect", hidden: true },
  },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { labelsOnly: true });
    const list = await removableContainers(ctx, args, { stop: flags.stop });
    if (!list.length) {
      writeErr("No stopped containers\n");
      return 0;
    }
    // compose v2 asks first; without a terminal to answer there is nobody to ask, so -f is implied.
    if (!flags.force && isatty(0) && !(await confirm(`Going to remove ${list.map((c) => L.canonicalName(c.Names)).join(", ")}`))) return 0;
    await removeContainers(ctx, list, { stop: flags.stop, volumes: flags.volumes });
    return 0;
  },
});
