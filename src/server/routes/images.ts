/**
 * Image routes: pull (images/create), push, the registry's view (distribution), list, inspect, history, tag, delete, prune. Image names are greedy
 * path parameters (`/images/docker.io/library/alpine:latest/json` arrives unescaped). Each change is
 * published by the engine (engine/images.ts, engine/pull.ts) with moby's actors: pull → the familiar reference, tag → the image
 * ID with the new name, untag and delete → the image ID.
 */
import type { Engine } from "../../engine/engine.ts";
import { EngineError, invalidParameter } from "../../engine/errors.ts";
import type { Credentials } from "../../engine/registry/credentials.ts";
import { boolParam, parseFilters } from "../query.ts";
import { compareVersions, empty, json, jsonMessageStream, type Router } from "../router.ts";
import { listImages, inspectImage, imageHistory, tagImage, removeImage, pruneImages } from "../../engine/images.ts";
import { RegistryClient } from "../../engine/registry/client.ts";
import { parseReference, repositoryName, canonicalString } from "../../engine/registry/reference.ts";
import { parsePlatform, type Platform } from "../../engine/image/types.ts";
import { pullImage } from "../../engine/pull.ts";
import { saveImages } from "../../engine/archive/save.ts";
import { loadImages } from "../../engine/archive/load.ts";

/** The decoded X-Registry-Auth header (types.AuthConfig). */
export interface AuthConfig {
  username?: string;
  password?: string;
  serveraddress?: string;
  identitytoken?: string;
  auth?: string;
}

/**
 * Decodes X-Registry-Auth: base64url (the CLI) or standard base64 (dockerode), padded or not, of a JSON
 * AuthConfig. Garbage decodes to undefined: moby ignores a bad header on pull and goes anonymous.
 */
export function decodeRegistryAuth(header: string | null): AuthConfig | undefined {
  if (!header) return undefined;
  try {
    const b64 = header.trim().replace(/-/g, "+").replace(/_/g, "/");
    const text = Buffer.from(b64 + "=".repeat((4 - (b64.length % 4)) % 4), "base64").toString("utf8");
    const cfg = JSON.parse(text) as AuthConfig;
    if (!cfg || typeof cfg !== "object" || Array.isArray(cfg)) return undefined;
    if (!cfg.username && cfg.auth) {
      // The legacy "auth" field: base64(user:password).
      const up = Buffer.from(cfg.auth, "base64").toString("utf8");
      const i = up.indexOf(":");
      if (i > 0) return { ...cfg, username: up.slice(0, i), password: up.slice(i + 1) };
    }
    return cfg;
  } catch {
    return undefined;
  }
}

/**
 * The registry client of one pull: with the client's credentials when X-Registry-Auth carries some (used
 * for every registry of this pull, as moby does), else the engine's (the daemon's own stored credentials).
 */
async function registryWithAuth(engine: Engine, auth: AuthConfig | undefined, onlyFor?: string): Promise<RegistryClient> {
  if (!auth?.username || auth.password === undefined) return engine.registry();
  const creds: Credentials = { username: auth.username, password: auth.password };
  // `onlyFor` (a push's target registry): other registries (where the layers are read) get the daemon's own.
  const own = onlyFor ? engine.registry().opts.credentials : undefined;
  return new RegistryClient({ mirrors: engine.config.registryMirrors, insecure: engine.config.insecureRegistries, credentials: (host) => (!onlyFor || host === onlyFor ? creds : own?.(host)) });
}

/** A `platform` of push (API 1.46+), history (1.48+) or image inspect (1.49+): an OCI platform as JSON, with its OS and architecture. */
function platformParam(value: string | null): Platform | undefined {
  if (!value) return undefined;
  let p: unknown;
  try {
    p = JSON.parse(value);
  } catch (e) {
    throw invalidParameter(`invalid platform: ${(e as Error).message}`);
  }
  const { os, architecture, variant } = (p ?? {}) as Record<string, unknown>;
  if (typeof os !== "string" || !os || typeof architecture !== "string" || !architecture || (variant !== undefined && typeof variant !== "string")) {
    throw invalidParameter(`invalid platform: ${value}: the os and architecture are required`);
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Declares the image routes on `r`. */
export function imageRoutes(r: Router, engine: Engine): void {

  r.get("/images/json", async (_req, { query }) => {
    const filters = parseFilters(query.get("filters"));
    // API < 1.41: `filter=<reference>`.
    const legacy = query.get("filter");
    if (legacy) (filters.reference ??= []).push(legacy);
    const list = listImages(engine, { all: boolParam(query, "all"), filters });
    // moby filters repo digests by `reference` as it does tags; without it the CLI shows "<none>" rows for
    // the other repositories' digests of a matching image.
    if (filters.reference?.length) for (const img of list) img.RepoDigests = img.RepoDigests.filter((d) => filters.reference!.some((p) => referenceMatch(p, d)));
    return json(list);
  });

  r.post("/images/create", async (req, { query }) => {
    const fromImage = query.get("fromImage") ?? "";
    let platform: Platform | undefined;
    const p = query.get("platform");
    if (p) {
      try {
        platform = parsePlatform(p);
      } catch (e) {
        throw invalidParameter((e as Error).message);
      }
    }
    if (!fromImage) {
      // docker import: the tar is the body ("-") or at a URL the daemon downloads.
      const src = query.get("fromSrc") ?? "";
      if (!src) throw invalidParameter("fromImage or fromSrc is required");
      const { importFrom } = await import("../../engine/commit.ts");
      const body = req.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      const opts = { repo: query.get("repo") ?? undefined, tag: query.get("tag") ?? undefined, message: query.get("message") ?? undefined, changes: query.getAll("changes"), platform };
      return jsonMessageStream(async (emit) => void (await importFrom(engine, src === "-" ? body : { url: src }, opts, emit)), req.signal);
    }
    let ref = parseReference(fromImage);
    const tag = query.get("tag") ?? "";
    // The CLI sends digests in `tag` (tag=sha256:...); either replaces what fromImage carried.
    if (tag) ref = parseReference(`${repositoryName(ref)}${/^[a-z0-9]+:/.test(tag) ? "@" : ":"}${tag}`);
    const registry = await registryWithAuth(engine, decodeRegistryAuth(req.headers.get("x-registry-auth")));
    // A bare name pulls every tag (moby's IsNameOnly); the CLI always sends a tag unless `pull -a`.
    const refs = ref.tag || ref.digest ? [ref] : (await registry.tags(ref)).map((t) => ({ ...ref, tag: t }));
    return jsonMessageStream(async (emit, signal) => {
      for (const one of refs) await pullImage(engine, canonicalString(one), { platform, onMessage: emit, signal, registry });
    }, req.signal);
  }, { body: "stream" });

  r.post("/images/{name:.*}/push", async (req, { params, query }) => {
    const { pushRepository } = await import("../../engine/push.ts");
    const tag = query.get("tag") ?? "";
    let ref = parseReference(params.name!);
    // `tag` names the one tag to push; without it, every tag of the repository goes (moby's IsNameOnly).
    if (tag) ref = parseReference(`${repositoryName(ref)}:${tag}`);
    const platform = platformParam(query.get("platform"));
    const registry = await registryWithAuth(engine, decodeRegistryAuth(req.headers.get("x-registry-auth")), ref.domain);
    return jsonMessageStream(async (emit, signal) => {
      await pushRepository(engine, canonicalString(ref), { onMessage: emit, signal, registry, platform });
    }, req.signal);
  });

  // docker save: one image (GET /images/{name}/get) or several (?names=a&names=b), as an uncompressed tar.
  const save = (names: string[]) => new Response(saveImages(engine, names), { status: 200, headers: { "content-type": "application/x-tar" } });
  r.get("/images/get", async (_req, { query }) => save(query.getAll("names")));
  r.get("/images/{name:.*}/get", async (_req, { params }) => save([params.name!]));

  // docker load: the archive streams in and is unpacked as it arrives; answered with docker's JSON stream.
  r.post(
    "/images/load",
    async (req, { query }) => {
      const quiet = boolParam(query, "quiet");
      const input = req.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      return jsonMessageStream(async (emit, signal) => void (await loadImages(engine, input, { quiet, onMessage: emit, signal })), req.signal);
    },
    { body: "stream" },
  );

  r.get("/distribution/{name:.*}/json", async (req, { params }) => {
    const { distributionInspect } = await import("../../engine/push.ts");
    const registry = await registryWithAuth(engine, decodeRegistryAuth(req.headers.get("x-registry-auth")));
    return json(await distributionInspect(engine, params.name!, registry));
  });

  r.get("/images/{name:.*}/json", async (req, { params, query, version }) => {
    const platform = platformParam(query.get("platform"));
    const compose1 = needsContainerConfig(req);
    return json(inspectImage(engine, params.name!, { containerConfig: compareVersions(version, "1.45") < 0 || compose1, legacyConfig: compareVersions(version, "1.50") < 0 || compose1, platform }));
  });

  r.get("/images/{name:.*}/history", async (_req, { params, query }) => {
    return json(imageHistory(engine, params.name!, { platform: platformParam(query.get("platform")) }));
  });

  r.post("/images/{name:.*}/tag", async (_req, { params, query }) => {
    const repo = query.get("repo") ?? "";
    const tag = query.get("tag") ?? "";
    const target = tag ? `${repo}:${tag}` : repo;
    tagImage(engine, params.name!, target);
    return empty(201);
  });

  r.delete("/images/{name:.*}", async (_req, { params, query }) => {
    // API 1.50's `platforms`: removing some platforms of a multi-platform image, refused rather than ignored.
    if (query.getAll("platforms").some(Boolean)) throw invalidParameter("platforms: removing one platform of a multi-platform image is not supported by bunker yet");
    return json(removeImage(engine, params.name!, { force: boolParam(query, "force"), noPrune: boolParam(query, "noprune") }));
  });

  r.post("/images/prune", async (_req, { query }) => {
    const filters = parseFilters(query.get("filters"));
    for (const k of Object.keys(filters)) if (!["dangling", "label", "label!", "until"].includes(k)) throw invalidParameter(`invalid filter '${k}'`);
    const d = filters.dangling?.[0]?.toLowerCase();
    if (d !== undefined && !["true", "false", "1", "0"].includes(d)) throw invalidParameter(`Invalid filter 'dangling=${filters.dangling![0]}'`);
    if (filters.until?.length || filters["label!"]?.length) throw notSupported("image prune filters until and label!");
    return json(pruneImages(engine, { all: d === "false" || d === "0", filters: filters.label ? { label: filters.label } : undefined }));
  });
}

/**
 * moby dropped Container and ContainerConfig from image inspect at API 1.45, and docker-compose 1.x indexes
 * `ContainerConfig` when it recreates a container (KeyError, leaving the old one renamed and stopped). Its
 * docker-py negotiates the daemon's newest version, so the version alone cannot tell: compose 1.x, known by
 * its User-Agent ("docker-compose/1.29.2 docker-py/5.0.3 ..."), gets the fields at every version. Other
 * clients see exactly moby's shape.
 */
function needsContainerConfig(req: Request): boolean {
  return /^docker-compose\/1\./.test(req.headers.get("user-agent") ?? "");
}

/** moby's matchReference for a familiar "name@digest": Go path.Match on the whole string or on the name. */
function referenceMatch(pattern: string, familiarDigestRef: string): boolean {
  const name = familiarDigestRef.slice(0, familiarDigestRef.indexOf("@"));
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return re.test(familiarDigestRef) || re.test(name);
}

/** 404 for an endpoint bunker knows but does not implement yet (see docs/api.md). */
export function notSupported(what: string): EngineError {
  return new EngineError("notFound", `${what} is not supported by bunker yet (see docs/api.md)`);
}
