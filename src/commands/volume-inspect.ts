/** `bunker volume inspect`: volumes as JSON (or a Go template); a missing one is reported after the rest. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted } from "./_output.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more volumes", usage: "[OPTIONS] VOLUME [VOLUME...]", aliases: ["bunker volume inspect"] },
  flags: { format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      try {
        found.push(await backend.inspectVolume(name));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        errors.push(`Error response from daemon: ${e.message}`);
      }
    }
    if (flags.format) {
      if (found.length) console.log(renderFormatted(flags.format, found));
    } else console.log(JSON.stringify(found, null, 4));
    for (const e of errors) console.error(e);
    return errors.length ? 1 : 0;
  },
});
