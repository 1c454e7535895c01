/**
 * What a container shares only when asked, checked from inside real containers: --pid, --ipc, --uts (the
 * host's namespaces or another running container's), --group-add, --link, --volumes-from, --mac-address,
 * --expose and --sysctl, through the compiled CLI (in-process, and through `bunker serve` in the daemon
 * pass), then through the docker CLI 28 and docker-py against `bunker serve`. Escape attempts: a default
 * container sees neither the host's processes nor another container's, nor its /dev/shm; joining needs a
 * running container, and an IPC namespace one that was made shareable.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, bunkerAt, DAEMON_MODE, freshDataRoot, type Result, waitForDaemon, startWithBusybox } from "../helpers/bunker.ts";
import { type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
let reg: Registry;
let b: ReturnType<typeof bunkerAt>;
let busybox: string;
/** A process of the host's only: its command line is what a container must (not) see. */
let marker: Subprocess;
const MARK = `sleep 3${String(process.pid).padStart(6, "0")}.5`;

beforeAll(async () => {
  if (!root) return;
  ({ reg, b, busybox } = await startWithBusybox());
  marker = Bun.spawn(MARK.split(" "), { stdout: "ignore", stderr: "ignore" });
}, 900_000);

afterAll(async () => {
  if (!root) return;
  marker?.kill();
  const ids = (await b.run(["ps", "-aq", "--no-trunc"])).stdout.trim();
  if (ids) await b.run(["rm", "-f", "-v", ...ids.split("\n")]);
  await b.run(["volume", "prune", "-f", "-a"]);
  await b.run(["network", "rm", "shnet"]);
  await reg?.stop();
});

/** `run --rm` with flags, then `sh -c script` in busybox; its output. */
const sh = (flags: string[], script: string) => b.ok(["run", "--rm", ...flags, busybox, "sh", "-c", script]);
/** Every command line the container's /proc shows (NUL-separated args joined by spaces). */
const PS = `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done`;
const inspect = async (ref: string, fmt: string) => (await b.ok(["inspect", "--format", fmt, ref])).trim();

describe.skipIf(!root)("--pid", () => {
  test("a default container sees only its own processes; --pid host sees the host's; --pid container:X only X's", async () => {
    expect(await sh([], PS)).not.toContain(MARK);
    expect(await sh(["--pid", "host"], PS)).toContain(MARK);
    await b.ok(["run", "-d", "--name", "pidx", busybox, "sleep", "4242"]);
    try {
      const seen = await sh(["--pid", "container:pidx"], `${PS}; echo pid1=$(tr '\\0' ' ' < /proc/1/cmdline)`);
      expect(seen).toContain("sleep 4242");
      expect(seen).toContain("pid1=sleep 4242"); // X's init is PID 1 of the namespace joined
      expect(seen).not.toContain(MARK);
      // and another default container does not see X's
      expect(await sh([], PS)).not.toContain("sleep 4242");
      expect(await inspect("pidx", "{{.HostConfig.PidMode}}")).toBe("");
      // top lists a container's own processes (its cgroup's), not the namespace it shares
      await b.ok(["run", "-d", "--name", "pidhost", "--pid", "host", busybox, "sleep", "4343"]);
      const top = await b.ok(["top", "pidhost"]);
      expect(top).toContain("sleep 4343");
      expect(top).not.toContain(MARK);
      expect(top).not.toContain("sleep 4242");
      expect(await b.ok(["top", "pidx"])).not.toContain("sleep 4343");
      await b.ok(["create", "--name", "pidy", "--pid", "container:pidx", busybox, "true"]);
      expect(await inspect("pidy", "{{.HostConfig.PidMode}}")).toBe("container:pidx");
    } finally {
      await b.run(["rm", "-f", "pidx", "pidy", "pidhost"]);
    }
  });

  test("with the host's namespace, the container's other processes end with it (none is left on the host)", async () => {
    const left = `sleep 5${String(process.pid).padStart(6, "0")}`;
    await sh(["--pid", "host"], `${left} & ${left} & sleep 0.2`);
    await Bun.sleep(300);
    const ps = Bun.spawnSync(["ps", "-eo", "args"]).stdout.toString();
    expect(ps).not.toContain(left);
  });

  test("joining needs a running container; a bad mode is the CLI's error", async () => {
    await b.ok(["create", "--name", "pidstopped", busybox, "true"]);
    try {
      const r = await b.run(["run", "--rm", "--pid", "container:pidstopped", busybox, "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain("failed to join PID namespace: container pidstopped is not running");
    } finally {
      await b.run(["rm", "-f", "pidstopped"]);
    }
    const bad = await b.run(["run", "--rm", "--pid", "bogus", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--pid: invalid PID mode");
  });
});

describe.skipIf(!root)("--ipc", () => {
  const hostIpc = () => readlinkSync("/proc/self/ns/ipc");
  test("private by default (its own namespace and /dev/shm); host shares the host's; none has no /dev/shm", async () => {
    const shmFile = `/dev/shm/bunker-e2e-${process.pid}`;
    writeFileSync(shmFile, "host");
    try {
      const own = await sh([], `readlink /proc/self/ns/ipc; ls /dev/shm; grep -c ' /dev/shm ' /proc/mounts`);
      expect(own).not.toContain(hostIpc());
      expect(own).not.toContain("bunker-e2e");
      const host = await sh(["--ipc", "host"], `readlink /proc/self/ns/ipc; cat ${shmFile}`);
      expect(host).toBe(`${hostIpc()}\nhost`);
      expect(await sh(["--ipc", "none"], `readlink /proc/self/ns/ipc; grep -c ' /dev/shm ' /proc/mounts || true`)).not.toContain(hostIpc());
      expect((await sh(["--ipc", "none"], `grep -c ' /dev/shm ' /proc/mounts || true`)).trim()).toBe("0");
    } finally {
      rmSync(shmFile, { force: true });
    }
    await b.ok(["create", "--name", "ipcdefault", busybox, "true"]);
    expect(await inspect("ipcdefault", "{{.HostConfig.IpcMode}}")).toBe("private");
    await b.run(["rm", "-f", "ipcdefault"]);
  });

  test("container:X joins a shareable X's namespace and /dev/shm; a default container sees neither; a private X refuses", async () => {
    await b.ok(["run", "-d", "--name", "ipcx", "--ipc", "shareable", busybox, "sh", "-c", "echo secret > /dev/shm/x; exec sleep 600"]);
    await b.ok(["run", "-d", "--name", "ipcpriv", busybox, "sleep", "600"]);
    try {
      const xns = (await b.ok(["exec", "ipcx", "readlink", "/proc/self/ns/ipc"])).trim();
      expect(await sh(["--ipc", "container:ipcx"], "readlink /proc/self/ns/ipc; cat /dev/shm/x; echo more > /dev/shm/y")).toBe(`${xns}\nsecret\n`);
      expect((await b.ok(["exec", "ipcx", "cat", "/dev/shm/y"])).trim()).toBe("more"); // the same tmpfs, both ways
      const other = await sh([], "readlink /proc/self/ns/ipc; ls /dev/shm");
      expect(other).not.toContain(xns);
      expect(other).not.toContain("x");
      const r = await b.run(["run", "--rm", "--ipc", "container:ipcpriv", busybox, "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain("failed to join IPC namespace: container ipcpriv: non-shareable IPC (hint: use IpcMode:shareable for the donor container)");
      const bad = await b.run(["run", "--rm", "--ipc", "bogus", busybox, "true"]);
      expect(bad.code).toBe(125);
      expect(bad.stderr).toContain("invalid IPC mode: bogus");
    } finally {
      await b.run(["rm", "-f", "ipcx", "ipcpriv"]);
    }
  });
});

describe.skipIf(!root)("--uts", () => {
  test("host keeps the host's name; with --hostname it is moby's conflict", async () => {
    expect((await sh(["--uts", "host"], "hostname")).trim()).toBe(hostname());
    expect((await sh(["-h", "inner"], "hostname")).trim()).toBe("inner");
    const r = await b.run(["run", "--rm", "--uts", "host", "-h", "x", busybox, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("conflicting options: hostname and the UTS mode");
    const bad = await b.run(["run", "--rm", "--uts", "container:x", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--uts: invalid UTS mode");
  });
});

describe.skipIf(!root)("--cgroupns", () => {
  test("private: the container's cgroups are its root; host: it sees where it lives; a bad mode is the CLI's error", async () => {
    const priv = await sh(["--cgroupns", "private"], "cat /proc/self/cgroup");
    expect(priv).not.toContain("/bunker/");
    expect(priv).toMatch(/:\/\n/);
    expect(await sh(["--cgroupns", "host"], "cat /proc/self/cgroup")).toMatch(/:\/bunker\/[0-9a-f]{64}\n/);
    await b.ok(["create", "--name", "cgns", "--cgroupns", "host", busybox, "true"]);
    expect(await inspect("cgns", "{{.HostConfig.CgroupnsMode}}")).toBe("host");
    await b.run(["rm", "-f", "cgns"]);
    const bad = await b.run(["run", "--rm", "--cgroupns", "shared", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--cgroupns: invalid CGROUP mode");
  });
});

describe.skipIf(!root)("--group-add", () => {
  test("ids and names of the container's /etc/group join the user's groups, for execs too; an unknown name fails the start", async () => {
    const [name, gid] = (await sh([], "awk -F: '$3 > 0 { print $1 \":\" $3; exit }' /etc/group")).trim().split(":");
    expect(gid).toMatch(/^\d+$/);
    const groups = (await sh(["--group-add", "4321", "--group-add", name!, "-u", "65534"], "id -G")).trim().split(" ");
    expect(groups).toContain("4321");
    expect(groups).toContain(gid);
    await b.ok(["run", "-d", "--name", "grp", "--group-add", "777", busybox, "sleep", "600"]);
    try {
      expect((await b.ok(["exec", "grp", "id", "-G"])).split(" ").map((s) => s.trim())).toContain("777");
    } finally {
      await b.run(["rm", "-f", "grp"]);
    }
    const r = await b.run(["run", "--rm", "--group-add", "nosuchgroup", busybox, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("unable to find group nosuchgroup");
  });
});

describe.skipIf(!root)("--link", () => {
  test("on the default bridge: the linked container's address under its alias, hostname and name in /etc/hosts", async () => {
    await b.ok(["run", "-d", "--name", "linkdb", "-h", "dbhost", "--expose", "6379", "-e", "DB_SECRET=s1", busybox, "sleep", "600"]);
    try {
      const ip = await inspect("linkdb", "{{.NetworkSettings.IPAddress}}");
      // and the variables Docker 28's links give, to the process and to execs
      const env = (await sh(["--name", "linkenv", "--link", "linkdb:db"], "env")).split("\n");
      for (const v of [`DB_PORT=tcp://${ip}:6379`, `DB_PORT_6379_TCP=tcp://${ip}:6379`, `DB_PORT_6379_TCP_ADDR=${ip}`, "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp", "DB_NAME=/linkenv/db", "DB_ENV_DB_SECRET=s1"]) expect(env).toContain(v);
      const hosts = await sh(["--link", "linkdb:db"], "cat /etc/hosts; ping -c1 -W2 db >/dev/null && echo reachable");
      expect(hosts).toContain(`${ip}\tdb dbhost linkdb`);
      expect(hosts).toContain("reachable");
      expect(await sh(["--link", "linkdb"], "cat /etc/hosts")).toContain(`${ip}\tlinkdb dbhost\n`);
      await b.ok(["create", "--name", "linker", "--link", "linkdb:db", busybox, "true"]);
      expect(await inspect("linker", "{{json .HostConfig.Links}}")).toBe(`["/linkdb:/linker/db"]`);
      await b.ok(["stop", "-t", "0", "linkdb"]);
      const r = await b.run(["start", "linker"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Cannot link to a non running container: /linkdb AS /linker/db");
    } finally {
      await b.run(["rm", "-f", "linkdb", "linker"]);
    }
    const missing = await b.run(["run", "--rm", "--link", "nosuch:db", busybox, "true"]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain("could not get container for nosuch");
    const host = await b.run(["run", "--rm", "--network", "host", "--link", "x:y", busybox, "true"]);
    expect(host.code).toBe(125);
  });

  test("on a user-defined network a link is a name only the linking container resolves", async () => {
    await b.ok(["network", "create", "shnet"]);
    await b.ok(["run", "-d", "--name", "linkweb", "--network", "shnet", busybox, "sleep", "600"]);
    try {
      const ip = await inspect("linkweb", "{{(index .NetworkSettings.Networks \"shnet\").IPAddress}}");
      expect(await sh(["--network", "shnet", "--link", "linkweb:web"], "cat /etc/hosts")).toContain(`${ip}\tweb`);
      expect(await sh(["--network", "shnet"], "cat /etc/hosts")).not.toContain("\tweb");
      // a name only: the other need not run (its address is kept from create to removal)
      await b.ok(["stop", "-t", "0", "linkweb"]);
      expect(await sh(["--network", "shnet", "--link", "linkweb:web"], "cat /etc/hosts")).toContain(`${ip}\tweb`);
    } finally {
      await b.run(["rm", "-f", "linkweb"]);
      await b.run(["network", "rm", "shnet"]);
    }
  });
});

describe.skipIf(!root)("--volumes-from", () => {
  test("another container's volumes and binds, read-only with :ro; its tmpfs stays its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunker-vf-"));
    writeFileSync(join(dir, "f"), "bound");
    await b.ok(["create", "--name", "vfsrc", "-v", "vfnamed:/named", "-v", "/anon", "-v", `${dir}:/bound`, "--tmpfs", "/scratch", busybox, "true"]);
    try {
      await sh(["--volumes-from", "vfsrc"], "echo n > /named/n; echo a > /anon/a");
      expect(await sh(["--volumes-from", "vfsrc"], "cat /named/n /anon/a /bound/f; grep -c ' /scratch ' /proc/mounts || true")).toBe("n\na\nbound0\n");
      const ro = await b.run(["run", "--rm", "--volumes-from", "vfsrc:ro", busybox, "sh", "-c", "touch /named/x"]);
      expect(ro.code).not.toBe(0);
      expect(ro.stderr).toContain("Read-only file system");
      await b.ok(["create", "--name", "vfdst", "--volumes-from", "vfsrc:ro", busybox, "true"]);
      expect(await inspect("vfdst", "{{json .HostConfig.VolumesFrom}}")).toBe(`["vfsrc:ro"]`);
      expect(await inspect("vfdst", "{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}")).toBe("/anon=false /bound=false /named=false");
      const bad = await b.run(["create", "--volumes-from", "vfsrc:rx", busybox, "true"]);
      expect(bad.code).toBe(125);
      expect(bad.stderr).toContain("invalid mode for volumes-from: rx");
    } finally {
      await b.run(["rm", "-f", "-v", "vfsrc", "vfdst"]);
      await b.run(["volume", "rm", "vfnamed"]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!root)("--mac-address, --expose", () => {
  test("--mac-address is eth0's address on the bridge; a bad one is refused", async () => {
    expect((await sh(["--mac-address", "02:42:ac:11:ff:01"], "cat /sys/class/net/eth0/address")).trim()).toBe("02:42:ac:11:ff:01");
    const bad = await b.run(["run", "--rm", "--mac-address", "zz", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("zz is not a valid mac address");
    const host = await b.run(["run", "--rm", "--network", "host", "--mac-address", "02:42:ac:11:ff:01", busybox, "true"]);
    expect(host.code).toBe(125);
    expect(host.stderr).toContain("conflicting options: mac-address and the network mode");
  });

  test("--expose records ports and ranges; -P publishes them", async () => {
    await b.ok(["run", "-d", "--name", "expo", "--expose", "7000-7002/udp", "--expose", "8080", "-P", busybox, "sleep", "600"]);
    try {
      expect(await inspect("expo", "{{json .Config.ExposedPorts}}")).toBe(`{"7000/udp":{},"7001/udp":{},"7002/udp":{},"8080/tcp":{}}`);
      const ports = await b.ok(["port", "expo"]);
      for (const p of ["7000/udp", "7001/udp", "7002/udp", "8080/tcp"]) expect(ports).toContain(`${p} -> 0.0.0.0:`);
    } finally {
      await b.run(["rm", "-f", "expo"]);
    }
    const bad = await b.run(["run", "--rm", "--expose", "9-x", busybox, "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("invalid range format for --expose");
  });
});

describe.skipIf(!root)("--sysctl", () => {
  test("net.* in the container's own network namespace, IPC ones in its IPC namespace; the host's stay as they are", async () => {
    const hostSomaxconn = (await Bun.file("/proc/sys/net/core/somaxconn").text()).trim();
    const hostShmmni = (await Bun.file("/proc/sys/kernel/shmmni").text()).trim();
    const out = await sh(["--sysctl", "net.core.somaxconn=1234", "--sysctl", "kernel.shmmni=1111"], "cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni");
    expect(out).toBe("1234\n1111\n");
    expect((await Bun.file("/proc/sys/net/core/somaxconn").text()).trim()).toBe(hostSomaxconn);
    expect((await Bun.file("/proc/sys/kernel/shmmni").text()).trim()).toBe(hostShmmni);
  });

  test("refused where the namespace is the host's: net.* with --network host, IPC ones with --ipc host", async () => {
    const net = await b.run(["run", "--rm", "--network", "host", "--sysctl", "net.core.somaxconn=1234", busybox, "true"]);
    expect(net.code).toBe(125);
    expect(net.stderr).toContain(`sysctl "net.core.somaxconn" not allowed in host network namespace`);
    const ipc = await b.run(["run", "--rm", "--ipc", "host", "--sysctl", "kernel.shmmni=1111", busybox, "true"]);
    expect(ipc.code).toBe(125);
    expect(ipc.stderr).toContain(`sysctl "kernel.shmmni" is not allowed in the hosts ipc namespace`);
    // nor through a container that uses the host's: joining its namespace is joining the host's
    const hostShmmni = (await Bun.file("/proc/sys/kernel/shmmni").text()).trim();
    await b.ok(["run", "-d", "--name", "ipchost", "--ipc", "host", busybox, "sleep", "600"]);
    try {
      const via = await b.run(["run", "--rm", "--ipc", "container:ipchost", "--sysctl", "kernel.shmmni=1111", busybox, "true"]);
      expect(via.code).toBe(125);
      expect(via.stderr).toContain(`sysctl "kernel.shmmni" is not allowed in the hosts ipc namespace`);
      expect((await Bun.file("/proc/sys/kernel/shmmni").text()).trim()).toBe(hostShmmni);
      // nor through a chain: X joined the host's through its own donor
      await b.ok(["run", "-d", "--name", "ipcchain", "--ipc", "container:ipchost", busybox, "sleep", "600"]);
      const chained = await b.run(["run", "--rm", "--ipc", "container:ipcchain", "--sysctl", "kernel.shmmni=1111", busybox, "true"]);
      expect(chained.code).toBe(125);
      expect(chained.stderr).toContain(`sysctl "kernel.shmmni" is not allowed in the hosts ipc namespace`);
      expect((await Bun.file("/proc/sys/kernel/shmmni").text()).trim()).toBe(hostShmmni);
    } finally {
      await b.run(["rm", "-f", "ipchost", "ipcchain"]);
    }
  });
});

// ------------------------------------------------------------------ the Engine API: docker CLI 28, docker-py

const DOCKER = "/usr/local/bin/docker";
const hasPython = root && Bun.spawnSync(["python3", "-c", "import docker"]).exitCode === 0;

describe.skipIf(!root || DAEMON_MODE)("through bunker serve", () => {
  let dir: string;
  let sock: string;
  let daemon: Subprocess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bunker-sharing-"));
    chmodSync(dir, 0o755);
    sock = join(dir, "bunker.sock");
    daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", freshDataRoot(), "--registry-mirror", reg.url], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    await waitForDaemon(sock);
  }, 120_000);
  afterAll(async () => {
    if (!sock) return;
    const ids = (await docker(["ps", "-aq"])).stdout.trim();
    if (ids) await docker(["rm", "-f", "-v", ...ids.split("\n")]);
    await docker(["volume", "prune", "-f", "-a"]);
    daemon.kill();
    await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  async function docker(args: string[]): Promise<Result> {
    const proc = Bun.spawn([DOCKER, ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "docker-config"), DOCKER_HOST: `unix://${sock}` },
      timeout: 120_000,
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }
  const dok = async (args: string[]) => {
    const r = await docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  test.skipIf(!existsSync(DOCKER))("the docker CLI 28: --pid/--ipc container:X, --uts host, --group-add, --link, --volumes-from, --mac-address, --expose -P, --sysctl", async () => {
    await dok(["pull", "-q", "busybox"]);
    await dok(["run", "-d", "--name", "dx", "--ipc", "shareable", "-v", "dvol:/data", "-h", "dxhost", "busybox", "sh", "-c", "echo shm > /dev/shm/s; echo vol > /data/v; exec sleep 4343"]);
    const seen = await dok(["run", "--rm", "--pid", "container:dx", "--ipc", "container:dx", "busybox", "sh", "-c", `${PS}; cat /dev/shm/s`]);
    expect(seen).toContain("sleep 4343");
    expect(seen).not.toContain(MARK);
    expect(seen).toContain("shm\n");
    expect(await dok(["inspect", "--format", "{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}}", "dx"])).toBe("shareable \n");
    expect((await dok(["run", "--rm", "--uts", "host", "busybox", "hostname"])).trim()).toBe(hostname());
    expect((await dok(["run", "--rm", "--group-add", "4321", "busybox", "id", "-G"])).trim().split(" ")).toContain("4321");
    const ip = (await dok(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "dx"])).trim();
    expect(await dok(["run", "--rm", "--link", "dx:db", "busybox", "cat", "/etc/hosts"])).toContain(`${ip}\tdb dxhost dx`);
    expect(await dok(["run", "--rm", "--volumes-from", "dx:ro", "busybox", "sh", "-c", "cat /data/v; touch /data/w 2>&1 || true"])).toMatch(/^vol\n.*Read-only file system/);
    expect((await dok(["run", "--rm", "--mac-address", "02:42:ac:11:ee:02", "busybox", "cat", "/sys/class/net/eth0/address"])).trim()).toBe("02:42:ac:11:ee:02");
    await dok(["run", "-d", "--name", "dexpo", "--expose", "7100-7101/udp", "-P", "busybox", "sleep", "600"]);
    const ports = await dok(["port", "dexpo"]);
    expect(ports).toContain("7100/udp -> 0.0.0.0:");
    expect(ports).toContain("7101/udp -> 0.0.0.0:");
    expect((await dok(["run", "--rm", "--sysctl", "net.core.somaxconn=2345", "busybox", "cat", "/proc/sys/net/core/somaxconn"])).trim()).toBe("2345");
    await dok(["stop", "-t", "0", "dx"]);
    const r = await docker(["run", "--rm", "--pid", "container:dx", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("failed to join PID namespace: container dx is not running");
    const conflict = await docker(["run", "--rm", "--uts", "host", "-h", "x", "busybox", "true"]);
    expect(conflict.code).toBe(125);
    expect(conflict.stderr).toContain("conflicting options: hostname and the UTS mode");
  }, 240_000);

  test.skipIf(!hasPython)("docker-py: pid_mode, ipc_mode, group_add, links, volumes_from, mac_address; refusals by name", async () => {
    const script = join(dir, "sharing.py");
    writeFileSync(
      script,
      `import sys, json, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
c.images.pull("busybox", tag="latest")
r = {}
x = c.containers.run("busybox", ["sh", "-c", "echo py > /dev/shm/p; exec sleep 4545"], detach=True, name="pyx", ipc_mode="shareable", volumes=["pyvol:/pv"])
out = c.containers.run("busybox", ["sh", "-c", "cat /proc/1/cmdline | tr '\\\\0' ' '; echo; cat /dev/shm/p; id -G; grep -c pyx /etc/hosts; cat /sys/class/net/eth0/address; ls -d /pv"],
    remove=True, pid_mode="container:pyx", ipc_mode="container:pyx", group_add=["555"], links={"pyx": "alias"}, volumes_from=["pyx:ro"], mac_address="02:42:ac:11:dd:03")
r["out"] = out.decode().split("\\n")
def err(**kw):
    try:
        c.containers.create("busybox", ["true"], **kw)
        return None
    except docker.errors.APIError as e:
        return [e.status_code, e.explanation]
r["uts"] = err(uts_mode="host", hostname="h")
r["domain"] = err(uts_mode="host", sysctls={"kernel.domainname": "x"})
r["ipc"] = err(ipc_mode="bogus")
r["pid"] = err(pid_mode="bogus")
r["vf"] = err(volumes_from=["pyx:zz"])
x.remove(force=True)
print(json.dumps(r))
`,
    );
    const p = Bun.spawn(["python3", script, sock], { stdout: "pipe", stderr: "pipe", timeout: 120_000 });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`docker-py script failed (${code}):\n${err}`);
    const r = JSON.parse(out);
    expect(r.out[0]).toBe("sleep 4545 ");
    expect(r.out[1]).toBe("py");
    expect(r.out[2].split(" ")).toContain("555");
    expect(r.out.slice(3, 6)).toEqual(["1", "02:42:ac:11:dd:03", "/pv"]);
    expect(r.uts).toEqual([400, "conflicting options: hostname and the UTS mode"]);
    expect(r.domain).toEqual([400, `sysctl "kernel.domainname" is not in a separate kernel namespace`]);
    expect(r.ipc).toEqual([400, "invalid IPC mode: bogus"]);
    expect(r.pid).toEqual([400, "invalid PID mode: bogus"]);
    expect(r.vf).toEqual([400, "invalid mode for volumes-from: zz"]);
  }, 240_000);
});
