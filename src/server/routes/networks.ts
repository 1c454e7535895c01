/**
 * Network routes: list, inspect (the built-in `bridge` by name too: testcontainers reads its IPAM gateway),
 * create, remove, connect, disconnect and prune, over the engine's network module (engine/network), with
 * moby's status codes and texts: 404 "network X not found", 409 "network with name X already exists", 403
 * for the pre-defined networks and for a network with active endpoints. create/destroy/connect/disconnect
 * events come from the engine through the daemon's event sink; prune's own event is published here.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter, noSuchNetwork } from "../../engine/errors.ts";
import { eventsOf } from "../../engine/events.ts";
import { strconvError } from "../../go/strconv.ts";
import { parseFilters } from "../query.ts";
import { compareVersions, empty, json, type Router } from "../router.ts";
import { readJson } from "./containers.ts";
import { listNetworks, inspectNetwork, createNetwork, removeNetwork, connectNetwork, disconnectNetwork, pruneNetworks, type NetworkCreateRequest } from "../../engine/network/index.ts";

/** Go's strconv.ParseBool, for `verbose`: moby answers 400 for anything else. */
function parseBool(v: string, name: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw invalidParameter(`invalid value for ${name}: ${v}: ${strconvError("ParseBool", v)}`);
}

/** Declares the network routes on `r`. */
export function networkRoutes(r: Router, engine: Engine): void {
  const bus = eventsOf(engine);

  r.get("/networks", async (_req, { query, version }) => {
    const list = listNetworks(engine, { filters: parseFilters(query.get("filters")) });
    // From API 1.28 the list leaves Containers empty (moby's NetworkListConfig.Detailed); inspect fills it.
    return json(compareVersions(version, "1.28") < 0 ? list : list.map((n) => ({ ...n, Containers: {} })));
  });

  r.get("/networks/{id}", async (_req, { params, query }) => {
    const verbose = query.get("verbose");
    if (verbose) parseBool(verbose, "verbose");
    const found = inspectNetwork(engine, params.id!);
    // Every network here is local: asking for another scope finds nothing, as in moby.
    const scope = query.get("scope");
    if (scope && scope !== found.Scope) throw noSuchNetwork(params.id!);
    return json(found);
  });

  r.post("/networks/create", async (req) => {
    const body = (await readJson<NetworkCreateRequest>(req))!;
    return json(await createNetwork(engine, body), 201);
  });

  r.delete("/networks/{id}", async (_req, { params }) => {
    await removeNetwork(engine, params.id!);
    return empty(204);
  });

  r.post("/networks/{id}/connect", async (req, { params }) => {
    const body = (await readJson<{ Container?: string; EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null }>(req))!;
    const ep = body.EndpointConfig ?? {};
    await connectNetwork(engine, params.id!, body.Container ?? "", { Aliases: ep.Aliases ?? undefined, IPAddress: ep.IPAMConfig?.IPv4Address || undefined });
    return empty(200);
  });

  r.post("/networks/{id}/disconnect", async (req, { params }) => {
    const body = (await readJson<{ Container?: string; Force?: boolean }>(req))!;
    disconnectNetwork(engine, params.id!, body.Container ?? "", !!body.Force);
    return empty(200);
  });

  r.post("/networks/prune", async (_req, { query }) => {
    const report = await pruneNetworks(engine, { filters: parseFilters(query.get("filters")) });
    bus.publish("network", "prune", "", { reclaimed: "0" });
    return json(report);
  });
}

