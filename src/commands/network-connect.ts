/** `bunker network connect`: attaches a container to a network (at once if it runs). */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { connectNetwork } from "../engine/network/index.ts";

export default defineCommand({
  meta: { name: "connect", description: "Connect a container to a network", usage: "[OPTIONS] NETWORK CONTAINER" },
  flags: {
    alias: { type: "string", multiple: true, description: "Add network-scoped alias for the container", valueHint: "strings" },
    ip: { type: "string", description: "IPv4 address (e.g., \"172.30.100.104\")", valueHint: "string" },
  },
  args: { exact: 2 },
  async run({ flags, args, global }) {
    await connectNetwork(await openEngine(global), args[0]!, args[1]!, { Aliases: flags.alias, IPAddress: flags.ip });
    return 0;
  },
});
