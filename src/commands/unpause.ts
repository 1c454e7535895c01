/** `bunker unpause`: thaw paused containers. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "unpause", description: "Unpause all processes within one or more containers", usage: "CONTAINER [CONTAINER...]", aliases: ["bunker container unpause", "bunker unpause"] },
  flags: {},
  args: { min: 1 },
  async run({ args, global }) {
    const backend = await openBackend(global);
    return forEach(args, (ref) => backend.unpauseContainer(ref));
  },
});
