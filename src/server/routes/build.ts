/**
 * POST /build as dockerd's legacy builder endpoint (the docker CLI with DOCKER_BUILDKIT=0 or without buildx,
 * docker-compose 1.29, docker-py): the body is the context as a tar (plain or gzip), unpacked as it streams
 * into a private directory under the data root (removed afterwards, also on failure or when the client goes);
 * the query is parsed into BuildOptions here, every field applied or refused by name; the answer is the
 * legacy builder's JSON stream (engine/build/legacy-stream.ts). POST /build/prune frees the build cache.
 *
 * Fields: `rm` and `forcerm` only choose whether "Removing intermediate container" lines are written: bunker's
 * builder keeps no intermediate containers either way. Resource limits of RUN steps (memory, cpu*, cgroupparent),
 * isolation, securityopt, squash, outputs, session and remote contexts are refused when set.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import type { BuildOptions, BuildUlimit, ExtraHost } from "../../engine/build/types.ts";
import { LegacyStreamWriter, type LegacyMessage } from "../../engine/build/legacy-stream.ts";
import { credentialKey } from "../../engine/registry/credentials.ts";
import { boolParam, intParam } from "../query.ts";
import { compareVersions, json, jsonMessageStream, type Router } from "../router.ts";

/** The query fields POST /build knows (moby's newImageBuildOptions and the clients' extras). */
const KNOWN = new Set(["t", "remote", "q", "nocache", "rm", "forcerm", "pull", "dockerfile", "target", "networkmode", "extrahosts", "shmsize", "platform", "ulimits", "buildargs", "labels", "cachefrom", "version", "session", "buildid", "outputs", "squash", "isolation", "securityopt", "cpusetcpus", "cpusetmems", "cpushares", "cpuquota", "cpuperiod", "memory", "memswap", "cgroupparent"]);
/** Fields accepted only at their "not set" values (what the docker CLI always sends), refused otherwise. */
const UNSET_ONLY: Record<string, (v: string) => boolean> = {
  cpusetcpus: (v) => v === "",
  cpusetmems: (v) => v === "",
  cgroupparent: (v) => v === "",
  cpushares: (v) => v === "" || v === "0",
  cpuquota: (v) => v === "" || v === "0",
  cpuperiod: (v) => v === "" || v === "0",
  memory: (v) => v === "" || v === "0",
  memswap: (v) => v === "" || v === "0",
  isolation: (v) => v === "" || v === "default",
  squash: (v) => ["", "0", "false", "False"].includes(v),
  session: (v) => v === "",
  buildid: (v) => v === "",
  outputs: (v) => v === "" || v === "null" || v === "[]",
  securityopt: (v) => v === "",
};

/** A JSON query field (moby decodes these with json.Unmarshal); "" and "null" are absent. */
function jsonParam<T>(q: URLSearchParams, name: string): T | undefined {
  const v = q.get(name);
  if (v === null || v === "" || v === "null") return undefined;
  try {
    return JSON.parse(v) as T;
  } catch (e) {
    throw invalidParameter(`invalid ${name} parameter: ${(e as Error).message}`);
  }
}

/** The string-valued object a JSON field must be (labels; buildargs allow null values: left unset). */
function stringMap(q: URLSearchParams, name: string, nullable: boolean): Map<string, string> {
  const raw = jsonParam<unknown>(q, name);
  const out = new Map<string, string>();
  if (raw === undefined) return out;
  if (typeof raw !== "object" || Array.isArray(raw) || raw === null) throw invalidParameter(`invalid ${name} parameter: a JSON object expected`);
  for (const [k, v] of Object.entries(raw)) {
    if (v === null && nullable) continue;
    if (typeof v !== "string") throw invalidParameter(`invalid ${name} parameter: the value of ${JSON.stringify(k)} is not a string`);
    out.set(k, v);
  }
  return out;
}

/** What the request asks, as BuildOptions (less the context directory and the signal) plus the stream's own options. */
export interface BuildRequestQuery {
  options: Omit<BuildOptions, "contextDir" | "signal">;
  quiet: boolean;
  rm: boolean;
  forceRm: boolean;
  /** Tags as the stream names them (`name:tag`, familiar). */
  familiarTags: string[];
}

/** Parses POST /build's query (and X-Registry-Config) into typed options; refuses what is not applied, by name. */
export async function parseBuildQuery(q: URLSearchParams, headers: Headers, version = "1.50"): Promise<BuildRequestQuery> {
  for (const k of new Set(q.keys())) if (!KNOWN.has(k)) throw invalidParameter(`build option ${JSON.stringify(k)} is not supported`);
  for (const [k, unset] of Object.entries(UNSET_ONLY)) for (const v of q.getAll(k)) if (!unset(v)) throw invalidParameter(`build option ${JSON.stringify(k)} is not supported by bunker's builder (${k}=${v})`);
  const remote = q.get("remote");
  if (remote) throw invalidParameter(`remote build contexts are not supported: bunker does not fetch a context (remote=${remote}); send the context as the request body`);
  const ver = q.get("version") ?? "";
  if (ver !== "" && ver !== "1") throw invalidParameter(ver === "2" ? "buildkit not supported by daemon" : `unsupported builder version ${JSON.stringify(ver)}`);

  const { parseReference, withDefaultTag, canonicalString, familiarString } = await import("../../engine/registry/reference.ts");
  const tags: string[] = [];
  const familiarTags: string[] = [];
  for (const t of q.getAll("t")) {
    if (t === "") continue;
    const ref = parseReference(t);
    if (ref.digest) throw invalidParameter("build tag cannot contain a digest");
    const tagged = withDefaultTag(ref);
    tags.push(canonicalString(tagged));
    familiarTags.push(familiarString(tagged));
  }

  const network = q.get("networkmode") || "default";
  if (network !== "default" && network !== "none" && network !== "host") throw invalidParameter(`network mode ${JSON.stringify(network)} not supported by bunker's builder: default, none or host`);

  const { parseExtraHost, checkUlimit } = await import("../../engine/runtime/spec.ts");
  const extraHosts: ExtraHost[] = q.getAll("extrahosts").flatMap((v) => v.split(",")).filter(Boolean).map((v) => {
    const [name, address] = parseExtraHost(v);
    return { name, address };
  });

  const rawUlimits = jsonParam<{ Name?: string; Soft?: number; Hard?: number }[]>(q, "ulimits") ?? [];
  if (!Array.isArray(rawUlimits)) throw invalidParameter("invalid ulimits parameter: a JSON list expected");
  const ulimits: BuildUlimit[] = rawUlimits.map((u) => {
    const c = checkUlimit({ Name: String(u?.Name ?? ""), Soft: Number(u?.Soft ?? 0), Hard: Number(u?.Hard ?? 0) });
    return { name: c.Name, soft: c.Soft, hard: c.Hard };
  });

  const cacheFrom = jsonParam<unknown>(q, "cachefrom") ?? [];
  if (!Array.isArray(cacheFrom) || cacheFrom.some((c) => typeof c !== "string")) throw invalidParameter("invalid cachefrom parameter: a JSON list of strings expected");

  const shmSize = intParam(q, "shmsize", 0);
  if (shmSize < 0) throw invalidParameter("shmsize must be greater than or equal to 0");

  const platform = q.get("platform") || undefined;
  if (platform) {
    const { parsePlatform } = await import("../../engine/image/types.ts");
    try {
      parsePlatform(platform);
    } catch (e) {
      throw invalidParameter((e as Error).message);
    }
  }

  const options: Omit<BuildOptions, "contextDir" | "signal"> = {
    dockerfile: { path: q.get("dockerfile") || "Dockerfile" },
    tags,
    buildArgs: stringMap(q, "buildargs", true),
    labels: Object.fromEntries(stringMap(q, "labels", false)),
    target: q.get("target") || undefined,
    noCache: boolParam(q, "nocache"),
    pull: boolParam(q, "pull"),
    cacheFrom: cacheFrom as string[],
    network,
    extraHosts,
    shmSize,
    ulimits,
    secrets: new Map(),
    platform,
  };
  const auth = decodeRegistryConfig(headers.get("x-registry-config"));
  if (auth.size) options.registryAuth = auth;
  // API >= 1.12: rm defaults to true when absent.
  const rm = q.get("rm") === null || q.get("rm") === "" ? compareVersions(version, "1.12") >= 0 : boolParam(q, "rm");
  return { options, quiet: boolParam(q, "q"), rm, forceRm: boolParam(q, "forcerm"), familiarTags };
}

/** X-Registry-Config: base64(url) JSON of registry → AuthConfig (the credentials for base image pulls), keyed as Docker's config keys them. */
export function decodeRegistryConfig(header: string | null): Map<string, { username: string; password: string }> {
  const out = new Map<string, { username: string; password: string }>();
  if (!header) return out;
  let parsed: unknown;
  try {
    const b64 = header.trim().replace(/-/g, "+").replace(/_/g, "/");
    parsed = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
  } catch {
    return out; // moby ignores an undecodable header (anonymous pulls)
  }
  if (!parsed || typeof parsed !== "object") return out;
  for (const [host, cfg] of Object.entries(parsed as Record<string, { username?: string; password?: string; auth?: string }>)) {
    if (!cfg || typeof cfg !== "object") continue;
    let { username, password } = cfg;
    if (!username && cfg.auth) {
      const up = Buffer.from(cfg.auth, "base64").toString("utf8");
      const i = up.indexOf(":");
      if (i > 0) [username, password] = [up.slice(0, i), up.slice(i + 1)];
    }
    if (username && password !== undefined) out.set(credentialKey(host), { username, password });
  }
  return out;
}

/** Declares POST /build and POST /build/prune on `r`. */
export function buildRoutes(r: Router, engine: Engine): void {
  r.post(
    "/build",
    async (req, { query, version }) => {
      const body = req.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      let parsed: BuildRequestQuery;
      try {
        parsed = await parseBuildQuery(query, req.headers, version);
      } catch (e) {
        // Read (some of) the context before answering, as Go's server discards up to 256 KiB of an unread
        // body: a client still sending it would otherwise see a broken pipe instead of the error.
        await discard(body, 256 << 10);
        throw e;
      }
      return jsonMessageStream(async (emit, signal) => {
        const { unpackContext } = await import("../../engine/build/context-tar.ts");
        // aux messages (the image IDs) from API 1.30, as moby's buildProgressWriter.
        const writer = new LegacyStreamWriter((m: LegacyMessage) => emit(m), { quiet: parsed.quiet, rm: parsed.rm, forceRm: parsed.forceRm, aux: compareVersions(version, "1.30") >= 0 });
        const context = await unpackContext(engine, body);
        try {
          const { build } = (await import("../../engine/lazy.ts")).build();
          // The legacy builder keeps each instruction's image (untagged, parent-linked): ` ---> <id>` names a real image.
          const result = await build(engine, { ...parsed.options, contextDir: context.dir, signal, intermediateImages: true }, (e) => writer.event(e));
          writer.result(result, parsed.familiarTags);
        } catch (e) {
          // Before any output, the failure is the HTTP answer (dockerd's errf when nothing was flushed).
          if (!writer.started) throw e;
          writer.error((e as Error).message);
        } finally {
          context.remove();
        }
      }, req.signal);
    },
    { body: "stream" },
  );

  // docker builder prune / system prune: drops cache records and frees their layers (engine/build/cache.ts).
  // keep-storage (reserved-space from API 1.48) is applied; BuildKit's max-used-space and min-free-space are not.
  r.post("/build/prune", async (_req, { query }) => {
    const { parseFilters } = await import("../query.ts");
    const { build } = await import("../../engine/lazy.ts");
    for (const k of ["max-used-space", "min-free-space"]) if (query.get(k) && query.get(k) !== "0") throw invalidParameter(`build prune option ${JSON.stringify(k)} is not supported by bunker's build cache`);
    const keepStorage = intParam(query, "keep-storage", 0) || intParam(query, "reserved-space", 0);
    return json(await build().pruneBuildCache(engine, { all: boolParam(query, "all"), keepStorage, filters: parseFilters(query.get("filters")) }));
  });
}

/** Reads and drops up to `limit` bytes of a body. */
async function discard(body: ReadableStream<Uint8Array>, limit: number): Promise<void> {
  const reader = body.getReader();
  try {
    for (let n = 0; n < limit; ) {
      const r = await reader.read();
      if (r.done) return;
      n += r.value.length;
    }
  } catch {
    // the client went away: nothing to answer
  } finally {
    reader.releaseLock();
  }
}
