/**
 * Mount policy, as pure functions: the docker CLI's parsers for `-v`, `--mount` and `--tmpfs` (docker/cli
 * opts/mount.go, compose loader ParseVolume), and the daemon's for HostConfig.Binds, Mounts and Tmpfs
 * (moby volume/mounts/linux_parser.go), with their error texts. What a container mounts is decided here;
 * the volume store (store.ts) and the shim only carry it out.
 */
import { posix } from "node:path";
import { EngineError, invalidParameter } from "../errors.ts";
import { parseBytes } from "../units.ts";

/** moby's mount.Mount, an element of HostConfig.Mounts (fields as the API spells them). */
export interface MountSpec {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean; ReadOnlyNonRecursive?: boolean; ReadOnlyForceRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  ImageOptions?: { Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
}

/** One mount of a container (moby's MountPoint): what inspect shows, plus what the runtime needs. */
export interface MountPoint {
  Type: "bind" | "volume" | "tmpfs";
  /** The volume's name (anonymous volumes get theirs at create); "" otherwise. */
  Name: string;
  /** A bind's host path; "" for volumes (their path follows from the name) and tmpfs. */
  Source: string;
  Destination: string;
  /** "local" for volumes, "" otherwise. */
  Driver: string;
  /** The `-v` mode string as given ("ro", "z", ""); "z" for local volumes without one, as moby's setBindModeIfNull. */
  Mode: string;
  RW: boolean;
  /** "rprivate" for binds unless set; "" for volumes. Recorded, not applied: binds are always private. */
  Propagation: string;
  /** Copy the image's content at the destination into the volume while it is empty (not with nocopy). */
  CopyData: boolean;
  /** `-v` binds create a missing host directory at start (dockerd's MountPoint.Setup); `--mount` binds must exist. */
  CreateSource: boolean;
  /** The request this mount came from (a `-v` string becomes its mount.Mount). */
  Spec: MountSpec;
}

/** Mount flags a tmpfs takes, as the shim's mount(2) call wants them, and its data string. */
export interface TmpfsMount {
  target: string;
  /** MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | atime flags. */
  flags: number;
  data: string;
}

const PROPAGATIONS = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];
const CONSISTENCIES = ["consistent", "cached", "delegated", "default"];
const LOCAL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

// ------------------------------------------------------------------ the docker CLI's side

/** What one `-v` value becomes on the client: a HostConfig.Binds entry, or a Config.Volumes path (anonymous). */
export type VolumeFlag = { bind: string } | { volume: string };

/**
 * `-v SRC:DST[:OPTS]` / `-v DST` as the docker CLI reads it (compose loader ParseVolume): a source makes a
 * Binds entry (a relative path starting with "." made absolute against `cwd`), none an anonymous volume.
 * Throws Error with the CLI's text ("invalid spec: a::b: empty section between colons").
 */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): VolumeFlag {
  if (spec.length === 0) throw new Error("invalid empty volume spec");
  if (spec.length <= 2) return { volume: spec };
  const fields: string[] = [];
  let buf = "";
  for (const ch of `${spec}\0`) {
    // A one-letter field before ":" is a Windows drive ("c:\\x"): part of the path.
    if (ch === ":" && buf.length === 1 && /\p{L}/u.test(buf)) {
      buf += ch;
      continue;
    }
    if (ch !== ":" && ch !== "\0") {
      buf += ch;
      continue;
    }
    if (!buf) throw new Error(`invalid spec: ${spec}: empty section between colons`);
    if (fields.length === 2 && ch === ":") throw new Error(`invalid spec: ${spec}: too many colons`);
    fields.push(buf);
    buf = "";
  }
  if (fields.length === 1) return { volume: fields[0]! };
  const source = fields[0]!;
  const isPath = /^[./~]/.test(source);
  if (!isPath) return { bind: spec };
  const host = !source.startsWith("/") && source.startsWith(".") ? posix.resolve(cwd, source) : source;
  return { bind: `${host}:${spec.slice(source.length + 1)}` };
}

/** `--mount type=...,source=...,target=...` as the docker CLI parses it (opts.MountOpt.Set); throws Error with its texts. */
export function parseMountFlag(value: string, cwd = process.cwd()): MountSpec {
  const m: MountSpec = { Type: "volume" };
  const volumeOptions = () => {
    m.VolumeOptions ??= { Labels: {} };
    m.VolumeOptions.DriverConfig ??= {};
    return m.VolumeOptions;
  };
  const bindOptions = () => (m.BindOptions ??= {});
  const tmpfsOptions = () => (m.TmpfsOptions ??= {});
  const bool = (key: string, val: string) => {
    if (/^(1|t|T|true|TRUE|True)$/.test(val)) return true;
    if (/^(0|f|F|false|FALSE|False)$/.test(val)) return false;
    throw new Error(key === "volume-nocopy" ? `invalid value for volume-nocopy: ${val}` : `invalid value for ${key}: ${val}`);
  };
  const setOn = (target: Record<string, string>, v: string) => {
    const i = v.indexOf("=");
    const k = i < 0 ? v : v.slice(0, i);
    if (k) target[k] = i < 0 ? "" : v.slice(i + 1);
  };
  for (const field of csvFields(value)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? "" : field.slice(eq + 1);
    if (eq < 0) {
      if (key === "readonly" || key === "ro") m.ReadOnly = true;
      else if (key === "volume-nocopy") volumeOptions().NoCopy = true;
      else if (key === "bind-nonrecursive") bindOptions().NonRecursive = true;
      else throw new Error(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    switch (key) {
      case "type":
        m.Type = val.toLowerCase();
        break;
      case "source":
      case "src":
        m.Source = !val.startsWith("/") && val.startsWith(".") ? posix.resolve(cwd, val) : val;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = val;
        break;
      case "readonly":
      case "ro":
        m.ReadOnly = bool(key, val);
        break;
      case "consistency":
        m.Consistency = val.toLowerCase();
        break;
      case "bind-propagation":
        bindOptions().Propagation = val.toLowerCase();
        break;
      case "bind-nonrecursive":
        bindOptions().NonRecursive = bool(key, val);
        break;
      case "bind-recursive":
        if (val === "disabled") bindOptions().NonRecursive = true;
        else if (val === "writable") bindOptions().ReadOnlyNonRecursive = true;
        else if (val === "readonly") bindOptions().ReadOnlyForceRecursive = true;
        else if (val !== "enabled") throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        break;
      case "volume-subpath":
        volumeOptions().Subpath = val;
        break;
      case "volume-nocopy":
        volumeOptions().NoCopy = bool(key, val);
        break;
      case "volume-label":
        setOn(volumeOptions().Labels!, val);
        break;
      case "volume-driver":
        volumeOptions().DriverConfig!.Name = val;
        break;
      case "volume-opt":
        setOn((volumeOptions().DriverConfig!.Options ??= {}), val);
        break;
      case "image-subpath":
        (m.ImageOptions ??= {}).Subpath = val;
        break;
      case "tmpfs-size":
        try {
          tmpfsOptions().SizeBytes = parseBytes(val);
        } catch {
          throw new Error(`invalid value for ${key}: ${val}`);
        }
        break;
      case "tmpfs-mode":
        if (!/^[0-7]+$/.test(val)) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfsOptions().Mode = parseInt(val, 8);
        break;
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Type) throw new Error("type is required");
  if (!m.Target) throw new Error("target is required");
  for (const [opts, type, prefix] of [[m.VolumeOptions, "volume", "volume"], [m.ImageOptions, "image", "image"], [m.BindOptions, "bind", "bind"], [m.TmpfsOptions, "tmpfs", "tmpfs"]] as const) {
    if (opts && m.Type !== type) throw new Error(`cannot mix '${prefix}-*' options with mount type '${m.Type}'`);
  }
  if (m.BindOptions?.ReadOnlyNonRecursive && !m.ReadOnly) throw new Error("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  if (m.BindOptions?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) throw new Error("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (m.BindOptions.Propagation !== "rprivate") throw new Error("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
  }
  return m;
}

/** One CSV record (Go's encoding/csv): commas separate, double quotes quote. */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') cur += line[i++];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") out.push(cur), (cur = "");
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** `--tmpfs /run:rw,size=64m` → HostConfig.Tmpfs entry. */
export function parseTmpfsFlag(value: string): [string, string] {
  const i = value.indexOf(":");
  return i < 0 ? [value, ""] : [value.slice(0, i), value.slice(i + 1)];
}

// ------------------------------------------------------------------ the daemon's side

const badConfig = (m: MountSpec, msg: string) => invalidParameter(`invalid mount config for type "${m.Type}": ${msg}`);

/** A mount destination: absolute and not "/" (moby's linuxValidateNotRoot / linuxValidateAbsolute); `null` if fine. */
function destinationError(p: string): string | null {
  if (posix.normalize(p.replaceAll("\\", "/")).replace(/(.)\/$/, "$1") === "/") return "invalid specification: destination can't be '/'";
  if (!p.replaceAll("\\", "/").startsWith("/")) return `invalid mount path: '${p.replaceAll("\\", "/")}' mount path must be absolute`;
  return null;
}

/** moby's validateMountConfigImpl: `exists` answers for a bind source when it must exist (the API's Mounts, not Binds). */
function validateSpec(m: MountSpec, exists?: (path: string) => boolean): void {
  if (!m.Target) throw badConfig(m, "field Target must not be empty");
  const destErr = destinationError(m.Target);
  if (destErr) throw badConfig(m, destErr);
  switch (m.Type) {
    case "bind": {
      if (!m.Source) throw badConfig(m, "field Source must not be empty");
      const prop = m.BindOptions?.Propagation;
      if (prop && !PROPAGATIONS.includes(prop)) throw badConfig(m, `invalid propagation mode: ${prop}`);
      if (m.VolumeOptions) throw badConfig(m, "field VolumeOptions must not be specified");
      if (m.ImageOptions) throw badConfig(m, "field ImageOptions must not be specified");
      if (!m.Source.startsWith("/")) throw badConfig(m, `invalid mount path: '${m.Source}' mount path must be absolute`);
      if (exists && !exists(m.Source) && !m.BindOptions?.CreateMountpoint) throw badConfig(m, `bind source path does not exist: ${m.Source}`);
      // moby finds this conflict building the OCI spec at start; nothing else can come of such a request.
      if (m.BindOptions?.ReadOnlyNonRecursive && m.BindOptions.ReadOnlyForceRecursive) throw invalidParameter("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive");
      return;
    }
    case "volume": {
      if (m.BindOptions) throw badConfig(m, "field BindOptions must not be specified");
      if (m.ImageOptions) throw badConfig(m, "field ImageOptions must not be specified");
      const anonymous = !m.Source;
      const sub = m.VolumeOptions?.Subpath;
      if (sub) {
        if (anonymous) throw badConfig(m, "must not set Subpath when using anonymous volumes");
        if (sub.startsWith("/") || posix.normalize(sub).split("/")[0] === "..") throw badConfig(m, "subpath must be a relative path within the volume");
        throw new EngineError("notImplemented", "bunker: volume subpaths (volume-subpath) are not supported yet");
      }
      if (m.ReadOnly && anonymous) throw badConfig(m, "must not set ReadOnly mode when using anonymous volumes");
      return;
    }
    case "tmpfs":
      if (m.BindOptions) throw badConfig(m, "field BindOptions must not be specified");
      if (m.ImageOptions) throw badConfig(m, "field ImageOptions must not be specified");
      if (m.Source) throw badConfig(m, "field Source must not be specified");
      try {
        tmpfsSpecData(m);
      } catch (e) {
        throw badConfig(m, (e as Error).message);
      }
      return;
    case "image":
      throw new EngineError("notImplemented", "bunker: image mounts (type=image) are not supported yet");
    default:
      throw badConfig(m, "mount type unknown");
  }
}

/** The tmpfs data of an API mount (moby's ConvertTmpfsOptions): ro, mode, size with the largest even suffix, exec/noexec. */
export function tmpfsSpecData(m: MountSpec): string {
  const raw: string[] = [];
  if (m.ReadOnly) raw.push("ro");
  const t = m.TmpfsOptions;
  if (t?.Mode) raw.push(`mode=${t.Mode.toString(8)}`);
  if (t?.SizeBytes) {
    let size = t.SizeBytes;
    let suffix = "";
    for (const [s, d] of [["g", 1 << 30], ["m", 1 << 20], ["k", 1 << 10]] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    raw.push(`size=${size}${suffix}`);
  }
  for (const opt of t?.Options ?? []) {
    if (opt.length < 1 || opt.length > 2) throw new Error("invalid option array length");
    if (opt[0] !== "exec" && opt[0] !== "noexec") throw new Error(`invalid option: ${opt[0]}`);
    raw.push(opt.join("="));
  }
  return raw.join(",");
}

/** A `-v` mode string is valid (moby's linuxValidMountMode): at most one of each kind. */
function validMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = { rw: 0, label: 0, prop: 0, copy: 0, consistency: 0 };
  for (const o of mode.split(",")) {
    if (o === "rw" || o === "ro") counts.rw++;
    else if (o === "z" || o === "Z") counts.label++;
    else if (PROPAGATIONS.includes(o)) counts.prop++;
    else if (o === "nocopy") counts.copy++;
    else if (CONSISTENCIES.includes(o)) counts.consistency++;
    else return false;
  }
  return Object.values(counts).every((n) => n <= 1);
}

/** A HostConfig.Binds entry, as moby's ParseMountRaw: "SRC:DST[:MODE]" or "DST" (anonymous volume). */
export function parseBind(raw: string): MountPoint {
  const arr = raw.split(":");
  const invalid = () => invalidParameter(`invalid volume specification: '${raw}'`);
  if (!arr[0] || arr.length > 3) throw invalid();
  const spec: MountSpec = {};
  let mode = "";
  if (arr.length === 1) spec.Target = arr[0];
  else if (arr.length === 2) {
    if (validMode(arr[1]!)) throw invalid(); // "/foo:rw": a destination with a mode is no volume
    spec.Source = arr[0];
    spec.Target = arr[1];
  } else {
    spec.Source = arr[0];
    spec.Target = arr[1];
    mode = arr[2]!;
  }
  if (!validMode(mode)) throw invalidParameter(`invalid mode: ${mode}`);
  const opts = mode.split(",");
  spec.Type = spec.Source?.startsWith("/") ? "bind" : "volume";
  if (opts.includes("ro")) spec.ReadOnly = true;
  if (opts.includes("nocopy")) spec.VolumeOptions = { NoCopy: true };
  const prop = opts.find((o) => PROPAGATIONS.includes(o));
  if (prop) spec.BindOptions = { Propagation: prop };
  let mp: MountPoint;
  try {
    mp = fromSpec(spec);
  } catch (e) {
    if (e instanceof EngineError && e.kind === "invalidParameter") throw invalidParameter(`invalid volume specification: '${raw}': ${e.message}`);
    throw e;
  }
  mp.Mode = mode || (mp.Type === "volume" ? "z" : "");
  mp.CreateSource = mp.Type === "bind";
  return mp;
}

/** A HostConfig.Mounts entry, as moby's ParseMountSpec: a bind source must exist unless CreateMountpoint. */
export function parseMount(spec: MountSpec, exists: (path: string) => boolean): MountPoint {
  const mp = fromSpec(spec, exists);
  if (mp.Type === "volume") mp.Mode = "z";
  if (mp.Type === "bind") mp.CreateSource = !!spec.BindOptions?.CreateMountpoint;
  return mp;
}

/** moby's parseMountSpec: validation, then the mount point. */
function fromSpec(spec: MountSpec, exists?: (path: string) => boolean): MountPoint {
  validateSpec(spec, exists);
  const type = spec.Type as MountPoint["Type"];
  const mp: MountPoint = {
    Type: type,
    Name: "",
    Source: "",
    Destination: posix.normalize(spec.Target!.replaceAll("\\", "/")).replace(/(.)\/$/, "$1"),
    Driver: "",
    Mode: "",
    RW: !spec.ReadOnly,
    Propagation: "",
    CopyData: false,
    CreateSource: false,
    Spec: spec,
  };
  if (type === "volume") {
    mp.Name = spec.Source ?? "";
    mp.Driver = spec.VolumeOptions?.DriverConfig?.Name || "local";
    mp.CopyData = !spec.VolumeOptions?.NoCopy;
  } else if (type === "bind") {
    mp.Source = posix.normalize(spec.Source!).replace(/(.)\/$/, "$1");
    mp.Propagation = spec.BindOptions?.Propagation || "rprivate";
  }
  return mp;
}

/** The local driver's names (moby's validateName), wrapped as the volume store reports a create failure. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) throw invalidParameter(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  if (!LOCAL_NAME.test(name)) throw invalidParameter(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  // A name is a directory name under the data root (NAME_MAX); a longer one must not reach mkdir's error and path.
  if (name.length > 255) throw invalidParameter(`create ${name.slice(0, 32)}...: volume name is too long (${name.length} characters), names should be at most 255`);
}

/** moby's answer for a volume driver other than "local" (no plugins here). */
export function volumePluginMissing(name: string, driver: string): EngineError {
  return new EngineError("notFound", `create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
}

/**
 * Every mount of a new container, as moby's registerMountPoints and createContainerOSSpecificSettings
 * decide them: Binds, then Mounts, a destination at most once ("Duplicate mount point"), also against
 * Tmpfs; then an anonymous volume for each Config.Volumes path (the image's VOLUMEs and `-v /path`) that
 * nothing else mounts. Sorted by path depth, so a mount never hides one below it (moby's sortMounts).
 * No destination may cover the container's procfs (runc's checkProcMount): `isProcfs` answers for a bind
 * source on /proc, the one mount runc allows there.
 */
export function resolveMounts(
  req: { binds?: string[] | null; mounts?: MountSpec[] | null; tmpfs?: Record<string, string> | null; volumes?: Record<string, object> | null },
  exists: (path: string) => boolean,
  isProcfs: (path: string) => boolean = () => false,
): { mounts: MountPoint[]; tmpfs: TmpfsMount[] } {
  const tmpfs = Object.entries(req.tmpfs ?? {}).map(([dest, data]) => {
    const err = destinationError(dest);
    if (err) throw invalidParameter(err);
    return { target: posix.normalize(dest), ...tmpfsFlags(data) };
  });
  const taken = new Set(tmpfs.map((t) => t.target));
  const out: MountPoint[] = [];
  const dup = (dest: string) => invalidParameter(`Duplicate mount point: ${dest}`);
  for (const raw of req.binds ?? []) {
    const mp = parseBind(raw);
    if (taken.has(mp.Destination)) throw dup(mp.Destination);
    taken.add(mp.Destination);
    out.push(mp);
  }
  for (const spec of req.mounts ?? []) {
    const mp = parseMount(spec, exists);
    if (taken.has(mp.Destination)) throw dup(spec.Target!);
    taken.add(mp.Destination);
    if (mp.Type === "tmpfs") tmpfs.push({ target: mp.Destination, ...tmpfsFlags(tmpfsSpecData(spec)) });
    out.push(mp);
  }
  for (const path of Object.keys(req.volumes ?? {})) {
    const dest = posix.normalize(path).replace(/(.)\/$/, "$1");
    if (taken.has(dest)) continue;
    const err = destinationError(path);
    if (err) throw invalidParameter(err);
    taken.add(dest);
    out.push({ Type: "volume", Name: "", Source: "", Destination: dest, Driver: "local", Mode: "", RW: true, Propagation: "", CopyData: true, CreateSource: false, Spec: { Type: "volume", Target: dest } });
  }
  for (const t of tmpfs) checkProcDestination(t.target);
  for (const m of out) checkProcDestination(m.Destination, m.Type === "bind" && m.Destination === "/proc" && isProcfs(m.Source));
  // The volume store's checks, made before anything is recorded (moby makes them creating each volume).
  for (const m of out) {
    if (m.Type !== "volume") continue;
    if (m.Name) validateVolumeName(m.Name);
    if (m.Driver !== "local") throw volumePluginMissing(m.Name, m.Driver);
  }
  return { mounts: sortByDepth(out), tmpfs: sortByDepth(tmpfs) };
}

/** The /proc files runc lets a mount cover (the ones lxcfs emulates). */
const PROC_MOUNTABLE = [
  "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime", "/proc/loadavg",
  "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled",
];

/**
 * runc's checkProcMount, at create rather than at start: a mount on /proc or inside it would replace or
 * shadow the container's procfs (masked paths included), so only a procfs bound on /proc itself and the
 * files lxcfs emulates are let through, with runc's words. The shim checks again once image symlinks are
 * resolved.
 */
export function checkProcDestination(dest: string, procfsOnProc = false): void {
  const p = posix.normalize(dest.replaceAll("\\", "/")).replace(/(.)\/$/, "$1");
  if (p !== "/proc" && !p.startsWith("/proc/")) return;
  if (p === "/proc" ? procfsOnProc : PROC_MOUNTABLE.includes(p)) return;
  throw invalidParameter(`check proc-safety of ${p} mount: "${p}" cannot be mounted because it is inside /proc`);
}

/** Stable sort by the number of path components (moby's mountSort). */
export function sortByDepth<T extends { Destination: string } | { target: string }>(list: T[]): T[] {
  const depth = (m: T) => ("Destination" in m ? m.Destination : m.target).split("/").length;
  return list.map((m, i) => [m, i] as const).sort((a, b) => depth(a[0]) - depth(b[0]) || a[1] - b[1]).map(([m]) => m);
}

/** mount(2) flag bits (linux/mount.h) a tmpfs option can set or clear. */
const FLAG_BITS: Record<string, [number, boolean]> = {
  ro: [1, true], rw: [1, false], nosuid: [2, true], suid: [2, false], nodev: [4, true], dev: [4, false],
  noexec: [8, true], exec: [8, false], sync: [16, true], async: [16, false], dirsync: [128, true],
  noatime: [1024, true], atime: [1024, false], nodiratime: [2048, true], diratime: [2048, false],
  relatime: [1 << 21, true], norelatime: [1 << 21, false], strictatime: [1 << 24, true], nostrictatime: [1 << 24, false],
};
const TMPFS_DATA = ["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"];

/**
 * A tmpfs's flags and data: Docker's defaults (noexec, nosuid, nodev) then the user's options, a later
 * option winning (moby's MergeTmpfsOptions). Always nodev, whatever was asked: device isolation here
 * rests on every writable mount being nodev (src/engine/runtime/README.md).
 */
export function tmpfsFlags(options: string): { flags: number; data: string } {
  let flags = 0;
  const data = new Map<string, string>();
  for (const o of ["noexec", "nosuid", "nodev", ...(options ? options.split(",") : [])]) {
    if (o === "defaults" || o === "") continue;
    const bit = FLAG_BITS[o];
    if (bit) {
      flags = bit[1] ? flags | bit[0] : flags & ~bit[0];
      continue;
    }
    if (PROPAGATIONS.includes(o) || ["bind", "rbind", "unbindable", "runbindable"].includes(o)) continue;
    const eq = o.indexOf("=");
    // Go's %q of the option split at "=": ["size" "1x"]
    const parts = eq < 0 ? [o] : [o.slice(0, eq), o.slice(eq + 1)];
    if (eq < 0 || !TMPFS_DATA.includes(parts[0]!)) throw invalidParameter(`invalid tmpfs option [${parts.map((x) => JSON.stringify(x)).join(" ")}]`);
    data.set(o.slice(0, eq), o.slice(eq + 1));
  }
  return { flags: flags | 4, data: [...data].map(([k, v]) => `${k}=${v}`).join(",") };
}
