/** `bunker rename`: rename a container. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";

export default defineCommand({
  meta: { name: "rename", description: "Rename a container", usage: "CONTAINER NEW_NAME", aliases: ["bunker container rename", "bunker rename"] },
  flags: {},
  args: { exact: 2 },
  async run({ args, global }) {
    const engine = await openEngine(global);
    const { renameContainer } = await import("../engine/containers/manager.ts");
    renameContainer(engine, args[0]!, args[1]!);
    return 0;
  },
});
