/** `bunker wait`: block until containers stop, then print their exit codes. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { EngineError } from "../engine/errors.ts";

export default defineCommand({
  meta: { name: "wait", description: "Block until one or more containers stop, then print their exit codes", usage: "CONTAINER [CONTAINER...]", aliases: ["bunker container wait", "bunker wait"] },
  flags: {},
  args: { min: 1 },
  async run({ args, global }) {
    const engine = await openEngine(global);
    const { waitContainer } = await import("../engine/containers/manager.ts");
    let status = 0;
    for (const ref of args) {
      try {
        console.log(await waitContainer(engine, ref));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        console.error(`Error response from daemon: ${e.message}`);
        status = 1;
      }
    }
    return status;
  },
});
