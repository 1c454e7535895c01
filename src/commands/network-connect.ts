/** `bunker network connect`: attaches a container to a network (at once if it runs). */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "connect", description: "Connect a container to a network", usage: "[OPTIONS] NETWORK CONTAINER" },
  flags: {
    alias: { type: "string", multiple: true, description: "Add network-scoped alias for the container", valueHint: "strings" },
    ip: { type: "string", description: "IPv4 address (e.g., \"172.30.100.104\")", valueHint: "string" },
  },
  args: { exact: 2 },
  async run({ flags, args, global }) {
    await (await openBackend(global)).connectNetwork(args[0]!, args[1]!, { Aliases: flags.alias, IPAddress: flags.ip });
    return 0;
  },
});
