/** `bunker network inspect`: networks as JSON (or a Go template), with their running containers; each failure reported as the daemon's error. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted } from "./_output.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more networks", usage: "[OPTIONS] NETWORK [NETWORK...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    verbose: { type: "boolean", alias: "v", description: "Verbose output for diagnostics" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      try {
        found.push(await backend.inspectNetwork(name, { verbose: flags.verbose }));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        errors.push(`Error response from daemon: ${e.message}`);
      }
    }
    if (flags.format) {
      if (found.length) console.log(renderFormatted(flags.format, found as any));
    } else console.log(JSON.stringify(found, null, 4));
    for (const e of errors) console.error(e);
    return errors.length ? 1 : 0;
  },
});
