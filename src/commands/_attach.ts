/**
 * Relaying a terminal to an attached container (foreground `run`, `start -a` and `exec`): stdin
 * when -i, raw mode and resizes with -t, the detach keys (ctrl-p ctrl-q), and without a TTY the docker
 * CLI's signal proxy (SIGINT/SIGTERM/SIGHUP... forwarded to the container).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Attachment } from "../engine/runtime/index.ts";
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from "../engine/containers/detachkeys.ts";
import { invalidParameter } from "../engine/errors.ts";
import { configDir } from "../engine/registry/credentials.ts";
import { stdSink, type StdSink } from "./_stdio.ts";

/**
 * The detach keys of an attach: --detach-keys, else `detachKeys` in the docker CLI's config.json, else
 * ctrl-p,ctrl-q. Refused in the daemon's words (moby: "Invalid detach keys", exec: "Invalid escape keys").
 */
export function detachKeysOf(flag: string | undefined, what: "detach" | "escape" = "detach"): Uint8Array {
  let keys = flag;
  if (keys === undefined) {
    try {
      const v = JSON.parse(readFileSync(join(configDir(), "config.json"), "utf8")).detachKeys;
      if (typeof v === "string") keys = v;
    } catch {}
  }
  if (!keys) return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(keys);
  } catch {
    throw invalidParameter(`Invalid ${what} keys (${keys}) provided`);
  }
}

/** An attached container's output to this process's stdout and stderr (src/commands/_stdio.ts), each chunk written as it arrives. */
export function stdioOutput(): { onStdout(b: Uint8Array): void; onStderr(b: Uint8Array): void } {
  const put = (sink: StdSink) => (b: Uint8Array) => {
    sink.write(b);
    sink.flush();
  };
  return { onStdout: put(stdSink(1)), onStderr: put(stdSink(2)) };
}

/** What relay() resolves to when the user typed the detach keys. */
export const DETACHED = Symbol("detached");

/** Relays until the container's process exits; resolves to its exit code (undefined if unknown), or DETACHED. */
export async function relay(attachment: Attachment, opts: { stdin: boolean; tty: boolean; detachKeys?: Uint8Array; onSignal?: (sig: NodeJS.Signals) => void }): Promise<number | undefined | typeof DETACHED> {
  const cleanups: (() => void)[] = [];
  let detach!: () => void;
  const detachedP = new Promise<typeof DETACHED>((resolve) => (detach = () => resolve(DETACHED)));

  if (opts.tty && process.stdout.isTTY) {
    const resize = () => attachment.resize(process.stdout.rows, process.stdout.columns);
    resize();
    process.stdout.on("resize", resize);
    cleanups.push(() => process.stdout.off("resize", resize));
  }
  if (opts.stdin) {
    if (opts.tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      cleanups.push(() => process.stdin.setRawMode(false));
    }
    const reader = Bun.stdin.stream().getReader();
    cleanups.push(() => void reader.cancel().catch(() => {}));
    // The detach keys leave the container running, watched for in stdin as the docker CLI's escape proxy does.
    const scanner = new DetachScanner(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
    (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done || !value) break;
        const { pass, detached: left } = scanner.scan(value);
        if (pass.length) attachment.write(pass);
        if (left) {
          detach();
          return;
        }
      }
      attachment.closeStdin();
    })();
  }
  if (!opts.tty && opts.onSignal) {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as NodeJS.Signals[]) {
      const handler = () => opts.onSignal!(sig);
      process.on(sig, handler);
      cleanups.push(() => process.off(sig, handler));
    }
  }
  try {
    const code = await Promise.race([attachment.exited, detachedP]);
    // Done either way: close our side, since a daemon (dockerd) may leave the hijacked connection open.
    attachment.close();
    return code;
  } finally {
    for (const c of cleanups.reverse()) c();
  }
}
