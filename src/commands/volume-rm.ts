/** `bunker volume rm`: removes volumes no container uses; prints each name removed, reports the others and exits 1. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "rm", description: "Remove one or more volumes", usage: "[OPTIONS] VOLUME [VOLUME...]", aliases: ["bunker volume rm", "bunker volume remove"] },
  flags: { force: { type: "boolean", alias: "f", description: "Force the removal of one or more volumes" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    return forEach(args, (name) => backend.removeVolume(name, { force: flags.force }));
  },
});
