/** `bunker volume inspect`: volumes as JSON (or a Go template); a missing one is reported after the rest. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { inspectEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more volumes", usage: "[OPTIONS] VOLUME [VOLUME...]", aliases: ["bunker volume inspect"] },
  flags: { format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    return inspectEach(args, (name) => backend.inspectVolume(name), flags.format);
  },
});
