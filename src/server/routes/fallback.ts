/**
 * Answers for endpoints bunker does not serve itself yet, consulted only when no real route matched (so
 * a real route declared later always wins): known Docker endpoints that are not implemented, answered with a
 * 404 and a message naming them (docs/api.md lists them).
 */
import { Router } from "../router.ts";
import { notSupported } from "./images.ts";

/** Docker endpoints bunker does not support yet: [method, path, what the docker CLI calls it]. Keep docs/api.md in sync (a test checks). */
export const UNSUPPORTED: readonly [string, string, string][] = [
  // containers
  ["GET", "/containers/{id}/attach/ws", "attach over WebSocket"],
  // images
  ["GET", "/images/search", "docker search"],
  ["POST", "/build/cancel", "docker build"],
  ["POST", "/session", "BuildKit sessions"],
  ["POST", "/grpc", "BuildKit"],
  // swarm (joining one; the rest answers as an inactive swarm: swarm.ts), plugins
  ["POST", "/swarm/init", "docker swarm init"],
  ["GET", "/plugins", "docker plugin"],
  ["GET", "/plugins/{name:.*}/json", "docker plugin inspect"],
];

/** The fallback router: the not-supported table. */
export function fallbackRoutes(): Router {
  const r = new Router();
  for (const [method, path, what] of UNSUPPORTED) {
    if (r.match(method, path.replace(/\{[^}]+\}/g, "x"))) continue;
    r.on(method, path, () => {
      throw notSupported(`${method} ${path} (${what})`);
    });
  }
  return r;
}
