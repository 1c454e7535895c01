/** `bunker rmi` / `bunker image rm`: untag and remove images. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "rmi", description: "Remove one or more images", usage: "[OPTIONS] IMAGE [IMAGE...]", aliases: ["bunker image rm", "bunker image remove", "bunker rmi"] },
  flags: {
    force: { type: "boolean", alias: "f", description: "Force removal of the image" },
    "no-prune": { type: "boolean", description: "Do not delete untagged parents" },
    platform: { type: "string", description: "Remove only the given platform variant", valueHint: "string", hidden: true },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    if (flags.platform) throw new CliError("Error response from daemon: --platform: removing one platform of a multi-platform image is not supported by bunker yet", 1);
    const backend = await openBackend(global);
    let status = 0;
    for (const name of args) {
      try {
        for (const item of await backend.removeImage(name, { force: flags.force, noPrune: flags["no-prune"] })) {
          console.log("Untagged" in item ? `Untagged: ${item.Untagged}` : `Deleted: ${item.Deleted}`);
        }
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        // docker rmi -f of a missing image is silent; other errors are reported and the rest still removed.
        if (flags.force && e.kind === "notFound") continue;
        console.error(`Error response from daemon: ${e.message}`);
        status = 1;
      }
    }
    return status;
  },
});
