/**
 * exec into real running containers (root only), on the same busybox-static rootfs as runtime.test.ts:
 * what the exec'd process sees (pid namespace, hostname, files, env, cwd, user, caps, fds, tty), exit codes
 * and Docker's messages, stdin, detached execs and their records, and the container's stop ending them.
 * Every container, supervisor and exec'd process is killed by pid in afterEach, even when a test fails.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { testPlan } from "../helpers/plan.ts";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  encodePlan,
  execEnv,
  execInContainer,
  ExecStartError,
  readContainerStatus,
  readExecStatus,
  resolveCapabilities,
  logPath,
  signalContainer,
  startContainer,
  type ContainerPlan,
  type ExecOptions,
} from "../../src/engine/runtime/index.ts";
import { EngineError } from "../../src/engine/errors.ts";
import { shimPath } from "../../src/engine/runtime/shim-binary.ts";

const root = process.getuid?.() === 0;
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const enabled = root && !!busybox;
const repo = join(import.meta.dir, "..", "..");

let base = "";
let lower = "";
const started: string[] = []; // container dirs whose processes must be gone after each test

const tryKill = (pid: unknown) => {
  try {
    if (typeof pid === "number" && pid > 0) process.kill(pid, "SIGKILL");
  } catch {}
};

/** Kills, by pid, what a container dir records: every exec (process and supervisor), then the container. */
function killContainer(dir: string) {
  try {
    writeFileSync(join(dir, "stop-requested"), "");
  } catch {}
  try {
    for (const f of readdirSync(join(dir, "execs")).filter((f) => f.endsWith(".json"))) {
      try {
        const x = JSON.parse(readFileSync(join(dir, "execs", f), "utf8"));
        tryKill(x.supervisorPid);
        tryKill(x.pid);
      } catch {}
    }
  } catch {}
  try {
    const raw = JSON.parse(readFileSync(join(dir, "status.json"), "utf8"));
    for (const pid of [raw.guardianPid, raw.supervisorPid, raw.pid]) tryKill(pid);
  } catch {}
}

/**
 * The shim for this file. shim-binary.ts caches the first BUNKER_SHIM it sees for the whole process, and
 * `bun test tests/` runs every file in one process: so this file's shim must outlive the file. It goes to
 * one fixed path in the temp dir, rebuilt and renamed over on each run (bun test fires no "exit" event to
 * remove it). If another file got cached first and has deleted its shim since, the shim is put back there
 * and removed in afterAll.
 */
const restored: string[] = [];
async function installShim() {
  const shim = join(tmpdir(), "bunker-test-shim");
  const tmp = `${shim}.${process.pid}`;
  const b = Bun.spawnSync(["sh", join(repo, "scripts/build-shim.sh"), tmp]);
  if (b.exitCode !== 0) throw new Error(`build-shim: ${b.stderr.toString()}`);
  renameSync(tmp, shim); // running shims keep the old inode
  process.env.BUNKER_SHIM = shim;
  const cached = await shimPath(base);
  if (!existsSync(cached)) {
    const dir = dirname(cached);
    restored.push(existsSync(dir) ? cached : dir);
    mkdirSync(dir, { recursive: true });
    copyFileSync(shim, cached);
    chmodSync(cached, 0o555);
  }
}

beforeAll(async () => {
  if (!enabled) return;
  base = mkdtempSync(join(tmpdir(), "bunker-exec-"));
  await installShim();
  lower = join(base, "lower");
  for (const d of ["bin", "etc", "tmp", "root", "home/alice", "srv"]) mkdirSync(join(lower, d), { recursive: true });
  writeFileSync(join(lower, "bin/busybox"), readFileSync(busybox!), { mode: 0o755 });
  const list = Bun.spawnSync([busybox!, "--list"]).stdout.toString().split("\n").filter(Boolean);
  for (const a of list) if (a !== "busybox") Bun.spawnSync(["ln", "-sf", "busybox", join(lower, "bin", a)]);
  writeFileSync(join(lower, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n");
  writeFileSync(join(lower, "etc/group"), "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\n");
  writeFileSync(join(lower, "srv/data.txt"), "not executable\n", { mode: 0o644 });
});

afterEach(() => {
  for (const d of started.splice(0)) killContainer(d);
});

// BUNKER_SHIM set by installShim is put back: every test file shares this process's env.
const shimBefore = process.env.BUNKER_SHIM;
afterAll(() => {
  if (shimBefore === undefined) delete process.env.BUNKER_SHIM;
  else process.env.BUNKER_SHIM = shimBefore;
  for (const p of restored.splice(0)) rmSync(p, { recursive: true, force: true });
  if (!base) return;
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(base);
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
function plan(args: string[], over: Partial<ContainerPlan> = {}): ContainerPlan {
  const id = `e${(++n).toString(16).padStart(4, "0")}${Date.now().toString(16)}`.padEnd(64, "0");
  const dir = join(base, "containers", id);
  for (const d of ["upper", "work", "merged"]) mkdirSync(join(dir, d), { recursive: true });
  started.push(dir);
  return testPlan(id, dir, [lower], { args, env: ["FOO=container", "BAR=kept"], ...over });
}

/** A detached container running `sleep 600` (or the given command). */
async function running(over: Partial<ContainerPlan> = {}, args = ["sleep", "600"]) {
  const p = plan(args, over);
  const { pid } = await startContainer(p);
  return { plan: p, dir: p.containerDir, pid };
}

let x = 0;
const execId = () => `${(++x).toString(16).padStart(8, "0")}${"f".repeat(56)}`;

/** Attached exec; returns exit code, stdout, stderr. */
async function exec(dir: string, args: string[], o: Partial<ExecOptions> = {}, stdin?: string) {
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const id = o.execId ?? execId();
  const { pid, attach } = await execInContainer(dir, {
    execId: id,
    args,
    onStdout: (b) => (out += dec.decode(b)),
    onStderr: (b) => (err += dec.decode(b)),
    ...o,
  });
  if (stdin !== undefined) {
    attach!.write(stdin);
    attach!.closeStdin();
  }
  const code = await attach!.exited;
  return { code, out, err, pid, id };
}

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(10);
  }
}

const sh = (script: string) => ["sh", "-c", script];

describe("execEnv (pure)", () => {
  test("overrides replace, append, and a bare key removes; TERM follows the exec's tty", () => {
    const env = ["PATH=/bin", "HOSTNAME=h", "FOO=1", "BAR=2", "TERM=xterm"];
    expect(execEnv(env, true, ["FOO=x", "NEW=y", "BAR"], false)).toEqual(["PATH=/bin", "HOSTNAME=h", "FOO=x", "NEW=y"]);
    expect(execEnv(["HOSTNAME=h"], false, [], true)).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=h", "TERM=xterm"]);
  });
});

describe.skipIf(!enabled)("exec (root, real containers)", () => {
  test("sees the container's pid namespace and hostname, not the host's processes", async () => {
    const c = await running();
    const r = await exec(c.dir, sh("echo self=$$; hostname; ps -o pid,comm; readlink /proc/1/exe; readlink /proc/self/exe"));
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[1]).toBe(c.plan.hostname);
    const ps = lines.slice(3, -2).map((l) => l.trim().split(/\s+/));
    const pids = ps.map((p) => Number(p[0]));
    expect(pids).toContain(1);
    expect(ps.find((p) => p[0] === "1")![1]).toBe("sleep");
    expect(pids).toContain(Number(lines[0]!.slice(5))); // the exec's shell, by its in-container pid
    expect(pids.every((p) => p < 100)).toBe(true); // a fresh namespace: nothing but the container and us
    expect(ps.length).toBeLessThanOrEqual(3); // sleep, sh, ps
    expect(lines.at(-2)).toBe("/bin/busybox"); // PID 1 as seen through the exec
    expect(lines.at(-1)).toBe("/bin/busybox"); // not the shim, not Bun
    expect(r.pid).toBeGreaterThan(1); // a host pid
  });

  test("shares the container's files; its writes land in the upper dir", async () => {
    const c = await running({}, sh("echo from-init > /tmp/init.txt; exec sleep 600"));
    await until(() => (existsSync(join(c.plan.rootfs.upperDir, "tmp/init.txt")) ? true : undefined));
    const r = await exec(c.dir, sh("cat /tmp/init.txt; echo from-exec > /root/exec.txt; cat /etc/hostname"));
    expect(r.out).toBe(`from-init\n${c.plan.hostname}\n`);
    expect(readFileSync(join(c.plan.rootfs.upperDir, "root/exec.txt"), "utf8")).toBe("from-exec\n");
    expect(existsSync(join(lower, "root/exec.txt"))).toBe(false);
    expect(readFileSync(join(c.dir, "status.json"), "utf8")).toContain('"running":true');
    // exec output is not the container's log
    const log = existsSync(join(c.dir, `${c.plan.id}-json.log`)) ? readFileSync(join(c.dir, `${c.plan.id}-json.log`), "utf8") : "";
    expect(log).not.toContain("from-init");
  });

  test("env from the container, -e overrides, -w, HOME", async () => {
    const c = await running({ cwd: "/srv" });
    const r = await exec(c.dir, sh("echo $FOO $BAR $NEW $HOSTNAME $HOME; pwd"), { env: ["FOO=exec", "NEW=1"] });
    expect(r.out).toBe(`exec kept 1 ${c.plan.hostname} /root\n/srv\n`);
    expect((await exec(c.dir, ["pwd"], { cwd: "/tmp" })).out).toBe("/tmp\n");
    const bad = await exec(c.dir, ["pwd"], { cwd: "/nope" }).catch((e) => e);
    expect(bad).toBeInstanceOf(ExecStartError);
    expect(bad.exitCode).toBe(126);
    expect(bad.message).toContain('chdir to cwd ("/nope") set in config.json failed: No such file or directory');
  });

  test("-u by name and by uid; default is the container's user", async () => {
    const c = await running({ user: "nobody" });
    expect((await exec(c.dir, ["id"])).out).toBe("uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n");
    const a = await exec(c.dir, sh("id; echo $HOME; grep CapEff /proc/self/status"), { user: "alice" });
    expect(a.out).toBe("uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)\n/home/alice\nCapEff:\t0000000000000000\n");
    expect((await exec(c.dir, ["id"], { user: "4242:50" })).out).toBe("uid=4242 gid=50(staff) groups=50(staff)\n");
    expect((await exec(c.dir, ["id", "-u"], { user: "0" })).out).toBe("0\n");
    const bad = await exec(c.dir, ["id"], { user: "mallory" }).catch((e) => e);
    expect(bad).toBeInstanceOf(ExecStartError);
    expect(bad.exitCode).toBe(126);
    expect(bad.message).toContain("unable to find user mallory: no matching entries in passwd file");
  });

  test("exit codes 0, 3, 126 and 127 with Docker's messages, all recorded", async () => {
    const c = await running();
    const ok = await exec(c.dir, ["true"]);
    expect(ok.code).toBe(0);
    expect(readExecStatus(c.dir, ok.id)).toMatchObject({ running: false, exitCode: 0, pid: ok.pid });
    const three = await exec(c.dir, sh("echo out; echo err >&2; exit 3"));
    expect(three).toMatchObject({ code: 3, out: "out\n", err: "err\n" });
    expect(readExecStatus(c.dir, three.id)?.exitCode).toBe(3);

    const id127 = execId();
    const nf = await exec(c.dir, ["nope"], { execId: id127 }).catch((e) => e);
    expect(nf).toBeInstanceOf(ExecStartError);
    expect(nf.exitCode).toBe(127);
    expect(nf.message).toBe('OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown');
    expect(readExecStatus(c.dir, id127)).toMatchObject({ running: false, exitCode: 127 });

    const ne = await exec(c.dir, ["/srv/data.txt"]).catch((e) => e);
    expect(ne).toBeInstanceOf(ExecStartError);
    expect(ne.exitCode).toBe(126);
    expect(ne.message).toContain('exec: "/srv/data.txt": permission denied');
    expect(readExecStatus(c.dir, "never-ran")).toBeUndefined();
    expect(existsSync(join(c.dir, "execs", `${id127}.plan`))).toBe(false); // consumed by the shim
  });

  test("-t gives a pty from the container's devpts; resize reaches it", async () => {
    const c = await running();
    let out = "";
    const { attach } = await execInContainer(c.dir, {
      execId: execId(),
      args: sh("tty; echo TERM=$TERM; sleep 0.3; stty size"),
      tty: true,
      onStdout: (b) => (out += new TextDecoder().decode(b)),
    });
    attach!.resize(33, 77);
    expect(await attach!.exited).toBe(0);
    expect(out).toMatch(/^\/dev\/pts\/\d+\r\n/);
    expect(out).toContain("TERM=xterm");
    expect(out).toContain("33 77");
    // without -t: no tty, no TERM
    expect((await exec(c.dir, sh("tty; echo TERM=$TERM"))).out).toBe("not a tty\nTERM=\n");
  });

  test("-i relays stdin and closes it; large input through cat does not deadlock", async () => {
    const c = await running();
    expect((await exec(c.dir, sh("cat; echo done"), { stdin: true }, "hello\n")).out).toBe("hello\ndone\n");
    const big = "0123456789abcdef".repeat(64 * 1024); // 1 MiB: more than both pipes hold
    const r = await exec(c.dir, ["cat"], { stdin: true }, big);
    expect(r.code).toBe(0);
    expect(r.out.length).toBe(big.length);
    expect(r.out === big).toBe(true);
    // without -i the process's stdin is the container's /dev/null
    expect((await exec(c.dir, sh("cat; echo eof"))).out).toBe("eof\n");
  });

  test("detached exec runs on and its exit code is recorded", async () => {
    const c = await running();
    const id = execId();
    const { pid, attach } = await execInContainer(c.dir, { execId: id, args: sh("sleep 0.3; echo bg > /tmp/bg; exit 5"), detach: true });
    expect(attach).toBeUndefined();
    expect(readExecStatus(c.dir, id)).toMatchObject({ running: true, pid });
    const st = await until(() => {
      const s = readExecStatus(c.dir, id);
      return s && !s.running ? s : undefined;
    });
    expect(st).toMatchObject({ running: false, exitCode: 5, pid });
    expect((await exec(c.dir, ["cat", "/tmp/bg"])).out).toBe("bg\n");
  });

  test("exec into a stopped or never-started container is refused with 409", async () => {
    const c = await running({}, ["true"]);
    await until(() => (readContainerStatus(c.dir).exitCode === 0 && !readContainerStatus(c.dir).supervisorPid ? true : undefined));
    const err = await exec(c.dir, ["true"]).catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(409);
    expect(err.message).toBe(`container ${c.plan.id} is not running`);
    const d = await execInContainer(c.dir, { execId: execId(), args: ["true"], detach: true }).catch((e) => e);
    expect(d.status).toBe(409);
  });

  test("CapEff matches the container's; --privileged gets what the host has; no_new_privs carries over", async () => {
    const c = await running({ noNewPrivileges: true, capabilities: resolveCapabilities({ capDrop: ["ALL"], capAdd: ["NET_ADMIN", "CHOWN"] }) });
    await Bun.sleep(50);
    const init = readFileSync(`/proc/${c.pid}/status`, "utf8");
    const capOf = (s: string, k: string) => s.match(new RegExp(`${k}:\\s*(\\S+)`))![1];
    const r = await exec(c.dir, sh("grep -E 'CapEff|CapBnd|NoNewPrivs' /proc/self/status"));
    expect(capOf(r.out, "CapEff")).toBe(capOf(init, "CapEff"));
    expect(capOf(r.out, "CapEff")).toBe("0000000000001001");
    expect(capOf(r.out, "CapBnd")).toBe(capOf(init, "CapBnd"));
    expect(capOf(r.out, "NoNewPrivs")).toBe("1");
    const p = await exec(c.dir, sh("grep CapEff /proc/self/status"), { privileged: true });
    const host = capOf(readFileSync("/proc/self/status", "utf8"), "CapBnd");
    expect(capOf(p.out, "CapEff")).toBe(host);
  });

  test("only fds 0-2, and nothing of the host reachable through /proc/self", async () => {
    const c = await running();
    const r = await exec(c.dir, sh("ls /proc/self/fd; readlink /proc/self/cwd; readlink /proc/self/root; ls /proc/$$/fd; true"));
    const lines = r.out.trim().split("\n");
    expect(lines.slice(0, 4)).toEqual(["0", "1", "2", "3"]); // ls's own directory fd is the 4th
    expect(lines.slice(4, 6)).toEqual(["/", "/"]);
    expect(lines.slice(6)).toEqual(["0", "1", "2"]); // the shell the shim exec'd (ls is its child here)
    // a tty exec too
    const t = await exec(c.dir, sh("ls -1 /proc/$$/fd; true"), { tty: true }); // no pipeline: the shell would hold its fds
    expect(t.out).toBe("0\r\n1\r\n2\r\n");
  });

  test("CVE-2019-5736: before execve, the container cannot reach the shim's exe, cwd or fds", async () => {
    // The container's init watches /proc for strangers. A FIFO posing as the container's cgroup.procs
    // holds the exec at its earliest point: forked into the pid namespace, not yet in the mount namespace.
    const probe = `while :; do for p in /proc/[0-9]*; do n=\${p#/proc/}; case "\$(cat $p/comm 2>/dev/null)" in bunker*) ;; *) continue;; esac;
      echo "$n exe=$(readlink $p/exe 2>/dev/null) cwd=$(readlink $p/cwd 2>/dev/null) root=$(readlink $p/root 2>/dev/null) fds=$(ls $p/fd 2>/dev/null | wc -l) links=$(for f in $p/fd/*; do readlink $f; done 2>/dev/null | wc -l)" >> /tmp/seen; done; sleep 0.02; done`;
    const c = await running({}, sh(probe));
    const fifo = join(base, `cg-${c.plan.id.slice(0, 8)}`);
    Bun.spawnSync(["mkfifo", fifo]);
    writeFileSync(join(c.dir, "plan"), encodePlan({ ...c.plan, cgroupProcs: [fifo] }, { waitAttach: false, logPath: logPath(c.plan) }));
    const id = execId();
    const pending = execInContainer(c.dir, { execId: id, args: ["true"], detach: true });
    await Bun.sleep(400);
    const fd = openSync(fifo, "r"); // releases the shim's write, then the exec proceeds
    const buf = Buffer.alloc(32);
    const got = readSync(fd, buf);
    closeSync(fd);
    const { pid } = await pending;
    expect(Number(buf.subarray(0, got).toString())).toBe(pid); // the shim wrote the exec's host pid
    const seen = await until(() => {
      const f = join(c.plan.rootfs.upperDir, "tmp/seen");
      return existsSync(f) ? readFileSync(f, "utf8") : undefined;
    });
    const lines = seen.trim().split("\n");
    expect(lines.length).toBeGreaterThan(2); // the init saw the waiting process several times
    // non-dumpable: exe, cwd, root and every fd link are denied (the fd dir itself lists, as for runc's init)
    for (const l of lines) expect(l).toMatch(/^\d+ exe= cwd= root= fds=\d+ links=0$/);
    expect(lines.some((l) => !l.endsWith("fds=0 links=0"))).toBe(true); // there were fds to hide
    expect(await until(() => readExecStatus(c.dir, id)?.exitCode)).toBe(0);
  });

  test("exec'd processes die with the container", async () => {
    const c = await running();
    const id = execId();
    const { pid } = await execInContainer(c.dir, { execId: id, args: ["sleep", "600"], detach: true });
    let out = "";
    const attached = await execInContainer(c.dir, { execId: execId(), args: ["sleep", "600"], onStdout: (b) => (out += b) });
    signalContainer(c.dir, "KILL", { stop: true });
    expect(await attached.attach!.exited).toBe(137);
    const st = await until(() => {
      const s = readExecStatus(c.dir, id);
      return s && !s.running ? s : undefined;
    });
    expect(st.exitCode).toBe(137);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  test("a client that goes away leaves the exec running and its exit recorded", async () => {
    const c = await running();
    const id = execId();
    const { attach } = await execInContainer(c.dir, { execId: id, args: sh("sleep 0.3; echo late; exit 4") });
    attach!.close();
    expect(await attach!.exited).toBeUndefined();
    expect(readExecStatus(c.dir, id)?.running).toBe(true);
    const st = await until(() => {
      const s = readExecStatus(c.dir, id);
      return s && !s.running ? s : undefined;
    });
    expect(st.exitCode).toBe(4);
  });
});
