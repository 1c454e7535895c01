/** `bunker network inspect`: networks as JSON (or a Go template), with their running containers; each failure reported as the daemon's error. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { inspectEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more networks", usage: "[OPTIONS] NETWORK [NETWORK...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    verbose: { type: "boolean", alias: "v", description: "Verbose output for diagnostics" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    return inspectEach(args, (name) => backend.inspectNetwork(name, { verbose: flags.verbose }), flags.format);
  },
});
