/**
 * What `run` and `create` share: Docker's flags, turning them into the engine's CreateOptions, and
 * finding the image (pulled first when missing, with the pull's progress on stderr, as the docker CLI).
 */
import { readFileSync } from "node:fs";
import { CliError, type Flag, flagError, flagValue } from "./_cli.ts";
import type { Backend } from "../api/backend.ts";
import type { GlobalFlags } from "../engine/config.ts";
import { openBackend } from "./_backend.ts";
import type { CreateOptions } from "../engine/containers/manager.ts";
import type { RestartPolicy } from "../engine/containers/types.ts";
import { EngineError } from "../engine/errors.ts";
import { parsePublish } from "../engine/network/ports.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, type MountSpec } from "../engine/volumes/spec.ts";
import { checkDnsServer, parseDeviceFlag, parseExtraHost, parseSysctlFlag, parseUlimit } from "../engine/runtime/spec.ts";
import type { Resources } from "../engine/runtime/cgroups.ts";

/** Flags of `run` and `create` (Docker's names and shorthands). */
export const createFlags: Record<string, Flag> = {
  "add-host": { type: "string", multiple: true, description: "Add a custom host-to-IP mapping (host:ip)", valueHint: "list" },
  attach: { type: "string", alias: "a", multiple: true, description: "Attach to STDIN, STDOUT or STDERR", valueHint: "list" },
  "cap-add": { type: "string", multiple: true, description: "Add Linux capabilities", valueHint: "list" },
  "cap-drop": { type: "string", multiple: true, description: "Drop Linux capabilities", valueHint: "list" },
  cgroupns: { type: "string", description: "Cgroup namespace to use (host|private)", valueHint: "string" },
  "blkio-weight": { type: "int", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)", valueHint: "uint16" },
  "cpu-period": { type: "int", description: "Limit CPU CFS (Completely Fair Scheduler) period", valueHint: "int" },
  "cpu-quota": { type: "int", description: "Limit CPU CFS (Completely Fair Scheduler) quota", valueHint: "int" },
  "cpu-shares": { type: "int", alias: "c", description: "CPU shares (relative weight)", valueHint: "int" },
  cpus: { type: "string", description: "Number of CPUs", valueHint: "decimal" },
  "cpuset-cpus": { type: "string", description: "CPUs in which to allow execution (0-3, 0,1)", valueHint: "string" },
  "cpuset-mems": { type: "string", description: "MEMs in which to allow execution (0-3, 0,1)", valueHint: "string" },
  device: { type: "string", multiple: true, description: "Add a host device to the container", valueHint: "list" },
  "device-cgroup-rule": { type: "string", multiple: true, description: "Add a rule to the cgroup allowed devices list", valueHint: "list" },
  entrypoint: { type: "string", description: "Overwrite the default ENTRYPOINT of the image", valueHint: "string" },
  env: { type: "string", alias: "e", multiple: true, description: "Set environment variables", valueHint: "list" },
  dns: { type: "string", multiple: true, description: "Set custom DNS servers", valueHint: "list" },
  "dns-option": { type: "string", multiple: true, description: "Set DNS options", valueHint: "list" },
  "dns-opt": { type: "string", multiple: true, description: "Set DNS options", valueHint: "list", hidden: true },
  "dns-search": { type: "string", multiple: true, description: "Set custom DNS search domains", valueHint: "list" },
  "env-file": { type: "string", multiple: true, description: "Read in a file of environment variables", valueHint: "list" },
  "health-cmd": { type: "string", description: "Command to run to check health", valueHint: "string" },
  "health-interval": { type: "duration", description: "Time between running the check", valueHint: "duration" },
  "health-retries": { type: "int", description: "Consecutive failures needed to report unhealthy", valueHint: "int" },
  "health-start-interval": { type: "duration", description: "Time between running the check during the start period", valueHint: "duration" },
  "health-start-period": { type: "duration", description: "Start period for the container to initialize", valueHint: "duration" },
  "health-timeout": { type: "duration", description: "Maximum time to allow one check to run", valueHint: "duration" },
  "no-healthcheck": { type: "boolean", description: "Disable any container-specified HEALTHCHECK" },
  hostname: { type: "string", alias: "h", description: "Container host name", valueHint: "string" },
  init: { type: "boolean", description: "Run an init inside the container that forwards signals and reaps processes" },
  interactive: { type: "boolean", alias: "i", description: "Keep STDIN open even if not attached" },
  label: { type: "string", alias: "l", multiple: true, description: "Set meta data on a container", valueHint: "list" },
  "label-file": { type: "string", multiple: true, description: "Read in a line delimited file of labels", valueHint: "list" },
  "log-driver": { type: "string", description: "Logging driver for the container (json-file, local, none)", valueHint: "string" },
  "log-opt": { type: "string", multiple: true, description: "Log driver options", valueHint: "list" },
  memory: { type: "bytes", alias: "m", description: "Memory limit", valueHint: "bytes" },
  "memory-swap": { type: "memswap", description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", valueHint: "bytes" },
  mount: { type: "string", multiple: true, description: "Attach a filesystem mount to the container", valueHint: "mount" },
  "oom-kill-disable": { type: "boolean", description: "Disable OOM Killer" },
  "oom-score-adj": { type: "int", description: "Tune host's OOM preferences (-1000 to 1000)", valueHint: "int" },
  "pids-limit": { type: "int", description: "Tune container pids limit (set -1 for unlimited)", valueHint: "int" },
  "shm-size": { type: "bytes", description: "Size of /dev/shm", valueHint: "bytes" },
  name: { type: "string", description: "Assign a name to the container", valueHint: "string" },
  network: { type: "string", description: "Connect a container to a network", valueHint: "network" },
  "network-alias": { type: "string", multiple: true, description: "Add network-scoped alias for the container", valueHint: "list" },
  ip: { type: "string", description: "IPv4 address (e.g., 172.30.100.104)", valueHint: "ip" },
  publish: { type: "string", alias: "p", multiple: true, description: "Publish a container's port(s) to the host", valueHint: "list" },
  "publish-all": { type: "boolean", alias: "P", description: "Publish all exposed ports to random ports" },
  net: { type: "string", description: "Connect a container to a network", hidden: true },
  platform: { type: "string", description: "Set platform if server is multi-platform capable", valueHint: "string" },
  privileged: { type: "boolean", description: "Give extended privileges to this container" },
  pull: { type: "string", description: 'Pull image before running ("always", "missing", "never")', default: "missing", valueHint: "string" },
  "read-only": { type: "boolean", description: "Mount the container's root filesystem as read only" },
  quiet: { type: "boolean", alias: "q", description: "Suppress the pull output" },
  restart: { type: "string", description: "Restart policy to apply when a container exits", default: "no", valueHint: "string" },
  rm: { type: "boolean", description: "Automatically remove the container and its associated anonymous volumes when it exits" },
  "security-opt": { type: "string", multiple: true, description: "Security Options", valueHint: "list" },
  runtime: { type: "string", description: "Runtime to use for this container (runc only)", valueHint: "string" },
  gpus: { type: "string", description: "GPU devices to add to the container ('all' to pass all GPUs; refused: no device driver)", valueHint: "gpu-request" },
  "stop-signal": { type: "string", description: "Signal to stop the container", valueHint: "string" },
  "stop-timeout": { type: "int", description: "Timeout (in seconds) to stop a container", valueHint: "int" },
  tmpfs: { type: "string", multiple: true, description: "Mount a tmpfs directory", valueHint: "list" },
  tty: { type: "boolean", alias: "t", description: "Allocate a pseudo-TTY" },
  sysctl: { type: "map", description: "Sysctl options", valueHint: "map", validate: (v) => (parseSysctlFlag(v), v) },
  ulimit: { type: "string", multiple: true, description: "Ulimit options", valueHint: "ulimit" },
  user: { type: "string", alias: "u", description: "Username or UID (format: <name|uid>[:<group|gid>])", valueHint: "string" },
  volume: { type: "string", alias: "v", multiple: true, description: "Bind mount a volume", valueHint: "list" },
  workdir: { type: "string", alias: "w", description: "Working directory inside the container", valueHint: "string" },
  pid: { type: "string", description: "PID namespace to use", valueHint: "string" },
  ipc: { type: "string", description: "IPC mode to use", valueHint: "string" },
  uts: { type: "string", description: "UTS namespace to use", valueHint: "string" },
  "group-add": { type: "string", multiple: true, description: "Add additional groups to join", valueHint: "list" },
  link: { type: "string", multiple: true, description: "Add link to another container", valueHint: "list", validate: (v) => (checkLinkFlag(v), v) },
  "volumes-from": { type: "string", multiple: true, description: "Mount volumes from the specified container(s)", valueHint: "list" },
  "mac-address": { type: "string", description: "Container MAC address (e.g., 92:d0:c6:0a:29:33)", valueHint: "string" },
  expose: { type: "string", multiple: true, description: "Expose a port or a range of ports", valueHint: "list" },
};

/** A --link value as the docker CLI's ValidateLink takes it (NAME[:ALIAS]); throws its message. */
function checkLinkFlag(v: string): void {
  if (!v) throw new Error("empty string specified for links");
  if (v.split(":").length > 2) throw new Error(`bad format for links: ${v}`);
}

/** --expose values (PORT[/PROTO] or a range START-END[/PROTO]) as the "PORT/PROTO" keys of Config.ExposedPorts, as the docker CLI. */
export function parseExposeFlag(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    const [range, proto = "tcp", ...rest] = v.split("/");
    const m = /^(\d+)(?:-(\d+))?$/.exec(range!);
    const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
    if (rest.length || !["tcp", "udp", "sctp"].includes(proto.toLowerCase()) || !m || lo < 1 || hi > 65535 || hi < lo) throw new CliError(`invalid range format for --expose: ${v}`, 125);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}

/** Parses --restart as the docker CLI does. */
export function parseRestart(v: string): RestartPolicy {
  const [name, count, ...rest] = v.split(":");
  if (rest.length) throw new CliError(`invalid restart policy format: maximum retry count must be an integer`, 125);
  switch (name) {
    case "":
    case "no":
    case "always":
    case "unless-stopped":
      if (count !== undefined) throw new CliError(`invalid restart policy format: maximum retry count cannot be used with restart policy '${name}'`, 125);
      return { Name: name === "" ? "no" : name, MaximumRetryCount: 0 };
    case "on-failure": {
      if (count !== undefined && !/^\d+$/.test(count)) throw new CliError(`invalid restart policy format: maximum retry count must be an integer`, 125);
      return { Name: "on-failure", MaximumRetryCount: Number(count ?? 0) };
    }
    default:
      throw new CliError(`invalid restart policy format: no such policy: ${name}`, 125);
  }
}

/** Lines of an --env-file / --label-file: comments and blanks skipped; a bare KEY takes the caller's value. */
function readKeyValueFile(path: string, fromEnv: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new CliError(`open ${path}: no such file or directory`, 125);
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^\s+/, "");
    if (!line || line.startsWith("#")) continue;
    if (line.includes("=")) out.push(line);
    else if (fromEnv && process.env[line.trimEnd()] !== undefined) out.push(`${line.trimEnd()}=${process.env[line.trimEnd()]}`);
    else if (!fromEnv) out.push(line);
  }
  return out;
}

/**
 * -v, --mount and --tmpfs as the docker CLI turns them into the create request: -v with a source becomes a
 * Binds entry, without one a Config.Volumes path; --mount a Mounts entry (a bad one is a flag error); --tmpfs
 * a Tmpfs entry. Duplicate -v values count once, as the CLI keeps them in a set.
 */
export function mountOptionsFrom(flags: Record<string, any>, command = "run"): Pick<CreateOptions, "binds" | "volumes" | "mounts" | "tmpfs"> {
  const binds: string[] = [];
  const volumes: string[] = [];
  for (const v of new Set<string>(flags.volume ?? [])) {
    let parsed;
    try {
      parsed = parseVolumeFlag(v);
    } catch (e) {
      throw new CliError(`bunker: ${(e as Error).message}\n\nRun 'bunker ${command} --help' for more information`, 125);
    }
    if ("bind" in parsed) binds.push(parsed.bind);
    else volumes.push(parsed.volume);
  }
  const mounts: MountSpec[] = (flags.mount ?? []).map((m: string) => {
    try {
      return parseMountFlag(m);
    } catch (e) {
      throw flagError("mount", m, (e as Error).message);
    }
  });
  const tmpfs = Object.fromEntries((flags.tmpfs ?? []).map((t: string) => parseTmpfsFlag(t)));
  return {
    ...(binds.length ? { binds } : {}),
    ...(volumes.length ? { volumes } : {}),
    ...(mounts.length ? { mounts } : {}),
    ...(Object.keys(tmpfs).length ? { tmpfs } : {}),
  };
}

/** --gpus as the docker CLI's GpuOpts reads it: "all", a count, or driver=/count=/device=/capabilities= pairs. */
function gpuRequest(value: string): { Driver: string; Count: number; DeviceIDs: string[] | null; Capabilities: string[][] } {
  const req = { Driver: "", Count: 0, DeviceIDs: null as string[] | null, Capabilities: [["gpu"]] };
  for (const field of value.split(",")) {
    const [k, v] = field.includes("=") ? [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)] : ["count", field];
    if (k === "driver") req.Driver = v;
    else if (k === "count") req.Count = v === "all" ? -1 : flagValue("gpus", value, () => (/^\d+$/.test(v) ? Number(v) : (() => { throw new Error(`invalid count (${v}): value must be either "all" or an integer`); })()));
    else if (k === "device") req.DeviceIDs = v.split(",");
    else if (k === "capabilities") req.Capabilities = [v.split(",")];
    else throw flagError("gpus", value, `unexpected key '${k}' in '${field}'`);
  }
  return req;
}

/** The engine's CreateOptions from parsed flags and positionals (IMAGE [COMMAND] [ARG...]). */
export function createOptionsFrom(flags: Record<string, any>, args: string[], command = "run"): CreateOptions {
  const env = [...(flags["env-file"] ?? []).flatMap((f: string) => readKeyValueFile(f, true)), ...(flags.env ?? [])].map((e: string) =>
    // `-e KEY` passes the caller's value, and drops the variable when the caller has none (as Docker).
    e.includes("=") ? e : process.env[e] !== undefined ? `${e}=${process.env[e]}` : undefined,
  ).filter((e: string | undefined): e is string => e !== undefined);
  const labels: Record<string, string> = {};
  for (const l of [...(flags["label-file"] ?? []).flatMap((f: string) => readKeyValueFile(f, false)), ...(flags.label ?? [])]) {
    const i = l.indexOf("=");
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
  }
  const logConfig: Record<string, string> = {};
  for (const o of flags["log-opt"] ?? []) {
    const i = o.indexOf("=");
    if (i <= 0) throw new CliError(`invalid key value pair format in log-opt: ${o}`, 125);
    logConfig[o.slice(0, i)] = o.slice(i + 1);
  }
  const attach: string[] = (flags.attach ?? []).map((a: string) => a.toLowerCase());
  for (const a of attach) if (!["stdin", "stdout", "stderr"].includes(a)) throw flagError("attach", a, "valid streams are STDIN, STDOUT and STDERR", "a");
  const health = Object.keys(flags).find((f) => f.startsWith("health-") && flags[f]);
  if (health && flags["no-healthcheck"]) throw new CliError("--no-healthcheck conflicts with --health-* options", 125);
  const stopTimeout: number | undefined = flags["stop-timeout"];
  const restart = parseRestart(flags.restart ?? "no");
  if (flags.rm && restart.Name !== "no") throw new CliError("Conflicting options: --restart and --rm", 125);
  return {
    image: args[0]!,
    platform: flags.platform || undefined,
    cmd: args.slice(1),
    name: flags.name,
    entrypoint: flags.entrypoint,
    env,
    workdir: flags.workdir,
    user: flags.user,
    hostname: flags.hostname,
    tty: flags.tty,
    openStdin: flags.interactive,
    attach: attach.length ? { stdin: attach.includes("stdin"), stdout: attach.includes("stdout"), stderr: attach.includes("stderr") } : undefined,
    labels,
    restart,
    networkMode: flags.network ?? flags.net,
    portBindings: flags.publish?.length ? parsePublishFlag(flags.publish) : undefined,
    publishAll: flags["publish-all"],
    networkAliases: flags["network-alias"],
    ipv4Address: flags.ip,
    capAdd: flags["cap-add"],
    capDrop: flags["cap-drop"],
    privileged: flags.privileged,
    securityOpt: flags["security-opt"],
    autoRemove: flags.rm,
    logConfig,
    logDriver: flags["log-driver"] || undefined,
    runtime: flags.runtime,
    deviceRequests: flags.gpus !== undefined ? [gpuRequest(flags.gpus)] : undefined,
    stopSignal: flags["stop-signal"],
    stopTimeout,
    ...mountOptionsFrom(flags, command),
    ...etcOptionsFrom(flags),
    resources: resourcesFrom(flags),
    oomScoreAdj: flags["oom-score-adj"],
    shmSize: flags["shm-size"],
    readonlyRootfs: flags["read-only"],
    init: flags.init,
    ulimits: (flags.ulimit as string[] | undefined)?.map((u) => flagValue("ulimit", u, parseUlimit)),
    ...(flags.sysctl ? { sysctls: flags.sysctl as Record<string, string> } : {}),
    ...deviceOptionsFrom(flags, command),
    ...healthOptionsFrom(flags, !!health),
    ...sharingOptionsFrom(flags, command),
  };
}

/** --health-* and --no-healthcheck as the docker CLI turns them into Config.Healthcheck (its checks and messages). */
function healthOptionsFrom(flags: Record<string, any>, given: boolean): Pick<CreateOptions, "healthcheck"> {
  if (flags["no-healthcheck"]) return { healthcheck: { Test: ["NONE"] } };
  if (!given) return {};
  for (const f of ["interval", "timeout", "start-period", "start-interval"]) if ((flags[`health-${f}`] ?? 0) < 0) throw new CliError(`--health-${f} cannot be negative`, 125);
  const cmd: string | undefined = flags["health-cmd"];
  return {
    healthcheck: {
      ...(cmd ? { Test: ["CMD-SHELL", cmd] } : {}),
      Interval: flags["health-interval"] ?? 0,
      Timeout: flags["health-timeout"] ?? 0,
      StartPeriod: flags["health-start-period"] ?? 0,
      StartInterval: flags["health-start-interval"] ?? 0,
      Retries: flags["health-retries"] ?? 0,
    },
  };
}

/** --pid, --ipc, --uts, --group-add, --link, --volumes-from, --mac-address, --expose, checked as the docker CLI's parse does. */
function sharingOptionsFrom(flags: Record<string, any>, command: string): Partial<CreateOptions> {
  const usage = (msg: string) => new CliError(`bunker: ${msg}\n\nRun 'bunker ${command} --help' for more information`, 125);
  const pid: string | undefined = flags.pid;
  if (pid !== undefined && !(pid === "" || pid === "host" || /^container:./.test(pid))) throw usage("--pid: invalid PID mode");
  if (flags.uts !== undefined && !["", "host"].includes(flags.uts)) throw usage("--uts: invalid UTS mode");
  const mac: string | undefined = flags["mac-address"];
  if (mac && !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(mac.trim())) throw usage(`${mac} is not a valid mac address`);
  const list = (name: string) => ((flags[name] ?? []) as string[]).length ? (flags[name] as string[]) : undefined;
  const expose = flags.expose?.length ? parseExposeFlag(flags.expose) : undefined;
  return {
    ...(pid ? { pidMode: pid } : {}),
    ...(flags.ipc ? { ipcMode: flags.ipc } : {}),
    ...(flags.uts ? { utsMode: flags.uts } : {}),
    ...(list("group-add") ? { groupAdd: list("group-add") } : {}),
    ...(list("link") ? { links: list("link") } : {}),
    ...(list("volumes-from") ? { volumesFrom: list("volumes-from") } : {}),
    ...(mac ? { macAddress: mac } : {}),
    ...(expose ? { exposedPorts: expose } : {}),
  };
}

/** --device, --device-cgroup-rule and --cgroupns, checked as the docker CLI checks them before it sends anything. */
function deviceOptionsFrom(flags: Record<string, any>, command: string): Pick<CreateOptions, "devices" | "deviceCgroupRules" | "cgroupnsMode"> {
  const rules: string[] = flags["device-cgroup-rule"] ?? [];
  for (const r of rules) if (!/^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$/.test(r)) throw flagError("device-cgroup-rule", r, `invalid device cgroup format '${r}'`);
  const mode: string | undefined = flags.cgroupns;
  if (mode !== undefined && !["", "host", "private"].includes(mode)) throw new CliError(`bunker: --cgroupns: invalid CGROUP mode\n\nRun 'bunker ${command} --help' for more information`, 125);
  const devices = ((flags.device ?? []) as string[]).map((d) => {
    try {
      return parseDeviceFlag(d);
    } catch (e) {
      throw new CliError(`bunker: ${(e as Error).message}\n\nRun 'bunker ${command} --help' for more information`, 125);
    }
  });
  return { ...(devices.length ? { devices } : {}), ...(rules.length ? { deviceCgroupRules: rules } : {}), ...(mode ? { cgroupnsMode: mode } : {}) };
}


/** The resource flags (-m, --memory-swap, --cpus, -c, --cpu-period/quota, --cpuset-*, --pids-limit, --blkio-weight) as Resources (typed by the parser; --cpus is NanoCPUs, parsed here); `update` shares them. */
export function resourcesFrom(flags: Record<string, any>): Resources | undefined {
  const cpus = flags.cpus as string | undefined;
  const r: Resources = {
    Memory: flags.memory,
    MemorySwap: flags["memory-swap"],
    NanoCpus:
      cpus === undefined
        ? undefined
        : flagValue("cpus", cpus, (x) => {
            if (!/^\d*\.?\d+$/.test(x)) throw new Error(`failed to parse ${x} as a rational number`);
            return Math.round(Number(x) * 1e9);
          }),
    CpuShares: flags["cpu-shares"],
    PidsLimit: flags["pids-limit"],
    CpuPeriod: flags["cpu-period"],
    CpuQuota: flags["cpu-quota"],
    CpusetCpus: flags["cpuset-cpus"],
    CpusetMems: flags["cpuset-mems"],
    BlkioWeight: flags["blkio-weight"],
    OomKillDisable: flags["oom-kill-disable"],
  };
  return Object.values(r).some((v) => v !== undefined) ? r : undefined;
}

/** --add-host and --dns* checked as the docker CLI's flag validators do (a bad value is a flag error, 125). */
function etcOptionsFrom(flags: Record<string, any>): Pick<CreateOptions, "extraHosts" | "dns" | "dnsSearch" | "dnsOptions"> {
  const check = (flag: string, values: string[] | undefined, fn: (v: string) => unknown) => {
    for (const v of values ?? []) flagValue(flag, v, fn);
    return values?.length ? values : undefined;
  };
  return {
    extraHosts: check("add-host", flags["add-host"], parseExtraHost),
    dns: check("dns", flags.dns, checkDnsServer),
    dnsSearch: flags["dns-search"]?.length ? flags["dns-search"] : undefined,
    dnsOptions: [...(flags["dns-option"] ?? []), ...(flags["dns-opt"] ?? [])].length ? [...(flags["dns-option"] ?? []), ...(flags["dns-opt"] ?? [])] : undefined,
  };
}

/** -p values as the docker CLI parses them (nat.ParsePortSpecs); a bad one is a flag error (125). */
function parsePublishFlag(specs: string[]) {
  try {
    return parsePublish(specs);
  } catch (e) {
    throw flagError("publish", specs.at(-1)!, (e as Error).message, "p");
  }
}

/** Pulls `image` for run/create as `docker run` does: "Unable to find image ... locally" when missing, progress on stderr. */
async function pullForCreate(backend: Backend, image: string, opts: { platform?: string; quiet?: boolean; missing: boolean }): Promise<void> {
  const { parseReference, withDefaultTag, familiarString } = await import("../engine/registry/reference.ts");
  const ref = withDefaultTag(parseReference(image));
  const { progressRenderer } = await import("./_progress.ts");
  if (opts.missing) process.stderr.write(`Unable to find image '${familiarString(ref)}' locally\n`);
  const render = opts.quiet ? () => {} : progressRenderer(process.stderr, process.stderr.isTTY === true);
  await backend.pull(image, { platform: opts.platform }, render);
}

/** The engine's answer to a create whose image is not stored (other 404s, a network's, are 400s at the API). */
const isMissingImage = (e: unknown) => e instanceof EngineError && (e.code === "noSuchImage" || e.code === "imagePlatformMismatch");

/**
 * What `create` does and `run` starts with, as the docker CLI's run reuses its create: options from the
 * flags, the backend, then the container. As in the docker CLI, --pull=missing (the default) pulls only
 * when the create answers that the image is missing, and creates again: a stored image costs no extra
 * lookup. `attach` is what `run` attaches.
 */
export async function createFromFlags(flags: Record<string, any>, args: string[], global: GlobalFlags, attach?: CreateOptions["attach"], command = "run") {
  const policy = flags.pull ?? "missing";
  if (!["always", "missing", "never"].includes(policy)) throw new CliError(`invalid pull option: '${policy}': must be one of "always", "missing" or "never"`, 125);
  const opts = createOptionsFrom(flags, args, command);
  opts.attach ??= attach;
  const backend = await openBackend(global);
  const pull = { platform: flags.platform, quiet: flags.quiet };
  if (policy === "always") await pullForCreate(backend, opts.image, { ...pull, missing: false });
  try {
    return { backend, id: (await backend.createContainer(opts)).Id, opts };
  } catch (e) {
    if (policy !== "missing" || !isMissingImage(e)) throw e;
  }
  await pullForCreate(backend, opts.image, { ...pull, missing: true });
  return { backend, id: (await backend.createContainer(opts)).Id, opts };
}
