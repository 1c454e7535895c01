/**
 * The log drivers a container can have, their options and their defaults. Logs never fill the disk by
 * default: json-file rotates at 10 MiB keeping 3 files unless told otherwise (dockerd's json-file grows
 * without bound; `--log-opt max-size=-1` asks for that). `local` is served by the json-file format with its
 * own rotation defaults (moby's local driver: 20 MiB x 5), uncompressed: `docker logs` reads both the same
 * way, and one record format keeps one reader and one writer (the shim's). `none` keeps no log at all.
 */
import { invalidParameter, EngineError } from "../../errors.ts";
import { parseBytes } from "../../units.ts";
import { strconvError } from "../../../go/strconv.ts";

/** The drivers bunker has. */
export const LOG_DRIVERS = ["json-file", "local", "none"] as const;
export type LogDriver = (typeof LOG_DRIVERS)[number];

/** Each driver's defaults, under daemon.json's `log-opts` and the container's own options. */
const DRIVER_DEFAULTS: Record<LogDriver, Record<string, string>> = {
  "json-file": { "max-size": "10m", "max-file": "3" },
  local: { "max-size": "20m", "max-file": "5" },
  none: {},
};

/** The daemon's defaults (daemon.json `log-driver`, `log-opts`). */
export interface DaemonLogDefaults {
  driver?: string;
  opts?: Record<string, string>;
}

/** What `logs` and `attach --logs` say for a container whose driver keeps nothing (moby's text, 501). */
export const noLogReading = () => new EngineError("notImplemented", "configured logging driver does not support reading");

/** Refuses a driver name bunker does not have, in moby's words. */
export function checkLogDriver(name: string): LogDriver {
  if (!(LOG_DRIVERS as readonly string[]).includes(name)) throw invalidParameter(`logger: no log driver named '${name}' is registered`);
  return name as LogDriver;
}

/**
 * HostConfig.LogConfig as moby's mergeAndVerifyLogConfig builds it: the driver asked for or the daemon's,
 * the daemon's log-opts when the driver is the daemon's, the driver's defaults under them; then validated.
 */
export function resolveLogConfig(type: string | undefined, user: Record<string, string>, daemon: DaemonLogDefaults = {}): { Type: LogDriver; Config: Record<string, string> } {
  const daemonDriver = checkLogDriver(daemon.driver || "json-file");
  const driver = type ? checkLogDriver(type) : daemonDriver;
  const Config = { ...DRIVER_DEFAULTS[driver], ...(driver === daemonDriver ? (daemon.opts ?? {}) : {}), ...user };
  checkLogOptions(driver, user, Config);
  return { Type: driver, Config };
}

/**
 * The options of a driver as moby validates them (ValidateLogOpt, then the values at create); the ones
 * bunker does not apply are refused. `none` takes no option: one given would be ignored.
 */
function checkLogOptions(driver: LogDriver, user: Record<string, string>, cfg: Record<string, string>): void {
  if (driver === "none") {
    const k = Object.keys(user)[0];
    if (k !== undefined) throw invalidParameter(`unknown log opt '${k}' for none log driver`);
    return;
  }
  for (const k of Object.keys(cfg)) {
    if (k === "max-size" || k === "max-file") continue;
    if (["compress", "env", "env-regex", "labels", "labels-regex", "tag", "mode", "max-buffer-size"].includes(k)) throw invalidParameter(`invalid option: HostConfig.LogConfig.Config: log opt '${k}' is not supported by bunker`);
    throw invalidParameter(`unknown log opt '${k}' for ${driver} log driver`);
  }
  if (cfg["max-size"] !== undefined && cfg["max-size"] !== "-1") {
    let size: number;
    try {
      size = parseBytes(cfg["max-size"]);
    } catch (e) {
      throw invalidParameter((e as Error).message);
    }
    if (size <= 0) throw invalidParameter("max-size must be a positive number");
  }
  const files = cfg["max-file"];
  if (files !== undefined) {
    if (!/^[-+]?\d+$/.test(files)) throw invalidParameter(strconvError("Atoi", files));
    if (Number(files) < 1) throw invalidParameter("max-file cannot be less than 1");
  }
}

/** The rotation a LogConfig asks of the shim: no size (unbounded) for max-size -1, or for `none` (no log). */
export function logRotation(cfg: { Type: string; Config: Record<string, string> }): { logMaxSize?: number; logMaxFile?: number } {
  const size = cfg.Config["max-size"];
  if (cfg.Type === "none" || !size || size === "-1") return {};
  return { logMaxSize: parseBytes(size), logMaxFile: cfg.Config["max-file"] ? Number(cfg.Config["max-file"]) : 1 };
}
