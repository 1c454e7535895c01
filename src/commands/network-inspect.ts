/** `bunker network inspect`: networks as JSON (or a Go template), with their running containers. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { renderFormatted } from "./_output.ts";
import { EngineError } from "../engine/errors.ts";
import { inspectNetwork } from "../engine/network/index.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more networks", usage: "[OPTIONS] NETWORK [NETWORK...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    verbose: { type: "boolean", alias: "v", description: "Verbose output for diagnostics" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const engine = await openEngine(global);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      try {
        found.push(inspectNetwork(engine, name));
      } catch (e) {
        if (!(e instanceof EngineError) || e.kind !== "notFound") throw e;
        errors.push(`Error: No such network: ${name}`);
      }
    }
    if (flags.format) {
      if (found.length) console.log(renderFormatted(flags.format, found as any));
    } else console.log(JSON.stringify(found, null, 4));
    for (const e of errors) console.error(e);
    return errors.length ? 1 : 0;
  },
});
