/**
 * The runtime against real containers (root only): a busybox-static rootfs as the single lower dir, the
 * shim built from source, and checks made from inside the container. Every process, loop device and
 * temp dir a test creates is released in afterEach/afterAll, even when the test fails.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { testPlan } from "../helpers/plan.ts";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ContainerStartError,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  logPath,
  readContainerStatus,
  resolveCapabilities,
  signalContainer,
  startContainer,
  type ContainerPlan,
} from "../../src/engine/runtime/index.ts";
import { containerCgroups, removeCgroups } from "../../src/engine/runtime/cgroups.ts";

const root = process.getuid?.() === 0;
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const enabled = root && !!busybox;
const repo = join(import.meta.dir, "..", "..");

let base = "";
let lower = "";
const cleanups: (() => void)[] = [];
const started: string[] = []; // container dirs whose processes must be gone after each test

/** Kills what a container dir's status names (container, supervisor, guardian), by pid. */
function killContainer(dir: string) {
  try {
    writeFileSync(join(dir, "stop-requested"), "");
    const raw = JSON.parse(readFileSync(join(dir, "status.json"), "utf8"));
    for (const pid of [raw.guardianPid, raw.supervisorPid, raw.pid]) {
      try {
        if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "latin1").length >= 0) process.kill(pid, "SIGKILL");
      } catch {}
    }
  } catch {}
}

beforeAll(() => {
  if (!enabled) return;
  base = mkdtempSync(join(tmpdir(), "bunker-rt-"));
  const shim = join(base, "bunker-shim");
  const b = Bun.spawnSync(["sh", join(repo, "scripts/build-shim.sh"), shim]);
  if (b.exitCode !== 0) throw new Error(`build-shim: ${b.stderr.toString()}`);
  process.env.BUNKER_SHIM = shim;
  // rootfs: busybox + one symlink per applet, minimal passwd/group (as the busybox image has)
  lower = join(base, "lower");
  for (const d of ["bin", "etc", "tmp", "root", "home/alice"]) mkdirSync(join(lower, d), { recursive: true });
  writeFileSync(join(lower, "bin/busybox"), readFileSync(busybox!), { mode: 0o755 });
  const list = Bun.spawnSync([busybox!, "--list"]).stdout.toString().split("\n").filter(Boolean);
  for (const a of list) if (a !== "busybox") Bun.spawnSync(["ln", "-sf", "busybox", join(lower, "bin", a)]);
  writeFileSync(join(lower, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n");
  writeFileSync(join(lower, "etc/group"), "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\n");
  writeFileSync(join(lower, "etc/motd"), "lower\n");
});

afterEach(() => {
  for (const d of started.splice(0)) killContainer(d);
  for (const c of cleanups.splice(0).reverse()) c();
});

// This file points BUNKER_SHIM at a shim in its temp dir; every test file shares this process's env, and a
// later one that spawns the CLI with it must not get a shim that is gone.
const shimBefore = process.env.BUNKER_SHIM;
afterAll(() => {
  if (shimBefore === undefined) delete process.env.BUNKER_SHIM;
  else process.env.BUNKER_SHIM = shimBefore;
  if (!base) return;
  // no mount of ours may be left in the host namespace (the overlay lives only in the container's)
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(base);
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
/** A plan with Docker's defaults over the busybox lower dir; `over` replaces fields. */
function plan(args: string[], over: Partial<ContainerPlan> = {}): ContainerPlan {
  const id = `${(++n).toString(16).padStart(4, "0")}${Date.now().toString(16)}`.padEnd(64, "0");
  const dir = join(base, "containers", id);
  for (const d of ["upper", "work", "merged"]) mkdirSync(join(dir, d), { recursive: true });
  started.push(dir);
  return testPlan(id, dir, [lower], { args, ...over });
}

/** Runs attached; returns exit code, stdout and stderr. */
async function run(args: string[], over: Partial<ContainerPlan> = {}, stdin?: string) {
  const p = plan(args, over);
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const { attach } = await startContainer(p, "attached", { onStdout: (b) => (out += dec.decode(b)), onStderr: (b) => (err += dec.decode(b)) });
  if (stdin !== undefined) {
    attach!.write(stdin);
    attach!.closeStdin();
  }
  const code = await attach!.exited;
  return { code, out, err, plan: p };
}

/** Polls status until the supervisor is done with the container. */
async function waitDone(dir: string, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const st = readContainerStatus(dir);
    if (!st.running && !st.restarting && st.exitCode !== undefined && !st.supervisorPid) return st;
    if (Date.now() > end) throw new Error(`container in ${dir} still running: ${JSON.stringify(st)}`);
    await Bun.sleep(20);
  }
}

const sh = (script: string) => ["sh", "-c", script];

describe.skipIf(!enabled)("runtime (root, real containers)", () => {
  test("isolation as seen from inside", async () => {
    const r = await run(
      sh(`echo pid=$$; hostname; grep CapEff /proc/self/status; echo dev=$(ls /dev | tr '\\n' ' '); echo fds=$(ls /proc/self/fd | tr '\\n' ' ');
          echo exe=$(readlink /proc/1/exe); echo procs=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ');
          mount -t tmpfs x /tmp 2>/dev/null && echo mount=ok || echo mount=refused;
          echo links=$(ip -o link | cut -d: -f2 | tr -d ' \\n')`),
    );
    expect(r.code).toBe(0);
    const o = r.out;
    expect(o).toContain("pid=1\n");
    expect(o).toContain(`${r.plan.hostname}\n`);
    expect(o).toContain("CapEff:\t00000000a80425fb");
    expect(o).toContain("dev=core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero\n");
    expect(o).toMatch(/fds=0 1 2( 3)?\n/); // ls's own directory fd may show as 3
    expect(o).toContain("exe=/bin/busybox\n");
    expect(o).toMatch(/procs=1( \d{1,2})*\n/); // sh (1) and its pipeline: no host process is visible
    expect(o).toContain("mount=refused");
    expect(o).toContain("links=lo\n");
  });

  test("masked paths are empty, read-only paths are not writable", async () => {
    const masked = DEFAULT_MASKED_PATHS.map((p) => `[ -e ${p} ] && echo "${p} $(cat ${p} 2>/dev/null | wc -c) $([ -d ${p} ] && ls -A ${p} | wc -l || echo 0)"`).join("; ");
    const ro = DEFAULT_READONLY_PATHS.map((p) => `(echo 1 > ${p}) 2>/dev/null && echo "writable ${p}"; touch ${p}/x 2>/dev/null && echo "writable ${p}/x"`).join("; ");
    const r = await run(sh(`${masked}; ${ro}; echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo "writable hostname"; touch /sys/x 2>/dev/null && echo writable sys; true`));
    for (const line of r.out.trim().split("\n").filter(Boolean)) {
      expect(line).not.toContain("writable");
      expect(line).toMatch(/ 0 0$/);
    }
    expect(r.out).toContain("/proc/keys 0 0");
  });

  test("writes land in the upper dir; the lower dir is untouched", async () => {
    const r = await run(sh("echo new > /etc/motd && echo hi > /root/file && rm /bin/vi && cat /etc/motd"));
    expect(r.code).toBe(0);
    expect(r.out).toBe("new\n");
    expect(readFileSync(join(r.plan.rootfs.upperDir, "etc/motd"), "utf8")).toBe("new\n");
    expect(readFileSync(join(r.plan.rootfs.upperDir, "root/file"), "utf8")).toBe("hi\n");
    expect(statSync(join(r.plan.rootfs.upperDir, "bin/vi")).isCharacterDevice()).toBe(true); // overlay whiteout
    expect(readFileSync(join(lower, "etc/motd"), "utf8")).toBe("lower\n");
    expect(existsSync(join(lower, "bin/vi"))).toBe(true);
    expect(readdirSync(r.plan.rootfs.mergedDir)).toEqual([]); // the overlay exists only in the container's namespace
  });

  test("a device node made inside the container gives no access to the host device", async () => {
    const img = join(base, "loop.img");
    writeFileSync(img, Buffer.alloc(1 << 20, "SECRET-ON-HOST\n"));
    const lo = Bun.spawnSync(["losetup", "-f", "--show", img]);
    if (lo.exitCode !== 0) throw new Error(`losetup: ${lo.stderr}`);
    const dev = lo.stdout.toString().trim();
    cleanups.push(() => void Bun.spawnSync(["losetup", "-d", dev]));
    const rdev = statSync(dev).rdev;
    const [maj, min] = [Math.floor(rdev / 256) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & ~0xff)];
    expect(readFileSync(dev).subarray(0, 6).toString()).toBe("SECRET"); // the probe works on the host
    const probes = ["/tmp/d", "/dev/d", "/dev/shm/d", "/root/d"]
      .map((p) => `mknod ${p} b ${maj} ${min} && echo made ${p}; head -c 6 ${p} 2>/dev/null; echo " end ${p}"`)
      .join("; ");
    // the engine gives every container its cgroups; the devices one is what refuses (/dev is not nodev)
    const p = plan(sh(probes));
    Object.assign(p, containerCgroups(p.id, {}));
    cleanups.push(() => removeCgroups(p.id));
    let out = "";
    const { attach } = await startContainer(p, "attached", { onStdout: (b) => (out += new TextDecoder().decode(b)) });
    await attach!.exited;
    expect(out).not.toContain("SECRET");
    expect(out).toContain("made /tmp/d"); // CAP_MKNOD is in Docker's set: creating works, opening must not
    expect(out).toContain("made /dev/d");
  });

  test("exit codes 0, 3 and 137 are recorded", async () => {
    expect((await run(["true"])).code).toBe(0);
    const three = await run(sh("exit 3"));
    expect(three.code).toBe(3);
    const st = await waitDone(three.plan.containerDir);
    expect(st.exitCode).toBe(3);
    expect(Date.parse(st.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(st.startedAt!));
    const p = plan(["sleep", "60"]);
    const { pid } = await startContainer(p);
    expect(readContainerStatus(p.containerDir)).toMatchObject({ running: true, pid });
    signalContainer(p.containerDir, "KILL", { stop: true });
    expect((await waitDone(p.containerDir)).exitCode).toBe(137);
  });

  test("logs are json-file, stdout and stderr apart", async () => {
    const r = await run(sh(`echo out1; echo err1 >&2; printf 'a"b\\\\c<\\t>'; echo; printf '\\377\\n'; printf partial`));
    expect(r.code).toBe(0);
    const lines = readFileSync(logPath(r.plan), "utf8").trim().split("\n");
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs.filter((x) => x.stream === "stdout").map((x) => x.log)).toEqual(["out1\n", 'a"b\\c<\t>\n', "\ufffd\n", "partial"]);
    expect(recs.filter((x) => x.stream === "stderr").map((x) => x.log)).toEqual(["err1\n"]);
    for (const x of recs) expect(x.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(lines.some((l) => l.includes('"log":"a\\"b\\\\c\\u003c\\t\\u003e\\n"'))).toBe(true); // Go's HTML-safe escaping, as dockerd writes
  });

  test("logs rotate at max-size, keeping max-file files", async () => {
    const r = await run(sh("i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"), { logMaxSize: 4096, logMaxFile: 3 });
    expect(r.code).toBe(0);
    const file = logPath(r.plan);
    expect(existsSync(`${file}.1`) && existsSync(`${file}.2`) && !existsSync(`${file}.3`)).toBe(true);
    const recs = [`${file}.2`, `${file}.1`, file].flatMap((f) => readFileSync(f, "utf8").trim().split("\n")).map((l) => JSON.parse(l));
    const nums = recs.map((x) => Number(x.log.slice(4)));
    expect(nums.at(-1)).toBe(299);
    expect(nums).toEqual(nums.map((_, i) => nums[0]! + i)); // contiguous: nothing lost inside the kept window
    for (const f of [`${file}.2`, `${file}.1`]) expect(statSync(f).size).toBeLessThan(4096 + 100);
  });

  test("a detached container outlives its starter and a kill -9 of its supervisor", async () => {
    const p = plan(sh("echo before; sleep 1; echo after; exit 7"));
    writeFileSync(join(base, "plan.json"), JSON.stringify(p));
    // start it from another process that exits right away
    const starter = Bun.spawnSync(["bun", "-e", `const {startContainer}=await import(${JSON.stringify(join(repo, "src/engine/runtime/index.ts"))}); await startContainer(JSON.parse(await Bun.file(${JSON.stringify(join(base, "plan.json"))}).text()));`], {
      env: process.env,
    });
    expect(starter.exitCode).toBe(0);
    const st = readContainerStatus(p.containerDir);
    expect(st.running).toBe(true);
    process.kill(st.supervisorPid!, "SIGKILL");
    await Bun.sleep(100);
    const after = readContainerStatus(p.containerDir);
    expect(after.running).toBe(true);
    expect(after.supervisorPid).not.toBe(st.supervisorPid); // the guardian took over
    const done = await waitDone(p.containerDir);
    expect(done.exitCode).toBe(7);
    const log = readFileSync(logPath(p), "utf8");
    expect(log).toContain('"log":"before\\n"');
    expect(log).toContain('"log":"after\\n"');
  });

  test("restart on-failure:2 runs three times, then records the failure", async () => {
    const p = plan(sh("echo run; exit 1"), { restart: { name: "on-failure", maxRetries: 2 } });
    await startContainer(p);
    const st = await waitDone(p.containerDir);
    expect(st).toMatchObject({ exitCode: 1, restartCount: 2, running: false });
    expect(readFileSync(logPath(p), "utf8").match(/"run\\n"/g)?.length).toBe(3);
  });

  test("stop prevents restart=always from reviving the container", async () => {
    const p = plan(["sleep", "60"], { restart: { name: "always" } });
    await startContainer(p);
    signalContainer(p.containerDir, "KILL", { stop: true });
    const st = await waitDone(p.containerDir);
    expect(st).toMatchObject({ exitCode: 137, restartCount: 0 });
  });

  test("-u resolves through the image's passwd and group; non-root has no effective caps", async () => {
    const a = await run(sh("id; grep CapEff /proc/self/status; echo $HOME"), { user: "alice" });
    expect(a.out).toContain("uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)");
    expect(a.out).toContain("CapEff:\t0000000000000000");
    expect(a.out).toContain("/home/alice\n");
    expect((await run(["id"], { user: "nobody:staff" })).out).toBe("uid=65534(nobody) gid=50(staff) groups=50(staff)\n");
    expect((await run(["id"], { user: "4242:4343" })).out).toBe("uid=4242 gid=4343 groups=4343\n");
    const err = await run(["id"], { user: "mallory" }).catch((e) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect(err.message).toContain("unable to find user mallory");
  });

  test("a missing command fails the start with 127", async () => {
    const err = await run(["nope"]).catch((e) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect(err.exitCode).toBe(127);
    expect(err.message).toContain('exec: "nope": executable file not found in $PATH');
  });

  test("stdin is relayed and closed", async () => {
    const r = await run(["sh", "-c", "cat; echo done"], { openStdin: true }, "hello\n");
    expect(r.out).toBe("hello\ndone\n");
  });

  test("-t gives a pty from the container's devpts, resizable", async () => {
    const p = plan(["sh", "-c", "tty; sleep 0.3; stty size"], { tty: true, openStdin: true });
    let out = "";
    const { attach } = await startContainer(p, "attached", { onStdout: (b) => (out += new TextDecoder().decode(b)) });
    attach!.resize(33, 77);
    expect(await attach!.exited).toBe(0);
    expect(out).toContain("/dev/pts/0");
    expect(out).toContain("33 77");
    expect(readdirSync(join(p.containerDir))).toContain(`${p.id}-json.log`);
  });

  test("binds, --network host and capability changes", async () => {
    const vol = join(base, "vol");
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, "f"), "from host\n");
    const r = await run(sh("cat /data/f; echo x > /data/g 2>/dev/null || echo ro; grep CapEff /proc/self/status; cat /etc/hostname; ip -o link | wc -l"), {
      binds: [{ source: vol, target: "/data", readonly: true }],
      network: "host",
      capabilities: resolveCapabilities({ capDrop: ["ALL"], capAdd: ["NET_ADMIN"] }),
      noNewPrivileges: true,
    });
    expect(r.out).toContain("from host\nro\nCapEff:\t0000000000001000\n");
    const hostLinks = Bun.spawnSync(["ip", "-o", "link"]).stdout.toString().trim().split("\n").length;
    expect(r.out.trim().endsWith(String(hostLinks))).toBe(true);
  });
});
