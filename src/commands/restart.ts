/** `bunker restart`: stop (with the timeout), then start. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "restart", description: "Restart one or more containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container restart", "bunker restart"] },
  flags: {
    signal: { type: "string", alias: "s", description: "Signal to send to the container", valueHint: "string" },
    time: { type: "int", alias: "t", description: "Seconds to wait before killing the container", valueHint: "int" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    const timeout: number | undefined = flags.time;
    return forEach(args, (ref) => backend.restartContainer(ref, { timeout, signal: flags.signal }));
  },
});
