/**
 * The attach protocol on <containerDir>/attach.sock, served by the shim. Both directions use Docker's
 * stdcopy header: [kind, 0, 0, 0, length (u32 BE)] then the payload.
 *   shim -> client: 1 stdout, 2 stderr (all output with a tty), 3 exit (decimal code) then close.
 *   client -> shim: 0 stdin data, 1 stdin EOF, 2 resize (rows, cols as u16 BE), 3 start (releases a
 *   container started with stdio "attached", which waits for its first client before exec).
 */
import { frame, frameReader, resizeFrame } from "./frames.ts";

/** Where an attached client's output goes. */
export interface AttachHandlers {
  onStdout?(chunk: Uint8Array): void;
  onStderr?(chunk: Uint8Array): void;
}

/** A live connection to a container's stdio. */
export interface Attachment {
  /** Sends bytes to the container's stdin (or the pty). */
  write(data: Uint8Array | string): void;
  /** Closes the container's stdin (no effect with a tty). */
  closeStdin(): void;
  /** Resizes the container's pty. */
  resize(rows: number, cols: number): void;
  /** The exit code, when the container exits; undefined if the connection dropped first. */
  readonly exited: Promise<number | undefined>;
  /** Disconnects; the container keeps running. */
  close(): void;
}


/**
 * Connects to a running (or start-barrier-held) container. `start` releases the barrier. Bun.connect
 * rather than node:net: node:net loads Node's stream machinery, ~3 ms of every attached `run`.
 */
export async function attachContainer(containerDir: string, handlers: AttachHandlers, opts: { start?: boolean } = {}): Promise<Attachment> {
  let code: number | undefined;
  let done!: (c: number | undefined) => void;
  const exited = new Promise<number | undefined>((r) => (done = r));
  const onFrame = frameReader((kind, payload) => {
    if (kind === 1) handlers.onStdout?.(payload);
    else if (kind === 2) handlers.onStderr?.(payload);
    else if (kind === 3) code = Number(new TextDecoder().decode(payload));
  });
  // What the kernel did not take yet, in order: written out on drain (stdin piped faster than the shim reads).
  const queue: Uint8Array[] = [];
  const flush = (s: { write(b: Uint8Array): number }) => {
    while (queue.length) {
      const b = queue[0]!;
      const n = s.write(b);
      if (n < b.length) {
        queue[0] = b.subarray(Math.max(n, 0));
        return;
      }
      queue.shift();
    }
  };
  const sock = await Bun.connect({
    unix: `${containerDir}/attach.sock`,
    socket: {
      data: (_s, chunk) => onFrame(chunk),
      drain: flush,
      close: () => done(code),
      error: () => done(code),
    },
  });
  const send = (b: Uint8Array) => {
    queue.push(b);
    if (queue.length === 1) flush(sock);
  };
  if (opts.start) send(frame(3));
  return {
    write: (data) => send(frame(0, typeof data === "string" ? new TextEncoder().encode(data) : data)),
    closeStdin: () => send(frame(1)),
    resize: (rows, cols) => send(resizeFrame(rows, cols)),
    exited,
    close: () => sock.end(),
  };
}
