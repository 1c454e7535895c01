/** Build identity, injected by scripts/build.ts with `define`; "dev" when run from source. */
declare const BUNKER_VERSION: string | undefined;
declare const BUNKER_COMMIT: string | undefined;
declare const BUNKER_BUILT: string | undefined;

/** The engine's version ("0.1.0"). */
export const version: string = typeof BUNKER_VERSION === "string" ? BUNKER_VERSION : "0.1.0-dev";
/** Short git commit of the build. */
export const commit: string = typeof BUNKER_COMMIT === "string" ? BUNKER_COMMIT : "dev";
/** Build time, RFC 3339. */
export const built: string = typeof BUNKER_BUILT === "string" ? BUNKER_BUILT : new Date(0).toISOString();
/** The Docker Engine API version bunker speaks. */
export const apiVersion = "1.50";
/** The oldest API version bunker accepts. */
export const minApiVersion = "1.24";
