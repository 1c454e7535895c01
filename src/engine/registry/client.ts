/**
 * The registry client: endpoints (mirrors, insecure registries), the /v2/ ping and its auth challenge,
 * manifests (by tag or digest, verified) and tags, with Docker's error texts. Images it resolves are built
 * in remote.ts.
 */
import { formatPlatform, hostPlatform, MediaType, pickPlatform, type Platform } from "../image/types.ts";
import { EngineError } from "../errors.ts";
import { basicAuth, type Challenge, escapeControls, fetchFollowing, httpUrl, MAX_ERROR_BYTES, MAX_MANIFEST_BYTES, MAX_TAGS_PAGE_BYTES, parseChallenges, parseErrorResponse, pullScope, pushScope, readCapped, RegistryError, TokenCache, transportError } from "./auth.ts";
import { checkDigest, checkMediaType, checkSize, indexEntries } from "../image/validate.ts";
import type { Credentials } from "./credentials.ts";
import { DEFAULT_DOMAIN, familiarName, familiarString, canonicalString, type Reference, TAG_REGEXP } from "./reference.ts";
import { buildImage, type RemoteImage } from "./remote.ts";

export { RegistryError } from "./auth.ts";
export type { RemoteImage } from "./remote.ts";

/** How the client reaches registries. */
export interface RegistryOptions {
  /** Docker Hub mirrors ("http://127.0.0.1:5001"), tried in order before Docker Hub itself. */
  mirrors?: string[];
  /** Registries reachable over plain http: "host:port", "host" or an IPv4 CIDR; loopback is always included. */
  insecure?: string[];
  /** Credentials for a registry host ("docker.io", "127.0.0.1:5000"). */
  credentials?: (registryHost: string) => Credentials | undefined;
  /** The fetch to use (tests). */
  fetch?: typeof fetch;
  /** First retry delay for blobs in ms (doubles each try); 200 by default. */
  retryDelayMs?: number;
}

/** Pages of a tags list followed at most (a registry pages by 100 or more: 100,000 tags and beyond). */
const MAX_TAG_PAGES = 1000;

/** Docker Hub's registry API endpoint. */
export const DOCKER_HUB_REGISTRY = "https://registry-1.docker.io";

/** Every manifest type we accept; schema1 only so it can be recognised and refused with Docker's message. */
const MANIFEST_ACCEPT = [MediaType.OCI_INDEX, MediaType.DOCKER_LIST, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_SCHEMA1_SIGNED, MediaType.DOCKER_SCHEMA1].join(", ");

/** One place to talk to for a registry: resolved base URL plus its auth challenge. */
export interface Endpoint {
  /** "https://registry-1.docker.io", "http://127.0.0.1:5000" (after the https/http decision). */
  base: string;
  mirror: boolean;
  challenges: Challenge[];
}

/** A connection to one repository on one endpoint: everything needed to make authorized requests. */
export class RepoConnection {
  constructor(
    readonly client: RegistryClient,
    readonly endpoint: Endpoint,
    readonly ref: Reference,
    readonly creds: Credentials | undefined,
    /** Token scopes of every request (default: pull on this repository; a push adds push, a mount the source's pull). */
    readonly scopes: string[] = [pullScope(ref.path)],
  ) {}

  /** "http://127.0.0.1:5000/v2/<path>/" */
  get repoUrl(): string {
    return `${this.endpoint.base}/v2/${this.ref.path}/`;
  }

  /**
   * Sends an authorized request, following redirects by hand so the Authorization header is dropped when the
   * host changes (blob URLs often redirect to a CDN or S3, which must not see registry credentials).
   */
  async request(method: string, url: string, headers: Record<string, string> = {}, what = `${goMethod(method)} "${url}"`, body?: Uint8Array): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const auth = await this.client.authorizationFor(this.endpoint, this.scopes, this.creds, what);
      const res = await this.client.follow(method, url, { ...headers, ...(auth ? { authorization: auth } : {}) }, what, body);
      // A cached token can be revoked or expire early: ask for a new one once.
      if (res.status === 401 && auth?.startsWith("Bearer ") && attempt === 0 && !isScopeDenial(res)) {
        await res.body?.cancel();
        this.client.tokens.invalidate();
        continue;
      }
      return res;
    }
  }
}

function isScopeDenial(res: Response): boolean {
  return /insufficient_scope/.test(res.headers.get("www-authenticate") ?? "");
}

/** Go's net/http spells methods in url.Error as "Get", "Head". */
function goMethod(m: string): string {
  return m[0]! + m.slice(1).toLowerCase();
}

/** A fetched manifest: exact bytes, their digest and media type. */
export interface FetchedManifest {
  raw: Uint8Array;
  digest: string;
  mediaType: string;
  size: number;
}

/** sha256 of bytes as "sha256:<hex>". */
export function sha256(b: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
}

/** A Docker Registry HTTP API v2 client (read side), with Docker's endpoint, auth and error rules. */
export class RegistryClient {
  /** Bearer tokens, shared by all concurrent requests of this client. */
  readonly tokens: TokenCache;
  readonly fetchImpl: typeof fetch;
  readonly retryDelayMs: number;
  /** Pings per candidate base URL: the https/http decision and the challenge are made once per client. */
  private pings = new Map<string, Promise<Endpoint>>();

  constructor(readonly opts: RegistryOptions = {}) {
    this.fetchImpl = opts.fetch ?? fetch;
    this.tokens = new TokenCache(this.fetchImpl);
    this.retryDelayMs = opts.retryDelayMs ?? 200;
  }

  /** Resolves ref (tag or digest) to a platform-specific image; an index/list picks `platform` (default: the host's), skipping attestation entries. */
  async image(ref: Reference, opts: { platform?: Platform } = {}): Promise<RemoteImage> {
    return this.onEndpoints(ref, async (conn) => {
      const tagOrDigest = ref.digest ?? ref.tag ?? "latest";
      const top = await this.manifest(conn, tagOrDigest);
      if (isIndex(top.mediaType)) {
        const platform = opts.platform ?? hostPlatform();
        const index = JSON.parse(new TextDecoder().decode(top.raw)) as { manifests?: unknown };
        if (!Array.isArray(index.manifests)) throw new EngineError("invalidParameter", "unsupported manifest format");
        const picked = pickPlatform(indexEntries(index.manifests), platform);
        if (!picked) throw new EngineError("notFound", `no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
        // The entry's digest becomes a URL path: checked before use, as everything else the registry says.
        checkDigest(picked.digest, "manifest list entry digest");
        if (picked.mediaType !== undefined) checkMediaType(picked.mediaType, "manifest list entry media type");
        checkSize(picked.size, "manifest list entry size", MAX_MANIFEST_BYTES);
        const m = await this.manifest(conn, picked.digest);
        if (isIndex(m.mediaType)) throw new EngineError("invalidParameter", "unsupported manifest format");
        return buildImage(conn, m, top);
      }
      return buildImage(conn, top, undefined);
    });
  }

  /** HEADs the manifest: digest, media type and size without the body (for "is my local tag up to date?"). null when not found. */
  async head(ref: Reference): Promise<{ digest: string; mediaType: string; size: number } | null> {
    return this.onEndpoints(ref, async (conn) => {
      const tagOrDigest = ref.digest ?? ref.tag ?? "latest";
      const url = `${conn.repoUrl}manifests/${tagOrDigest}`;
      const res = await conn.request("HEAD", url, { accept: MANIFEST_ACCEPT });
      if (res.status === 404) return null;
      const digest = res.headers.get("docker-content-digest");
      if (res.ok && digest) {
        return { digest: checkDigest(digest, "Docker-Content-Digest"), mediaType: contentType(res) ?? "", size: Number(res.headers.get("content-length") ?? 0) };
      }
      // No digest header (some registries), or an error whose details only a GET body carries.
      try {
        const m = await this.manifest(conn, tagOrDigest);
        return { digest: m.digest, mediaType: m.mediaType, size: m.size };
      } catch (e) {
        if (e instanceof RegistryError && e.httpStatus === 404) return null;
        throw e;
      }
    });
  }

  /**
   * Lists a repository's tags, following pagination (for pull --all-tags). Credentials go only to the
   * registry's own origin: a `Link` to another host or scheme is followed without them, as Docker's
   * per-host challenge manager would, and a page seen before ends the walk.
   */
  async tags(ref: Reference): Promise<string[]> {
    return this.onEndpoints(ref, async (conn) => {
      const out = new Set<string>();
      const origin = new URL(conn.endpoint.base).origin;
      const seen = new Set<string>();
      let url: URL | undefined = new URL(`${conn.repoUrl}tags/list`);
      while (url && !seen.has(url.href)) {
        if (seen.size >= MAX_TAG_PAGES) throw new RegistryError("system", `Get "${url.href}": more than ${MAX_TAG_PAGES} pages of tags`, 0);
        seen.add(url.href);
        const what: string = `Get "${url.href}"`;
        const res: Response = url.origin === origin ? await conn.request("GET", url.href) : await this.follow("GET", url.href, {}, what);
        const raw = await readCapped(res, res.ok ? MAX_TAGS_PAGE_BYTES : MAX_ERROR_BYTES, "tags list", what, !res.ok);
        const body = new TextDecoder().decode(raw);
        if (!res.ok) throw this.pullError(res, body, conn.ref);
        let tags: unknown;
        try {
          tags = (JSON.parse(body) as { tags?: unknown } | null)?.tags ?? [];
        } catch (e) {
          throw new RegistryError("system", `${what}: invalid tags list: ${escapeControls((e as Error).message)}`, res.status);
        }
        if (!Array.isArray(tags)) throw new RegistryError("system", `${what}: invalid tags list`, res.status);
        for (const t of tags) {
          if (typeof t !== "string" || !TAG_REGEXP.test(t)) throw new RegistryError("system", `${what}: invalid tag ${escapeControls(JSON.stringify(String(t).slice(0, 130)))} in tags list`, res.status);
          out.add(t);
        }
        // RFC 5988 Link: </v2/x/tags/list?n=100&last=b>; rel="next"
        const next: string | undefined = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
        url = next ? httpUrl(next, `${what}: Link`, url) : undefined;
      }
      return [...out];
    });
  }

  /** Checks credentials against a registry (for `login`): resolves, or throws with Docker's message. */
  async login(server: string, username: string, password: string): Promise<void> {
    const host = server.replace(/^https?:\/\//, "").split("/")[0]!;
    const hub = host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io";
    const ep = await this.ping(hub ? DOCKER_HUB_REGISTRY : registryBase(host), hub ? false : this.isInsecure(host));
    const creds = { username, password };
    const url = `${ep.base}/v2/`;
    const what = `Get "${url}"`;
    // Login asks for a token with no scope: it proves the credentials, nothing more (as dockerd's loginV2).
    const auth = await this.authorizationFor(ep, "", creds, what);
    const res = await this.follow("GET", url, auth ? { authorization: auth } : {}, what);
    await res.body?.cancel();
    if (res.status !== 200) {
      throw new RegistryError(res.status === 401 ? "unauthorized" : "system", `login attempt to ${url} failed with status: ${res.status} ${statusTextOf(res)}`, res.status);
    }
  }

  /**
   * A connection to `ref`'s repository for writing (push): the registry itself, never a mirror, with
   * dockerd's push scope `repository:<path>:push,pull`.
   */
  async pushConnection(ref: Reference): Promise<RepoConnection> {
    const e = this.endpoints(ref).at(-1)!;
    const ep = await this.ping(e.base, e.insecure);
    return new RepoConnection(this, ep, ref, this.opts.credentials?.(ref.domain), [pushScope(ref.path)]);
  }

  /** A read connection to `ref`'s repository on the registry itself (a push's layer source, GET /distribution). */
  async pullConnection(ref: Reference): Promise<RepoConnection> {
    const e = this.endpoints(ref).at(-1)!;
    const ep = await this.ping(e.base, e.insecure);
    return new RepoConnection(this, ep, ref, this.opts.credentials?.(ref.domain));
  }

  /** The registry host's endpoints in Docker's order: mirrors first for docker.io. */
  private endpoints(ref: Reference): { base: string; mirror: boolean; insecure: boolean }[] {
    if (ref.domain === DEFAULT_DOMAIN) {
      return [...(this.opts.mirrors ?? []).map((m) => ({ base: m.replace(/\/+$/, ""), mirror: true, insecure: false })), { base: DOCKER_HUB_REGISTRY, mirror: false, insecure: false }];
    }
    return [{ base: registryBase(ref.domain), mirror: false, insecure: this.isInsecure(ref.domain) }];
  }

  /** Runs `fn` against each endpoint until one answers; a failing mirror falls through to the next, as in moby. */
  private async onEndpoints<T>(ref: Reference, fn: (conn: RepoConnection) => Promise<T>): Promise<T> {
    const eps = this.endpoints(ref);
    let lastErr: unknown;
    for (const [i, e] of eps.entries()) {
      try {
        const ep = await this.ping(e.base, e.insecure, e.mirror);
        return await fn(new RepoConnection(this, ep, ref, this.opts.credentials?.(ref.domain)));
      } catch (err) {
        lastErr = err;
        if (!e.mirror || i === eps.length - 1) throw err;
      }
    }
    throw lastErr;
  }

  /** Whether `host` ("127.0.0.1:5000") may be spoken to over plain http: loopback always, plus the configured list. */
  isInsecure(host: string): boolean {
    const hostname = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    if (hostname === "localhost" || hostname === "::1" || /^127\./.test(hostname)) return true;
    for (const entry of this.opts.insecure ?? []) {
      const e = entry.replace(/^https?:\/\//, "").replace(/\/+$/, "");
      if (e === host || e === hostname) return true;
      const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(e);
      if (cidr && /^\d+\.\d+\.\d+\.\d+$/.test(hostname) && inCidr(hostname, cidr[1]!, Number(cidr[2]))) return true;
    }
    return false;
  }

  /**
   * GET /v2/ once per base URL. Insecure registries are tried over https first and over http when https
   * cannot be spoken (refused, TLS handshake failure), as dockerd does; on loopback that costs ~2 ms once
   * per client, and keeps a TLS registry on 127.0.0.1 working.
   */
  ping(base: string, insecure: boolean, mirror = false): Promise<Endpoint> {
    const key = `${base} ${insecure}`;
    let p = this.pings.get(key);
    if (!p) {
      p = this.doPing(base, insecure, mirror);
      this.pings.set(key, p);
      // Failures are not cached: the registry may come up later.
      p.catch(() => this.pings.get(key) === p && this.pings.delete(key));
    }
    return p;
  }

  private async doPing(base: string, insecure: boolean, mirror: boolean): Promise<Endpoint> {
    const candidates = insecure && base.startsWith("https://") ? [base, `http://${base.slice(8)}`] : [base];
    let lastErr: unknown;
    for (const b of candidates) {
      const url = `${b}/v2/`;
      try {
        const res = await fetchFollowing(this.fetchImpl, "GET", url, {}, `Get "${url}"`);
        await res.body?.cancel().catch(() => {});
        return { base: b, mirror, challenges: parseChallenges(res.headers.get("www-authenticate") ?? "") };
      } catch (e) {
        lastErr = transportError(`Get "${url}"`, e);
      }
    }
    throw lastErr;
  }

  /** The Authorization header for a pull of `path` on `ep`, or undefined when the registry wants none. */
  authorization(ep: Endpoint, path: string, creds: Credentials | undefined, what: string): Promise<string | undefined> {
    return this.authorizationFor(ep, pullScope(path), creds, what);
  }

  /** The Authorization header for `scope` on `ep`: a bearer token for it, Basic credentials, or none. */
  async authorizationFor(ep: Endpoint, scope: string | string[], creds: Credentials | undefined, what: string): Promise<string | undefined> {
    const bearer = ep.challenges.find((c) => c.scheme === "bearer");
    if (bearer) return `Bearer ${await this.tokens.get(bearer, scope, creds, what)}`;
    const basic = ep.challenges.find((c) => c.scheme === "basic");
    if (basic) {
      // distribution's basic handler: a Basic challenge with nothing to answer it fails before sending.
      if (!creds) throw new RegistryError("unauthorized", `${what}: no basic auth credentials`, 401, ["UNAUTHORIZED"]);
      return basicAuth(creds);
    }
    return undefined;
  }

  /** fetch with manual redirects, http(s) only: Authorization is kept only while the host stays the same. */
  follow(method: string, url: string, headers: Record<string, string>, what: string, body?: Uint8Array): Promise<Response> {
    return fetchFollowing(this.fetchImpl, method, url, headers, what, body);
  }

  /** Fetches a manifest by tag or digest and verifies its digest (by digest: must match; by tag: the Docker-Content-Digest header, when sent). */
  async manifest(conn: RepoConnection, tagOrDigest: string): Promise<FetchedManifest> {
    const url = `${conn.repoUrl}manifests/${tagOrDigest}`;
    // dockerd resolves tags with a HEAD, so its transport errors say "Head"; we GET directly (one round trip
    // instead of two) but word errors the same way.
    const what = `${tagOrDigest.includes(":") ? "Get" : "Head"} "${url}"`;
    const res = await conn.request("GET", url, { accept: MANIFEST_ACCEPT }, what);
    const raw = await readCapped(res, res.ok ? MAX_MANIFEST_BYTES : MAX_ERROR_BYTES, "manifest", what, !res.ok);
    if (!res.ok) throw this.pullError(res, new TextDecoder().decode(raw), refWith(conn.ref, tagOrDigest));
    const digest = sha256(raw);
    const byDigest = tagOrDigest.includes(":");
    const header = res.headers.get("docker-content-digest");
    if ((byDigest && tagOrDigest.startsWith("sha256:") && digest !== tagOrDigest) || (!byDigest && header?.startsWith("sha256:") && header !== digest)) {
      throw new RegistryError("system", `manifest verification failed for digest ${byDigest ? tagOrDigest : header}`, res.status);
    }
    let body: { mediaType?: string; schemaVersion?: number };
    try {
      body = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      throw new EngineError("invalidParameter", "unsupported manifest format");
    }
    // umoci's OCI manifests carry no mediaType: the Content-Type the registry stored it with says what it is.
    const mediaType = checkMediaType(body?.mediaType || contentType(res) || "application/octet-stream", "manifest media type");
    if (body?.schemaVersion === 1 || mediaType === MediaType.DOCKER_SCHEMA1 || mediaType === MediaType.DOCKER_SCHEMA1_SIGNED) {
      throw new EngineError(
        "invalidParameter",
        `Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of ${canonicalString(refWith(conn.ref, tagOrDigest))} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/`,
      );
    }
    return { raw, digest, mediaType, size: raw.length };
  }

  /** moby's translatePullError: registry error codes become "pull access denied", "manifest ... not found" and friends. */
  pullError(res: Response, body: string, ref: Reference): RegistryError {
    const p = parseErrorResponse(res.status, res.headers, body);
    const codes = p.errors.map((e) => e.code);
    const first = p.errors[0];
    const temporary = res.status >= 500 || res.status === 429;
    const denied = (msg: string) =>
      new RegistryError("notFound", `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': denied: ${msg}`, res.status, codes, false);
    switch (first?.code) {
      case "DENIED":
        return denied(first.message);
      case "MANIFEST_UNKNOWN":
        return new RegistryError("notFound", `manifest for ${familiarString(ref)} not found: manifest unknown: ${first.message}`, res.status, codes);
      case "NAME_UNKNOWN":
        // Docker Hub never admits a repository is missing (it would leak private names): it denies.
        if (ref.domain === DEFAULT_DOMAIN) return denied("requested access to the resource is denied");
        return new RegistryError("notFound", `repository ${familiarName(ref)} not found: name unknown: ${first.message}`, res.status, codes);
    }
    const kind = res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : "system";
    return new RegistryError(kind, p.message, res.status, codes, temporary);
  }
}

function refWith(ref: Reference, tagOrDigest: string): Reference {
  return tagOrDigest.includes(":") ? { domain: ref.domain, path: ref.path, digest: tagOrDigest } : { domain: ref.domain, path: ref.path, tag: tagOrDigest };
}

function statusTextOf(res: Response): string {
  return escapeControls(res.statusText) || ({ 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" } as Record<number, string>)[res.status] || "";
}

function contentType(res: Response): string | undefined {
  return res.headers.get("content-type")?.split(";")[0]?.trim() || undefined;
}

function isIndex(mt: string): boolean {
  return mt === MediaType.OCI_INDEX || mt === MediaType.DOCKER_LIST;
}

/** "https://host:port" for a registry domain. */
function registryBase(domain: string): string {
  return `https://${domain}`;
}

function inCidr(ip: string, net: string, bits: number): boolean {
  const n = (s: string) => s.split(".").reduce((a, b) => (a << 8) + Number(b), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (n(ip) & mask) === (n(net) & mask);
}

