/** `bunker rename`: rename a container. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "rename", description: "Rename a container", usage: "CONTAINER NEW_NAME", aliases: ["bunker container rename", "bunker rename"] },
  flags: {},
  args: { exact: 2 },
  async run({ args, global }) {
    await (await openBackend(global)).renameContainer(args[0]!, args[1]!);
    return 0;
  },
});
