/**
 * docker compose v2's names and labels (pkg/api/labels.go): what marks a container, network or volume as
 * part of a project, so `bunker compose`, docker compose v2 and docker-compose 1.29 find each other's
 * projects. Containers are `<project>-<service>-<n>`, networks and volumes `<project>_<name>`.
 */

/** The project a resource belongs to. */
export const PROJECT = "com.docker.compose.project";
/** The service a container runs. */
export const SERVICE = "com.docker.compose.service";
/** The replica number of a service's container (1, 2 ...). */
export const NUMBER = "com.docker.compose.container-number";
/** "True" for a `compose run` container, "False" otherwise. */
export const ONEOFF = "com.docker.compose.oneoff";
/** The unique suffix of a one-off container's name. */
export const SLUG = "com.docker.compose.slug";
/** The project's working directory (absolute). */
export const WORKING_DIR = "com.docker.compose.project.working_dir";
/** The project's compose files, comma separated. */
export const CONFIG_FILES = "com.docker.compose.project.config_files";
/** The `--env-file` files, comma separated. */
export const ENVIRONMENT_FILE = "com.docker.compose.project.environment_file";
/** The hash of the service's configuration: `up` recreates a container whose hash differs. */
export const CONFIG_HASH = "com.docker.compose.config-hash";
/** The service's dependencies as `name:condition:restart`, comma separated. */
export const DEPENDS_ON = "com.docker.compose.depends_on";
/** The image ID the container was created from. */
export const IMAGE = "com.docker.compose.image";
/** The compose version that made the resource. */
export const VERSION = "com.docker.compose.version";
/** A project network's key in the file. */
export const NETWORK = "com.docker.compose.network";
/** A project volume's key in the file. */
export const VOLUME = "com.docker.compose.volume";
/** The container a recreated one replaces. */
export const REPLACE = "com.docker.compose.replace";

/**
 * The docker compose v2 release whose behaviour bunker follows, written as the version label: tools that
 * compare it (docker-compose 1.29 treats anything before 1.21.0 as a legacy project name) see a v2 project.
 */
export const COMPOSE_VERSION = "2.29.7";

/** `<project>-<service>-<n>`, or the service's container_name. */
export function containerName(project: string, service: { name: string; container_name?: string }, number: number): string {
  return service.container_name || `${project}-${service.name}-${number}`;
}

/** A project network's or volume's engine name: its `name:` when given, else `<project>_<key>`. */
export function resourceName(project: string, key: string, declared?: { name?: string }): string {
  return declared?.name || `${project}_${key}`;
}

/** The label filter of a project's resources (and of one service's, or several), as the API takes it. */
export function projectFilter(project: string, opts: { services?: string[]; oneoff?: boolean } = {}): Record<string, string[]> {
  const label = [`${PROJECT}=${project}`];
  if (opts.services?.length === 1) label.push(`${SERVICE}=${opts.services[0]}`);
  if (opts.oneoff !== undefined) label.push(`${ONEOFF}=${opts.oneoff ? "True" : "False"}`);
  return { label };
}

/** The number of a project container (0 when its label is missing or not a number). */
export function numberOf(labels: Record<string, string>): number {
  const n = Number(labels[NUMBER]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * A container's canonical name as docker compose prints it: its own name without the slash (compose v2's
 * getCanonicalContainerName: the name without a `/` inside, which links would add).
 */
export function canonicalName(names: string[]): string {
  return (names.find((n) => n.lastIndexOf("/") === 0) ?? names[0] ?? "").replace(/^\//, "");
}
