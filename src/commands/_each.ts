/**
 * The docker CLI's pattern for commands over several containers (stop, rm, kill...): act on each, print
 * the name as given on success, report each failure as "Error response from daemon: ..." and exit 1 if any failed.
 */
import { EngineError } from "../engine/errors.ts";
import { type InspectResult, renderInspect } from "./_output.ts";

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

/**
 * The docker CLI's inspect of several objects (networks, volumes): every one found as one JSON array (or
 * through a Go template: renderInspect), then each failure as the daemon's error; resolves to the exit code
 * (1 if any failed).
 */
export async function inspectEach(args: string[], get: (ref: string) => Promise<unknown>, format?: string): Promise<number> {
  const results: InspectResult[] = [];
  for (const ref of args) {
    try {
      results.push({ value: await get(ref) });
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      results.push({ error: `Error response from daemon: ${e.message}` });
    }
  }
  const { output, errors } = await renderInspect(results, format);
  if (output || format !== "json") console.log(output);
  for (const e of errors) console.error(e);
  return errors.length ? 1 : 0;
}
