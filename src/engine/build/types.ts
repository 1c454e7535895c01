/**
 * The builder's contract: what a build is asked (typed at the boundary: the CLI's flags and POST /build's
 * query are parsed into this, never passed on as text) and what it reports while it runs. The engine emits
 * BuildEvents; the CLI draws them BuildKit's way (tty, plain, quiet), the server turns them into the legacy
 * builder's JSON stream (`stream`, `aux`, `errorDetail`) that the docker CLI, docker-py and compose read.
 */

/** Where the Dockerfile comes from. */
export type DockerfileSource =
  /** A path relative to the context directory (`-f sub/Dockerfile`, POST /build's `dockerfile`). */
  | { path: string }
  /** The text itself (`-f -`, or a file outside the context read by the CLI); `name` is shown in errors. */
  | { text: string; name: string };

/** A host entry for RUN steps (`--add-host name:ip`, `extrahosts`), parsed. */
export interface ExtraHost {
  name: string;
  /** An IPv4 or IPv6 address (validated), or "host-gateway". */
  address: string;
}

/** An `--ulimit name=soft[:hard]`, parsed. */
export interface BuildUlimit {
  name: string;
  soft: number;
  hard: number;
}

/** What a build is asked to do. */
export interface BuildOptions {
  /** The context directory on this host (the server unpacks a tar context into a private directory first). */
  contextDir: string;
  dockerfile: DockerfileSource;
  /** Names to tag the result with (`-t`, several), normalised references. */
  tags: string[];
  /** `--build-arg k=v` (a bare `k` takes the client's environment value, resolved by the CLI). */
  buildArgs: Map<string, string>;
  /** `--label`: added to the final image's config. */
  labels: Record<string, string>;
  /** `--target`: the stage to build (its dependencies only); the last stage when absent. */
  target?: string;
  /** `--no-cache`: run every step. */
  noCache: boolean;
  /** `--pull`: fetch base images from the registry even when the store has them. */
  pull: boolean;
  /** `--cache-from`: images whose history may satisfy steps. */
  cacheFrom: string[];
  /** `--network` of RUN steps without their own `--network`. */
  network: "default" | "none" | "host";
  extraHosts: ExtraHost[];
  /** `/dev/shm` size of RUN steps, bytes (0: the default 64 MiB). */
  shmSize: number;
  ulimits: BuildUlimit[];
  /** `--secret id=…,src=…`: host files RUN --mount=type=secret may read (CLI only). */
  secrets: Map<string, { src: string }>;
  /** The platform asked for; only the host's is built, others are refused before any step. */
  platform?: string;
  /** Cancels the build (client gone, Ctrl-C): running steps are killed, nothing is tagged. */
  signal?: AbortSignal;
  /** Credentials for base image pulls by registry, keyed by credentialKey (POST /build's X-Registry-Config); the engine's own for others. */
  registryAuth?: Map<string, { username: string; password: string }>;
  /**
   * Keep the image each instruction yields as an untagged intermediate image whose parent is the previous
   * one (dockerd's legacy builder: POST /build), sharing the layers of the final image. `bunker build` keeps
   * none, as BuildKit.
   */
  intermediateImages?: boolean;
}

/** One vertex of the build as progress shows it ("[2/5] RUN …", "[internal] load build context"). */
export interface BuildVertex {
  /** Unique within the build. */
  id: number;
  /** The text BuildKit shows: `[stage 2/5] RUN echo hi`, `[internal] load .dockerignore`. */
  name: string;
  /** The step's number among its stage's steps and the count (BuildKit's `[2/5]`), when it is one. */
  step?: {
    n: number;
    of: number;
    instruction: string;
    /** The instruction's first line in the Dockerfile (1-based): BuildKit's source snippet under a failed step. */
    line?: number;
    /** The legacy instruction (BuildInstruction `n`, and `trigger` for an ONBUILD trigger) whose work this vertex does: its logs belong there. */
    legacy?: { n: number; trigger?: number };
  };
}

/**
 * One Dockerfile instruction as dockerd's legacy builder counts them (`Step N/M : <as written>`): the ARGs
 * before the first FROM, then every instruction of each stage built (FROM and config-only ones included),
 * then one `LABEL k=v` per `--label` (sorted), numbered across the Dockerfile. BuildKit's progress draws
 * vertices and ignores these.
 */
export interface BuildInstruction {
  /** 1-based; instructions of concurrent stages are reported as they run, in any order. */
  n: number;
  of: number;
  /** The instruction as written, continuations joined. */
  text: string;
  /** The stage's index; -1 for an ARG before the first FROM (it yields no image). */
  stage: number;
  /** The last instruction of its stage (the legacy builder writes the stage's image ID as `aux` after it). */
  endsStage: boolean;
  /** dockerd runs a container for it (` ---> Running in …`): every instruction but FROM, COPY, ADD and a meta ARG. */
  container: boolean;
  /** An ONBUILD trigger run by the FROM numbered `n` (legacy: no Step line of its own): its position, 0-based, and the count. */
  trigger?: { index: number; of: number };
}

/** What a running build reports. */
export type BuildEvent =
  | { type: "start"; vertex: BuildVertex }
  /** A step satisfied from the cache (BuildKit's CACHED); no `done` follows. */
  | { type: "cached"; vertexId: number; imageId?: string }
  /** Output of a RUN step (1 stdout, 2 stderr). */
  | { type: "log"; vertexId: number; stream: 1 | 2; data: Uint8Array }
  /** A step finished; `imageId` is the intermediate image's ID when the step made one (legacy `---> id`). */
  | { type: "done"; vertexId: number; ms: number; imageId?: string }
  | { type: "error"; vertexId: number; message: string }
  /** Warnings (ignored directives, deprecated forms) printed before or after the steps. */
  | { type: "warning"; message: string }
  /**
   * A status line of a vertex, as BuildKit shows them under it ("transferring context: 73B", "writing image
   * sha256:…", "naming to docker.io/library/x:latest"); `done` when that part finished. A status replaces the
   * vertex's previous one while that one is not done.
   */
  | { type: "status"; vertexId: number; text: string; done?: boolean }
  /** An instruction starts (legacy numbering: BuildInstruction). */
  | { type: "instruction"; instruction: BuildInstruction }
  /**
   * An instruction ended: the image it yields (the base's ID for a FROM, none for `FROM scratch` or a meta ARG),
   * `cached` when the cache or an image already stored gave it (legacy ` ---> Using cache`).
   */
  | { type: "instructionDone"; n: number; trigger?: number; imageId?: string; cached: boolean };

/** The result of a finished build. */
export interface BuildResult {
  /** The final image's ID (sha256:…). */
  id: string;
  /** Tags written. */
  tags: string[];
}
