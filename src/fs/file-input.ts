/**
 * An opened input file (load -i, import FILE) as a stream of plain blocking reads, closed at its end, that a
 * reader who knows it can also read synchronously into its own buffer (`fileInputOf`). Not
 * Bun.file().stream(): it polls the descriptor, which a character device such as /dev/null refuses (EPERM
 * from epoll_ctl), and a user may well give one.
 *
 * Why the synchronous read: a load reading a 121 MB archive as stream chunks paid for fresh memory each
 * time (~10k page faults), and with a BYOB reader for detaching the reused buffer from every view made of
 * it (~190 ms); `readInto` reuses one buffer with neither.
 */
import { closeSync, readSync } from "node:fs";

/** A file's stream that can also be read synchronously. */
export interface FileInput extends ReadableStream<Uint8Array> {
  /** Reads the next bytes into `buf` (0 at the end, when the file is closed). */
  readInto(buf: Uint8Array): number;
  /** Closes the file (once; later reads return 0). */
  close(): void;
}

const FILE_INPUT = Symbol("fileInput");

/**
 * The file `fd` as a stream of `chunk`-byte reads (128 KiB, not 1 MiB: a stream reader may hold several
 * at once, and 1 MiB arrays came fresh from the kernel each time), owning the descriptor.
 */
export function fileStream(fd: number, chunk = 128 << 10): FileInput {
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  const readInto = (buf: Uint8Array) => {
    const n = open ? readSync(fd, buf, 0, buf.length, null) : 0;
    if (n === 0) close();
    return n;
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const buf = Buffer.allocUnsafe(chunk); // only buf[0..n), just read, is handed on: no need to zero it first
        const n = readInto(buf);
        if (n > 0) return controller.enqueue(n === chunk ? buf : buf.subarray(0, n));
        controller.close();
      },
      cancel: close,
    },
    { highWaterMark: 0 }, // no read before a reader asks: `readInto` may be the one reading
  );
  return Object.assign(stream, { readInto, close, [FILE_INPUT]: true });
}

/** `stream` as a FileInput when it is one nobody has started reading; else null. */
export function fileInputOf(stream: ReadableStream<Uint8Array>): FileInput | null {
  return FILE_INPUT in stream && !stream.locked ? (stream as unknown as FileInput) : null;
}
