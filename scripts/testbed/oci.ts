/**
 * A minimal OCI image layout writer, plus a raw registry pusher for the manifests that must reach the
 * registry byte for byte (skopeo may rewrite a manifest, which would hide exactly the quirks under test).
 */
import { mkdirSync, renameSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

/** Media types written by the test bed. */
export const MT = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  inToto: "application/vnd.in-toto+json",
} as const;

/** An OCI content descriptor. */
export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/** Streams a file through SHA-256 and returns "sha256:<hex>". */
export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return `sha256:${h.digest("hex")}`;
}

/** "sha256:<hex>" of a byte string. */
export function sha256Bytes(data: string | Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(data).digest("hex")}`;
}

/** An OCI image layout on disk (oci-layout, index.json, blobs/sha256). */
export class Layout {
  constructor(readonly dir: string) {}

  /** Creates an empty layout; existing index.json entries are kept. */
  init(): void {
    mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(this.dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    if (!existsSync(join(this.dir, "index.json"))) {
      writeFileSync(join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    }
  }

  /** Path of a blob by digest. */
  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digest.replace(/^sha256:/, ""));
  }

  /** Stores bytes as a blob. */
  putBytes(data: string | Uint8Array, mediaType: string): Desc {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const digest = sha256Bytes(bytes);
    writeFileSync(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Stores a JSON document compactly (JSON.stringify is deterministic for our literal objects). */
  putJson(doc: unknown, mediaType: string): Desc {
    return this.putBytes(JSON.stringify(doc), mediaType);
  }

  /** Moves a file into the blob store. */
  async putFile(path: string, mediaType: string): Promise<Desc> {
    const digest = await sha256File(path);
    const size = Bun.file(path).size;
    renameSync(path, this.blobPath(digest));
    return { mediaType, digest, size };
  }

  /** Reads and parses a JSON blob. */
  readJson<T = any>(digest: string): T {
    return JSON.parse(readFileSync(this.blobPath(digest), "utf8"));
  }

  /** Points ref name `ref` (org.opencontainers.image.ref.name) at `desc`, replacing an older entry. */
  setRef(ref: string, desc: Desc): void {
    const path = join(this.dir, "index.json");
    const index = JSON.parse(readFileSync(path, "utf8"));
    index.manifests = (index.manifests ?? []).filter(
      (m: Desc) => m.annotations?.["org.opencontainers.image.ref.name"] !== ref,
    );
    index.manifests.push({ ...desc, annotations: { "org.opencontainers.image.ref.name": ref } });
    writeFileSync(path, JSON.stringify(index));
  }

  /** The descriptor a ref name points at. */
  getRef(ref: string): Desc {
    const index = JSON.parse(readFileSync(join(this.dir, "index.json"), "utf8"));
    const d = index.manifests.find((m: Desc) => m.annotations?.["org.opencontainers.image.ref.name"] === ref);
    if (!d) throw new Error(`no ref ${ref} in ${this.dir}`);
    return d;
  }
}

/** Uploads one blob from the layout unless the registry already has it in `repo`. */
async function pushBlob(base: string, repo: string, layout: Layout, digest: string): Promise<void> {
  const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  if (head.ok) return;
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  if (start.status !== 202) throw new Error(`upload start ${repo}: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get("location")!, base);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: Bun.file(layout.blobPath(digest)),
  });
  if (put.status !== 201) throw new Error(`upload ${digest} to ${repo}: ${put.status} ${await put.text()}`);
}

/**
 * Pushes the manifest (or index/list, recursively) `desc` from `layout` to an open registry as `repo:tag`,
 * keeping every manifest's bytes as they are in the layout. Children are pushed by digest.
 */
export async function pushRaw(base: string, repo: string, tag: string | null, layout: Layout, desc: Desc) {
  const doc = layout.readJson(desc.digest);
  if (Array.isArray(doc.manifests)) {
    for (const child of doc.manifests as Desc[]) await pushRaw(base, repo, null, layout, child);
  } else {
    await pushBlob(base, repo, layout, doc.config.digest);
    for (const l of doc.layers as Desc[]) await pushBlob(base, repo, layout, l.digest);
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag ?? desc.digest}`, {
    method: "PUT",
    headers: { "content-type": desc.mediaType },
    body: Bun.file(layout.blobPath(desc.digest)),
  });
  if (res.status !== 201) throw new Error(`manifest ${repo}:${tag ?? desc.digest}: ${res.status} ${await res.text()}`);
}
