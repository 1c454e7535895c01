/** `bunker create`: create a new container without starting it. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { createFlags, createOptionsFrom, ensureImage } from "./_container.ts";

export default defineCommand({
  meta: { name: "create", description: "Create a new container", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", aliases: ["bunker container create", "bunker create"] },
  flags: createFlags,
  interspersed: false,
  args: { min: 1 },
  async run({ flags, args, global }) {
    const opts = createOptionsFrom(flags, args);
    const engine = await openEngine(global);
    await ensureImage(engine, opts.image, { pull: flags.pull, platform: flags.platform, quiet: flags.quiet });
    const { createContainer } = await import("../engine/containers/manager.ts");
    console.log((await createContainer(engine, opts)).id);
    return 0;
  },
});
