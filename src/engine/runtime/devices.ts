/**
 * Host device nodes for `--device` and `--privileged`, read as moby and runc read them (lstat, not open):
 * what the shim mknods in the container, and the rules the devices cgroup allows for them.
 */
import { lstatSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { invalidParameter } from "../errors.ts";
import { deviceRules, isDeviceMode, parseDeviceCgroupRule, type ContainerPlan, type DeviceMapping, type DeviceRule, type PlanDevice } from "./spec.ts";

/** Go's text for the errno an lstat can fail with (moby prints the bare syscall error). */
const ERRNO: Record<string, string> = { ENOENT: "no such file or directory", EACCES: "permission denied", ENOTDIR: "not a directory", ELOOP: "too many levels of symbolic links", ENAMETOOLONG: "file name too long" };

/** A device node at `hostPath` as containerd's DeviceFromPath reads it, placed at `path`; undefined for anything but a char/block node. */
function nodeAt(hostPath: string, path: string): PlanDevice | undefined {
  const st = lstatSync(hostPath, { bigint: true });
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  const major = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
  const minor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn));
  if (!type || major === 0) return undefined;
  return { path, type, major, minor, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/**
 * One HostConfig.Devices entry, as moby's DevicesFromPath: the host node (a symlink followed), or every node
 * under a host directory; its cgroup rules carry the mapping's permissions. Throws moby's 400.
 */
export function devicesFromMapping(m: DeviceMapping): { devices: PlanDevice[]; rules: DeviceRule[] } {
  const fail = (why: string) => invalidParameter(`error gathering device information while adding custom device ${JSON.stringify(m.PathOnHost)}: ${why}`);
  let host = m.PathOnHost;
  const devices: PlanDevice[] = [];
  try {
    if (lstatSync(host).isSymbolicLink()) host = realpathSync(host);
    const node = nodeAt(host, m.PathInContainer);
    if (node) devices.push(node);
    else if (lstatSync(host).isDirectory()) {
      const walk = (dir: string) => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          const p = join(dir, e.name);
          if (e.isDirectory()) walk(p);
          else {
            const d = (() => { try { return nodeAt(p, m.PathInContainer + p.slice(host.length)); } catch { return undefined; } })();
            if (d) devices.push(d);
          }
        }
      };
      walk(host);
    }
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    throw fail(ERRNO[code] ?? (e as Error).message);
  }
  if (!devices.length) throw fail("not a device node");
  return { devices, rules: devices.map((d) => ({ type: d.type, major: d.major, minor: d.minor, access: m.CgroupPermissions })) };
}

/** Every device node under the host's /dev, as runc's GetDevices lists them for --privileged (pts, shm, mqueue, fd and console left out). */
export function hostDevices(dir = "/dev"): PlanDevice[] {
  const out: PlanDevice[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (![".lxc", ".lxd-mounts", ".udev", "pts", "shm", "fd", "mqueue"].includes(e.name)) out.push(...hostDevices(p));
      continue;
    }
    if (e.name === "console" || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
    try {
      const d = nodeAt(p, p);
      if (d) out.push(d);
    } catch {}
  }
  return out;
}

/**
 * HostConfig.Devices, DeviceCgroupRules and CgroupnsMode for a create, checked as moby checks them (a 400
 * with its message: a bad mode, a relative path, a missing host device, a malformed rule or namespace mode).
 */
export function checkDeviceOptions(
  opts: { devices?: DeviceMapping[]; deviceCgroupRules?: string[]; cgroupnsMode?: string },
  defaultNs: () => "host" | "private",
): { Devices: DeviceMapping[]; DeviceCgroupRules: string[] | null; CgroupnsMode: "host" | "private" } {
  const mode = opts.cgroupnsMode || defaultNs();
  if (mode !== "host" && mode !== "private") throw invalidParameter(`invalid cgroup namespace mode: ${mode}`);
  const devices = (opts.devices ?? []).map((d): DeviceMapping => {
    const m = { PathOnHost: d.PathOnHost ?? "", PathInContainer: d.PathInContainer || d.PathOnHost || "", CgroupPermissions: d.CgroupPermissions || "rwm" };
    if (!isDeviceMode(m.CgroupPermissions)) throw invalidParameter(`bad mode specified: ${m.CgroupPermissions}`);
    if (!m.PathInContainer.startsWith("/")) throw invalidParameter(`${m.PathInContainer} is not an absolute path`);
    devicesFromMapping(m);
    return m;
  });
  const rules = opts.deviceCgroupRules ?? [];
  for (const r of rules) parseDeviceCgroupRule(r);
  return { Devices: devices, DeviceCgroupRules: rules.length ? rules : null, CgroupnsMode: mode };
}

/** The plan's device nodes and allow-list for a start (host devices read again, as moby does at each start). */
export function devicePlan(hc: { Privileged: boolean; Devices?: DeviceMapping[]; DeviceCgroupRules?: string[] | null }): Pick<ContainerPlan, "devices" | "deviceRules"> {
  const mapped = (hc.Devices ?? []).filter((m) => !hc.Privileged || m.PathOnHost !== m.PathInContainer).map(devicesFromMapping);
  const devices = [...(hc.Privileged ? hostDevices() : []), ...mapped.flatMap((m) => m.devices)];
  const rules = [...mapped.flatMap((m) => m.rules), ...(hc.DeviceCgroupRules ?? []).map(parseDeviceCgroupRule)];
  return { devices, deviceRules: deviceRules({ privileged: hc.Privileged, rules }) };
}
