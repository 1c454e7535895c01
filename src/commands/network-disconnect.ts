/** `bunker network disconnect`: detaches a container from a network. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "disconnect", description: "Disconnect a container from a network", usage: "[OPTIONS] NETWORK CONTAINER" },
  flags: { force: { type: "boolean", alias: "f", description: "Force the container to disconnect from a network" } },
  args: { exact: 2 },
  async run({ flags, args, global }) {
    await (await openBackend(global)).disconnectNetwork(args[0]!, args[1]!, !!flags.force);
    return 0;
  },
});
