/** The runtime's policy, without a kernel: capabilities, the mount list and the plan encoding. */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "bun:test";
import { testPlan } from "../helpers/plan.ts";
import { MS } from "../../src/sys/index.ts";
import {
  buildMounts,
  capabilityMask,
  containerEnv,
  decodePlan,
  encodePlan,
  hostsFile,
  overlayOptions,
  checkDnsServer,
  checkSysctl,
  parseExtraHost,
  parseSysctlFlag,
  resolvConf,
  resolvWith,
  resolveCapabilities,
  DEFAULT_DEVICE_RULES,
  deviceRules,
  parseDeviceCgroupRule,
  parseDeviceFlag,
  planDevices,
  type ContainerPlan,
  type PlanCgroup,
} from "../../src/engine/runtime/spec.ts";
import { signalNumber } from "../../src/engine/runtime/status.ts";

const v1cg = (ns: boolean): PlanCgroup => ({
  version: 1,
  dirs: [{ name: "memory", dir: "/cg/memory/bunker/abc", aliases: [] }, { name: "cpu,cpuacct", dir: "/cg/cpu,cpuacct/bunker/abc", aliases: ["cpu", "cpuacct"] }, { name: "devices", dir: "/cg/devices/bunker/abc", aliases: [] }],
  devices: "/cg/devices/bunker/abc",
  ns,
});
const plan = (over: Partial<ContainerPlan> = {}): ContainerPlan => testPlan("abc", "/c", ["/l/2", "/l/1"], { args: ["sh", "-c", "echo hi"], env: ["A=1"], ...over });

describe("capabilities", () => {
  test("Docker's default set is mask a80425fb", () => {
    expect(capabilityMask(resolveCapabilities({})).toString(16)).toBe("a80425fb");
  });
  test("add and drop, with or without CAP_, any case", () => {
    const caps = resolveCapabilities({ capAdd: ["net_admin"], capDrop: ["CAP_MKNOD", "chown"] });
    expect(caps).toContain("CAP_NET_ADMIN");
    expect(caps).not.toContain("CAP_MKNOD");
    expect(caps).not.toContain("CAP_CHOWN");
  });
  test("ALL on either side, as moby's TweakCapabilities", () => {
    expect(resolveCapabilities({ capDrop: ["ALL"], capAdd: ["KILL"] })).toEqual(["CAP_KILL"]);
    const all = resolveCapabilities({ capAdd: ["ALL"], capDrop: ["SYS_ADMIN"] });
    expect(all).toHaveLength(40);
    expect(all).not.toContain("CAP_SYS_ADMIN");
    expect(resolveCapabilities({ privileged: true, capDrop: ["ALL"] })).toHaveLength(41);
  });
  test("unknown names are a 400", () => {
    expect(() => resolveCapabilities({ capAdd: ["FLY"] })).toThrow('unknown capability: "CAP_FLY"');
  });
});

describe("mounts", () => {
  test("/dev is the container's own tmpfs (not nodev: its nodes are mknod'ed there); no host node is bound in", () => {
    const ops = buildMounts(plan({ binds: [{ source: "/v", target: "/data", readonly: false }] }));
    for (const m of ops.filter((m) => m.kind === "fs" && !["devpts", "tmpfs"].includes(m.fstype!))) expect(m.flags & MS.NODEV).toBe(MS.NODEV);
    expect(ops.find((m) => m.target === "/dev")!.flags & MS.NODEV).toBe(0);
    expect(ops.find((m) => m.target === "/dev/shm")!.flags & MS.NODEV).toBe(MS.NODEV);
    for (const m of ops.filter((m) => m.kind === "bind")) expect([m.source.startsWith("/dev/"), m.flags & MS.NODEV]).toEqual([false, MS.NODEV]);
    const dev = decodePlan(encodePlan(plan(), { waitAttach: false, logPath: "/c/l" })).filter((r) => r[0] === "dev");
    expect(dev).toEqual([
      ["dev", "/dev/null", "c", "1", "3", "666", "0", "0"], ["dev", "/dev/zero", "c", "1", "5", "666", "0", "0"], ["dev", "/dev/full", "c", "1", "7", "666", "0", "0"],
      ["dev", "/dev/random", "c", "1", "8", "666", "0", "0"], ["dev", "/dev/urandom", "c", "1", "9", "666", "0", "0"], ["dev", "/dev/tty", "c", "5", "0", "666", "0", "0"],
    ]);
  });
  test("order: proc and /dev before devices, binds before masks and read-only paths", () => {
    const ops = buildMounts(plan({ binds: [{ source: "/v", target: "/data", readonly: true }] }));
    const at = (t: string) => ops.findIndex((m) => m.target === t);
    expect(at("/proc")).toBe(0);
    expect(at("/dev")).toBeLessThan(at("/dev/pts"));
    expect(at("/dev/pts")).toBeLessThan(at("/dev/shm"));
    expect(at("/data")).toBeLessThan(at("/proc/kcore"));
    expect(at("/proc/kcore")).toBeLessThan(at("/proc/sys"));
    expect(ops[at("/data")]!.flags & MS.RDONLY).toBe(MS.RDONLY);
    expect(ops[at("/sys")]!.flags & MS.RDONLY).toBe(MS.RDONLY);
    expect(ops.filter((m) => m.kind === "bind" && m.target.startsWith("/etc/")).map((m) => m.source)).toEqual(["/c/hosts", "/c/hostname", "/c/resolv.conf"]);
  });
  test("volumes: copy-ups first; user mounts and /etc files shallowest first; a user /etc file replaces ours; tmpfs always nodev", () => {
    const ops = buildMounts(
      plan({
        binds: [
          { source: "/vol/a", target: "/etc", readonly: false, copy: true },
          { source: "/h/hosts", target: "/etc/hosts", readonly: true },
          { source: "/vol/b", target: "/a/b/c", readonly: false },
        ],
        tmpfs: [{ target: "/a", flags: MS.NOEXEC, data: "size=1m" }],
      }),
    );
    expect(ops[0]).toEqual({ kind: "copy", source: "/vol/a", target: "/etc", flags: 0 });
    expect(ops.filter((m) => m.kind === "copy")).toHaveLength(1);
    const user = ops.filter((m) => ["/etc", "/a", "/a/b/c"].includes(m.target) || m.target.startsWith("/etc/")).filter((m) => m.kind !== "copy");
    expect(user.map((m) => [m.target, m.source])).toEqual([
      ["/etc", "/vol/a"], ["/a", "tmpfs"], ["/etc/hosts", "/h/hosts"], ["/etc/hostname", "/c/hostname"], ["/etc/resolv.conf", "/c/resolv.conf"], ["/a/b/c", "/vol/b"],
    ]);
    const tmpfs = ops.find((m) => m.target === "/a")!;
    expect([tmpfs.kind, tmpfs.fstype, tmpfs.data, tmpfs.flags & (MS.NODEV | MS.NOEXEC)]).toEqual(["fs", "tmpfs", "size=1m", MS.NODEV | MS.NOEXEC]);
  });
  test("--privileged: no masks, no read-only paths, rw /sys and /sys/fs/cgroup, no nodev root or binds", () => {
    const ops = buildMounts(plan({ privileged: true, cgroup: v1cg(false), binds: [{ source: "/v", target: "/data", readonly: false }] }));
    expect(ops.some((m) => m.kind === "mask" || m.kind === "ro" || m.kind === "remount")).toBe(false);
    expect(ops.find((m) => m.target === "/sys")!.flags & MS.RDONLY).toBe(0);
    expect(ops.find((m) => m.target === "/sys/fs/cgroup/memory")!.flags & MS.RDONLY).toBe(0);
    expect(ops.find((m) => m.target === "/data")!.flags & MS.NODEV).toBe(0);
    const recs = decodePlan(encodePlan(plan({ privileged: true, cgroup: v1cg(false), deviceRules: deviceRules({ privileged: true }) }), { waitAttach: false, logPath: "/c/l" }));
    expect(recs.filter((r) => ["devrule", "rootdev"].includes(r[0]))).toEqual([["devrule", "a", "-1", "-1", "rwm"], ["rootdev", "1"]]);
  });
  test("/sys/fs/cgroup: the container's own cgroups, read-only; binds without a cgroup namespace, cgroup mounts with one", () => {
    const host = buildMounts(plan({ cgroup: v1cg(false) })).filter((m) => m.target.startsWith("/sys/fs/cgroup"));
    expect(host.map((m) => [m.kind, m.target, m.source, m.flags & MS.RDONLY])).toEqual([
      ["fs", "/sys/fs/cgroup", "tmpfs", 0],
      ["bind", "/sys/fs/cgroup/memory", "/cg/memory/bunker/abc", MS.RDONLY],
      ["bind", "/sys/fs/cgroup/cpu,cpuacct", "/cg/cpu,cpuacct/bunker/abc", MS.RDONLY],
      ["bind", "/sys/fs/cgroup/devices", "/cg/devices/bunker/abc", MS.RDONLY],
      ["link", "/sys/fs/cgroup/cpu", "cpu,cpuacct", 0],
      ["link", "/sys/fs/cgroup/cpuacct", "cpu,cpuacct", 0],
      ["remount", "/sys/fs/cgroup", "", MS.RDONLY],
    ]);
    const ns = buildMounts(plan({ cgroup: v1cg(true) })).filter((m) => m.fstype === "cgroup");
    expect(ns.map((m) => [m.target, m.data])).toEqual([["/sys/fs/cgroup/memory", "memory"], ["/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"], ["/sys/fs/cgroup/devices", "devices"]]);
    const v2 = { version: 2 as const, dirs: [{ name: "", dir: "/cg/bunker/abc", aliases: [] }], devices: "/cg/bunker/abc", ns: true };
    expect(buildMounts(plan({ cgroup: v2 })).filter((m) => m.target.startsWith("/sys/fs/cgroup")).map((m) => [m.kind, m.fstype, m.target, m.flags & MS.RDONLY])).toEqual([["fs", "cgroup2", "/sys/fs/cgroup", MS.RDONLY]]);
    const recs = decodePlan(encodePlan(plan({ cgroup: v2 }), { waitAttach: false, logPath: "/c/l" }));
    expect(recs.filter((r) => ["devcg", "cgroupns", "rootdev"].includes(r[0]))).toEqual([["devcg", "2", "/cg/bunker/abc"], ["cgroupns", "1"]]);
    expect(recs.filter((r) => r[0] === "devrule").map((r) => r.slice(1).join(" "))).toEqual(DEFAULT_DEVICE_RULES.map((r) => `${r.type} ${r.major} ${r.minor} ${r.access}`));
  });

  test("overlay options: top layer first; unsafe or oversized options refused", () => {
    expect(overlayOptions(plan().rootfs)).toBe("lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work");
    expect(() => overlayOptions({ ...plan().rootfs, lowerDirs: ["/a,b"] })).toThrow("comma");
    expect(() => overlayOptions({ ...plan().rootfs, lowerDirs: Array(200).fill("/var/lib/bunker/overlay2/0123456789abcdef/diff") })).toThrow("over one page");
  });

  test("overlay options: a build step's upper is volatile where the kernel has it (5.10+), a container's never", () => {
    const [major, minor] = readFileSync("/proc/sys/kernel/osrelease", "latin1").split(/[.-]/).map(Number) as [number, number];
    const hasVolatile = major > 5 || (major === 5 && minor >= 10);
    expect(overlayOptions({ ...plan().rootfs, volatile: true })).toBe(`lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work${hasVolatile ? ",volatile" : ""}`);
    expect(overlayOptions({ ...plan().rootfs, volatile: false })).toBe("lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work");
  });
});

describe("devices", () => {
  test("--device as the docker CLI parses it, with its messages", () => {
    expect(parseDeviceFlag("/dev/loop3")).toEqual({ PathOnHost: "/dev/loop3", PathInContainer: "/dev/loop3", CgroupPermissions: "rwm" });
    expect(parseDeviceFlag("/dev/loop3:r")).toEqual({ PathOnHost: "/dev/loop3", PathInContainer: "/dev/loop3", CgroupPermissions: "r" });
    expect(parseDeviceFlag("/dev/loop3:/dev/xvda")).toEqual({ PathOnHost: "/dev/loop3", PathInContainer: "/dev/xvda", CgroupPermissions: "rwm" });
    expect(parseDeviceFlag("/dev/loop3:/dev/xvda:rw")).toEqual({ PathOnHost: "/dev/loop3", PathInContainer: "/dev/xvda", CgroupPermissions: "rw" });
    expect(() => parseDeviceFlag("/dev/a:/dev/b:rx")).toThrow("bad mode specified: rx");
    expect(() => parseDeviceFlag("/dev/a:/dev/b:r:w")).toThrow("bad format for path: /dev/a:/dev/b:r:w");
    expect(() => parseDeviceFlag(":/dev/b")).toThrow("bad format for path: :/dev/b");
    expect(() => parseDeviceFlag("/dev/a:xvda")).toThrow("xvda is not an absolute path");
    expect(() => parseDeviceFlag("/dev/a::r")).toThrow(" is not an absolute path");
  });
  test("device cgroup rules as moby reads them, with its messages", () => {
    expect(parseDeviceCgroupRule("c 1:3 rwm")).toEqual({ type: "c", major: 1, minor: 3, access: "rwm" });
    expect(parseDeviceCgroupRule("b 7:* r")).toEqual({ type: "b", major: 7, minor: -1, access: "r" });
    expect(parseDeviceCgroupRule("a")).toEqual({ type: "a", major: -1, minor: -1, access: "rwm" });
    expect(() => parseDeviceCgroupRule("c 1:3")).toThrow("invalid device cgroup rule format: 'c 1:3'");
    expect(() => parseDeviceCgroupRule("c 1:3 rwm\na *:* rwm")).toThrow("invalid device cgroup rule format");
    expect(() => parseDeviceCgroupRule("a 1:3 m")).toThrow("this format is partially ineffective: 'a 1:3 m'");
    expect(() => parseDeviceCgroupRule("c 4096:1 r")).toThrow("invalid major value in device cgroup rule format: 'c 4096:1 r'");
  });
  test("the allow-list: Docker's defaults plus --device and rules; privileged or an 'a' rule opens all", () => {
    const loop = { type: "b" as const, major: 7, minor: 3, access: "r" };
    expect(deviceRules({ rules: [loop] })).toEqual([...DEFAULT_DEVICE_RULES, loop]);
    expect(deviceRules({ privileged: true, rules: [loop] })).toEqual([{ type: "a", major: -1, minor: -1, access: "rwm" }]);
    expect(deviceRules({ rules: [parseDeviceCgroupRule("a")] })).toEqual([{ type: "a", major: -1, minor: -1, access: "rwm" }]);
    // runc's list: mknod anything, the standard nodes, ptmx and the pts slaves, tun; fuse and kvm are not in it
    expect(DEFAULT_DEVICE_RULES.map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`)).toEqual([
      "c -1:-1 m", "b -1:-1 m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:-1 rwm", "c 10:200 rwm",
    ]);
  });
  test("nodes: the defaults first, one per path, the runtime's own paths (ptmx, console) never replaced", () => {
    const host = (path: string, major: number, minor: number) => ({ path, type: "c" as const, major, minor, mode: 0o620, uid: 0, gid: 5 });
    const nodes = planDevices({ devices: [host("/dev/null", 1, 3), host("/dev/ptmx", 5, 2), host("/dev/console", 5, 1), host("/dev/tty1", 4, 1), host("/dev/net/tun", 10, 200)] });
    expect(nodes.map((d) => d.path)).toEqual(["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/tty1", "/dev/net/tun"]);
    expect(nodes[0]!.mode).toBe(0o666);
    // a --device outside /dev: the root cannot be nodev, or it would not open
    const recs = decodePlan(encodePlan(plan({ devices: [host("/opt/d", 4, 1)] }), { waitAttach: false, logPath: "/c/l" }));
    expect(recs.filter((r) => r[0] === "rootdev")).toEqual([["rootdev", "1"]]);
    expect(decodePlan(encodePlan(plan({ devices: [host("/dev/d", 4, 1)] }), { waitAttach: false, logPath: "/c/l" })).some((r) => r[0] === "rootdev")).toBe(false);
  });
});

describe("environment and /etc files", () => {
  test("PATH and HOSTNAME added unless set; TERM only with a tty", () => {
    expect(containerEnv(plan())).toEqual(["HOSTNAME=abc", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"]);
    expect(containerEnv(plan({ env: ["PATH=/x"], tty: true }))).toEqual(["HOSTNAME=abc", "PATH=/x", "TERM=xterm"]);
  });
  test("resolv.conf drops loopback nameservers except for --network host", () => {
    const host = "nameserver 127.0.0.53\noptions edns0\n";
    expect(resolvConf("private", host)).toBe("options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    expect(resolvConf("host", host)).toBe(host);
    expect(resolvConf("none", "nameserver 10.0.0.2\n")).toBe("nameserver 10.0.0.2\n");
  });
  test("--add-host values as the docker CLI's ValidateExtraHost takes them", () => {
    expect(parseExtraHost("db:10.0.0.5")).toEqual(["db", "10.0.0.5"]);
    expect(parseExtraHost("db=10.0.0.5")).toEqual(["db", "10.0.0.5"]);
    expect(parseExtraHost("v6:::1")).toEqual(["v6", "::1"]);
    expect(parseExtraHost("v6=[2001:db8::1]")).toEqual(["v6", "2001:db8::1"]);
    expect(parseExtraHost("gw:host-gateway")).toEqual(["gw", "host-gateway"]);
    expect(() => parseExtraHost("db")).toThrow('bad format for add-host: "db"');
    expect(() => parseExtraHost(":10.0.0.5")).toThrow('bad format for add-host: ":10.0.0.5"');
    expect(() => parseExtraHost("db:nope")).toThrow('invalid IP address in add-host: "nope"');
    expect(() => parseExtraHost("db:300.1.1.1")).toThrow('invalid IP address in add-host: "300.1.1.1"');
    expect(checkDnsServer("10.9.9.9")).toBe("10.9.9.9");
    expect(() => checkDnsServer("dns.example")).toThrow("dns.example is not an ip address");
  });
  test("--dns, --dns-search and --dns-option replace only their own lines of resolv.conf", () => {
    const host = "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";
    expect(resolvWith(host, { servers: ["10.9.9.9"], search: [], options: [] })).toBe("nameserver 10.9.9.9\nsearch corp.example\noptions edns0\n");
    expect(resolvWith(host, { servers: [], search: ["a.test", "b.test"], options: ["ndots:2"] })).toBe("nameserver 10.0.0.2\nsearch a.test b.test\noptions ndots:2\n");
    expect(resolvWith(host, { servers: [], search: [], options: [] })).toBe(host);
  });
  test("hosts names the container", () => {
    expect(hostsFile("abc")).toContain("127.0.0.1\tlocalhost\n");
    expect(hostsFile("abc")).toContain("\tabc\n");
  });
});

describe("plan encoding", () => {
  test("round-trips keys, args with spaces/newlines, and mounts", () => {
    const recs = decodePlan(encodePlan(plan({ args: ["sh", "-c", "a b\nc"], logMaxSize: 1000, restart: { name: "on-failure", maxRetries: 2 } }), { waitAttach: true, logPath: "/c/abc-json.log" }));
    const get = (k: string) => recs.filter((r) => r[0] === k).map((r) => r.slice(1));
    expect(get("arg")).toEqual([["sh"], ["-c"], ["a b\nc"]]);
    expect(get("caps")).toEqual([["a80425fb"]]);
    expect(get("wait")).toEqual([["1"]]);
    expect(get("restart")).toEqual([["on-failure"]]);
    expect(get("retries")).toEqual([["2"]]);
    expect(get("logmax")).toEqual([["1000"]]);
    expect(get("logfiles")).toEqual([["1"]]);
    expect(get("rootfs")).toEqual([["/c/merged", "lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work"]]);
    expect(get("mount")[0]).toEqual(["M", "proc", "/proc", "proc", String(MS.NOSUID | MS.NODEV | MS.NOEXEC), ""]);
  });
  test("published ports: held only (kernel DNAT), or with the proxy's target (the container's address and port)", () => {
    const hostPorts = [
      { proto: "tcp" as const, ip: "0.0.0.0", port: 8080 },
      { proto: "udp" as const, ip: "127.0.0.1", port: 5353, to: { ip: "10.199.0.2", port: 53 } },
    ];
    const recs = decodePlan(encodePlan(plan({ hostPorts }), { waitAttach: false, logPath: "/l" }));
    expect(recs.filter((r) => r[0] === "port")).toEqual([
      ["port", "tcp", "0.0.0.0", "8080", "", "0"],
      ["port", "udp", "127.0.0.1", "5353", "10.199.0.2", "53"],
    ]);
    expect(recs.at(-1)).toEqual(["dev", "/dev/tty", "c", "5", "0", "666", "0", "0"]); // the records after the ports still line up
  });
  test("NUL bytes and empty commands are refused", () => {
    expect(() => encodePlan(plan({ args: ["a\0b"] }), { waitAttach: false, logPath: "/l" })).toThrow("NUL");
    expect(() => encodePlan(plan({ args: [] }), { waitAttach: false, logPath: "/l" })).toThrow("No command specified");
  });
  test("privileged asks for every capability (the shim keeps those the host still has)", () => {
    const recs = decodePlan(encodePlan(plan({ privileged: true }), { waitAttach: false, logPath: "/l" }));
    expect(recs.find((r) => r[0] === "caps")![1]).toBe("1ffffffffff");
  });
});

test("signal names and numbers", () => {
  expect(signalNumber("KILL")).toBe(9);
  expect(signalNumber("SIGTERM")).toBe(15);
  expect(signalNumber("hup")).toBe(1);
  expect(signalNumber(10)).toBe(10);
  expect(() => signalNumber("NOPE")).toThrow("Invalid signal: NOPE");
});

describe("shared namespaces (--pid, --ipc, --uts) and --group-add", () => {
  test("only what is shared travels in the plan: one ns record per kind, a group record per --group-add", () => {
    const recs = decodePlan(encodePlan(plan({ namespaces: { pid: "/proc/42/ns/pid", ipc: "host", uts: "host" }, groupAdd: ["audio", "7"] }), { waitAttach: false, logPath: "/l" }));
    expect(recs.filter((r) => r[0] === "ns" || r[0] === "group")).toEqual([["ns", "pid", "/proc/42/ns/pid"], ["ns", "ipc", "host"], ["ns", "uts", "host"], ["group", "audio"], ["group", "7"]]);
    expect(decodePlan(encodePlan(plan(), { waitAttach: false, logPath: "/l" })).filter((r) => r[0] === "ns" || r[0] === "group")).toEqual([]);
  });

  test("/dev/shm: the container's own tmpfs, none, the host's bound, or another container's shared", () => {
    const shm = (p: Partial<ContainerPlan>) => buildMounts(plan(p)).filter((m) => m.target === "/dev/shm");
    expect(shm({})).toEqual([expect.objectContaining({ kind: "fs", fstype: "tmpfs" })]);
    expect(shm({ shm: "none" })).toEqual([]);
    expect(shm({ shm: "host" })).toEqual([expect.objectContaining({ kind: "bind", source: "/dev/shm" })]);
    expect(shm({ shm: { pid: 42 } })).toEqual([expect.objectContaining({ kind: "share", source: "/proc/42/ns/mnt" })]);
    for (const m of [...shm({ shm: "host" }), ...shm({ shm: { pid: 42 } })]) expect(m.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC)).toBe(MS.NOSUID | MS.NODEV | MS.NOEXEC);
  });

  test("sysctls of a namespace shared with the host are refused, as runc's validator", () => {
    expect(() => checkSysctl("kernel.shmmax", "1", "bridge", { ipc: "host" })).toThrow(`sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`);
    expect(() => checkSysctl("fs.mqueue.msg_max", "1", "bridge", { ipc: "host" })).toThrow("hosts ipc namespace");
    expect(checkSysctl("kernel.shmmax", "1", "bridge", { ipc: "container:x" }).path).toBe("kernel/shmmax");
    expect(() => checkSysctl("kernel.domainname", "x", "bridge", { uts: "host" })).toThrow(`sysctl "kernel.domainname" is not in a separate kernel namespace`);
  });
});

describe("sysctls and recursive read-only binds", () => {
  test("namespaced keys become plain paths under /proc/sys; the others get runc's refusals", () => {
    expect(checkSysctl("kernel.shmmax", "1", "bridge")).toEqual({ path: "kernel/shmmax", value: "1" });
    expect(checkSysctl("fs.mqueue.msg_max", "20", "none")).toEqual({ path: "fs/mqueue/msg_max", value: "20" });
    expect(checkSysctl("net/ipv4/conf/eno2.100/rp_filter", "2", "bridge")).toEqual({ path: "net/ipv4/conf/eno2.100/rp_filter", value: "2" });
    expect(checkSysctl("kernel.domainname", "x.test", "none").path).toBe("kernel/domainname");
    expect(() => checkSysctl("net.ipv4.ip_forward", "1", "host")).toThrow(`sysctl "net.ipv4.ip_forward" not allowed in host network namespace`);
    expect(() => checkSysctl("kernel.core_pattern", "|/x", "none")).toThrow(`sysctl "kernel.core_pattern" is not in a separate kernel namespace`);
    expect(() => checkSysctl("net/ipv4/conf/eno2.100/x", "1", "host")).toThrow(`sysctl "net.ipv4.conf.eno2/100.x" not allowed in host network namespace`);
    for (const bad of ["net.ipv4..x", "net/ipv4/../../kernel/core_pattern", "net.", "net./x", "net.ipv4.conf.a b.x", "/net/ipv4/x", "net.ipv4.x\n"])
      expect(() => checkSysctl(bad, "1", "none")).toThrow(`invalid sysctl key: ${JSON.stringify(bad)}`);
    expect(parseSysctlFlag("net.core.somaxconn=1024=x")).toEqual(["net.core.somaxconn", "1024=x"]);
    expect(() => parseSysctlFlag("kernel.domainname=x")).toThrow("sysctl 'kernel.domainname=x' is not allowed");
    expect(() => parseSysctlFlag("net.core.somaxconn")).toThrow("sysctl 'net.core.somaxconn' is not allowed");
  });

  test("sysctls travel in the plan, one record each; a bind's data says how far it reaches", () => {
    const plan: ContainerPlan = {
      ...testPlan("c1", "/tmp/c1", ["/l"]),
      sysctls: [{ path: "kernel/shmmax", value: "1 2" }],
      binds: [
        { source: "/a", target: "/a", readonly: true },
        { source: "/b", target: "/b", readonly: true, readonlyNonRecursive: true },
        { source: "/c", target: "/c", readonly: true, readonlyForceRecursive: true },
        { source: "/d", target: "/d", readonly: false, nonRecursive: true },
        { source: "/e", target: "/e", readonly: false },
      ],
    };
    const recs = decodePlan(encodePlan(plan, { waitAttach: false, logPath: "/l" }));
    expect(recs.filter((r) => r[0] === "sysctl")).toEqual([["sysctl", "kernel/shmmax", "1 2"]]);
    const data = Object.fromEntries(recs.filter((r) => r[0] === "mount" && r[1] === "B" && r[2]!.length === 2).map((r) => [r[2], r[6]]));
    expect(data).toEqual({ "/a": "rro", "/b": "", "/c": "rro-force", "/d": "bind", "/e": "" });
  });
});

describe("start", () => {
  test("a container whose directory was removed (a start racing rm -f or prune) is no such container, and nothing is made again", async () => {
    const { mkdtempSync, existsSync, rmSync, mkdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { startContainer } = await import("../../src/engine/runtime/start.ts");
    const root = mkdtempSync(join(tmpdir(), "bunker-start-"));
    try {
      const id = "f".repeat(64);
      const containerDir = join(root, "containers", id);
      const layerDir = join(root, "overlay2", id);
      const p = testPlan(id, containerDir, ["/l"], { rootfs: { lowerDirs: ["/l"], upperDir: join(layerDir, "diff"), workDir: join(layerDir, "work"), mergedDir: join(layerDir, "merged") } });
      await expect(startContainer(p, "detached", { dataRoot: root })).rejects.toThrow(`No such container: ${id}`);
      expect(existsSync(containerDir)).toBe(false);
      expect(existsSync(layerDir)).toBe(false);
      // the container's directory there, its layer directory gone: the merged dir is not made again either
      mkdirSync(containerDir, { recursive: true });
      await expect(startContainer(p, "detached", { dataRoot: root })).rejects.toThrow(/ENOENT/);
      expect(existsSync(layerDir)).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
