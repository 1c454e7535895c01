/** `bunker compose rm`: removes the project's stopped service containers (-s stops them first). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject, writeErr, writeOut } from "./_compose-project.ts";
import { removableContainers } from "../compose/lifecycle.ts";
import { removeContainers } from "../compose/down.ts";
import * as L from "../compose/labels.ts";

/** Asks on stdout, reads one line of stdin: true for y/yes. */
async function ask(question: string): Promise<boolean> {
  writeOut(question);
  for await (const line of console) return /^y(es)?$/i.test(line.trim());
  return false;
}

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
    // compose v2 says what goes and, without -f, asks (a "no" or no answer at all removes nothing).
    const message = `Going to remove ${list.map((c) => L.canonicalName(c.Names)).join(", ")}`;
    if (flags.force) writeOut(`${message}\n`);
    else if (!(await ask(`? ${message} [y/N] `))) return 0;
    await removeContainers(ctx, list, { stop: flags.stop, volumes: flags.volumes });
    return 0;
  },
});
