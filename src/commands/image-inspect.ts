/** `bunker image inspect`: `inspect --type image`, Docker's image JSON (RootFS, GraphDriver overlay2 directories...). */
import { defineCommand } from "./_cli.ts";
import inspect from "./inspect.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more images", usage: "[OPTIONS] IMAGE [IMAGE...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    platform: { type: "string", description: "Inspect a specific platform of the multi-platform image", valueHint: "string", hidden: true },
  },
  args: { min: 1 },
  run: (inv) => inspect.run({ ...inv, flags: { ...inv.flags, type: "image" } }),
});
