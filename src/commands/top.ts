/** `bunker top`: the running processes of a container, through the host's ps. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { table } from "./_output.ts";

export default defineCommand({
  meta: { name: "top", description: "Display the running processes of a container", usage: "CONTAINER [ps OPTIONS]", aliases: ["bunker container top", "bunker top"] },
  flags: {},
  interspersed: false,
  args: { min: 1 },
  async run({ args, global }) {
    const top = await (await openBackend(global)).top(args[0]!, args.slice(1).join(" ") || undefined);
    console.log(table([top.Titles, ...top.Processes], 20));
    return 0;
  },
});
