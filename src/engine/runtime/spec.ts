/**
 * Runtime policy, as pure functions: what a container gets (capabilities, mounts, masked paths, /dev,
 * environment defaults) and the plan encoding the shim executes. No I/O here, so all of it is unit-tested.
 * Defaults follow Docker's (moby oci/defaults.go, oci/caps).
 */
import { readFileSync } from "node:fs";
import { invalidParameter } from "../errors.ts";
import { MS } from "../../sys/index.ts";

/** Everything the runtime needs to start one container. Paths are host paths unless named otherwise. */
export interface ContainerPlan {
  id: string;
  /**
   * lowerDirs: image layer diff dirs, top-most layer first (overlayfs `lowerdir` order). `volatile`: an upper
   * dir that becomes a layer (a build step's), mounted with overlayfs' `volatile` (see overlayOptions).
   */
  rootfs: { lowerDirs: string[]; upperDir: string; workDir: string; mergedDir: string; volatile?: boolean };
  hostname: string;
  args: string[];
  env: string[];
  cwd: string;
  /** As given to `-u` (user[:group], names or ids); resolved inside the container root by the shim. */
  user: string;
  tty: boolean;
  openStdin: boolean;
  /** Final capability names (see resolveCapabilities), with or without the CAP_ prefix. */
  capabilities: string[];
  noNewPrivileges: boolean;
  /** Docker's default seccomp profile, for `capabilities` (off with --privileged and --security-opt seccomp=unconfined). */
  seccomp: boolean;
  privileged: boolean;
  network: "none" | "host" | "private";
  /**
   * User binds and volumes, shallowest first. `copy`: fill an empty volume with the image's content there first.
   * Submounts of the source come along unless `nonRecursive`; a read-only one is read-only all the way down
   * unless `readonlyNonRecursive` (moby's BindOptions), `readonlyForceRecursive` failing the start if it cannot be.
   */
  binds: { source: string; target: string; readonly: boolean; copy?: boolean; nonRecursive?: boolean; readonlyNonRecursive?: boolean; readonlyForceRecursive?: boolean }[];
  /** --tmpfs and --mount type=tmpfs: mount(2) flags and data (see volumes/spec.ts tmpfsFlags). */
  tmpfs?: { target: string; flags: number; data: string }[];
  /** --init: PID 1 is a minimal init (the shim, as docker-init) and the program its child. */
  init?: boolean;
  /** --read-only: the root mount read-only (volumes, tmpfs and /dev stay as they are). */
  readonlyRootfs?: boolean;
  /** --shm-size: /dev/shm's size in bytes (Docker's default 64 MiB). */
  shmSize?: number;
  /** --ulimit: setrlimit before exec, for the init and every exec (resource names as in Docker: nofile, nproc...). */
  ulimits?: { name: string; soft: number; hard: number }[];
  /** --oom-score-adj: the init's and every exec's /proc/self/oom_score_adj. */
  oomScoreAdj?: number;
  maskedPaths: string[];
  readonlyPaths: string[];
  /** The container's own directory: logs, status.json, attach.sock, hosts/hostname/resolv.conf. */
  containerDir: string;
  /** json-file `max-size` in bytes (0/undefined = unlimited) and `max-file` (default 1). */
  logMaxSize?: number;
  logMaxFile?: number;
  /** --log-driver none: the shim keeps no log file. */
  noLog?: boolean;
  restart: { name: "no" | "on-failure" | "always" | "unless-stopped"; maxRetries?: number };
  /** cgroup.procs (or tasks) files the container's init joins before it execs. */
  cgroupProcs?: string[];
  /** Bridge endpoints: the shim creates each veth pair (host end on the bridge) before the process runs. */
  netifs?: PlanNetIf[];
  /** `--network container:NAME`: the network namespace to join (/proc/<pid>/ns/net of that container). */
  netns?: string;
  /**
   * Published host ports: the shim binds them and holds them while the container lives. Without `to` nothing
   * listens (kernel DNAT forwards); with `to` the supervisor's userland proxy relays them to the container.
   */
  hostPorts?: { proto: "tcp" | "udp"; ip: string; port: number; to?: { ip: string; port: number } }[];
  /** Embedded DNS at 127.0.0.11: the supervisor answers from these name files, and forwards the rest upstream. */
  dns?: { files: string[]; upstream: string[] };
  /** --sysctl / HostConfig.Sysctls: written by the shim in the container's namespaces before exec (see checkSysctl). */
  sysctls?: Sysctl[];
  /** The engine's network namespace (its nsfs inode): the shim writes no net.* sysctl there (container:X of a host-network X). */
  hostNetns?: number;
  /** Device nodes made in the container besides DEFAULT_DEVICES: --device ones, or every host device with --privileged. */
  devices?: PlanDevice[];
  /** The devices cgroup's allow-list (see deviceRules); DEFAULT_DEVICE_RULES when absent. */
  deviceRules?: DeviceRule[];
  /** The container's own cgroups (cgroups.ts): the device allow-list goes there; /sys/fs/cgroup inside shows them. */
  cgroup?: PlanCgroup;
  /** HEALTHCHECK, run by the supervisor (shim/health.c): the command, times in ms, Timeout as Go prints it. */
  health?: { args: string[]; interval: number; timeout: number; startPeriod: number; startInterval: number; retries: number; timeoutText: string };
  /**
   * --pid, --ipc, --uts: a namespace shared instead of the container's own, "host" or the /proc/<pid>/ns file of
   * the running container to join (never another's unless asked: absent means a fresh one, Docker's default).
   */
  namespaces?: { pid?: string; ipc?: string; uts?: "host" };
  /** --ipc: /dev/shm is the container's own tmpfs unless "none" (no /dev/shm), "host" (the host's) or another container's (its init's pid). */
  shm?: "none" | "host" | { pid: number };
  /** --group-add: supplementary groups added to the user's, ids or names of the container's /etc/group. */
  groupAdd?: string[];
}

/** A device node as the shim mknods it in the container (runc's Device): char or block, its permission bits and owner. */
export interface PlanDevice {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

/** One devices cgroup rule, an allowing one (-1: any major or minor); type "a" allows every device. */
export interface DeviceRule {
  type: "a" | "c" | "b";
  major: number;
  minor: number;
  /** Some of r (read), w (write), m (mknod). */
  access: string;
}

/** A container's cgroups: v1 one directory per hierarchy it joins, v2 one directory. */
export interface PlanCgroup {
  version: 1 | 2;
  /** v1: each hierarchy as named under /sys/fs/cgroup ("memory", "cpu,cpuacct") and the names the host links to it ("cpu"); v2: one, name "". */
  dirs: { name: string; dir: string; aliases: string[] }[];
  /** Where the device allow-list is applied: the devices hierarchy's directory (v1) or the v2 directory. */
  devices: string;
  /** --cgroupns private: a cgroup namespace rooted at the container's cgroups. */
  ns: boolean;
}

/** One checked sysctl: its file under /proc/sys (plain names joined by "/", never "." or "..") and the value to write. */
export interface Sysctl {
  path: string;
  value: string;
}

/** One container network interface, as the shim sets it up (see shim/net.c net_create / net_config). */
export interface PlanNetIf {
  /** Host-side veth name (at most 15 bytes). */
  host: string;
  /** Name inside the container (eth0, eth1...). */
  peer: string;
  bridge: string;
  mac: string;
  ip: string;
  prefix: number;
  /** Default route via this gateway ("" for none); only the first interface's is used. */
  gateway: string;
  mtu?: number;
}

/** Capability numbers (linux/capability.h). */
export const CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5,
  CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9, CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16, CAP_SYS_RAWIO: 17, CAP_SYS_CHROOT: 18, CAP_SYS_PTRACE: 19, CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21, CAP_SYS_BOOT: 22, CAP_SYS_NICE: 23, CAP_SYS_RESOURCE: 24, CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26, CAP_MKNOD: 27, CAP_LEASE: 28, CAP_AUDIT_WRITE: 29, CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31, CAP_MAC_OVERRIDE: 32, CAP_MAC_ADMIN: 33, CAP_SYSLOG: 34, CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36, CAP_AUDIT_READ: 37, CAP_PERFMON: 38, CAP_BPF: 39, CAP_CHECKPOINT_RESTORE: 40,
};

/** Docker's default set; its mask is 0xa80425fb. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

/** Docker's masked paths: bound over with /dev/null (files) or a read-only tmpfs (directories). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Docker's read-only paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The device nodes every container gets in its own /dev (runc's default devices: root-owned, mode 0666). */
export const DEFAULT_DEVICES: readonly PlanDevice[] = (
  [["null", 1, 3], ["zero", 1, 5], ["full", 1, 7], ["random", 1, 8], ["urandom", 1, 9], ["tty", 5, 0]] as const
).map(([name, major, minor]) => ({ path: `/dev/${name}`, type: "c", major, minor, mode: 0o666, uid: 0, gid: 0 }));

/**
 * Docker's device allow-list, as moby's default spec and runc's built-in rules leave it (everything else is
 * denied): mknod of any node; null, zero, full, random, urandom, tty, console, ptmx, the pts slaves, tun.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { type: "c", major: -1, minor: -1, access: "m" },
  { type: "b", major: -1, minor: -1, access: "m" },
  ...([[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136, -1], [10, 200]] as const).map(([major, minor]): DeviceRule => ({ type: "c", major, minor, access: "rwm" })),
];

/** The paths under /dev the runtime makes itself (links and mounts): a host device there is not copied in. */
const DEV_RESERVED = new Set(["/dev/ptmx", "/dev/console", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/core", "/dev/pts", "/dev/shm", "/dev/mqueue"]);

/** The nodes the shim makes: the defaults, then the plan's (one per path, the defaults first; reserved paths skipped). */
export function planDevices(plan: Pick<ContainerPlan, "devices">): PlanDevice[] {
  const out = new Map(DEFAULT_DEVICES.map((d) => [d.path, d]));
  for (const d of plan.devices ?? []) if (!DEV_RESERVED.has(d.path) && !out.has(d.path)) out.set(d.path, d);
  return [...out.values()];
}

/** A devices cgroup rule as the API's DeviceCgroupRules take it (moby's AppendDevicePermissionsFromCgroupRules); throws its message. */
export function parseDeviceCgroupRule(rule: string): DeviceRule {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (rule === "a" || /^a \*:\* [rwm]{3}$/.test(rule)) return { type: "a", major: -1, minor: -1, access: "rwm" };
  if (!m) throw invalidParameter(`invalid device cgroup rule format: '${rule}'`);
  if (m[1] === "a") throw invalidParameter(`although this cgroup rule is technically correct, because 'a' maps to 'a *:* rwm' regardless of what comes next, this format is partially ineffective: '${rule}'`);
  const num = (v: string, bits: number, what: string) => {
    if (v === "*") return -1;
    const n = Number(v);
    if (n >= 2 ** (bits - 1)) throw invalidParameter(`invalid ${what} value in device cgroup rule format: '${rule}'`);
    return n;
  };
  return { type: m[1] as "c" | "b", major: num(m[2]!, 12, "major"), minor: num(m[3]!, 20, "minor"), access: m[4]! };
}

/** A HostConfig.Devices entry (moby's DeviceMapping). */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** True for a device mode: some of r, w, m, each at most once (the docker CLI's validDeviceMode). */
export const isDeviceMode = (mode: string) => /^[rwm]{1,3}$/.test(mode) && new Set(mode).size === mode.length;

/** One --device value, HOST[:CONTAINER][:PERMISSIONS], as the docker CLI validates and parses it; throws its message. */
export function parseDeviceFlag(v: string): DeviceMapping {
  const split = v.split(":");
  if (split.length > 3 || split[0] === "") throw invalidParameter(`bad format for path: ${v}`);
  let dst = "";
  let perms = "rwm";
  if (split.length === 3) {
    if (!isDeviceMode(split[2]!)) throw invalidParameter(`bad mode specified: ${split[2]}`);
    [dst, perms] = [split[1]!, split[2]!];
  } else if (split.length === 2) {
    if (isDeviceMode(split[1]!)) perms = split[1]!;
    else dst = split[1]!;
  }
  const container = split.length === 3 ? dst : dst || split[0]!;
  if (!container.startsWith("/")) throw invalidParameter(`${container} is not an absolute path`);
  return { PathOnHost: split[0]!, PathInContainer: container, CgroupPermissions: perms };
}

/**
 * The devices cgroup allow-list, as moby's WithDevices and runc build it: --privileged (or an "a" rule) opens
 * every device; otherwise Docker's defaults, then the --device and --device-cgroup-rule ones.
 */
export function deviceRules(opts: { privileged?: boolean; rules?: DeviceRule[] }): DeviceRule[] {
  if (opts.privileged || opts.rules?.some((r) => r.type === "a")) return [{ type: "a", major: -1, minor: -1, access: "rwm" }];
  return [...DEFAULT_DEVICE_RULES, ...(opts.rules ?? [])];
}

const capName = (raw: string): string => {
  const up = raw.toUpperCase();
  if (up === "ALL") return up;
  const name = up.startsWith("CAP_") ? up : `CAP_${up}`;
  if (!(name in CAPABILITIES)) throw invalidParameter(`unknown capability: "${name}"`);
  return name;
};

/** --cap-add/--cap-drop/--privileged over the defaults, exactly as moby's TweakCapabilities. */
export function resolveCapabilities(opts: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean }): string[] {
  const all = Object.keys(CAPABILITIES);
  if (opts.privileged) return all;
  const add = (opts.capAdd ?? []).map(capName);
  const drop = (opts.capDrop ?? []).map(capName);
  if (add.length === 0 && drop.length === 0) return [...DEFAULT_CAPABILITIES];
  let caps: string[];
  if (add.includes("ALL")) caps = all.filter((c) => !drop.includes(c));
  else if (drop.includes("ALL")) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

/** The capability bit mask of a list of names. */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const n of names) {
    const name = capName(n);
    if (name === "ALL") return capabilityMask(Object.keys(CAPABILITIES));
    mask |= 1n << BigInt(CAPABILITIES[name]!);
  }
  return mask;
}

/** One step of the container's mount setup, executed in order by the shim inside the new root. */
export interface MountOp {
  /** fs: fresh mount; bind; mask (/dev/null or ro tmpfs); ro (bind read-only onto itself); remount: new flags for a mount point; link: symlink;
   * copy: the root's content at target into the (empty) volume dir source, before anything is mounted;
   * share: the mount at target in another container's mount namespace (source: its /proc/<pid>/ns/mnt) bound onto target. */
  kind: "fs" | "bind" | "mask" | "ro" | "link" | "copy" | "remount" | "share";
  source: string;
  /** Path inside the container; symlinks in it resolve inside the root (openat2 RESOLVE_IN_ROOT). */
  target: string;
  fstype?: string;
  flags: number;
  data?: string;
}

/** The files /etc/hosts, /etc/hostname and /etc/resolv.conf are bound from, in the container dir. */
export const ETC_FILES = { hosts: "/etc/hosts", hostname: "/etc/hostname", "resolv.conf": "/etc/resolv.conf" } as const;

/** Docker's /dev/shm size when --shm-size is not given (HostConfig.ShmSize shows it). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** --ulimit's names (go-units' ulimitNameMapping) -> RLIMIT_* numbers on Linux. */
export const RLIMITS: Record<string, number> = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15 };

/** One --ulimit value as the docker CLI parses it: name=soft[:hard] (-1 unlimited); throws its message. */
export function parseUlimit(v: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m) throw invalidParameter(`invalid ulimit argument: ${v}`);
  return checkUlimit({ Name: m[1]!, Soft: Number(m[2]), Hard: m[3] !== undefined ? Number(m[3]) : Number(m[2]) });
}

/** A HostConfig.Ulimits entry checked as the CLI's parser checks one (a known name, soft <= hard). */
export function checkUlimit(u: { Name: string; Soft: number; Hard: number }): { Name: string; Soft: number; Hard: number } {
  if (!(u.Name in RLIMITS)) throw invalidParameter(`invalid ulimit type: ${u.Name}`);
  if (u.Soft > u.Hard && u.Hard !== -1) throw invalidParameter(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  return { Name: u.Name, Soft: u.Soft, Hard: u.Hard };
}

/** The IPC sysctls runc lets a container with its own IPC namespace set (besides fs.mqueue.*). */
const IPC_SYSCTLS = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
/** One /proc/sys path component: a name (an interface's may hold dots: "eno2.100"), never "", "." or "..". */
const SYSCTL_NAME = /^[A-Za-z0-9_@:+-][A-Za-z0-9_@:+.-]{0,63}$/;

/**
 * A HostConfig.Sysctls entry as runc's validator takes it, with its messages: the IPC ones and fs.mqueue.*
 * unless the IPC namespace is the host's, net.* unless the network is, kernel.domainname unless the UTS is;
 * anything else would change the host for everyone. The key ("net.ipv4.ip_forward", or runc's slash form
 * "net/ipv4/conf/eno2.100/rp_filter") becomes a path of plain names, so no value names a file outside /proc/sys.
 */
export function checkSysctl(key: string, value: string, network: string, modes: { ipc?: string; uts?: string } = {}): Sysctl {
  // runc's convertSysctlVariableToDotsSeparator: a key whose first separator is "/" uses "/" between names
  const slash = /^[^./]*\//.test(key);
  const names = slash ? key.split("/") : key.split(".");
  const dotted = names.map((n) => n.replaceAll(".", "/")).join(".");
  if (!names.every((n) => SYSCTL_NAME.test(n))) throw invalidParameter(`invalid sysctl key: ${JSON.stringify(key)}`);
  if (value.length > 4096 || value.includes("\0")) throw invalidParameter(`invalid value for sysctl ${JSON.stringify(key)}`);
  const ok = { path: names.join("/"), value };
  if (IPC_SYSCTLS.includes(dotted) || dotted.startsWith("fs.mqueue.")) {
    if (modes.ipc === "host") throw invalidParameter(`sysctl ${JSON.stringify(dotted)} is not allowed in the hosts ipc namespace`);
    return ok;
  }
  if (dotted.startsWith("net.")) {
    if (network === "host") throw invalidParameter(`sysctl ${JSON.stringify(dotted)} not allowed in host network namespace`);
    return ok;
  }
  if (dotted === "kernel.domainname" && modes.uts !== "host") return ok;
  if (dotted === "kernel.hostname" && modes.uts !== "host") throw invalidParameter(`sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`);
  if (dotted.startsWith("user.")) throw invalidParameter(`setting ucounts without a user namespace not allowed: ${dotted}`);
  throw invalidParameter(`sysctl ${JSON.stringify(dotted)} is not in a separate kernel namespace`);
}

/** A --sysctl value as the docker CLI's ValidateSysctl takes it (KEY=VALUE, a namespaced key); throws its message. */
export function parseSysctlFlag(v: string): [string, string] {
  const i = v.indexOf("=");
  const key = i < 0 ? v : v.slice(0, i);
  if (i < 0 || !(IPC_SYSCTLS.includes(key) || key.startsWith("net.") || key.startsWith("fs.mqueue."))) throw invalidParameter(`sysctl '${v}' is not allowed`);
  return [key, v.slice(i + 1)];
}

/**
 * The ordered mount list. /dev is a tmpfs the shim mknods the container's own nodes into (so it cannot be
 * nodev, as in Docker); which device a node may open is the devices cgroup's allow-list. The other
 * writable mounts stay nodev (/dev/shm, tmpfs, binds unless privileged, and the overlay root: shim/init.c).
 */
export function buildMounts(plan: Pick<ContainerPlan, "privileged" | "tty" | "binds" | "tmpfs" | "maskedPaths" | "readonlyPaths" | "containerDir" | "shmSize" | "cgroup" | "shm">): MountOp[] {
  const { NOSUID, NODEV, NOEXEC, RDONLY } = MS;
  const ops: MountOp[] = [
    // Copy-ups read the image's tree before /proc, /dev or any volume is mounted over part of it.
    ...plan.binds.filter((b) => b.copy).map((b): MountOp => ({ kind: "copy", source: b.source, target: b.target, flags: 0 })),
    { kind: "fs", source: "proc", target: "/proc", fstype: "proc", flags: NOSUID | NODEV | NOEXEC },
    { kind: "fs", source: "tmpfs", target: "/dev", fstype: "tmpfs", flags: NOSUID | MS.STRICTATIME, data: "mode=755,size=65536k" },
    { kind: "fs", source: "devpts", target: "/dev/pts", fstype: "devpts", flags: NOSUID | NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620,gid=5" },
    ...shmMount(plan),
    { kind: "fs", source: "mqueue", target: "/dev/mqueue", fstype: "mqueue", flags: NOSUID | NODEV | NOEXEC },
    { kind: "fs", source: "sysfs", target: "/sys", fstype: "sysfs", flags: NOSUID | NODEV | NOEXEC | (plan.privileged ? 0 : RDONLY) },
  ];
  if (plan.cgroup) ops.push(...cgroupMounts(plan.cgroup, !!plan.privileged));
  const links: [string, string][] = [
    ["pts/ptmx", "/dev/ptmx"], ["/proc/self/fd", "/dev/fd"], ["/proc/self/fd/0", "/dev/stdin"],
    ["/proc/self/fd/1", "/dev/stdout"], ["/proc/self/fd/2", "/dev/stderr"], ["/proc/kcore", "/dev/core"],
  ];
  for (const [to, at] of links) ops.push({ kind: "link", source: to, target: at, flags: 0 });
  // User mounts and the /etc files, shallowest first (a deeper one lands on the shallower one, never under
  // it: /etc/hosts stays visible over a volume on /etc), as moby sorts them; a user mount of an /etc file
  // wins. At equal depth user mounts go first: one whose target is an image symlink to /etc must not hide them.
  const taken = new Set([...plan.binds.map((b) => b.target), ...(plan.tmpfs ?? []).map((t) => t.target)]);
  const user: MountOp[] = [
    ...plan.binds.map((b): MountOp => ({ kind: "bind", source: b.source, target: b.target, flags: (plan.privileged ? 0 : NODEV) | (b.readonly ? RDONLY : 0), data: bindData(b) })),
    ...(plan.tmpfs ?? []).map((t): MountOp => ({ kind: "fs", source: "tmpfs", target: t.target, fstype: "tmpfs", flags: t.flags | NODEV, data: t.data })),
    ...Object.entries(ETC_FILES).filter(([, target]) => !taken.has(target)).map(([file, target]): MountOp => ({ kind: "bind", source: `${plan.containerDir}/${file}`, target, flags: NODEV | NOSUID })),
  ];
  const depth = (m: MountOp) => m.target.split("/").length;
  ops.push(...user.map((m, i) => [m, i] as const).sort((a, b) => depth(a[0]) - depth(b[0]) || a[1] - b[1]).map(([m]) => m));
  if (!plan.privileged) {
    for (const p of plan.maskedPaths) ops.push({ kind: "mask", source: "", target: p, flags: 0 });
    for (const p of plan.readonlyPaths) ops.push({ kind: "ro", source: "", target: p, flags: RDONLY | NOSUID | NODEV | NOEXEC });
  }
  return ops;
}

/** /dev/shm as --ipc has it (moby's IpcMounts): the container's own tmpfs, none, the host's, or the one of the container whose IPC it joins. */
function shmMount(plan: Pick<ContainerPlan, "shm" | "shmSize">): MountOp[] {
  const flags = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  if (plan.shm === "none") return [];
  if (plan.shm === "host") return [{ kind: "bind", source: "/dev/shm", target: "/dev/shm", flags }];
  if (plan.shm) return [{ kind: "share", source: `/proc/${plan.shm.pid}/ns/mnt`, target: "/dev/shm", flags }];
  return [{ kind: "fs", source: "shm", target: "/dev/shm", fstype: "tmpfs", flags, data: `mode=1777,size=${Math.floor((plan.shmSize || DEFAULT_SHM_SIZE) / 1024)}k` }];
}

/** A user bind's mount data for the shim: "bind" (not recursive), "rro" / "rro-force" (recursively read-only), or "". */
function bindData(b: ContainerPlan["binds"][number]): string {
  if (b.nonRecursive) return "bind";
  if (!b.readonly || b.readonlyNonRecursive) return "";
  return b.readonlyForceRecursive ? "rro-force" : "rro";
}

/**
 * /sys/fs/cgroup inside: the container's own cgroups, read-only unless privileged (runc's layout). v1: a
 * tmpfs with one mount per hierarchy, and the host's alias links (cpu -> cpu,cpuacct); v2: one mount. With
 * a cgroup namespace these are fresh cgroup mounts (rooted at the container's cgroups by the namespace),
 * without one binds of the container's directories.
 */
function cgroupMounts(cg: PlanCgroup, privileged: boolean): MountOp[] {
  const { NOSUID, NODEV, NOEXEC, RDONLY } = MS;
  const flags = NOSUID | NODEV | NOEXEC | (privileged ? 0 : RDONLY);
  const at = (name: string) => (name ? `/sys/fs/cgroup/${name}` : "/sys/fs/cgroup");
  const one = (d: PlanCgroup["dirs"][number]): MountOp =>
    !cg.ns ? { kind: "bind", source: d.dir, target: at(d.name), flags }
    : cg.version === 2 ? { kind: "fs", source: "cgroup2", target: at(""), fstype: "cgroup2", flags }
    : { kind: "fs", source: "cgroup", target: at(d.name), fstype: "cgroup", flags, data: d.name };
  if (cg.version === 2) return cg.dirs.slice(0, 1).map(one);
  return [
    { kind: "fs", source: "tmpfs", target: "/sys/fs/cgroup", fstype: "tmpfs", flags: NOSUID | NODEV | NOEXEC, data: "mode=755" },
    ...cg.dirs.map(one),
    ...cg.dirs.flatMap((d) => d.aliases.map((a): MountOp => ({ kind: "link", source: d.name, target: at(a), flags: 0 }))),
    ...(privileged ? [] : [{ kind: "remount", source: "", target: "/sys/fs/cgroup", flags: RDONLY | NOSUID | NODEV | NOEXEC } as MountOp]),
  ];
}

/**
 * The overlayfs mount data. Fails early where the kernel would (one page of options).
 *
 * `volatile` (Linux 5.10+): without it, unmounting an overlay syncs the whole file system of its upper dir
 * (ovl_sync_fs -> sync_filesystem), everything dirty on it, whoever wrote it: after a COPY of 2,000 files,
 * every later step's unmount waited on the disk. A build step's upper dir is moved into the layer store as
 * it is, and the store never syncs a layer (an unpacked pull is not synced either, nor is it by dockerd), so
 * that sync bought nothing. Containers' own upper dirs keep it: their writes are the user's data.
 */
export function overlayOptions(rootfs: ContainerPlan["rootfs"]): string {
  if (rootfs.lowerDirs.length === 0) throw invalidParameter("rootfs needs at least one lower dir");
  for (const p of [...rootfs.lowerDirs, rootfs.upperDir, rootfs.workDir])
    if (/[,:\\]/.test(p)) throw invalidParameter(`overlay path contains a comma, colon or backslash: "${p}"`);
  let data = `lowerdir=${rootfs.lowerDirs.join(":")},upperdir=${rootfs.upperDir},workdir=${rootfs.workDir}`;
  if (rootfs.volatile && overlayHasVolatile()) data += ",volatile";
  if (data.length > 4000) throw invalidParameter(`overlay options are ${data.length} bytes, over one page: use shorter layer paths (overlay2/l links)`);
  return data;
}

let volatileKnown: boolean | undefined;
/** Whether this kernel's overlayfs has `volatile` (5.10 and later; an older one refuses the mount). */
function overlayHasVolatile(): boolean {
  if (volatileKnown === undefined) {
    const [major = 0, minor = 0] = readFileSync("/proc/sys/kernel/osrelease", "latin1").split(/[.-]/).map(Number);
    volatileKnown = major > 5 || (major === 5 && minor >= 10);
  }
  return volatileKnown;
}

/** Docker's environment additions: PATH if the image has none, HOSTNAME, TERM for a tty. HOME is set by the shim from passwd. */
export function containerEnv(plan: Pick<ContainerPlan, "env" | "hostname" | "tty">): string[] {
  // A bare NAME (API Env without "=") unsets NAME, defaults included: moby's ReplaceOrAppendEnvValues. It stays
  // in the list (so this is idempotent) and is left out when the plan is encoded.
  const has = (k: string) => plan.env.some((e) => e === k || e.startsWith(`${k}=`));
  const env = [...plan.env];
  if (!has("PATH")) env.unshift("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has("HOSTNAME")) env.unshift(`HOSTNAME=${plan.hostname}`);
  if (plan.tty && !has("TERM")) env.push("TERM=xterm");
  return env;
}

/** /etc/hosts as Docker writes it for a container without a bridge address. */
export function hostsFile(hostname: string): string {
  return [
    "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters", `127.0.1.1\t${hostname}`, "",
  ].join("\n");
}

/** resolv.conf from the host's: kept as is for --network host, else without loopback nameservers (unreachable from a private netns). */
export function resolvConf(network: ContainerPlan["network"], host: string): string {
  if (network === "host") return host;
  const lines = host.split("\n").filter((l) => l.trim() !== "" && !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  return `${lines.join("\n")}\n`;
}

/** `--add-host host-gateway`: the host's address on the default bridge, as dockerd's host-gateway-ip default. */
export const HOST_GATEWAY = "host-gateway";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isIp = (s: string) => IPV4.test(s) || (s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s));

/**
 * An ExtraHosts entry as the docker CLI's ValidateExtraHost takes it: "host:ip" (split at the first colon, so
 * IPv6 addresses work), "host=ip", an IP in brackets, or host-gateway. Returns [host, ip]; throws its message.
 */
export function parseExtraHost(v: string): [string, string] {
  let i = v.indexOf("=");
  if (i < 0) i = v.indexOf(":");
  const host = i < 0 ? "" : v.slice(0, i);
  let ip = i < 0 ? "" : v.slice(i + 1);
  if (!host || host.includes(":")) throw invalidParameter(`bad format for add-host: ${JSON.stringify(v)}`);
  if (ip !== HOST_GATEWAY) {
    if (ip.length > 2 && ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
    if (!isIp(ip)) throw invalidParameter(`invalid IP address in add-host: ${JSON.stringify(ip)}`);
  }
  return [host, ip];
}

/** A --dns value: an IP address (the docker CLI's ValidateIPAddress). */
export function checkDnsServer(v: string): string {
  if (!isIp(v.trim())) throw invalidParameter(`${v} is not an ip address`);
  return v.trim();
}

/** resolv.conf with nameserver, search and options lines replaced where the container sets its own. */
export function resolvWith(base: string, o: { servers: string[]; search: string[]; options: string[] }): string {
  const keep = base.split("\n").filter((l) => {
    if (!l.trim()) return false;
    if (o.servers.length && /^\s*nameserver\s/.test(l)) return false;
    if (o.search.length && /^\s*(search|domain)\s/.test(l)) return false;
    return !(o.options.length && /^\s*options\s/.test(l));
  });
  const head = keep.filter((l) => /^\s*nameserver\s/.test(l));
  const rest = keep.filter((l) => !/^\s*nameserver\s/.test(l));
  return [
    ...head,
    ...o.servers.map((s) => `nameserver ${s}`),
    ...(o.search.length ? [`search ${o.search.join(" ")}`] : []),
    ...rest,
    ...(o.options.length ? [`options ${o.options.join(" ")}`] : []),
    "",
  ].join("\n");
}

const KIND: Record<MountOp["kind"], string> = { fs: "M", bind: "B", mask: "m", ro: "r", link: "L", copy: "C", remount: "R", share: "S" };

/** Serializes a plan for the shim: NUL-terminated strings, a key then its values (see shim/plan.c parse_plan). */
export function encodePlan(plan: ContainerPlan, opts: { waitAttach: boolean; logPath: string }): Uint8Array {
  const out: string[] = [];
  const put = (...v: (string | number)[]) => {
    for (const s of v) {
      const str = String(s);
      if (str.includes("\0")) throw invalidParameter(`value contains a NUL byte: ${JSON.stringify(str)}`);
      out.push(str);
    }
  };
  put("id", plan.id, "hostname", plan.hostname, "dir", plan.containerDir);
  put("rootfs", plan.rootfs.mergedDir, overlayOptions(plan.rootfs));
  for (const a of plan.args) put("arg", a);
  for (const e of containerEnv(plan)) if (e.includes("=")) put("env", e);
  put("cwd", plan.cwd || "/", "user", plan.user, "tty", plan.tty ? 1 : 0, "stdin", plan.openStdin ? 1 : 0);
  put("caps", capabilityMask(plan.privileged ? ["ALL"] : plan.capabilities).toString(16), "nnp", plan.noNewPrivileges ? 1 : 0);
  for (const u of plan.ulimits ?? []) put("rlimit", RLIMITS[u.name]!, u.soft, u.hard);
  if (plan.oomScoreAdj !== undefined) put("oomscore", plan.oomScoreAdj);
  if (plan.readonlyRootfs) put("readonly", 1);
  if (plan.init) put("init", 1);
  // The profile's rules depend on the capabilities: the mask travels with it, and execs reuse it as it is.
  if (plan.seccomp && !plan.privileged) put("seccomp", capabilityMask(plan.capabilities).toString(16));
  put("net", plan.network, "wait", opts.waitAttach ? 1 : 0, "log", opts.logPath);
  if (plan.logMaxSize) put("logmax", plan.logMaxSize, "logfiles", Math.max(1, plan.logMaxFile ?? 1));
  put("restart", plan.restart.name, "retries", plan.restart.maxRetries ?? 0);
  for (const c of plan.cgroupProcs ?? []) put("cgroup", c);
  if (plan.netns) put("netns", plan.netns);
  for (const [kind, how] of Object.entries(plan.namespaces ?? {})) if (how) put("ns", kind, how);
  for (const g of plan.groupAdd ?? []) put("group", g);
  for (const n of plan.netifs ?? []) {
    if (n.host.length > 15 || n.peer.length > 15) throw invalidParameter(`interface name too long: ${n.host} / ${n.peer}`);
    put("netif", n.host, n.peer, n.bridge, n.mac, n.ip, n.prefix, n.gateway, n.mtu ?? 0);
  }
  for (const p of plan.hostPorts ?? []) put("port", p.proto, p.ip, p.port, p.to?.ip ?? "", p.to?.port ?? 0);
  for (const f of plan.dns?.files ?? []) put("dnsfile", f);
  for (const u of plan.dns?.upstream ?? []) put("dnsup", u);
  for (const m of buildMounts(plan)) put("mount", KIND[m.kind], m.source, m.target, m.fstype ?? "", m.flags, m.data ?? "");
  if (plan.sysctls?.length) put("hostnet", plan.hostNetns ?? 0);
  for (const s of plan.sysctls ?? []) put("sysctl", s.path, s.value);
  // The container's own device nodes, and its devices cgroup (the allow-list, where, and the namespace).
  const devices = planDevices(plan);
  for (const d of devices) put("dev", d.path, d.type, d.major, d.minor, (d.mode & 0o7777).toString(8), d.uid, d.gid);
  if (plan.cgroup) {
    put("devcg", plan.cgroup.version, plan.cgroup.devices);
    for (const r of plan.deviceRules ?? DEFAULT_DEVICE_RULES) put("devrule", r.type, r.major, r.minor, r.access);
    if (plan.cgroup.ns) put("cgroupns", 1);
  }
  // The root is nodev unless privileged, or a --device node lives outside /dev (it must open there).
  if (plan.privileged || devices.some((d) => !d.path.startsWith("/dev/"))) put("rootdev", 1);
  if (plan.health) {
    const h = plan.health;
    put("health", h.interval, h.timeout, h.startPeriod, h.startInterval, h.retries, h.timeoutText);
    for (const a of h.args) put("hcarg", a);
  }
  if (plan.args.length === 0) throw invalidParameter("No command specified");
  return new TextEncoder().encode(`${out.join("\0")}\0`);
}

/** Decodes a plan back into key/value records (tests, debugging). */
export function decodePlan(bytes: Uint8Array): [string, ...string[]][] {
  const arity: Record<string, number> = { ns: 2, rootfs: 2, mount: 6, netif: 8, port: 5, rlimit: 3, sysctl: 2, dev: 7, devrule: 4, devcg: 2, health: 6 };
  const toks = new TextDecoder().decode(bytes).split("\0");
  toks.pop();
  const recs: [string, ...string[]][] = [];
  for (let i = 0; i < toks.length; ) {
    const k = toks[i++]!;
    const n = arity[k] ?? 1;
    recs.push([k, ...toks.slice(i, i + n)]);
    i += n;
  }
  return recs;
}
