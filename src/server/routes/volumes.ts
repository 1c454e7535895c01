/**
 * Volume routes: create, list, inspect, remove, prune (moby's api/server/router/volume), over the volume
 * store the CLI calls in-process. Prune from clients older than API 1.42 removes named volumes too, as
 * moby adds `all=true` for them.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { boolParam, parseFilters } from "../query.ts";
import { compareVersions, empty, json, type Router } from "../router.ts";
import { readJson } from "./containers.ts";
import { listVolumes, createVolume, inspectVolume, removeVolume, pruneVolumes } from "../../engine/volumes/index.ts";
import { reapExited } from "../../engine/containers/query.ts";

/** Declares the volume routes on `r`. */
export function volumeRoutes(r: Router, engine: Engine): void {
  // Whether a volume is in use depends on the containers: exited --rm ones go first (the monitor may not have seen them yet).
  const reaped = () => reapExited(engine);

  r.get("/volumes", async (_req, { query: q }) => {
    await reaped();
    return json(listVolumes(engine, parseFilters(q.get("filters"))));
  });

  r.post("/volumes/create", async (req) => {
    const body = (await readJson<{ Name?: unknown; Driver?: unknown; DriverOpts?: unknown; Labels?: unknown }>(req))!;
    for (const k of ["Name", "Driver"] as const) if (body[k] !== undefined && body[k] !== null && typeof body[k] !== "string") throw invalidParameter(`invalid JSON: json: cannot unmarshal ${typeof body[k]} into Go struct field CreateOptions.${k} of type string`);
    const map = (v: unknown) => (v && typeof v === "object" ? (v as Record<string, string>) : null);
    return json(createVolume(engine, { Name: body.Name as string, Driver: body.Driver as string, DriverOpts: map(body.DriverOpts), Labels: map(body.Labels) }), 201);
  });

  r.get("/volumes/{name}", async (_req, { params }) => json(inspectVolume(engine, params.name!)));

  r.delete("/volumes/{name}", async (_req, { params, query: q }) => {
    await reaped();
    removeVolume(engine, params.name!, { force: boolParam(q, "force") });
    return empty(204);
  });

  r.post("/volumes/prune", async (_req, { query: q, version }) => {
    const filters = parseFilters(q.get("filters"));
    if (compareVersions(version, "1.42") < 0) (filters.all ??= []).push("true");
    await reaped();
    return json(pruneVolumes(engine, filters));
  });
}
