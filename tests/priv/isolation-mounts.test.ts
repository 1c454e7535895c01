/**
 * Isolation of mounts, syscalls and kernel parameters, through the compiled CLI and `bunker serve`'s API
 * with real containers (root only): a read-only bind is read-only down to the submounts of its source
 * (Docker 25's rro, and the bind-recursive options), the default seccomp profile denies what current
 * moby's denies (a static probe calls a list of syscalls by number), nothing may be mounted over the
 * container's /proc, and namespaced sysctls are applied inside while the others are refused with runc's
 * words. The tmpfs the tests mount on the host and the daemon they start are removed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { bunkerAt, freshDataRoot, tempDir, serveAt, startWithBusybox } from "../helpers/bunker.ts";
import { type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
let host: string;
let src: string; // a bind source with a tmpfs mounted at src/sub
let probe: string;
let daemon: Subprocess | undefined;
let sock: string;

beforeAll(async () => {
  if (!root) return;
  ({ reg, b, busybox } = await startWithBusybox());
  host = tempDir("bunker-isolation-mounts-");
  src = join(host, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "bunker-test", join(src, "sub")]);
  if (m.exitCode !== 0) throw new Error(`mount tmpfs: ${m.stderr}`);
  probe = join(host, "syscall-probe");
  const cc = Bun.spawnSync(["gcc", "-static", "-O1", "-o", probe, join(import.meta.dir, "fixtures/syscall-probe.c")]);
  if (cc.exitCode !== 0) throw new Error(`gcc: ${cc.stderr}`);
  const dataRoot = freshDataRoot();
  ({ daemon, sock } = await serveAt(dataRoot, ["--registry-mirror", reg.url]));
  await (await fetch(`http://localhost/v1.50/images/create?fromImage=${encodeURIComponent(busybox)}&tag=latest`, { unix: sock, method: "POST" })).text();
}, 900_000);

afterAll(async () => {
  if (!root) return;
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", "-v", ...ids.split("\n")]);
  if (src) Bun.spawnSync(["umount", join(src, "sub")]);
  if (daemon) {
    daemon.kill("SIGTERM");
    await daemon.exited;
  }
  await reg?.stop();
  if (host && !Bun.spawnSync(["mountpoint", "-q", join(src, "sub")]).success) rmSync(host, { recursive: true, force: true });
});

/** POST /containers/create on the daemon: the status and the body's message. */
async function apiCreate(body: object, version = "1.50"): Promise<{ status: number; message: string; id?: string }> {
  // No bridge: other suites on this host may be changing bunker0 and its chains meanwhile.
  const full = { Image: busybox, ...body, HostConfig: { NetworkMode: "none", ...(body as { HostConfig?: object }).HostConfig } };
  const r = await fetch(`http://localhost/v${version}/containers/create`, { unix: sock, method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(full) });
  const j = (await r.json()) as { message?: string; Id?: string };
  return { status: r.status, message: j.message ?? "", id: j.Id };
}

describe.skipIf(!root)("read-only binds reach the submounts of their source", () => {
  const write = ["sh", "-c", "touch /x/sub/b && echo wrote"];

  test("-v SRC:DST:ro and --mount readonly: the tmpfs under the source is read-only too (rro)", async () => {
    for (const args of [["-v", `${src}:/x:ro`], ["--mount", `type=bind,src=${src},dst=/x,readonly`], ["--mount", `type=bind,src=${src},dst=/x,ro,bind-recursive=readonly,bind-propagation=rprivate`]]) {
      const r = await b.run(["run", "--rm", "--network", "none", ...args, busybox, ...write]);
      expect({ args, code: r.code, err: r.stderr.trim() }).toEqual({ args, code: 1, err: "touch: /x/sub/b: Read-only file system" });
      expect(existsSync(join(src, "sub", "b"))).toBe(false);
    }
    // still mounted, and read-only both: what mountinfo shows inside
    const info = await b.ok(["run", "--rm", "--network", "none", "-v", `${src}:/x:ro`, busybox, "sh", "-c", "grep ' /x' /proc/self/mountinfo | cut -d' ' -f5,6"]);
    expect(info.split("\n").filter(Boolean).map((l) => [l.split(" ")[0], l.split(" ")[1]!.split(",")[0]])).toEqual([["/x", "ro"], ["/x/sub", "ro"]]);
  });

  test("bind-recursive=writable keeps the submounts writable; =disabled leaves them out; a writable bind stays writable", async () => {
    expect(await b.ok(["run", "--rm", "--network", "none", "--mount", `type=bind,src=${src},dst=/x,ro,bind-recursive=writable`, busybox, ...write])).toBe("wrote\n");
    expect(existsSync(join(src, "sub", "b"))).toBe(true);
    rmSync(join(src, "sub", "b"));
    expect(await b.ok(["run", "--rm", "--network", "none", "-v", `${src}:/x`, busybox, ...write])).toBe("wrote\n");
    rmSync(join(src, "sub", "b"));
    const mounts = await b.ok(["run", "--rm", "--network", "none", "--mount", `type=bind,src=${src},dst=/x,ro,bind-recursive=disabled`, busybox, "sh", "-c", "grep -c ' /x' /proc/self/mountinfo"]);
    expect(mounts).toBe("1\n");
  });

  test("the bind-recursive errors of the docker CLI and the daemon", async () => {
    const bad = await b.run(["run", "--rm", "--network", "none", "--mount", `type=bind,src=${src},dst=/x,bind-recursive=maybe`, busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain(`invalid value for bind-recursive: maybe (must be "enabled", "disabled", "writable", or "readonly")`);
    const rw = await b.run(["run", "--rm", "--network", "none", "--mount", `type=bind,src=${src},dst=/x,bind-recursive=readonly,bind-propagation=rprivate`, busybox, "true"]);
    expect(rw.code).toBe(125);
    expect(rw.stderr).toContain("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    const both = await apiCreate({ HostConfig: { Mounts: [{ Type: "bind", Source: src, Target: "/x", ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true, ReadOnlyForceRecursive: true } }] } });
    expect(both).toEqual({ status: 400, message: "mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive", id: undefined });
  });

  test("API clients before 1.44 keep the old read-only binds (top mount only), as moby does for them", async () => {
    const c = await apiCreate({ Cmd: ["sh", "-c", "touch /x/sub/old && ! touch /x/top"], HostConfig: { Binds: [`${src}:/x:ro`] } }, "1.43");
    expect(c.status).toBe(201);
    expect((await fetch(`http://localhost/v1.43/containers/${c.id}/start`, { unix: sock, method: "POST" })).status).toBe(204);
    const waited = (await (await fetch(`http://localhost/v1.43/containers/${c.id}/wait`, { unix: sock, method: "POST" })).json()) as { StatusCode: number };
    expect(waited.StatusCode).toBe(0);
    expect(existsSync(join(src, "sub", "old"))).toBe(true);
    rmSync(join(src, "sub", "old"));
    await fetch(`http://localhost/v1.43/containers/${c.id}?force=1`, { unix: sock, method: "DELETE" });
    const force = await apiCreate({ HostConfig: { Mounts: [{ Type: "bind", Source: src, Target: "/x", ReadOnly: true, BindOptions: { ReadOnlyForceRecursive: true } }] } }, "1.43");
    expect(force).toEqual({ status: 400, message: "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer", id: undefined });
  });
});

/**
 * The probe's calls, from current moby's profiles/seccomp/default.json for x86_64 (defaultAction
 * SCMP_ACT_ERRNO): `deny` ones fail with EPERM (clone3 with ENOSYS, its errnoRet) in a default container
 * and not in an unconfined one; `allow` ones give the same answer in both. Arguments are chosen so nothing
 * allowed does harm (bad fds, null pointers, zero lengths).
 */
const EPERM = 1;
const ENOSYS = 38;
const SYSCALLS: { name: string; call: string; deny?: number }[] = [
  { name: "io_uring_setup", call: "425,0,0", deny: EPERM }, // removed by moby#46762
  { name: "io_uring_enter", call: "426,-1", deny: EPERM },
  { name: "io_uring_register", call: "427,-1", deny: EPERM },
  { name: "keyctl", call: "250,-1", deny: EPERM },
  { name: "add_key", call: "248", deny: EPERM },
  { name: "request_key", call: "249", deny: EPERM },
  { name: "userfaultfd", call: "323,-1", deny: EPERM },
  { name: "perf_event_open", call: "298", deny: EPERM }, // CAP_SYS_ADMIN / CAP_PERFMON only
  { name: "unshare(CLONE_NEWUSER)", call: "272,268435456", deny: EPERM }, // CAP_SYS_ADMIN only
  { name: "setns", call: "308,-1", deny: EPERM },
  { name: "clone(CLONE_NEWUSER)", call: "56,268435473", deny: EPERM }, // the masked clone rule
  { name: "clone3", call: "435", deny: ENOSYS }, // errnoRet 38 without CAP_SYS_ADMIN
  { name: "socket(AF_ALG)", call: "41,38,5", deny: EPERM }, // family < 38, == 39 or > 40 only
  { name: "socket(AF_VSOCK)", call: "41,40,1", deny: EPERM },
  { name: "personality(ADDR_NO_RANDOMIZE)", call: "135,262144", deny: EPERM },
  { name: "lsm_list_modules", call: "461", deny: EPERM }, // CAP_SYS_ADMIN only
  { name: "open_tree_attr", call: "467,-1", deny: EPERM }, // not in the profile
  { name: "file_getattr", call: "468,-1", deny: EPERM }, // not in the profile
  { name: "cachestat", call: "451,-1" },
  { name: "fchmodat2", call: "452,-1" },
  { name: "futex_wake", call: "454" },
  { name: "futex_wait", call: "455" },
  { name: "statmount", call: "457" },
  { name: "listmount", call: "458" },
  { name: "mseal", call: "462" },
  { name: "setxattrat", call: "463,-1" },
  { name: "getxattrat", call: "464,-1" },
  { name: "listxattrat", call: "465,-1" },
  { name: "removexattrat", call: "466,-1" },
  { name: "map_shadow_stack", call: "453" },
  { name: "getpid", call: "39" },
  { name: "socket(AF_INET)", call: "41,2,1" },
  { name: "personality(query)", call: "135,4294967295" },
  { name: "ptrace(PEEKDATA)", call: "101,2" },
  { name: "io_setup", call: "206" },
  { name: "clone(SIGCHLD)", call: "56,17" },
];

describe.skipIf(!root)("seccomp: the default profile is current moby's", () => {
  const probeRun = async (extra: string[]) => {
    const out = await b.ok(["run", "--rm", "--network", "none", ...extra, "-v", `${probe}:/probe:ro`, busybox, "/probe", ...SYSCALLS.map((s) => s.call)]);
    const lines = out.trim().split("\n");
    expect(lines.length).toBe(SYSCALLS.length);
    return Object.fromEntries(SYSCALLS.map((s, i) => [s.name, Number(lines[i]!.split(" ")[1])]));
  };

  test("what a default container is denied, and what it is not, by syscall", async () => {
    const confined = await probeRun([]);
    const unconfined = await probeRun(["--security-opt", "seccomp=unconfined"]);
    const verdict = (r: Record<string, number>) => Object.fromEntries(SYSCALLS.map((s) => [s.name, s.deny !== undefined && r[s.name] === s.deny && unconfined[s.name] !== s.deny ? "denied" : r[s.name] === unconfined[s.name] ? "allowed" : `errno ${r[s.name]}`]));
    expect(verdict(confined)).toEqual(Object.fromEntries(SYSCALLS.map((s) => [s.name, s.deny !== undefined ? "denied" : "allowed"])));
  });

  test("CAP_SYS_ADMIN opens what the profile ties to it (unshare, clone3, lsm_list_modules), not io_uring", async () => {
    const admin = await probeRun(["--cap-add", "SYS_ADMIN"]);
    const unconfined = await probeRun(["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"]);
    for (const name of ["unshare(CLONE_NEWUSER)", "clone(CLONE_NEWUSER)", "clone3", "lsm_list_modules", "setns"]) expect({ name, errno: admin[name] }).toEqual({ name, errno: unconfined[name]! });
    for (const name of ["io_uring_setup", "keyctl", "socket(AF_ALG)"]) expect({ name, errno: admin[name] }).toEqual({ name, errno: EPERM });
  });
});

describe.skipIf(!root)("nothing is mounted over the container's /proc", () => {
  test("-v, --mount and --tmpfs on /proc or inside it are refused at create, as runc refuses them", async () => {
    const cases: [string[], string][] = [
      [["-v", "vol-over-proc:/proc"], "/proc"],
      [["-v", `${host}:/proc/sys`], "/proc/sys"],
      [["--mount", "type=tmpfs,dst=/proc/sys/kernel"], "/proc/sys/kernel"],
      [["--mount", "type=volume,dst=/proc/1"], "/proc/1"],
      [["--tmpfs", "/proc"], "/proc"],
      [["-v", "/proc/self"], "/proc/self"],
    ];
    for (const [args, dest] of cases) {
      const r = await b.run(["create", "--network", "none", ...args, busybox]);
      expect({ args, code: r.code }).toEqual({ args, code: 125 });
      expect(r.stderr).toContain(`check proc-safety of ${dest} mount: "${dest}" cannot be mounted because it is inside /proc`);
    }
    expect((await b.ok(["volume", "ls", "-q"])).trim()).toBe("");
    const api = await apiCreate({ HostConfig: { Binds: [`${host}:/proc/sysrq-trigger`] } });
    expect(api.status).toBe(400);
    expect(api.message).toContain(`check proc-safety of /proc/sysrq-trigger mount: "/proc/sysrq-trigger" cannot be mounted because it is inside /proc`);
  });

  test("the files lxcfs emulates may be covered; a path that leads into /proc through a symlink may not", async () => {
    const uptime = join(host, "uptime");
    writeFileSync(uptime, "1.00 2.00\n");
    expect(await b.ok(["run", "--rm", "--network", "none", "-v", `${uptime}:/proc/uptime:ro`, busybox, "cat", "/proc/uptime"])).toBe("1.00 2.00\n");
    const vol = join(host, "linkvol");
    mkdirSync(vol);
    symlinkSync("/proc/sys/kernel", join(vol, "k"));
    const r = await b.run(["run", "--rm", "--network", "none", "-v", `${vol}:/data`, "-v", `${host}:/data/k`, busybox, "cat", "/proc/sys/kernel/ostype"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`check proc-safety of /data/k mount: "/data/k" cannot be mounted because it is inside /proc`);
  });
});

describe.skipIf(!root)("sysctls", () => {
  test("the namespaced ones are set inside the container, never on the host", async () => {
    const before = ["kernel/shmmax", "fs/mqueue/msg_max", "net/ipv4/tcp_keepalive_time"].map((p) => readFileSync(`/proc/sys/${p}`, "utf8"));
    const out = await b.ok([
      "run", "--rm", "--network", "none", "--sysctl", "kernel.shmmax=123456", "--sysctl", "fs.mqueue.msg_max=20", "--sysctl", "net.ipv4.tcp_keepalive_time=600",
      "--sysctl", "kernel.sem=250 32000 32 200", busybox, "cat", "/proc/sys/kernel/shmmax", "/proc/sys/fs/mqueue/msg_max", "/proc/sys/net/ipv4/tcp_keepalive_time", "/proc/sys/kernel/sem",
    ]);
    expect(out).toBe("123456\n20\n600\n250\t32000\t32\t200\n");
    expect(["kernel/shmmax", "fs/mqueue/msg_max", "net/ipv4/tcp_keepalive_time"].map((p) => readFileSync(`/proc/sys/${p}`, "utf8"))).toEqual(before);
    const c = await apiCreate({ Cmd: ["cat", "/proc/sys/kernel/domainname", "/proc/sys/net/ipv4/conf/lo/forwarding"], HostConfig: { NetworkMode: "none", Sysctls: { "kernel.domainname": "example.test", "net/ipv4/conf/lo/forwarding": "1" } } });
    expect(c.status).toBe(201);
    const started = await fetch(`http://localhost/v1.50/containers/${c.id}/start`, { unix: sock, method: "POST" });
    expect(started.status).toBe(204);
    expect(await (await fetch(`http://localhost/v1.50/containers/${c.id}/wait`, { unix: sock, method: "POST" })).json()).toMatchObject({ StatusCode: 0 });
    const logs = await (await fetch(`http://localhost/v1.50/containers/${c.id}/logs?stdout=1`, { unix: sock })).arrayBuffer();
    const text = new TextDecoder().decode(logs); // stdout frames: 8-byte headers, then the lines
    expect(text).toContain("example.test\n");
    expect(text).toContain("1\n");
    await fetch(`http://localhost/v1.50/containers/${c.id}?force=1`, { unix: sock, method: "DELETE" });
  });

  test("the others are refused with the docker CLI's and runc's messages, and nothing reaches the host", async () => {
    const pattern = readFileSync("/proc/sys/kernel/core_pattern", "utf8");
    const cli = await b.run(["run", "--rm", "--network", "none", "--sysctl", "kernel.core_pattern=|/tmp/x", busybox, "true"]);
    expect(cli.code).toBe(125);
    expect(cli.stderr).toContain(`invalid argument "kernel.core_pattern=|/tmp/x" for "--sysctl" flag: sysctl 'kernel.core_pattern=|/tmp/x' is not allowed`);
    const hostNet = await b.run(["run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=0", busybox, "true"]);
    expect(hostNet.code).toBe(125);
    expect(hostNet.stderr).toContain(`sysctl "net.ipv4.ip_forward" not allowed in host network namespace`);
    const cases: [Record<string, string>, string][] = [
      [{ "kernel.core_pattern": "|/tmp/x" }, `sysctl "kernel.core_pattern" is not in a separate kernel namespace`],
      [{ "vm.max_map_count": "262144" }, `sysctl "vm.max_map_count" is not in a separate kernel namespace`],
      [{ "kernel.hostname": "x" }, `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`],
      [{ "user.max_user_namespaces": "10" }, "setting ucounts without a user namespace not allowed: user.max_user_namespaces"],
      [{ "net/ipv4/../../kernel/core_pattern": "x" }, `invalid sysctl key: "net/ipv4/../../kernel/core_pattern"`],
      [{ "net.ipv4./proc/sys/kernel/core_pattern": "x" }, `invalid sysctl key: "net.ipv4./proc/sys/kernel/core_pattern"`],
    ];
    for (const [Sysctls, message] of cases) expect(await apiCreate({ HostConfig: { NetworkMode: "none", Sysctls } })).toEqual({ status: 400, message, id: undefined });
    expect(readFileSync("/proc/sys/kernel/core_pattern", "utf8")).toBe(pattern);
  });

  test("net.* through --network container:X, where X runs in the host's network namespace: refused by the shim", async () => {
    const file = "/proc/sys/net/ipv4/tcp_keepalive_time";
    const before = readFileSync(file, "utf8");
    const hostNet = (await b.ok(["run", "-d", "--network", "host", busybox, "sleep", "60"])).trim();
    try {
      const r = await b.run(["run", "--rm", "--network", `container:${hostNet}`, "--sysctl", "net.ipv4.tcp_keepalive_time=601", busybox, "true"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`sysctl "net.ipv4.tcp_keepalive_time" not allowed in host network namespace`);
      expect(readFileSync(file, "utf8")).toBe(before);
    } finally {
      if (readFileSync(file, "utf8") !== before) writeFileSync(file, before);
      await b.run(["rm", "-f", hostNet]);
    }
  });
});
