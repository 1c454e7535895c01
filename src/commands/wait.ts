/** `bunker wait`: block until containers stop, then print their exit codes. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "wait", description: "Block until one or more containers stop, then print their exit codes", usage: "CONTAINER [CONTAINER...]", aliases: ["bunker container wait", "bunker wait"] },
  flags: {},
  args: { min: 1 },
  async run({ args, global }) {
    const backend = await openBackend(global);
    let status = 0;
    for (const ref of args) {
      try {
        console.log(await backend.waitContainer(ref));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        console.error(`Error response from daemon: ${e.message}`);
        status = 1;
      }
    }
    return status;
  },
});
