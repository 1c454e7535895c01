/** `bunker image inspect`: Docker's image JSON (RootFS, GraphDriver overlay2 directories...). */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { renderFormatted } from "./_output.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more images", usage: "[OPTIONS] IMAGE [IMAGE...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    platform: { type: "string", description: "Inspect a specific platform of the multi-platform image", valueHint: "string", hidden: true },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const { inspectImage } = await import("../engine/images.ts");
    const engine = await openEngine(global);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      try {
        found.push(inspectImage(engine, name));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        errors.push(e.kind === "notFound" ? `Error: No such image: ${name}` : `Error response from daemon: ${e.message}`);
      }
    }
    if (flags.format) {
      if (found.length) console.log(renderFormatted(flags.format, found));
    } else {
      console.log(JSON.stringify(found, null, 4));
    }
    for (const e of errors) console.error(e);
    return errors.length ? 1 : 0;
  },
});
