/**
 * RUN: the step's command in a container of its own, on the runtime every container uses (the shim:
 * namespaces, seccomp, Docker's default capabilities, masked /proc paths, a devices cgroup). Its root is the
 * parent's layers under the step's fresh upper dir, mounted by the shim in the container's mount namespace
 * only; the upper dir then becomes the step's layer. RUN --mount (cache, bind, tmpfs, secret) become the
 * container's binds and tmpfs mounts; ssh is refused. Nothing of a step outlives it: the container's
 * directory and cgroups go when it exits, and an abort kills it first.
 */
import { copyFileSync, chownSync, mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { join, posix } from "node:path";
import type { Engine } from "../engine.ts";
import { network } from "../lazy.ts";
import { EngineError, invalidParameter } from "../errors.ts";
import { randomHex } from "../random.ts";
import { MS } from "../../sys/index.ts";
import { containerCgroups, defaultCgroupns, removeCgroups, type Resources } from "../runtime/cgroups.ts";
import { containerEnv, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, checkUlimit, hostsFile, resolveCapabilities, type ContainerPlan } from "../runtime/spec.ts";
import { startContainer } from "../runtime/start.ts";
import { readContainerStatus, signalContainer } from "../runtime/status.ts";
import type { BuildUlimit, ExtraHost } from "./types.ts";

/** BuildKit's hostname of RUN containers. */
export const RUN_HOSTNAME = "buildkitsandbox";

/** One `RUN --mount=...`, parsed (BuildKit's instructions/commands_runmount.go keys). */
export type RunMount =
  | { type: "bind"; target: string; source: string; from?: string; readonly: boolean }
  | { type: "cache"; target: string; id: string; sharing: "shared" | "private" | "locked"; readonly: boolean; mode: number; uid: number; gid: number }
  | { type: "tmpfs"; target: string; size: number }
  | { type: "secret"; target: string; id: string; required: boolean; mode: number; uid: number; gid: number };

const bool = (v: string | undefined, key: string) => {
  if (v === undefined || v === "" || v === "true") return true;
  if (v === "false") return false;
  throw invalidParameter(`invalid value for ${key}: ${v}`);
};

/** Parses one `--mount` value (already expanded) as BuildKit does, with its defaults and error texts. */
export function parseRunMount(spec: string): RunMount {
  const kv = new Map<string, string | undefined>();
  for (const field of spec.split(",")) {
    if (!field) continue;
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    kv.set(key, eq < 0 ? undefined : field.slice(eq + 1));
  }
  const type = kv.get("type") ?? "bind";
  const known: Record<string, string[]> = {
    bind: ["type", "target", "dst", "destination", "source", "src", "from", "rw", "readwrite", "ro", "readonly"],
    cache: ["type", "target", "dst", "destination", "id", "sharing", "ro", "readonly", "rw", "readwrite", "mode", "uid", "gid", "from", "source", "src"],
    tmpfs: ["type", "target", "dst", "destination", "size", "tmpfs-size"],
    secret: ["type", "target", "dst", "destination", "id", "required", "mode", "uid", "gid", "env"],
  };
  if (type === "ssh") throw invalidParameter("RUN --mount=type=ssh is not supported: bunker builds forward no SSH agent");
  if (!known[type]) throw invalidParameter(`unsupported mount type "${type}"`);
  for (const k of kv.keys()) if (!known[type]!.includes(k)) throw invalidParameter(`unexpected key '${k}' in '${spec}'`);
  const target = kv.get("target") ?? kv.get("dst") ?? kv.get("destination");
  const num = (k: string, d: number, base = 10) => {
    const v = kv.get(k);
    if (v === undefined) return d;
    const n = parseInt(v, base);
    if (Number.isNaN(n) || n < 0) throw invalidParameter(`invalid ${k}: ${v}`);
    return n;
  };
  const ro = kv.has("ro") || kv.has("readonly") ? bool(kv.get("ro") ?? kv.get("readonly"), "readonly") : kv.has("rw") || kv.has("readwrite") ? !bool(kv.get("rw") ?? kv.get("readwrite"), "readwrite") : undefined;
  switch (type) {
    case "bind":
      if (!target) throw invalidParameter("mount type bind requires a target");
      return { type, target, source: kv.get("source") ?? kv.get("src") ?? "/", from: kv.get("from"), readonly: ro ?? true };
    case "cache": {
      if (!target) throw invalidParameter("mount type cache requires a target");
      if (kv.has("from") || kv.has("source") || kv.has("src")) throw invalidParameter("RUN --mount=type=cache,from=... is not supported: a cache mount starts empty");
      const sharing = kv.get("sharing") ?? "shared";
      if (sharing !== "shared" && sharing !== "private" && sharing !== "locked") throw invalidParameter(`unsupported sharing value "${sharing}"`);
      return { type, target, id: kv.get("id") ?? target, sharing, readonly: ro ?? false, mode: num("mode", 0o755, 8), uid: num("uid", 0), gid: num("gid", 0) };
    }
    case "tmpfs": {
      if (!target) throw invalidParameter("mount type tmpfs requires a target");
      return { type, target, size: num("size", 0) || num("tmpfs-size", 0) };
    }
    default: {
      if (kv.has("env")) throw invalidParameter("RUN --mount=type=secret,env=... is not supported");
      const id = kv.get("id") ?? (target ? posix.basename(target) : undefined);
      if (!id) throw invalidParameter("secret ID missing from mount options");
      return { type: "secret", target: target ?? `/run/secrets/${id}`, id, required: kv.has("required") ? bool(kv.get("required"), "required") : false, mode: num("mode", 0o400, 8), uid: num("uid", 0), gid: num("gid", 0) };
    }
  }
}

/** What a RUN step runs with. */
export interface RunSpec {
  argv: string[];
  env: string[];
  user: string;
  cwd: string;
  network: "default" | "none" | "host";
  extraHosts: ExtraHost[];
  shmSize: number;
  ulimits: BuildUlimit[];
  binds: ContainerPlan["binds"];
  tmpfs: NonNullable<ContainerPlan["tmpfs"]>;
  signal?: AbortSignal;
  /** The build's private directory: a bridge address is claimed in its name (network/endpoints.ts buildStepNetwork). */
  scratch: string;
  onOutput(stream: 1 | 2, data: Uint8Array): void;
}

/** The /etc/hosts of a RUN container: the host's with host networking, else localhost and its own name (at its bridge address); then --add-host lines. */
function hostsOf(spec: RunSpec, host: boolean, ip?: string): string {
  let text = host ? readFileSync("/etc/hosts", "utf8") : hostsFile(RUN_HOSTNAME);
  if (ip) text = text.replace(/^127\.0\.1\.1\t/m, `${ip}\t`);
  if (!text.endsWith("\n")) text += "\n";
  for (const h of spec.extraHosts) {
    if (h.address === "host-gateway") throw invalidParameter(`--add-host ${h.name}:host-gateway: a build has no host gateway (its RUN steps share no bridge)`);
    text += `${h.address}\t${h.name}\n`;
  }
  return text;
}

/**
 * Runs `spec.argv` in a container on `lowers` (top first) with `upper` as its upper dir; `dir` is the
 * container's private directory (plan, status, attach socket, /etc files). Returns the exit code.
 * The "default" network is the default bridge (an address claimed for the step, released after it), `host`
 * the host's, `none` a private namespace with loopback only.
 */
export async function runInContainer(engine: Engine, dir: string, lowers: string[], upper: string, spec: RunSpec): Promise<number> {
  const id = randomHex();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "id"), id); // what a later build's sweep needs if this process dies mid-step
  const work = join(dir, "work");
  mkdirSync(work, { mode: 0o700 });
  if (!lowers.length) {
    lowers = [join(dir, "empty")];
    mkdirSync(lowers[0]!, { mode: 0o755 });
  }
  // "default": the default bridge, as dockerd's BuildKit runs RUN steps (the host's network only when there is none).
  const bridge = spec.network === "default" ? await network().buildStepNetwork(engine, spec.scratch) : undefined;
  const netPlan: Pick<ContainerPlan, "network" | "netifs"> = bridge ? bridge.plan : { network: spec.network === "none" ? "none" : "host" };
  writeFileSync(join(dir, "hosts"), hostsOf(spec, netPlan.network === "host", bridge?.ip));
  if (bridge) writeFileSync(join(dir, "resolv.conf"), bridge.resolv);
  const ulimits = spec.ulimits.map((u) => checkUlimit({ Name: u.name, Soft: u.soft, Hard: u.hard })).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard }));
  const base = {
    id,
    rootfs: { lowerDirs: lowers, upperDir: upper, workDir: work, mergedDir: join(dir, "merged"), volatile: true }, // the step's layer: see overlayOptions
    hostname: RUN_HOSTNAME,
    args: spec.argv,
    env: spec.env,
    cwd: spec.cwd || "/",
    user: spec.user,
    tty: false,
    openStdin: false,
    capabilities: resolveCapabilities({}),
    noNewPrivileges: false,
    seccomp: true,
    privileged: false,
    ...netPlan,
    binds: spec.binds,
    tmpfs: spec.tmpfs,
    shmSize: spec.shmSize || undefined,
    ulimits,
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
    containerDir: dir,
    noLog: true,
    restart: { name: "no" as const },
  };
  const plan: ContainerPlan = { ...base, ...containerCgroups(id, {} as Resources, defaultCgroupns() === "private"), env: containerEnv({ env: spec.env, hostname: RUN_HOSTNAME, tty: false }) };
  const abort = () => {
    try {
      signalContainer(dir, "SIGKILL");
    } catch {}
  };
  try {
    if (spec.signal?.aborted) throw spec.signal.reason ?? new EngineError("system", "build cancelled");
    const { attach } = await startContainer(plan, "attached", { dataRoot: engine.root.root, onStdout: (b) => spec.onOutput(1, b), onStderr: (b) => spec.onOutput(2, b) });
    spec.signal?.addEventListener("abort", abort);
    if (spec.signal?.aborted) abort();
    const code = await attach!.exited;
    attach!.close();
    // The supervisor records the exit before it reaps; wait for it to go so nothing of the step is left.
    for (let i = 0; i < 2000; i++) {
      const st = readContainerStatus(dir);
      if (!st.running && !(st.supervisorPid && alive(st.supervisorPid))) break;
      await Bun.sleep(2);
    }
    if (spec.signal?.aborted) throw spec.signal.reason ?? new EngineError("system", "build cancelled");
    return code ?? readContainerStatus(dir).exitCode ?? 255;
  } finally {
    spec.signal?.removeEventListener("abort", abort);
    removeCgroups(id);
    bridge?.release();
  }
}

/** Whether a process exists (signal 0). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A secret file prepared for a bind: a private copy in the scratch area, with the mount's mode and owner. */
export function secretCopy(src: string, at: string, m: { mode: number; uid: number; gid: number }): string {
  copyFileSync(src, at);
  chownSync(at, m.uid, m.gid);
  chmodSync(at, m.mode);
  return at;
}

/** A cache mount's directory, made with the mount's mode and owner the first time. */
export function cacheMountDir(root: string, key: string, m: { mode: number; uid: number; gid: number }): string {
  const dir = join(root, key);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: m.mode });
    chownSync(dir, m.uid, m.gid);
    chmodSync(dir, m.mode);
  }
  return dir;
}

/** A tmpfs mount of a RUN (nosuid, nodev; `size` bytes when given). */
export function tmpfsOf(m: { target: string; size: number }): NonNullable<ContainerPlan["tmpfs"]>[number] {
  return { target: m.target, flags: MS.NOSUID | MS.NODEV, data: m.size ? `size=${m.size}` : "" };
}

/**
 * Ends what a RUN step left running when its build's process died (a killed daemon): the container under
 * `dir` is killed (its pid checked by the status record's start time) and its cgroups removed.
 */
export async function killLeftover(dir: string): Promise<void> {
  let id: string;
  try {
    id = readFileSync(join(dir, "id"), "utf8");
  } catch {
    return;
  }
  try {
    signalContainer(dir, "SIGKILL");
  } catch {}
  for (let i = 0; i < 500 && readContainerStatus(dir).running; i++) await Bun.sleep(2);
  if (/^[a-f0-9]{64}$/.test(id)) removeCgroups(id);
}
