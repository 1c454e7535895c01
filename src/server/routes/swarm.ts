/**
 * Swarm endpoints answered as a dockerd whose swarm is inactive (moby daemon/cluster): every manager-only
 * call is 503 with errNoManager's text, leaving is 503 "This node is not part of a swarm". Clients (docker
 * CLI, docker-py's `client.swarm`, `docker node ls`) then report what they report against such a dockerd.
 */
import { EngineError } from "../../engine/errors.ts";
import type { Router } from "../router.ts";

/** moby's errNoManager for a node that never joined a swarm. */
export const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** moby's errNoSwarm (leaving a swarm never joined). */
export const NOT_IN_SWARM = "This node is not part of a swarm";

/** The endpoints that need a swarm manager: [method, path]. */
const MANAGER_ONLY: readonly [string, string][] = [
  ["GET", "/swarm"],
  ["POST", "/swarm/update"],
  ["GET", "/swarm/unlockkey"],
  ["POST", "/swarm/unlock"],
  ["GET", "/nodes"],
  ["GET", "/nodes/{id}"],
  ["DELETE", "/nodes/{id}"],
  ["POST", "/nodes/{id}/update"],
  ["GET", "/services"],
  ["POST", "/services/create"],
  ["GET", "/services/{id}"],
  ["DELETE", "/services/{id}"],
  ["POST", "/services/{id}/update"],
  ["GET", "/services/{id}/logs"],
  ["GET", "/tasks"],
  ["GET", "/tasks/{id}"],
  ["GET", "/tasks/{id}/logs"],
  ["GET", "/secrets"],
  ["POST", "/secrets/create"],
  ["GET", "/secrets/{id}"],
  ["DELETE", "/secrets/{id}"],
  ["POST", "/secrets/{id}/update"],
  ["GET", "/configs"],
  ["POST", "/configs/create"],
  ["GET", "/configs/{id}"],
  ["DELETE", "/configs/{id}"],
  ["POST", "/configs/{id}/update"],
];

/** Declares the inactive swarm's answers on `r`. */
export function swarmRoutes(r: Router): void {
  const unavailable = (message: string) => () => {
    throw new EngineError("unavailable", message);
  };
  for (const [method, path] of MANAGER_ONLY) r.on(method, path, unavailable(NOT_A_MANAGER));
  r.post("/swarm/leave", unavailable(NOT_IN_SWARM));
}
