/** `bunker inspect`: low-level information on containers, images and networks, as `docker inspect`. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { type InspectResult, renderInspect } from "./_output.ts";
import { forTerminal } from "./_terminal.ts";
import { EngineError } from "../engine/errors.ts";

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
    if (type !== undefined && type !== "container" && type !== "image" && type !== "network") throw new CliError(`"${type}" is not a valid value for --type`, 1);
    const backend = await openBackend(global);
    // In argument order: each object found (with its kind, for templates) or the error for its name.
    const results: InspectResult[] = [];
    for (const name of args) {
      // Containers first, then images, then networks, as the docker CLI tries object types in order.
      const tries: (() => Promise<InspectResult>)[] = [];
      if (!type || type === "container") tries.push(async () => ({ kind: "container", value: await backend.inspectContainer(name, { size: flags.size }) }));
      if (!type || type === "image") tries.push(async () => ({ kind: "image", value: await backend.inspectImage(name, { platform: flags.platform as string | undefined }) }));
      if (!type || type === "network") tries.push(async () => ({ value: await backend.inspectNetwork(name) }));
      let failure = `Error: No such object: ${name}`;
      for (const t of tries) {
        try {
          results.push(await t());
          failure = "";
          break;
        } catch (e) {
          if (!(e instanceof EngineError) || e.kind !== "notFound") throw e;
          // With --type the one inspector's own error is the answer.
          if (type) failure = `Error response from daemon: ${e.message}`;
        }
      }
      if (failure) results.push({ error: failure });
    }
    const { output, errors } = await renderInspect(results, flags.format);
    if (output || flags.format !== "json") console.log(forTerminal(output));
    for (const e of errors) console.error(e);
    return errors.length ? 1 : 0;
  },
});
