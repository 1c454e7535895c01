/** Opens the in-process engine for a command, from the global options and daemon.json. */
import type { GlobalFlags } from "../engine/config.ts";
import type { Engine } from "../engine/engine.ts";

/** The engine for this invocation (one per process). */
export async function openEngine(global: GlobalFlags): Promise<Engine> {
  const { loadConfig } = await import("../engine/config.ts");
  const { Engine } = await import("../engine/engine.ts");
  return new Engine(loadConfig(global));
}
