/** `bunker image inspect`: `inspect --type image`, Docker's image JSON (RootFS, GraphDriver overlay2 directories...). */
import { checkPlatformFlag, defineCommand } from "./_cli.ts";
import inspect from "./inspect.ts";

export default defineCommand({
  meta: { name: "inspect", description: "Display detailed information on one or more images", usage: "[OPTIONS] IMAGE [IMAGE...]" },
  flags: {
    format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" },
    platform: {
      type: "string",
      description: "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not multi-platform capable, the command will error out if the platform does not match.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
      valueHint: "string",
    },
  },
  args: { min: 1 },
  async run(inv) {
    await checkPlatformFlag(inv.flags.platform);
    return inspect.run({ ...inv, flags: { ...inv.flags, type: "image" } });
  },
});
