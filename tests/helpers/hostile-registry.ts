/**
 * A hostile registry for tests: a Bun.serve server on 127.0.0.1 that answers as a real registry would
 * unless a test routes a path to its own handler (traversal in digests, file: realms and redirects, Link
 * headers to another host, endless and gzip-bomb bodies, stalls). A second server on 127.0.0.2 plays "the
 * other host" and records every request it gets. Both record the requests made to them.
 */
import type { Server } from "bun";
import { gzipSync } from "node:zlib";
import { tar } from "./tar-writer.ts";

/** One request as the server saw it. */
export interface Seen {
  method: string;
  path: string;
  authorization: string | null;
}

/** A handler for one path; returning undefined falls through to the stored content. */
export type Handler = (req: Request, url: URL) => Response | Promise<Response> | undefined;

const sha = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A layer built from tar members, gzipped, with its digests. */
export function gzLayer(files: Record<string, string>): { tar: Uint8Array; gz: Uint8Array; diffId: string; digest: string } {
  const t = tar(Object.entries(files).map(([name, data]) => ({ name, data })));
  const gz = new Uint8Array(gzipSync(t));
  return { tar: t, gz, diffId: sha(t), digest: sha(gz) };
}

/** A hostile registry and its accomplice on 127.0.0.2. */
export class HostileRegistry {
  readonly blobs = new Map<string, Uint8Array>();
  readonly manifests = new Map<string, { body: Uint8Array; type: string }>();
  readonly routes: { match: RegExp; handler: Handler }[] = [];
  readonly seen: Seen[] = [];
  readonly otherSeen: Seen[] = [];
  /** The /v2/ answer's WWW-Authenticate, if any. */
  challenge: string | undefined;
  private server: Server<undefined>;
  private other: Server<undefined>;

  constructor() {
    const record = (list: Seen[], req: Request, url: URL) => list.push({ method: req.method, path: url.pathname + url.search, authorization: req.headers.get("authorization") });
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch: async (req) => {
        const url = new URL(req.url);
        record(this.seen, req, url);
        for (const r of this.routes) {
          if (!r.match.test(url.pathname + url.search)) continue;
          const res = await r.handler(req, url);
          if (res) return res;
        }
        return this.stored(req, url);
      },
    });
    this.other = Bun.serve({
      hostname: "127.0.0.2",
      port: 0,
      fetch: (req) => {
        const url = new URL(req.url);
        record(this.otherSeen, req, url);
        return Response.json({ name: "x", tags: ["stolen"] });
      },
    });
  }

  /** "127.0.0.1:PORT" */
  get host(): string {
    return `127.0.0.1:${this.server.port}`;
  }
  /** "http://127.0.0.2:PORT" */
  get otherUrl(): string {
    return `http://127.0.0.2:${this.other.port}`;
  }

  /** Routes paths matching `match` to `handler` (first match wins; undefined falls through). */
  on(match: RegExp, handler: Handler): void {
    this.routes.unshift({ match, handler });
  }

  /** Stores a blob; returns its descriptor. */
  blob(bytes: Uint8Array, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): { mediaType: string; digest: string; size: number } {
    const digest = sha(bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /**
   * Stores an image under `repo:tag`: a config (rootfs.diff_ids from the layers unless `config` overrides
   * it) and an OCI manifest, whose fields `manifest` may override. Returns the manifest object.
   */
  image(repo: string, tag: string, layers: { gz: Uint8Array; diffId: string }[], opts: { config?: Record<string, unknown>; manifest?: (m: any) => any } = {}): any {
    const config = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) }, config: {}, ...opts.config };
    let m: any = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: this.blob(json(config), "application/vnd.oci.image.config.v1+json"),
      layers: layers.map((l) => this.blob(l.gz)),
    };
    if (opts.manifest) m = opts.manifest(m);
    this.manifest(repo, tag, m);
    return m;
  }

  /** Stores a manifest (object or raw bytes) under repo:tag and repo@digest. */
  manifest(repo: string, tag: string, m: unknown, type = "application/vnd.oci.image.manifest.v1+json"): string {
    const body = m instanceof Uint8Array ? m : json(m);
    this.manifests.set(`${repo}:${tag}`, { body, type });
    this.manifests.set(`${repo}@${sha(body)}`, { body, type });
    return sha(body);
  }

  private stored(req: Request, url: URL): Response {
    const p = url.pathname;
    if (p === "/v2/" || p === "/v2") return new Response("{}", { status: this.challenge ? 401 : 200, headers: this.challenge ? { "www-authenticate": this.challenge } : {} });
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(p);
    if (m?.[2] === "manifests") {
      const e = this.manifests.get(`${m[1]}${m[3]!.includes(":") ? "@" : ":"}${m[3]}`);
      if (e) return new Response(req.method === "HEAD" ? null : e.body, { headers: { "content-type": e.type, "docker-content-digest": sha(e.body) } });
      return Response.json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }, { status: 404 });
    }
    if (m?.[2] === "blobs") {
      const b = this.blobs.get(m[3]!);
      if (!b) return Response.json({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown" }] }, { status: 404 });
      const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
      if (range) {
        const from = Number(range[1]);
        if (from >= b.length) return new Response("", { status: 416 });
        return new Response(b.subarray(from), { status: 206, headers: { "content-range": `bytes ${from}-${b.length - 1}/${b.length}` } });
      }
      return new Response(b);
    }
    return Response.json({ errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] }, { status: 404 });
  }

  /** Forgets routes, recorded requests and the challenge (stored content stays). */
  reset(): void {
    this.routes.length = 0;
    this.seen.length = 0;
    this.otherSeen.length = 0;
    this.challenge = undefined;
  }

  stop(): void {
    this.server.stop(true);
    this.other.stop(true);
  }
}

/** A body that never ends: `chunk` repeated for as long as the client reads. */
export function endless(chunk: Uint8Array = new Uint8Array(64 * 1024).fill(0x20)): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      c.enqueue(chunk);
    },
  });
}

/** A stream that sends `first` and then nothing, forever (a stall). */
export function stall(first: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(first);
    },
    pull() {
      return new Promise(() => {});
    },
  });
}

/**
 * A gzip layer holding one file of `mib` MiB of zeros: gzip members concatenated (valid gzip), about 1 KiB
 * per MiB, so a large expansion costs the test no time to build.
 */
export function bombLayer(mib: number): { gz: Uint8Array; diffId: string; digest: string } {
  const { header } = require("./tar-writer.ts") as typeof import("./tar-writer.ts");
  const head = header({ name: "zeros" }, mib << 20);
  const end = new Uint8Array(1024);
  const zero = new Uint8Array(1 << 20);
  const zgz = gzipSync(zero);
  const hasher = new Bun.CryptoHasher("sha256").update(head);
  const parts: Uint8Array[] = [gzipSync(head)];
  for (let i = 0; i < mib; i++) {
    parts.push(zgz);
    hasher.update(zero);
  }
  parts.push(gzipSync(end));
  hasher.update(end);
  const gz = new Uint8Array(Buffer.concat(parts));
  return { gz, diffId: `sha256:${hasher.digest("hex")}`, digest: sha(gz) };
}
