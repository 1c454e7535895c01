/**
 * Images and layers served by a registry (the `Image`/`Layer` of image/types.ts). Layers stream their blob
 * with digest and length checked at the end, retry temporary failures with backoff, and resume a dropped
 * download with a Range request so the consumer sees one seamless stream.
 */
import { EngineError } from "../errors.ts";
import type { Image, ImageConfig, Layer, Manifest } from "../image/types.ts";
import { verified } from "../../fs/digest.ts";
import { decompressed } from "../../fs/unpack.ts";
import { escapeControls, MAX_CONFIG_BYTES, MAX_ERROR_BYTES, parseErrorResponse, readCapped, RegistryError, transportError } from "./auth.ts";
import { checkDigest, checkMediaType, checkSha256, checkSize, MAX_LAYERS } from "../image/validate.ts";
import type { FetchedManifest, RepoConnection } from "./client.ts";
import type { Reference } from "./reference.ts";

/** An Image (types.ts) fetched from a registry; also knows the index (or manifest list) it was picked from. */
export interface RemoteImage extends Image {
  readonly index?: FetchedManifest;
  readonly reference: Reference;
}

/** Tries per blob request without progress before giving up (1 + 3 retries). */
const MAX_TRIES = 4;

/**
 * Builds the RemoteImage for a verified manifest: fetches and verifies its config, lines layers up with
 * diff_ids. Every digest, media type and size in manifest and config is checked before it is used: they
 * become URLs, directory names and database rows.
 */
export async function buildImage(conn: RepoConnection, m: FetchedManifest, index: FetchedManifest | undefined): Promise<RemoteImage> {
  const manifest = JSON.parse(new TextDecoder().decode(m.raw)) as Manifest;
  if (!manifest?.config?.digest || !Array.isArray(manifest.layers)) throw new EngineError("invalidParameter", "unsupported manifest format");
  // moby refuses an image deeper than 125 layers when it registers the 126th; refused here before any download.
  if (manifest.layers.length > MAX_LAYERS) throw new EngineError("invalidParameter", `max depth exceeded: the image has ${manifest.layers.length} layers, at most ${MAX_LAYERS} are supported`);
  checkSha256(manifest.config.digest, "config digest");
  if (manifest.config.mediaType !== undefined) checkMediaType(manifest.config.mediaType, "config media type");
  checkSize(manifest.config.size, "config size", MAX_CONFIG_BYTES);
  for (const l of manifest.layers) {
    checkDigest(l?.digest, "layer digest");
    if (l.mediaType !== undefined) checkMediaType(l.mediaType, "layer media type");
    checkSize(l.size, "layer size");
  }
  const rawConfig = await fetchBlob(conn, manifest.config.digest, manifest.config.size);
  let config: ImageConfig;
  try {
    config = JSON.parse(new TextDecoder().decode(rawConfig)) as ImageConfig;
  } catch (e) {
    throw new EngineError("invalidParameter", `invalid image config: ${escapeControls((e as Error).message)}`);
  }
  const diffIds = config?.rootfs?.diff_ids ?? [];
  if (!Array.isArray(diffIds)) throw new EngineError("invalidParameter", "invalid image config: rootfs.diff_ids is not a list");
  for (const d of diffIds) checkSha256(d, "diff ID");
  if (diffIds.length !== manifest.layers.length) throw new EngineError("system", "layers from manifest don't match image configuration");
  const layers = manifest.layers.map((d, i) => new RemoteLayer(conn, d.digest, diffIds[i]!, d.size, d.mediaType));
  return {
    digest: m.digest,
    id: manifest.config.digest,
    manifest,
    rawManifest: m.raw,
    manifestMediaType: m.mediaType,
    config,
    rawConfig,
    layers: () => layers,
    index,
    reference: conn.ref,
  };
}

/** Fetches a small blob (a config) whole, with retries, and verifies its digest. */
async function fetchBlob(conn: RepoConnection, digest: string, size: number | undefined): Promise<Uint8Array> {
  const stream = await openBlob(conn, digest, size);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A layer served by `conn`'s repository (for images whose manifest and config are known already). */
export function remoteLayer(conn: RepoConnection, digest: string, diffId: string, size: number, mediaType: string): Layer {
  return new RemoteLayer(conn, digest, diffId, size, mediaType);
}

class RemoteLayer implements Layer {
  constructor(
    private readonly conn: RepoConnection,
    readonly digest: string,
    readonly diffId: string,
    readonly size: number,
    readonly mediaType: string,
  ) {}

  compressed(): Promise<ReadableStream<Uint8Array>> {
    return openBlob(this.conn, this.digest, this.size);
  }

  async uncompressed(): Promise<ReadableStream<Uint8Array>> {
    return verified(await decompressed(await this.compressed()), this.diffId, `layer ${this.digest}`);
  }
}

/** The part of a stream reader we use (Bun's typings add non-standard members). */
interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a blob as a stream. The promise rejects when the blob cannot be had at all (unknown blob, denied,
 * retries exhausted before the first byte); after that, failures surface as a stream error. The stream
 * errors at its end when the bytes do not hash to `digest` or the length differs from `size`.
 */
async function openBlob(conn: RepoConnection, digest: string, size: number | undefined): Promise<ReadableStream<Uint8Array>> {
  const url = `${conn.repoUrl}blobs/${digest}`;
  const what = `Get "${url}"`;
  const hasher = new Bun.CryptoHasher(digest.slice(0, digest.indexOf(":")) as "sha256" | "sha384" | "sha512");
  let delivered = 0;
  let tries = 0;
  let lastErr: unknown;

  /** One GET (ranged from `delivered` when resuming), retried with backoff while failures are temporary. */
  const open = async (): Promise<ChunkReader> => {
    for (;;) {
      if (tries >= MAX_TRIES) throw lastErr;
      if (tries > 0) await sleep(conn.client.retryDelayMs * 2 ** (tries - 1));
      tries++;
      let res: Response;
      try {
        res = await conn.request("GET", url, delivered > 0 ? { range: `bytes=${delivered}-` } : {}, what);
      } catch (e) {
        lastErr = transportError(what, e);
        if (!(lastErr as RegistryError).temporary) throw lastErr;
        continue;
      }
      if (res.ok) {
        if (delivered > 0 && res.status !== 206) {
          // The server ignored the range: the bytes already handed on cannot be taken back.
          await res.body?.cancel();
          throw new RegistryError("system", `${what}: download interrupted after ${delivered} bytes and the registry does not support resuming (Range)`, res.status, [], false, { cause: lastErr });
        }
        if (delivered > 0 && !(res.headers.get("content-range") ?? "").startsWith(`bytes ${delivered}-`)) {
          await res.body?.cancel();
          throw new RegistryError("system", `${what}: registry answered a resume from byte ${delivered} with ${res.headers.get("content-range")}`, res.status);
        }
        return res.body!.getReader() as ChunkReader;
      }
      const body = new TextDecoder().decode(await readCapped(res, MAX_ERROR_BYTES, "error body", what, true).catch(() => new Uint8Array(0)));
      if (res.status === 416 && delivered > 0) {
        // A resume past the blob's end: the registry has fewer bytes than the manifest declares.
        throw new RegistryError("system", `filesystem layer verification failed for digest ${digest}: the registry sent ${delivered} bytes and has no more, the manifest declares ${size}`, res.status);
      }
      const p = parseErrorResponse(res.status, res.headers, body);
      const temporary = res.status >= 500 || res.status === 429;
      lastErr = new RegistryError(
        res.status === 404 ? "notFound" : res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : "system",
        p.message,
        res.status,
        p.errors.map((e) => e.code),
        temporary,
      );
      if (!temporary) throw lastErr;
    }
  };

  let reader = await open();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let chunk: { done: boolean; value?: Uint8Array };
        try {
          chunk = await reader.read();
        } catch (e) {
          // A dropped connection: resume where we are.
          lastErr = transportError(what, e);
          try {
            reader = await open();
          } catch (e2) {
            controller.error(e2);
            return;
          }
          continue;
        }
        if (chunk.done) {
          if (size !== undefined && delivered < size) {
            // Closed early without an error (e.g. chunked encoding cut cleanly): same as a drop.
            lastErr = new RegistryError("system", `${what}: unexpected EOF`, 0, [], true);
            try {
              reader = await open();
            } catch (e2) {
              controller.error(e2);
              return;
            }
            continue;
          }
          const got = `${digest.slice(0, digest.indexOf(":"))}:${hasher.digest("hex")}`;
          if (got !== digest) controller.error(new RegistryError("system", `filesystem layer verification failed for digest ${digest}`, 0));
          else controller.close();
          return;
        }
        const value = chunk.value!;
        if (size !== undefined && delivered + value.length > size) {
          await reader.cancel().catch(() => {});
          controller.error(new RegistryError("system", `filesystem layer verification failed for digest ${digest}: got more than ${size} bytes`, 0));
          return;
        }
        delivered += value.length;
        tries = 0; // progress resets the retry budget
        hasher.update(value);
        controller.enqueue(value);
        return;
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
}
