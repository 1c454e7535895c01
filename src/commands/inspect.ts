/** `bunker inspect`: low-level information on images (and, with the containers issue, containers). */
import { defineCommand } from "./_cli.ts";
import imageInspect from "./image-inspect.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Return low-level information on Bunker objects", usage: "[OPTIONS] NAME|ID [NAME|ID...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    size: { type: "boolean", alias: "s", description: "Display total file sizes if the type is container" },
    type: { type: "string", description: "Only inspect objects of the given type", valueHint: "string" },
  },
  args: { min: 1 },
  async run(inv) {
    const type = inv.flags.type;
    if (type !== undefined && type !== "image") {
      const { CliError } = await import("../engine/errors.ts");
      throw new CliError(`"${type}" is not a valid value for --type`, 1);
    }
    return imageInspect.run(inv);
  },
});
