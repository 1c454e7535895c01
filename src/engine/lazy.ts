/**
 * The engine's lazy seams: the areas a command may not need load on first use, through here only; inside an
 * area, imports are static. Why: start-up. `run --rm --network none` and `ps` must not pay for loading
 * networking (bridges, veths, iptables, IPAM, DNS: the engine's largest area) or volumes.
 */
import type * as Network from "./network/index.ts";
import type * as Volumes from "./volumes/index.ts";
import type * as Build from "./build/index.ts";

/** Networking, loaded on first use (not for --network none or host, nor for a plain listing). */
export const network = () => require("./network/index.ts") as typeof Network;

/** Named volumes, loaded on first use (a container without volumes never needs them). */
export const volumes = () => require("./volumes/index.ts") as typeof Volumes;

/** The Dockerfile builder (executor, cache), loaded on first use: nothing of it is on `run`'s path. */
export const build = () => require("./build/index.ts") as typeof Build;
