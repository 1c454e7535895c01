/** `bunker tag`: create a tag that refers to an image. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";

export default defineCommand({
  meta: { name: "tag", description: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", aliases: ["bunker image tag", "bunker tag"] },
  flags: {},
  args: { exact: 2 },
  async run({ args, global }) {
    const { tagImage } = await import("../engine/images.ts");
    const engine = await openEngine(global);
    tagImage(engine, args[0]!, args[1]!);
    return 0;
  },
});
