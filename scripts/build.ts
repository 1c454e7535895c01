/**
 * Compiles bunker into one executable, dist/bunker: minified, with bytecode (start-up ~13 ms instead of
 * ~25-30 ms) and code splitting, version and commit injected. bunfig.toml and .env autoloading are off, so the binary never
 * picks up a stray config from its working directory (which may be a container's root).
 */
import { $ } from "bun";
import pkg from "../package.json" with { type: "json" };

/**
 * The build options of the binary, without its entry point and output (also used by scripts/bench/compose-config.ts
 * to compile a hello-world the same way, the floor of any command's start-up).
 */
export const compiledLike = {
  // jitPolicy: tier-up thresholds x20 at start, so a command's run-once code is interpreted rather than compiled
  // (ps with 50 containers 18.6 -> 15 ms, run --rm ~3 ms less); long-running work restores 1 (src/jit.ts).
  compile: { autoloadBunfig: false, autoloadDotenv: false, jitPolicy: 20 },
  minify: true,
  bytecode: true,
  // Each command and engine part is its own chunk, loaded when first imported: start-up then pays only for
  // what the command uses (measured: 4-6 ms less user time for `--version`, `images` and `run`).
  splitting: true,
  format: "esm",
  target: "bun",
} as const;

if (import.meta.main) {
  // The container shim (C, static) is embedded in the binary; build it first (needs gcc and libc6-dev).
  await $`sh scripts/build-shim.sh`;
  const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
  const result = await Bun.build({
    ...compiledLike,
    entrypoints: ["src/main.ts"],
    compile: { ...compiledLike.compile, outfile: "dist/bunker" } as any,
    define: {
      BUNKER_VERSION: JSON.stringify(pkg.version),
      BUNKER_COMMIT: JSON.stringify(commit),
      BUNKER_BUILT: JSON.stringify(new Date().toISOString()),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`built dist/bunker ${pkg.version} (${commit})`);
}
