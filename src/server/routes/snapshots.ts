/**
 * Images made from containers, and containers' file systems out: POST /commit and GET
 * /containers/{id}/export (import is POST /images/create?fromSrc=, in images.ts). moby's parameters and
 * answers: commit's body is an optional Config ("null" or empty from the docker CLI) and the answer a 201
 * `{"Id"}`; export streams `application/x-tar`.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { commitContainer, exportContainer } from "../../engine/commit.ts";
import { boolParam } from "../query.ts";
import { json, type Router } from "../router.ts";

/** Declares the commit and export routes on `r`. */
export function snapshotRoutes(r: Router, engine: Engine): void {
  r.post("/commit", async (req, { query }) => {
    const text = await req.text();
    let config: Record<string, unknown> | null = null;
    if (text.trim()) {
      try {
        config = JSON.parse(text);
      } catch (e) {
        throw invalidParameter(`invalid JSON: ${(e as Error).message}`);
      }
      if (config !== null && (typeof config !== "object" || Array.isArray(config))) throw invalidParameter("invalid JSON: the body must be a container Config object");
    }
    const id = await commitContainer(engine, query.get("container") ?? "", {
      repo: query.get("repo") ?? undefined,
      tag: query.get("tag") ?? undefined,
      author: query.get("author") ?? undefined,
      comment: query.get("comment") ?? undefined,
      changes: query.getAll("changes"),
      // moby: pausing is the default; only an explicit false turns it off.
      pause: query.has("pause") ? boolParam(query, "pause") : true,
      config,
    });
    return json({ Id: id }, 201);
  });

  r.get("/containers/{id}/export", async (_req, { params }) => {
    return new Response(exportContainer(engine, params.id!), { status: 200, headers: { "content-type": "application/x-tar" } });
  });
}
