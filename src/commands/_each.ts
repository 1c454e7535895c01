/**
 * The docker CLI's pattern for commands over several containers (stop, rm, kill...): act on each, print
 * the name as given on success, report each failure as "Error response from daemon: ..." and exit 1 if any failed.
 */
import { EngineError } from "../engine/errors.ts";

/** Runs `fn` for every argument in order; resolves to the exit code. */
export async function forEach(args: string[], fn: (ref: string) => Promise<void | boolean>): Promise<number> {
  let status = 0;
  for (const ref of args) {
    try {
      if ((await fn(ref)) !== false) console.log(ref);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      console.error(`Error response from daemon: ${e.message}`);
      status = 1;
    }
  }
  return status;
}
