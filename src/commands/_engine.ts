/**
 * Opens the in-process engine for a command, from the global options and daemon.json. Imported statically
 * by the commands that need an engine, so it loads with their chunk instead of as extra chunk loads.
 */
import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import type { GlobalFlags } from "../engine/config.ts";
import { loadConfig } from "../engine/config.ts";
import { Engine } from "../engine/engine.ts";
import { CliError } from "./_cli.ts";

/** The engine for this invocation (one per process). */
export async function openEngine(global: GlobalFlags): Promise<Engine> {
  const config = loadConfig(global);
  try {
    return new Engine(config);
  } catch (e) {
    throw dataRootDenied(config.dataRoot) ?? e;
  }
}

/**
 * The data root (root-only, as /var/lib/docker) refused to this user: reported as the docker CLI reports a
 * daemon socket it may not use ("permission denied while trying to connect to the Docker daemon socket at
 * ...", exit 1), naming the path and the error, instead of SQLite's "unable to open database file".
 */
function dataRootDenied(dataRoot: string): CliError | undefined {
  // The nearest existing directory on the way to the data root is the one that refuses.
  let dir = dataRoot;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM" && code !== "EROFS") return undefined;
    const why = code === "EROFS" ? "read-only file system" : "permission denied";
    const err = new CliError(`permission denied while trying to open the bunker data root at ${dataRoot}: access ${dir}: ${why} (the data root needs root, or --data-root with a directory of your own)`, 1);
    err.name = "DataRootDenied";
    return err;
  }
}
