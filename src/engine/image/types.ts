/**
 * The OCI image model (media types, descriptors, manifests, configs, platforms) and one image abstraction,
 * after go-containerregistry's v1.Image. Three sources serve `Image`: the registry (registry/remote.ts), the
 * store (store/image-source.ts: layers streamed back byte for byte from their tar-split records) and
 * docker-save/OCI tarballs (archive/tarball.ts). Pull and load consume it, push and save produce from it,
 * each written once for every source. Imports nothing.
 */

/** Media types the engine recognises. */
export const MediaType = {
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  OCI_LAYER_NONDIST_GZIP: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  DOCKER_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_SCHEMA1: "application/vnd.docker.distribution.manifest.v1+json",
  DOCKER_SCHEMA1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DOCKER_FOREIGN_LAYER: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** "sha256:<64 hex>". */
export type Digest = string;

/** An OCI platform. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** An image manifest (OCI or Docker schema 2; same shape). */
export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI index or Docker manifest list. */
export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** One entry of an image's history. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The runtime part of an image config (Docker's ContainerConfig subset the OCI spec defines, plus Docker's extras). */
export interface ContainerConfigSpec {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: import("../containers/health.ts").HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
}

/** An image config blob. Its digest is the image ID. */
export interface ImageConfig extends Platform {
  created?: string;
  author?: string;
  config?: ContainerConfigSpec;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: HistoryEntry[];
  docker_version?: string;
  comment?: string;
}

/** One layer as a source offers it. */
export interface Layer {
  /** Digest of the blob as distributed (compressed, or the tar itself when `digest === diffId`). */
  readonly digest: Digest;
  /** Digest of the uncompressed tar (the config's diff_id). */
  readonly diffId: Digest;
  /** Size of the distributed blob in bytes. */
  readonly size: number;
  readonly mediaType: string;
  /**
   * The distributed bytes; the stream errors if they do not hash to `digest`. A store layer knows the digest
   * a registry served it as (Docker's v2metadata) without keeping that blob: then this rejects with
   * EngineError code "blobNotLocal" (push gzips `uncompressed()` instead, engine/push.ts).
   */
  compressed(): Promise<ReadableStream<Uint8Array>>;
  /**
   * The layer tar; the stream errors at its end unless the bytes hash to `diffId`. The store, archives and
   * registry layers have it; push's registry-backed local layers may not, and a layer whose compressed blob
   * is not kept (`digest` "") must have it (push gzips it on the way).
   */
  uncompressed?(): Promise<ReadableStream<Uint8Array>>;
}

/** An image from any source. Manifest and config are loaded when the Image is made; layers stream on demand. */
export interface Image {
  /** Digest of the manifest (what `repo@digest` names). */
  readonly digest: Digest;
  /** Image ID: the config's digest. */
  readonly id: Digest;
  readonly manifest: Manifest;
  readonly rawManifest: Uint8Array;
  /** Media type of the manifest (from the body, or the Content-Type it was served with). */
  readonly manifestMediaType: string;
  readonly config: ImageConfig;
  readonly rawConfig: Uint8Array;
  /** Layers, base first, aligned with config.rootfs.diff_ids. */
  layers(): Layer[];
}

/** The host's platform in OCI terms (amd64, arm64 ...). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return { os: "linux", architecture: arch[process.arch] ?? process.arch, ...(process.arch === "arm64" ? { variant: "v8" } : {}) };
}

/** Parses "linux/arm64/v8" as Docker's --platform does. */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split("/");
  if (parts.length > 3) throw new TypeError(`"${s}": cannot parse platform specifier: invalid argument`);
  const [os, architecture, variant] = parts;
  if (!os || !architecture) throw new TypeError(`"${s}": unknown operating system or architecture: invalid argument`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Picks the entry for `want` as containerd's platform matcher does for pulls: same os and architecture,
 * variant equal when both name one (arm64 without a variant means v8); an exact variant beats a missing one.
 * Attestation manifests (buildx's unknown/unknown, or annotated attestation-manifest) are never images.
 */
export function pickPlatform<E extends { platform?: Platform; annotations?: Record<string, string> }>(entries: E[], want: Platform): E | undefined {
  const norm = (p: Platform) => ({ ...p, variant: p.variant ?? (p.architecture === "arm64" ? "v8" : undefined) });
  const w = norm(want);
  let loose: E | undefined;
  for (const e of entries) {
    if (!e.platform) continue;
    if (e.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") continue;
    if (e.platform.os === "unknown" && e.platform.architecture === "unknown") continue;
    const p = norm(e.platform);
    if (p.os !== w.os || p.architecture !== w.architecture) continue;
    if (p.variant === w.variant) return e;
    if (!p.variant || !w.variant) loose ??= e;
  }
  return loose;
}

/** The platform an image config says it is for. */
export function configPlatform(c: ImageConfig): Platform {
  return { os: c.os ?? "", architecture: c.architecture ?? "", ...(c.variant ? { variant: c.variant } : {}) };
}

/** "linux/amd64" or "linux/arm64/v8". */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}
