/**
 * Opens the in-process engine for a command, from the global options and daemon.json. Imported statically
 * by the commands that need an engine, so it loads with their chunk instead of as extra chunk loads.
 */
import type { GlobalFlags } from "../engine/config.ts";
import { loadConfig } from "../engine/config.ts";
import { Engine } from "../engine/engine.ts";

/** The engine for this invocation (one per process). */
export async function openEngine(global: GlobalFlags): Promise<Engine> {
  return new Engine(loadConfig(global));
}
