/** Container plans for runtime tests: Docker's defaults for a container in `dir` over `lowerDirs`. */
import { join } from "node:path";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, resolveCapabilities, type ContainerPlan } from "../../src/engine/runtime/spec.ts";

/** A plan with Docker's defaults (default capabilities, masked and read-only paths, private network); `over` replaces fields. */
export function testPlan(id: string, dir: string, lowerDirs: string[], over: Partial<ContainerPlan> = {}): ContainerPlan {
  return {
    id,
    rootfs: { lowerDirs, upperDir: join(dir, "upper"), workDir: join(dir, "work"), mergedDir: join(dir, "merged") },
    hostname: id.slice(0, 12),
    args: ["true"],
    env: [],
    cwd: "/",
    user: "",
    tty: false,
    openStdin: false,
    capabilities: resolveCapabilities({}),
    noNewPrivileges: false,
    seccomp: true,
    privileged: false,
    network: "private",
    binds: [],
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
    containerDir: dir,
    restart: { name: "no" },
    ...over,
  };
}
