/** `bunker network rm`: removes networks; prints each name removed, reports the others and exits 1. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { EngineError } from "../engine/errors.ts";
import { removeNetwork } from "../engine/network/index.ts";

export default defineCommand({
  meta: { name: "rm", description: "Remove one or more networks", usage: "NETWORK [NETWORK...]", aliases: ["bunker network rm", "bunker network remove"] },
  flags: { force: { type: "boolean", alias: "f", description: "Do not error if the network does not exist" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const engine = await openEngine(global);
    let failed = false;
    for (const name of args) {
      try {
        removeNetwork(engine, name);
        console.log(name);
      } catch (e) {
        if (flags.force && e instanceof EngineError && e.kind === "notFound") continue;
        if (!(e instanceof EngineError)) throw e;
        console.error(`Error response from daemon: ${e.message}`);
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },
});
