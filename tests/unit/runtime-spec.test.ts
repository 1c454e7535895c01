/** The runtime's policy, without a kernel: capabilities, the mount list and the plan encoding. */
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
  type ContainerPlan,
} from "../../src/engine/runtime/spec.ts";
import { signalNumber } from "../../src/engine/runtime/status.ts";

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
  test("every writable mount a container can mknod on is nodev; devices are host binds", () => {
    const ops = buildMounts(plan({ binds: [{ source: "/v", target: "/data", readonly: false }] }));
    for (const m of ops.filter((m) => m.kind === "fs" && m.fstype !== "devpts")) expect(m.flags & MS.NODEV).toBe(MS.NODEV);
    for (const m of ops.filter((m) => m.kind === "bind" && !m.source.startsWith("/dev/"))) expect(m.flags & MS.NODEV).toBe(MS.NODEV);
    expect(ops.filter((m) => m.kind === "bind" && m.source.startsWith("/dev/")).map((m) => m.target)).toEqual([
      "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    ]);
  });
  test("order: proc and /dev before devices, binds before masks and read-only paths", () => {
    const ops = buildMounts(plan({ binds: [{ source: "/v", target: "/data", readonly: true }] }));
    const at = (t: string) => ops.findIndex((m) => m.target === t);
    expect(at("/proc")).toBe(0);
    expect(at("/dev")).toBeLessThan(at("/dev/pts"));
    expect(at("/dev/pts")).toBeLessThan(at("/dev/null"));
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
  test("--privileged: no masks, no read-only paths, rw /sys", () => {
    const ops = buildMounts(plan({ privileged: true }));
    expect(ops.some((m) => m.kind === "mask" || m.kind === "ro")).toBe(false);
    expect(ops.find((m) => m.target === "/sys")!.flags & MS.RDONLY).toBe(0);
  });
  test("overlay options: top layer first; unsafe or oversized options refused", () => {
    expect(overlayOptions(plan().rootfs)).toBe("lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work");
    expect(() => overlayOptions({ ...plan().rootfs, lowerDirs: ["/a,b"] })).toThrow("comma");
    expect(() => overlayOptions({ ...plan().rootfs, lowerDirs: Array(200).fill("/var/lib/bunker/overlay2/0123456789abcdef/diff") })).toThrow("over one page");
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
    expect(recs.at(-1)![0]).toBe("mount"); // the records after the ports still line up
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

  test("sysctls travel at the end of the plan; a bind's data says how far it reaches", () => {
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
    expect(recs.at(-1)).toEqual(["sysctl", "kernel/shmmax", "1 2"]);
    const data = Object.fromEntries(recs.filter((r) => r[0] === "mount" && r[1] === "B" && r[2]!.length === 2).map((r) => [r[2], r[6]]));
    expect(data).toEqual({ "/a": "rro", "/b": "", "/c": "rro-force", "/d": "bind", "/e": "" });
  });
});
