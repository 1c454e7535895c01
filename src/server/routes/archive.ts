/**
 * Archive routes (moby's api/server/router/container/copy.go): `HEAD /containers/{id}/archive` (the path's
 * stat in X-Docker-Container-Path-Stat, base64 JSON), `GET` (the same header and a tar of the path),
 * `PUT` (a tar body, plain or gzip, extracted into a directory of the container; noOverwriteDirNonDir,
 * copyUIDGID). Paths resolve inside the container's root (engine/containers/archive.ts).
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { containerArchivePath, containerExtractToDir, containerStatPath, type PathStat } from "../../engine/containers/archive.ts";
import { boolParam } from "../query.ts";
import { empty, type Router } from "../router.ts";

/** The header moby sets: base64 of the stat's JSON. */
export const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}

function pathOf(q: URLSearchParams): string {
  const path = q.get("path") ?? "";
  if (!path) throw invalidParameter("path cannot be empty");
  return path;
}

/** Declares the archive routes on `r`. */
export function archiveRoutes(r: Router, engine: Engine): void {
  r.head("/containers/{id}/archive", async (_req, { params, query: q }) => {
    const stat = await containerStatPath(engine, params.id!, pathOf(q));
    return empty(200, { [PATH_STAT_HEADER]: statHeader(stat), "content-type": "application/json" });
  });

  r.get("/containers/{id}/archive", async (_req, { params, query: q }) => {
    const { stat, stream } = await containerArchivePath(engine, params.id!, pathOf(q));
    return new Response(stream, { status: 200, headers: { [PATH_STAT_HEADER]: statHeader(stat), "content-type": "application/x-tar" } });
  });

  r.put("/containers/{id}/archive", async (req, { params, query: q }) => {
    const path = pathOf(q);
    const body = req.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    await containerExtractToDir(engine, params.id!, path, body, { noOverwriteDirNonDir: boolParam(q, "noOverwriteDirNonDir"), copyUIDGID: boolParam(q, "copyUIDGID") });
    return empty(200);
  }, { body: "stream" });
}
