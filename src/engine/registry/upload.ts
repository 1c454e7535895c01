/**
 * The registry's write side (distribution spec, "push"): blob existence, cross-repository mount,
 * monolithic and chunked blob uploads, manifests. Errors are the registry's own text (errcode), as dockerd
 * reports them; 5xx, 429 and dropped connections are marked temporary so the pusher can retry.
 */
import { MAX_ERROR_BYTES, parseErrorResponse, readCapped, RegistryError, transportError } from "./auth.ts";
import { pullScope } from "./auth.ts";
import { checkDigest } from "../image/validate.ts";
import { RepoConnection } from "./client.ts";

/** Bytes sent per PATCH of a chunked upload; a blob smaller than this goes in one PUT (monolithic). */
export const CHUNK_BYTES = 4 << 20;

/** A failed answer as a RegistryError with distribution's message ("denied: requested access ..."). */
async function failure(res: Response, what: string): Promise<RegistryError> {
  const body = new TextDecoder().decode(await readCapped(res, MAX_ERROR_BYTES, "error body", what, true).catch(() => new Uint8Array(0)));
  const p = parseErrorResponse(res.status, res.headers, body);
  const kind = res.status === 404 ? "notFound" : res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : "system";
  return new RegistryError(kind, p.message, res.status, p.errors.map((e) => e.code), res.status >= 500 || res.status === 429);
}

/**
 * Sends a request, turning transport failures into temporary RegistryErrors. Credentials go only to the
 * registry's own origin: an upload Location on another host gets the request without them.
 */
async function send(conn: RepoConnection, method: string, url: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<Response> {
  const what = `${method[0]}${method.slice(1).toLowerCase()} "${url}"`;
  try {
    if (new URL(url).origin !== new URL(conn.endpoint.base).origin) return await conn.client.follow(method, url, headers, what, body);
    return await conn.request(method, url, headers, what, body);
  } catch (e) {
    throw transportError(what, e);
  }
}

/** HEAD of a blob in the target repository: its size when present, null when not. */
export async function statBlob(conn: RepoConnection, digest: string): Promise<number | null> {
  const url = `${conn.repoUrl}blobs/${digest}`;
  const res = await send(conn, "HEAD", url);
  await res.body?.cancel().catch(() => {});
  if (res.status === 404) return null;
  if (!res.ok) throw await failure(res, `Head "${url}"`);
  return Number(res.headers.get("content-length") ?? 0);
}

/** The upload session URL a 202 points at, resolved against the registry. */
function location(conn: RepoConnection, res: Response, what: string): string {
  const loc = res.headers.get("location");
  if (!loc) throw new RegistryError("system", `${what}: the registry answered ${res.status} without a Location`, res.status);
  const u = new URL(loc, conn.endpoint.base);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new RegistryError("system", `${what}: unsupported upload location`, res.status);
  return u.href;
}

/** Starts an upload session (POST .../blobs/uploads/); returns its URL. */
export async function startUpload(conn: RepoConnection): Promise<string> {
  const url = `${conn.repoUrl}blobs/uploads/`;
  const res = await send(conn, "POST", url);
  if (res.status !== 202) throw await failure(res, `Post "${url}"`);
  await res.body?.cancel().catch(() => {});
  return location(conn, res, `Post "${url}"`);
}

/**
 * Asks the registry to mount `digest` from another repository of the same registry (`from`, a path). True
 * when mounted (201); otherwise the session it opened instead (202) is cancelled and false returned.
 * The token asks for pull on the source repository too, as dockerd's does.
 */
export async function mountBlob(conn: RepoConnection, digest: string, from: string): Promise<boolean> {
  const url = `${conn.repoUrl}blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  // A connection of its own: the other layers' requests keep their scopes.
  const mounting = new RepoConnection(conn.client, conn.endpoint, conn.ref, conn.creds, [...conn.scopes, pullScope(from)]);
  const res = await send(mounting, "POST", url);
  await res.body?.cancel().catch(() => {});
  if (res.status === 201) return true;
  if (res.status === 202) await cancelUpload(conn, location(conn, res, `Post "${url}"`));
  // A refused mount (no pull right on the source, unknown blob) is no reason to fail: the blob is uploaded.
  return false;
}

/** Abandons an upload session (DELETE), ignoring failures: the registry purges stale sessions itself. */
export async function cancelUpload(conn: RepoConnection, url: string): Promise<void> {
  try {
    const res = await send(conn, "DELETE", url);
    await res.body?.cancel().catch(() => {});
  } catch {}
}

/** `url` with ?digest= added, keeping the registry's own state parameters. */
function withDigest(url: string, digest: string): string {
  const u = new URL(url);
  u.searchParams.set("digest", digest);
  return u.href;
}

/** What an upload sent. */
export interface Uploaded {
  digest: string;
  size: number;
}

/**
 * Uploads a blob from `source` into a new session. Less than CHUNK_BYTES in all: one monolithic PUT
 * ?digest=. More: PATCHes of CHUNK_BYTES with Content-Range (the next chunk is read while one is sent), then
 * PUT ?digest=. The digest is computed while sending, so a blob compressed on the fly needs none up front;
 * when `expected` is given, the bytes must hash to it. `onBytes` gets the running count of bytes sent.
 */
export async function uploadBlob(conn: RepoConnection, source: ReadableStream<Uint8Array>, opts: { expected?: string; onBytes?: (n: number) => void; signal?: AbortSignal } = {}): Promise<Uploaded> {
  let session: string;
  try {
    session = await startUpload(conn);
  } catch (e) {
    await source.cancel().catch(() => {});
    throw e;
  }
  const hasher = new Bun.CryptoHasher("sha256");
  const reader = source.getReader();
  let parts: Uint8Array[] = [];
  let buffered = 0;
  let sent = 0;
  let inflight: Promise<void> | undefined;
  const patch = async (chunk: Uint8Array) => {
    const res = await send(conn, "PATCH", session, { "content-type": "application/octet-stream", "content-range": `${sent}-${sent + chunk.length - 1}` }, chunk);
    if (res.status !== 202) throw await failure(res, `Patch "${session}"`);
    await res.body?.cancel().catch(() => {});
    session = location(conn, res, `Patch "${session}"`);
    sent += chunk.length;
    opts.onBytes?.(sent);
  };
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (value?.length) {
        hasher.update(value);
        parts.push(value);
        buffered += value.length;
      }
      // What is left at the end goes with the closing PUT (all of a small blob: a monolithic upload).
      if (!done && buffered >= CHUNK_BYTES) {
        // Exactly CHUNK_BYTES per PATCH; the overflow starts the next chunk.
        const all = concat(parts, buffered);
        const chunk = all.subarray(0, CHUNK_BYTES);
        parts = all.length > CHUNK_BYTES ? [all.subarray(CHUNK_BYTES)] : [];
        buffered = all.length - chunk.length;
        await inflight;
        inflight = patch(chunk);
        // Keeps an unobserved rejection from crashing the process while the next chunk is read.
        inflight.catch(() => {});
      }
      if (done) break;
    }
    await inflight;
    const digest = `sha256:${hasher.digest("hex")}`;
    if (opts.expected && opts.expected !== digest) throw new RegistryError("system", `blob verification failed: the layer source sent ${digest}, expected ${opts.expected}`, 0);
    const body = buffered > 0 ? concat(parts, buffered) : undefined;
    const url = withDigest(session, digest);
    const res = await send(conn, "PUT", url, body ? { "content-type": "application/octet-stream" } : { "content-length": "0" }, body ?? new Uint8Array(0));
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await failure(res, `Put "${url}"`);
    await res.body?.cancel().catch(() => {});
    const size = sent + buffered;
    if (body) opts.onBytes?.(size);
    return { digest, size };
  } catch (e) {
    await reader.cancel().catch(() => {});
    await inflight?.catch(() => {});
    await cancelUpload(conn, session);
    throw e;
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts, n));
}

/** PUTs a manifest (or index) by tag or digest, byte for byte; returns its digest as the registry names it. */
export async function putManifest(conn: RepoConnection, tagOrDigest: string, raw: Uint8Array, mediaType: string): Promise<string> {
  const url = `${conn.repoUrl}manifests/${tagOrDigest}`;
  const res = await send(conn, "PUT", url, { "content-type": mediaType }, raw);
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await failure(res, `Put "${url}"`);
  await res.body?.cancel().catch(() => {});
  const ours = `sha256:${new Bun.CryptoHasher("sha256").update(raw).digest("hex")}`;
  const theirs = res.headers.get("docker-content-digest");
  return theirs ? checkDigest(theirs, "Docker-Content-Digest") : ours;
}
