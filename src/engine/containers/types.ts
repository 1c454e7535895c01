/**
 * Containers in the Docker Engine API's shapes: the Config and HostConfig a container is created with,
 * as `docker inspect` shows them, and the record the store keeps.
 */
import type { Resources } from "../runtime/cgroups.ts";

/** The container's Config (moby's container.Config). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  /** HEALTHCHECK: the user's over the image's (containers/health.ts); absent when neither has one. */
  Healthcheck?: import("./health.ts").HealthConfig;
}

/** The restart policy (moby's container.RestartPolicy). */
export interface RestartPolicy {
  Name: "" | "no" | "always" | "on-failure" | "unless-stopped";
  MaximumRetryCount: number;
}

/**
 * The subset of moby's HostConfig bunker honours; the rest is reported with Docker's defaults. The resource
 * limits are Resources' (runtime/cgroups.ts): absent on old records, 0 / null for none, as Docker shows them.
 */
export interface HostConfig extends Resources {
  /** -v SRC:DST[:OPTS] as given; Mounts (--mount) and Tmpfs (--tmpfs) only when set, as Docker omits them. */
  Binds: string[] | null;
  Mounts?: import("../volumes/spec.ts").MountSpec[];
  Tmpfs?: Record<string, string>;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
  NetworkMode: string;
  /** -p / -P: "80/tcp" -> [{ HostIp, HostPort }] ("" = any address / a free port); absent on old records. */
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[]> | null;
  PublishAllPorts?: boolean;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Privileged: boolean;
  SecurityOpt: string[] | null;
  LogConfig: { Type: "json-file" | "local" | "none"; Config: Record<string, string> };
  ReadonlyRootfs: boolean;
  Init: boolean | null;
  /** --add-host "host:ip" (or host-gateway) lines appended to /etc/hosts; absent on old records. */
  ExtraHosts?: string[] | null;
  /** --dns, --dns-search, --dns-option: resolv.conf's nameservers (the embedded DNS's upstreams), search, options. */
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  /** --oom-score-adj (the other limits are Resources'); absent on old records. */
  OomScoreAdj?: number;
  /** --shm-size in bytes (Docker shows its 64 MiB default) and --ulimit; absent on old records. */
  ShmSize?: number;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  /** Namespaced kernel parameters (--sysctl), only when set, as Docker omits them. */
  Sysctls?: Record<string, string>;
  /** --device (moby's DeviceMapping), --device-cgroup-rule, --cgroupns ("host" | "private"); absent on old records. */
  Devices?: import("../runtime/spec.ts").DeviceMapping[];
  DeviceCgroupRules?: string[] | null;
  CgroupnsMode?: "host" | "private";
  /** --pid ("" | host | container:X), --ipc (private | shareable | none | host | container:X), --uts ("" | host); absent on old records. */
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  /** --group-add: supplementary groups, ids or names resolved in the container's /etc/group at start. */
  GroupAdd?: string[] | null;
  /** --link as moby records it: "/child:/parent/alias". */
  Links?: string[] | null;
}

/** A container as the store records it. Its runtime state lives in <dir>/status.json (runtime/status.ts). */
export interface ContainerRecord {
  /** 64 hex characters. */
  id: string;
  /** Without the leading "/" Docker shows in inspect. */
  name: string;
  /** The image ID (config digest). */
  image: string;
  /** The image as the user named it ("redis", "sha256:..."). */
  imageRef: string;
  /** Epoch ms. */
  created: number;
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** overlay2/<cacheId> holds diff (upper), work and merged. */
  cacheId: string;
  /** Absolute path of containers/<id>. */
  dir: string;
  /** Docker's Path and Args: the process the container runs. */
  path: string;
  args: string[];
}

/** A record as the store returns it, with the top layer (chain ID) of its image; null for an image without layers. */
export type StoredContainer = ContainerRecord & { topLayer: string | null };
