/** `bunker tag`: create a tag that refers to an image. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

export default defineCommand({
  meta: { name: "tag", description: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", aliases: ["bunker image tag", "bunker tag"] },
  flags: {},
  args: { exact: 2 },
  async run({ args, global }) {
    const { parseReference } = await import("../engine/registry/reference.ts");
    parseReference(args[1]!); // the docker CLI validates the target before asking the daemon
    await (await openBackend(global)).tagImage(args[0]!, args[1]!);
    return 0;
  },
});
