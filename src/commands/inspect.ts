/** `bunker inspect`: low-level information on containers and images, as `docker inspect`. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted } from "./_output.ts";
import { CliError, EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Return low-level information on Bunker objects", usage: "[OPTIONS] NAME|ID [NAME|ID...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    size: { type: "boolean", alias: "s", description: "Display total file sizes if the type is container" },
    type: { type: "string", description: "Only inspect objects of the given type", valueHint: "string" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const type: string | undefined = flags.type;
    if (type !== undefined && type !== "container" && type !== "image") throw new CliError(`"${type}" is not a valid value for --type`, 1);
    const backend = await openBackend(global);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const name of args) {
      // Containers first, then images, as the docker CLI tries object types in order.
      const tries: (() => Promise<unknown>)[] = [];
      if (type !== "image") tries.push(() => backend.inspectContainer(name, { size: flags.size }));
      if (type !== "container") tries.push(() => backend.inspectImage(name));
      let done = false;
      for (const t of tries) {
        try {
          found.push(await t());
          done = true;
          break;
        } catch (e) {
          if (!(e instanceof EngineError) || e.kind !== "notFound") throw e;
        }
      }
      if (!done) errors.push(`Error: No such ${type === "container" ? "container" : type === "image" ? "image" : "object"}: ${name}`);
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
