/**
 * The compiled binary starts with JavaScriptCore's JIT tier-up thresholds scaled up (scripts/build.ts,
 * `jitPolicy`): a CLI command is run-once code, and compiling it costs more than interpreting it (measured:
 * `ps` with 50 containers 18.6 -> 15 ms). Work that runs long calls this to get the normal JIT back.
 */

/** Restores the normal JIT policy for a daemon, a pull, a log stream. A no-op outside a compiled binary. */
export function fullJit(): void {
  (Bun as { unsafe?: { setJITPolicy?(scale: number): void } }).unsafe?.setJITPolicy?.(1);
}
