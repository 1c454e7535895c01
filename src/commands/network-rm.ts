/** `bunker network rm`: removes networks; prints each name removed, reports the others and exits 1. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "rm", description: "Remove one or more networks", usage: "NETWORK [NETWORK...]", aliases: ["bunker network rm", "bunker network remove"] },
  flags: { force: { type: "boolean", alias: "f", description: "Do not error if the network does not exist" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    let failed = false;
    for (const name of args) {
      try {
        await backend.removeNetwork(name);
        console.log(name);
      } catch (e) {
        if (flags.force && e instanceof EngineError && e.kind === "notFound") continue;
        if (!(e instanceof EngineError)) throw e;
        console.error(`Error response from daemon: ${e.message}`);
        failed = true;
      }
    }
    if (!failed) return 0;
    // The docker CLI ends with its StatusError's text.
    console.error("exit status 1");
    return 1;
  },
});
