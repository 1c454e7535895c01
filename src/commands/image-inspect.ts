/** `bunker image inspect`: `inspect --type image`, Docker's image JSON (RootFS, GraphDriver overlay2 directories...). */
import { CliError, defineCommand } from "./_cli.ts";
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
    if (inv.flags.platform) {
      // The docker CLI parses it first (containerd's platforms.Parse) and prints that error alone.
      const { parsePlatform } = await import("../engine/image/types.ts");
      try {
        parsePlatform(inv.flags.platform);
      } catch (e) {
        throw new CliError((e as Error).message, 1);
      }
    }
    return inspect.run({ ...inv, flags: { ...inv.flags, type: "image" } });
  },
});
