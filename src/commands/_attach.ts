/**
 * Relaying a terminal to an attached container (foreground `run`, `start -a` and `exec`): stdin
 * when -i, raw mode and resizes with -t, the detach keys (ctrl-p ctrl-q), and without a TTY the docker
 * CLI's signal proxy (SIGINT/SIGTERM/SIGHUP... forwarded to the container).
 */
import type { Attachment } from "../engine/runtime/index.ts";
import { stdSink, type StdSink } from "./_stdio.ts";

/** An attached container's output to this process's stdout and stderr (src/commands/_stdio.ts), each chunk written as it arrives. */
export function stdioOutput(): { onStdout(b: Uint8Array): void; onStderr(b: Uint8Array): void } {
  const put = (sink: StdSink) => (b: Uint8Array) => {
    sink.write(b);
    sink.flush();
  };
  return { onStdout: put(stdSink(1)), onStderr: put(stdSink(2)) };
}

/** Relays until the container's process exits; resolves to its exit code (undefined if detached). */
export async function relay(attachment: Attachment, opts: { stdin: boolean; tty: boolean; onSignal?: (sig: NodeJS.Signals) => void }): Promise<number | undefined> {
  const cleanups: (() => void)[] = [];
  let detached = false;
  let detach!: () => void;
  const detachedP = new Promise<undefined>((resolve) => (detach = () => resolve(undefined)));

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
    (async () => {
      let prev = -1;
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done || !value) break;
        if (opts.tty) {
          // Docker's default detach keys: ctrl-p then ctrl-q leave the container running.
          const i = value.indexOf(0x11);
          if ((i > 0 && value[i - 1] === 0x10) || (i === 0 && prev === 0x10)) {
            detached = true;
            detach();
            return;
          }
          prev = value[value.length - 1]!;
        }
        attachment.write(value);
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
