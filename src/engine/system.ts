/** System-wide information in the Docker API's shapes: GET /info, GET /version, GET /system/df. */
import { cpus, hostname, release, totalmem } from "node:os";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "./engine.ts";
import { listImages } from "./images.ts";
import { readContainerStatus } from "./runtime/status.ts";
import { DEFAULT_POOLS, portForwardingMode } from "./network/index.ts";
import { version, commit, built, apiVersion, minApiVersion } from "../version.ts";
import { build, volumes } from "./lazy.ts";

function osName(): string {
  try {
    return readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}

/** Which cgroup hierarchy the host mounts: "2" (unified), else "1" (v1 or hybrid). */
function cgroupVersion(): string {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8").includes(" /sys/fs/cgroup cgroup2 ") ? "2" : "1";
  } catch {
    return "1";
  }
}

/** GET /info. */
export function systemInfo(engine: Engine) {
  const machineArch: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };
  const states = engine.containers.all().map((c) => readContainerStatus(c.dir));
  const paused = states.filter((s) => s.paused).length;
  const running = states.filter((s) => s.running).length - paused;
  return {
    ID: engineId(engine),
    Containers: states.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: states.length - running - paused,
    Images: engine.images.count(),
    Driver: "overlay2",
    DriverStatus: [
      ["Backing Filesystem", "extfs"],
      ["Supports d_type", "true"],
      ["Using metacopy", "false"],
      ["Native Overlay Diff", "true"],
    ],
    LoggingDriver: engine.config.logDriver || "json-file",
    Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: null, Log: ["json-file"] },
    DefaultAddressPools: (engine.config.defaultAddressPools?.length ? engine.config.defaultAddressPools : DEFAULT_POOLS).map((p) => ({ Base: p.base, Size: p.size })),
    // Not in Docker's /info: how published ports reach containers: "iptables" (kernel DNAT, also for 127.0.0.1
    // and hairpin), "userland-proxy" (each container's supervisor relays them), or "none" (`-p` fails).
    PortForwarding: portForwardingMode(engine),
    // Docker's default seccomp profile, built into the shim (--security-opt seccomp=unconfined turns it off).
    SecurityOptions: ["name=seccomp,profile=builtin"],
    CgroupDriver: "cgroupfs",
    CgroupVersion: cgroupVersion(),
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSType: "linux",
    Architecture: machineArch[process.arch] ?? process.arch,
    NCPU: cpus().length,
    MemTotal: totalmem(),
    Name: hostname(),
    DockerRootDir: engine.config.dataRoot,
    Debug: engine.config.debug,
    ServerVersion: version,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: {
      InsecureRegistryCIDRs: ["127.0.0.0/8", "::1/128"],
      IndexConfigs: { "docker.io": { Name: "docker.io", Mirrors: engine.config.registryMirrors, Secure: true, Official: true } },
      Mirrors: engine.config.registryMirrors,
      InsecureRegistries: engine.config.insecureRegistries,
    },
    Labels: [],
    ExperimentalBuild: false,
    LiveRestoreEnabled: false,
    // No swarm: as a dockerd that never joined one (the swarm endpoints answer 503 accordingly).
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    Warnings: null,
  };
}

/** A stable ID for this data root, made on first use (dockerd keeps one in engine-id). */
function engineId(engine: Engine): string {
  const path = `${engine.config.dataRoot}/engine-id`;
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    const id = crypto.randomUUID();
    writeFileSync(path, id);
    return id;
  }
}

/** GET /version. */
export function systemVersion() {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64" };
  const details = { ApiVersion: apiVersion, MinAPIVersion: minApiVersion, GitCommit: commit, GoVersion: `bun ${Bun.version}`, Os: "linux", Arch: arch[process.arch] ?? process.arch, KernelVersion: release(), Experimental: "false", BuildTime: built };
  return {
    Platform: { Name: "Bunker Engine" },
    Components: [{ Name: "Engine", Version: version, Details: details }],
    Version: version,
    ApiVersion: apiVersion,
    MinAPIVersion: minApiVersion,
    GitCommit: commit,
    GoVersion: details.GoVersion,
    Os: "linux",
    Arch: details.Arch,
    KernelVersion: release(),
    Experimental: false,
    BuildTime: built,
  };
}

/** Bytes in a container's json-file log and its rotated files. */
function logBytes(dir: string): number {
  let n = 0;
  try {
    for (const f of readdirSync(dir)) if (/-json\.log(\.\d+)?$/.test(f)) n += statSync(join(dir, f)).size;
  } catch {}
  return n;
}

/** GET /system/df: images (with how many containers use each), containers with their sizes (logs included), volumes with theirs, the build cache (BuilderSize: what it alone holds). */
export async function systemDf(engine: Engine) {
  const images = listImages(engine, { all: true });
  const layersSize = (engine.db.query("SELECT coalesce(sum(size), 0) AS n FROM layers").get() as { n: number }).n;
  const { listContainers } = await import("./containers/query.ts"); // info and version do not list containers
  const containers = await listContainers(engine, { all: true, size: true });
  // A container's log files count in its size here (dockerd leaves them out of `system df`, so its totals
  // miss what logs hold): they are the container's own disk use, and what removing it reclaims.
  for (const c of containers) {
    const dir = engine.containers.lookup(c.Id)?.dir;
    if (dir) c.SizeRw = (c.SizeRw ?? 0) + logBytes(dir);
  }
  const uses = new Map<string, number>();
  for (const c of containers) uses.set(c.ImageID, (uses.get(c.ImageID) ?? 0) + 1);
  const { volumeUsage } = volumes();
  const buildCache = build().buildCacheUsage(engine);
  const builderSize = buildCache.reduce((n, c) => n + (c.Shared ? 0 : c.Size), 0);
  return { LayersSize: layersSize, Images: images.map((i) => ({ ...i, Containers: uses.get(i.Id) ?? 0 })), Containers: containers, Volumes: volumeUsage(engine), BuildCache: buildCache, BuilderSize: builderSize };
}
