/**
 * The normalised compose project: the shape `docker compose config --format json` prints (compose-go's
 * types.Project), field names as compose-go's JSON tags. Optional fields are absent when empty (Go's
 * omitempty), except `command` and `entrypoint`, which are always present (null when unset) as in compose.
 * Durations are Go duration strings ("1m30s"), byte sizes numbers (printed as compose prints them).
 */

/** A string-to-string mapping (labels, sysctls, driver options). */
export type Mapping = Record<string, string>;
/** environment / build args: a null value means "declared without a value and not found in the environment". */
export type MappingWithEquals = Record<string, string | null>;
/** x-* keys kept at the top level or on an object. */
export type Extensions = Record<string, unknown>;

/** The whole project. */
export interface Project {
  name: string;
  services: Record<string, ServiceConfig>;
  networks?: Record<string, NetworkConfig>;
  volumes?: Record<string, VolumeConfig>;
  secrets?: Record<string, SecretConfig>;
  configs?: Record<string, ConfigObjConfig>;
  /** Top-level models, as written (printed in YAML only, as compose-go's Project marshallers do). */
  models?: Record<string, unknown>;
  /** Top-level x-* extensions, kept as compose keeps them (printed inline at the top level). */
  [extension: `x-${string}`]: unknown;
}

/** Where a project came from: not part of the printed JSON (compose-go's `json:"-"` fields). */
export interface ProjectMeta {
  workingDir: string;
  composeFiles: string[];
  /** The environment used for interpolation (process env overlaid on .env / --env-file). */
  environment: Record<string, string>;
  /** Services switched off by profiles, normalised the same way. */
  disabledServices: Record<string, ServiceConfig>;
  /** Active profiles. */
  profiles: string[];
}

/** One service, normalised. */
export interface ServiceConfig {
  profiles?: string[];
  annotations?: Mapping;
  attach?: boolean;
  build?: BuildConfig;
  blkio_config?: BlkioConfig;
  cap_add?: string[];
  cap_drop?: string[];
  cgroup_parent?: string;
  cgroup?: string;
  cpu_count?: number;
  cpu_percent?: number;
  cpu_period?: number;
  cpu_quota?: number;
  cpu_rt_period?: number;
  cpu_rt_runtime?: number;
  cpus?: number;
  cpuset?: string;
  cpu_shares?: number;
  /** Always present: null when the image's CMD applies. */
  command: string[] | null;
  configs?: ServiceConfigObjConfig[];
  container_name?: string;
  credential_spec?: { config?: string; file?: string; registry?: string };
  depends_on?: Record<string, ServiceDependency>;
  deploy?: DeployConfig;
  device_cgroup_rules?: string[];
  devices?: DeviceMapping[];
  dns?: string[];
  dns_opt?: string[];
  dns_search?: string[];
  domainname?: string;
  /** Always present: null when the image's ENTRYPOINT applies. */
  entrypoint: string[] | null;
  environment?: MappingWithEquals;
  env_file?: EnvFile[];
  expose?: string[];
  external_links?: string[];
  extra_hosts?: Record<string, string[]>;
  group_add?: string[];
  hostname?: string;
  healthcheck?: HealthCheckConfig;
  image?: string;
  init?: boolean;
  ipc?: string;
  isolation?: string;
  labels?: Mapping;
  label_file?: string[];
  links?: string[];
  logging?: LoggingConfig;
  mem_limit?: number;
  mem_reservation?: number;
  memswap_limit?: number;
  mem_swappiness?: number;
  mac_address?: string;
  network_mode?: string;
  /** Network name -> per-service settings (null when none, as compose prints `default: null`). */
  networks?: Record<string, ServiceNetworkConfig | null>;
  oom_kill_disable?: boolean;
  oom_score_adj?: number;
  pid?: string;
  pids_limit?: number;
  platform?: string;
  ports?: ServicePortConfig[];
  privileged?: boolean;
  pull_policy?: string;
  read_only?: boolean;
  restart?: string;
  runtime?: string;
  scale?: number;
  secrets?: ServiceSecretConfig[];
  security_opt?: string[];
  shm_size?: number;
  stdin_open?: boolean;
  stop_grace_period?: string;
  stop_signal?: string;
  storage_opt?: Mapping;
  sysctls?: Mapping;
  tmpfs?: string[];
  tty?: boolean;
  ulimits?: Record<string, UlimitsConfig>;
  user?: string;
  userns_mode?: string;
  uts?: string;
  volume_driver?: string;
  volumes?: ServiceVolumeConfig[];
  volumes_from?: string[];
  working_dir?: string;
}

/** build: context absolute (or a URL), dockerfile defaulting to "Dockerfile". */
export interface BuildConfig {
  context?: string;
  dockerfile?: string;
  dockerfile_inline?: string;
  args?: MappingWithEquals;
  ssh?: string[];
  labels?: Mapping;
  cache_from?: string[];
  cache_to?: string[];
  no_cache?: boolean;
  additional_contexts?: Mapping;
  pull?: boolean;
  extra_hosts?: Record<string, string[]>;
  isolation?: string;
  network?: string;
  target?: string;
  secrets?: ServiceSecretConfig[];
  shm_size?: number;
  tags?: string[];
  ulimits?: Record<string, UlimitsConfig>;
  platforms?: string[];
  privileged?: boolean;
}

/** blkio_config. */
export interface BlkioConfig {
  weight?: number;
  weight_device?: { path: string; weight: number }[];
  device_read_bps?: { path: string; rate: number }[];
  device_read_iops?: { path: string; rate: number }[];
  device_write_bps?: { path: string; rate: number }[];
  device_write_iops?: { path: string; rate: number }[];
}

/** devices (long form). */
export interface DeviceMapping {
  source?: string;
  target?: string;
  permissions?: string;
}

/** depends_on, long form: condition defaults to service_started, required to true. */
export interface ServiceDependency {
  condition?: "service_started" | "service_healthy" | "service_completed_successfully";
  restart?: boolean;
  required: boolean;
}

/** env_file, long form (`required` is printed only when false). */
export interface EnvFile {
  path: string;
  required?: boolean;
  format?: string;
}

/** healthcheck: test as a list (["CMD-SHELL", "..."] for a string), durations as Go strings. */
export interface HealthCheckConfig {
  test?: string[];
  timeout?: string;
  interval?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

/** logging. */
export interface LoggingConfig {
  driver?: string;
  options?: Mapping;
}

/** deploy (the parts a single engine applies: replicas, resources, restart_policy; the rest kept). */
export interface DeployConfig {
  mode?: string;
  replicas?: number;
  labels?: Mapping;
  update_config?: UpdateConfig;
  rollback_config?: UpdateConfig;
  resources: Resources;
  restart_policy?: RestartPolicy;
  placement: Placement;
  endpoint_mode?: string;
}

/** deploy.update_config / rollback_config. */
export interface UpdateConfig {
  parallelism?: number;
  delay?: string;
  failure_action?: string;
  monitor?: string;
  max_failure_ratio?: number;
  order?: string;
}

/** deploy.resources. */
export interface Resources {
  limits?: Resource;
  reservations?: Resource;
}

/** deploy.resources.limits / reservations (cpus as a number, memory in bytes). */
export interface Resource {
  cpus?: number;
  memory?: number;
  pids?: number;
  devices?: DeviceRequest[];
}

/** A device request (deploy.resources.reservations.devices, gpus). */
export interface DeviceRequest {
  capabilities?: string[];
  driver?: string;
  count?: number;
  device_ids?: string[];
  options?: Mapping;
}

/** deploy.restart_policy. */
export interface RestartPolicy {
  condition?: string;
  delay?: string;
  max_attempts?: number;
  window?: string;
}

/** deploy.placement. */
export interface Placement {
  constraints?: string[];
  preferences?: { spread?: string }[];
  max_replicas_per_node?: number;
}

/** A service's attachment to one network. */
export interface ServiceNetworkConfig {
  aliases?: string[];
  driver_opts?: Mapping;
  gw_priority?: number;
  interface_name?: string;
  ipv4_address?: string;
  ipv6_address?: string;
  link_local_ips?: string[];
  mac_address?: string;
  priority?: number;
}

/** One published/exposed port, long form (short form "127.0.0.1:8080-8081:80-81/udp" expands to several). */
export interface ServicePortConfig {
  name?: string;
  /** "ingress" (the short form's mode) or "host". */
  mode?: string;
  host_ip?: string;
  target: number;
  /** The host port or range as a string ("8080", "8080-8081"); absent for an ephemeral port. */
  published?: string;
  protocol?: string;
  app_protocol?: string;
}

/** One mount, long form. */
export interface ServiceVolumeConfig {
  type: "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image";
  /** Absolute host path for a bind, a volume name for a named volume, absent for an anonymous volume / tmpfs. */
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: ServiceVolumeBind;
  volume?: ServiceVolumeVolume;
  tmpfs?: ServiceVolumeTmpfs;
  image?: { subpath?: string };
}

/** Bind options. create_host_path: absent = true (compose prints it only when false). */
export interface ServiceVolumeBind {
  selinux?: string;
  propagation?: string;
  create_host_path?: boolean;
  recursive?: string;
}

/** Volume options. */
export interface ServiceVolumeVolume {
  labels?: Mapping;
  nocopy?: boolean;
  subpath?: string;
}

/** tmpfs options (size in bytes, mode as a number). */
export interface ServiceVolumeTmpfs {
  size?: number;
  mode?: number;
}

/** A secret or config granted to a service. */
export interface FileReferenceConfig {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}
/** services.*.configs[]. */
export type ServiceConfigObjConfig = FileReferenceConfig;
/** services.*.secrets[]. */
export type ServiceSecretConfig = FileReferenceConfig;

/** ulimits: either `single` or soft/hard. */
export interface UlimitsConfig {
  single?: number;
  soft?: number;
  hard?: number;
}

/** A top-level network. name defaults to `<project>_<key>` (or the key itself when external). */
export interface NetworkConfig {
  name?: string;
  driver?: string;
  driver_opts?: Mapping;
  ipam?: IPAMConfig;
  external?: boolean;
  internal?: boolean;
  attachable?: boolean;
  labels?: Mapping;
  enable_ipv4?: boolean;
  enable_ipv6?: boolean;
}

/** networks.*.ipam. */
export interface IPAMConfig {
  driver?: string;
  config?: IPAMPool[];
  options?: Mapping;
}

/** networks.*.ipam.config[]. */
export interface IPAMPool {
  subnet?: string;
  gateway?: string;
  ip_range?: string;
  aux_addresses?: Mapping;
}

/** A top-level volume. name defaults to `<project>_<key>` (or the key itself when external). */
export interface VolumeConfig {
  name?: string;
  driver?: string;
  driver_opts?: Mapping;
  external?: boolean;
  labels?: Mapping;
}

/** A top-level secret or config: file (absolute), environment, or content; or external. */
export interface FileObjectConfig {
  name?: string;
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
  labels?: Mapping;
  driver?: string;
  driver_opts?: Mapping;
  template_driver?: string;
}
/** secrets.*. */
export type SecretConfig = FileObjectConfig;
/** configs.*. */
export type ConfigObjConfig = FileObjectConfig;

/** What the loader takes: the compose CLI's global options, resolved. */
export interface LoadOptions {
  /** The directory files are looked up from (and the project directory unless --project-directory / -f set it). */
  workingDir: string;
  /** -f files in order ("-" = stdin); empty = look up compose.yaml etc. from workingDir upwards. */
  files?: string[];
  /** --project-directory (default: the directory of the first file). */
  projectDirectory?: string;
  /** -p. */
  projectName?: string;
  /** --profile (COMPOSE_PROFILES is read from env when empty). */
  profiles?: string[];
  /** --env-file (default: <project dir>/.env when it exists). */
  envFiles?: string[];
  /** The process environment (wins over .env). */
  env: Record<string, string>;
  /** Standard input, for `-f -`. */
  stdin?: ReadableStream;
  /** Services named on the command line: enabled whatever their profiles. */
  services?: string[];
  /** false = `--no-interpolate`. */
  interpolate?: boolean;
  /** false = `--no-normalize` (keep relative paths, no default network). */
  normalize?: boolean;
  /** false = skip the resolution of relative paths (`--no-path-resolution`). */
  resolvePaths?: boolean;
  /**
   * true = keep networks, volumes, secrets, configs and models no enabled service uses (`--all-resources`);
   * by default they are left out, as the docker compose CLI leaves them out.
   */
  allResources?: boolean;
  /**
   * true = drop env_file once its values are merged into environment (compose-go's WithDiscardEnvFile, used
   * by `config`); `up` keeps it, and it counts in the config hash. label_file is always merged into labels.
   */
  discardEnvFiles?: boolean;
  /** Where warnings go (unset variables, both compose.yaml and docker-compose.yaml...). Default: stderr. */
  warn?: (message: string) => void;
}

/** A loaded project and where it came from. */
export interface LoadedProject {
  project: Project;
  meta: ProjectMeta;
}
