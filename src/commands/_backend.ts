/**
 * How a command reaches the engine: a daemon when `-H`/BUNKER_HOST names one or one answers on the default
 * socket, else the engine in this process. Both are the same Backend interface (src/api/backend.ts).
 */
import { existsSync } from "node:fs";
import type { GlobalFlags } from "../engine/config.ts";
import type { Backend } from "../api/backend.ts";
import { localBackend } from "../api/local.ts";
import { openEngine } from "./_engine.ts";

const DEFAULT_SOCKET = "/run/bunker.sock";

/** The backend for this invocation. */
export async function openBackend(global: GlobalFlags & { host?: string }): Promise<Backend> {
  const host = global.host ?? process.env.BUNKER_HOST;
  // Only a socket that exists can answer; checking first keeps the in-process path free of any import or I/O.
  if (host || existsSync(DEFAULT_SOCKET)) {
    const { resolveDaemon } = await import("../api/client.ts");
    const client = await resolveDaemon({ host });
    if (client) return (await import("../api/remote.ts")).remoteBackend(client);
  }
  return localBackend(await openEngine(global));
}
