/** `bunker pause`: freeze every process of running containers. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "pause", description: "Pause all processes within one or more containers", usage: "CONTAINER [CONTAINER...]", aliases: ["bunker container pause", "bunker pause"] },
  flags: {},
  args: { min: 1 },
  async run({ args, global }) {
    const backend = await openBackend(global);
    return forEach(args, (ref) => backend.pauseContainer(ref));
  },
});
