/** `bunker kill`: send a signal (default KILL) to running containers. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "kill", description: "Kill one or more running containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container kill", "bunker kill"] },
  flags: { signal: { type: "string", alias: "s", description: "Signal to send to the container", valueHint: "string" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    return forEach(args, (ref) => backend.killContainer(ref, flags.signal ?? "KILL"));
  },
});
