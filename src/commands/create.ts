/** `bunker create`: create a new container without starting it. */
import { defineCommand } from "./_cli.ts";
import { createFlags, createFromFlags } from "./_container.ts";

export default defineCommand({
  meta: { name: "create", description: "Create a new container", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", aliases: ["bunker container create", "bunker create"] },
  flags: createFlags,
  interspersed: false,
  args: { min: 1 },
  async run({ flags, args, global }) {
    console.log((await createFromFlags(flags, args, global, undefined, "create")).id);
    return 0;
  },
});
