/**
 * Engine configuration: dockerd's option names, from the command line and from daemon.json
 * (`data-root`, `registry-mirrors`, `insecure-registries`, `debug`). Flags win over the file, as in dockerd
 * (which refuses a conflict; we let the flag override, and merge lists).
 */
import { existsSync, readFileSync } from "node:fs";
import { EngineError } from "./errors.ts";

/** daemon.json or a daemon flag refused, in dockerd's words. */
const configError = (msg: string) => new EngineError("invalidParameter", msg, { code: "daemonConfig" });

/** Everything the engine needs to know about its environment. */
export interface EngineConfig {
  dataRoot: string;
  registryMirrors: string[];
  insecureRegistries: string[];
  debug: boolean;
  configFile: string;
  /** Networking, with dockerd's names: bunker0's address (`bip`), user networks' pools, iptables, forwarding, NAT. */
  bip?: string;
  defaultAddressPools?: { base: string; size: number }[];
  iptables?: boolean;
  ipForward?: boolean;
  ipMasq?: boolean;
  /** Published ports through the supervisor's proxy where the kernel path is off (default true; see network/README.md). */
  userlandProxy?: boolean;
  /** daemon.json `log-driver` and `log-opts`: the log driver of containers that name none, and its options. */
  logDriver?: string;
  logOpts?: Record<string, string>;
}

/** The global options as the command line gave them; undefined = not given. */
export interface GlobalFlags {
  "data-root"?: string;
  "registry-mirror"?: string[];
  "insecure-registry"?: string[];
  "config-file"?: string;
  debug?: boolean;
  bip?: string;
  "default-address-pool"?: string[];
  iptables?: boolean;
  "ip-forward"?: boolean;
  "ip-masq"?: boolean;
  "userland-proxy"?: boolean;
  /** The daemon to talk to (`-H`); the CLI's choice, not the engine's. */
  host?: string;
}

/** Default data root, as /var/lib/docker is dockerd's. `BUNKER_DATA_ROOT` overrides it (tests). */
export const DEFAULT_DATA_ROOT = "/var/lib/bunker";
/** Default daemon.json location. */
export const DEFAULT_CONFIG_FILE = "/etc/bunker/daemon.json";

/** Reads daemon.json (if present) and merges the command-line flags over it. */
export function loadConfig(flags: GlobalFlags, env: Record<string, string | undefined> = process.env): EngineConfig {
  const configFile = flags["config-file"] ?? env.BUNKER_CONFIG_FILE ?? DEFAULT_CONFIG_FILE;
  let file: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    try {
      file = JSON.parse(readFileSync(configFile, "utf8"));
    } catch (e) {
      throw configError(`unable to configure the Docker daemon with file ${configFile}: ${(e as Error).message}`);
    }
  } else if (flags["config-file"]) {
    throw configError(`unable to configure the Docker daemon with file ${configFile}: open ${configFile}: no such file or directory`);
  }
  const list = (v: unknown, key: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw configError(`unable to configure the Docker daemon with file ${configFile}: ${key} must be a list of strings`);
    return v as string[];
  };
  return {
    dataRoot: flags["data-root"] ?? env.BUNKER_DATA_ROOT ?? (file["data-root"] as string | undefined) ?? DEFAULT_DATA_ROOT,
    registryMirrors: [...(flags["registry-mirror"] ?? []), ...list(file["registry-mirrors"], "registry-mirrors")].map(normalizeMirror),
    insecureRegistries: [...(flags["insecure-registry"] ?? []), ...list(file["insecure-registries"], "insecure-registries")],
    debug: flags.debug ?? (file.debug as boolean | undefined) ?? false,
    configFile,
    bip: flags.bip ?? (file.bip as string | undefined),
    defaultAddressPools: flags["default-address-pool"]?.length ? flags["default-address-pool"].map(parsePool) : (file["default-address-pools"] as { base: string; size: number }[] | undefined),
    iptables: flags.iptables ?? (file.iptables as boolean | undefined),
    ipForward: flags["ip-forward"] ?? (file["ip-forward"] as boolean | undefined),
    ipMasq: flags["ip-masq"] ?? (file["ip-masq"] as boolean | undefined),
    userlandProxy: flags["userland-proxy"] ?? (file["userland-proxy"] as boolean | undefined),
    logDriver: stringOf(file["log-driver"], "log-driver", configFile),
    logOpts: logOptsOf(file["log-opts"], configFile),
  };
}

/** A daemon.json string field, or dockerd's refusal. */
function stringOf(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw configError(`unable to configure the Docker daemon with file ${file}: ${key} must be a string`);
  return v;
}

/** daemon.json `log-opts`: string values only, as dockerd reads them (map[string]string). */
function logOptsOf(v: unknown, file: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!v || typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) throw configError(`unable to configure the Docker daemon with file ${file}: log-opts must be a map of strings`);
  return v as Record<string, string>;
}

/** dockerd's --default-address-pool value: "base=10.10.0.0/16,size=24". */
function parsePool(raw: string): { base: string; size: number } {
  const kv = Object.fromEntries(raw.split(",").map((p) => p.split("=").map((x) => x.trim()) as [string, string]));
  if (!kv.base || !/^\d+$/.test(kv.size ?? "")) throw configError(`invalid default address pool: "${raw}" (want base=CIDR,size=N)`);
  return { base: kv.base, size: Number(kv.size) };
}

/** A mirror must be an http(s) URL with no path, as dockerd validates it. */
function normalizeMirror(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw configError(`invalid mirror: "${raw}" is not a valid URI`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw configError(`invalid mirror: unsupported scheme "${u.protocol.slice(0, -1)}" in "${raw}"`);
  if (u.pathname !== "/" && u.pathname !== "") throw configError(`invalid mirror: path, query, or fragment at end of the URI "${raw}"`);
  return `${u.protocol}//${u.host}`;
}
