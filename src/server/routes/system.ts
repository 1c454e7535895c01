/** System routes: _ping, version, info, system df, auth. */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { json, type Router, text } from "../router.ts";
import { systemVersion, systemInfo, systemDf } from "../../engine/system.ts";
import { INDEX_SERVER } from "../../engine/registry/credentials.ts";

const PING_HEADERS = {
  "Builder-Version": "1",
  Swarm: "inactive",
  "Cache-Control": "no-cache, no-store, must-revalidate",
  Pragma: "no-cache",
};

/** Declares the system routes on `r`. */
export function systemRoutes(r: Router, engine: Engine): void {
  // moby system_routes.go: HEAD answers an empty text/plain body with Content-Length 0, GET answers "OK".
  r.get("/_ping", () => text("OK", 200, PING_HEADERS));
  r.head("/_ping", () => new Response(null, { status: 200, headers: { ...PING_HEADERS, "content-type": "text/plain; charset=utf-8", "content-length": "0" } }));

  r.get("/version", async () => {
    return json(systemVersion());
  });
  r.get("/info", async () => {
    return json(systemInfo(engine));
  });
  r.get("/system/df", async () => {
    return json(await systemDf(engine));
  });

  // docker login: the daemon checks the credentials against the registry; the CLI stores them.
  r.post("/auth", async (req) => {
    const body = (await req.json()) as { username?: string; password?: string; serveraddress?: string; identitytoken?: string };
    if (!body || typeof body !== "object") throw invalidParameter("invalid auth configuration");
    if (body.identitytoken) throw invalidParameter("login with an identity token is not supported");
    await engine.registry().login(body.serveraddress || INDEX_SERVER, body.username ?? "", body.password ?? "");
    return json({ Status: "Login Succeeded", IdentityToken: "" });
  });
}
