/** `bunker top`: the running processes of a container, through the host's ps. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { table } from "./_output.ts";

export default defineCommand({
  meta: { name: "top", description: "Display the running processes of a container", usage: "CONTAINER [ps OPTIONS]", aliases: ["bunker container top", "bunker top"] },
  flags: {},
  interspersed: false,
  args: { min: 1 },
  async run({ args, global }) {
    const { containerTopOf } = await import("../engine/containers/query.ts");
    const top = await containerTopOf(await openEngine(global), args[0]!, args.slice(1).join(" ") || undefined);
    console.log(table([top.Titles, ...top.Processes], 20));
    return 0;
  },
});
