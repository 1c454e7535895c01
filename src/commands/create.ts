/** `bunker create`: create a new container without starting it. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { createFlags, createOptionsFrom, ensureImage } from "./_container.ts";

export default defineCommand({
  meta: { name: "create", description: "Create a new container", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", aliases: ["bunker container create", "bunker create"] },
  flags: createFlags,
  interspersed: false,
  args: { min: 1 },
  async run({ flags, args, global }) {
    const opts = createOptionsFrom(flags, args);
    const backend = await openBackend(global);
    await ensureImage(backend, opts.image, { pull: flags.pull, platform: flags.platform, quiet: flags.quiet });
    console.log((await backend.createContainer(opts)).Id);
    return 0;
  },
});
