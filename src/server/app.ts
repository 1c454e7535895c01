/**
 * The Docker Engine API over one engine: every area's routes on one router, the fallback answers behind
 * them, and the middleware of router.ts. `createApi(engine).fetch(request)` is the whole API; the daemon
 * puts it on sockets, tests and the in-process client call it directly.
 */
import type { Engine } from "../engine/engine.ts";
import { createApp, Router } from "./router.ts";
import type { HttpApp } from "./server.ts";
import { systemRoutes } from "./routes/system.ts";
import { imageRoutes } from "./routes/images.ts";
import { eventRoutes } from "./routes/events.ts";
import { containerRoutes } from "./routes/containers.ts";
import { execRoutes } from "./routes/exec.ts";
import { volumeRoutes } from "./routes/volumes.ts";
import { networkRoutes } from "./routes/networks.ts";
import { archiveRoutes } from "./routes/archive.ts";
import { fallbackRoutes } from "./routes/fallback.ts";
import { snapshotRoutes } from "./routes/snapshots.ts";
import { swarmRoutes } from "./routes/swarm.ts";
import { buildRoutes } from "./routes/build.ts";

/** An area's routes: a function that declares them on the router. */
export type RouteModule = (r: Router, engine: Engine) => void;

/** Options of the API. */
export interface ApiOptions {
  /** Extra route modules, declared after the built-in ones. */
  modules?: RouteModule[];
  maxBodyBytes?: number;
  /** Receives handler stack traces (the daemon's --debug). */
  debug?: (msg: string) => void;
}

/** The API as a fetch handler with the server's body policy. */
export type Api = HttpApp & { fetch(req: Request): Promise<Response>; router: Router };

/** Builds the API for an engine. */
export function createApi(engine: Engine, opts: ApiOptions = {}): Api {
  const router = new Router();
  for (const m of [systemRoutes, imageRoutes, containerRoutes, execRoutes, networkRoutes, volumeRoutes, eventRoutes, swarmRoutes, archiveRoutes, snapshotRoutes, buildRoutes, ...(opts.modules ?? [])]) m(router, engine);
  const app = createApp(router, { fallback: fallbackRoutes(), maxBodyBytes: opts.maxBodyBytes, debug: opts.debug });
  return Object.assign(app, { router });
}
