/**
 * This process's stdout and stderr for streamed output (container output, logs): plain blocking writes to
 * fds 1 and 2, as the docker CLI makes them. Not process.stdout/stderr, whose Node streams cost 3-4 ms to
 * set up, more than the rest of a `run --rm alpine echo hi`; nor Bun's FileSink, whose write reports a
 * closed pipe as an uncaught error when it is called from a socket's callback.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isTerminal } from "./_terminal.ts";
import { CliError } from "./_cli.ts";

/** A sink on fd 1 or 2: write() buffers, flush() writes the buffer out. */
export interface StdSink {
  write(b: Uint8Array | string): void;
  flush(): void;
}

const encoder = new TextEncoder();

/**
 * Writes all of `buf` to `fd`. A reader that went away (EPIPE, as with `| head`) ends the process quietly
 * with 141, the status a shell reports for the docker CLI, which dies of SIGPIPE there; the container is
 * left as it is. A non-blocking fd that is full (EAGAIN) is waited for.
 */
function writeAll(fd: number, buf: Uint8Array): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EPIPE") process.exit(141);
      if (code !== "EAGAIN") throw e;
      Bun.sleepSync(1);
    }
  }
}

/** The sink on stdout (1) or stderr (2). */
export function stdSink(fd: 1 | 2): StdSink {
  let parts: Uint8Array[] = [];
  return {
    write: (b) => void parts.push(typeof b === "string" ? encoder.encode(b) : b),
    flush() {
      if (!parts.length) return;
      const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      parts = [];
      writeAll(fd, buf);
    },
  };
}

/**
 * An archive (save, export) to `file`, or to stdout when none is given. A terminal stdout is refused as the
 * docker CLI refuses it, before anything is asked of the engine: call it first, then `writeArchive`.
 */
export function checkArchiveOutput(file: string | undefined): void {
  if (!file && isTerminal(1)) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
}

/**
 * Writes an archive stream to stdout, or to `file` as the docker CLI's CopyToFile does: into a temporary
 * file beside it, renamed over it once complete, so a failure or a kill leaves no partial file under its
 * name. Not fsync'd, as docker's is not: a kill cannot leave the renamed file short, and waiting for the disk
 * cost a 121 MB save a third of its time.
 */
export async function writeArchive(stream: ReadableStream<Uint8Array>, file?: string): Promise<void> {
  if (!file) {
    for await (const chunk of chunksOf(stream)) writeAll(1, chunk);
    return;
  }
  await writeArchiveFile(file, async (fd) => {
    for await (const chunk of chunksOf(stream)) writeAll(fd, chunk);
  });
}

/**
 * An archive into `file` as docker's -o writes it: into a new file beside it (open for reading and writing,
 * so what was written can be read back) that replaces `file` only once `fill` resolved; removed if it rejects.
 */
export async function writeArchiveFile(file: string, fill: (fd: number) => Promise<void>): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "wx+", 0o644);
  try {
    await fill(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Stdout when it is a regular file (`save > file`, `>> file`): a second descriptor of it open for reading
 * (through /proc/self/fd/1: what is written is read back to be checked) and the offset its writes start at,
 * from /proc/self/fdinfo/1 (the position, or the file's end with O_APPEND). Undefined for a pipe, a terminal
 * or a file this process may not read: the archive then streams.
 */
export function regularStdout(): { readFd: number; at: number } | undefined {
  try {
    const st = fstatSync(1);
    if (!st.isFile()) return undefined;
    const info = readFileSync("/proc/self/fdinfo/1", "latin1");
    const pos = Number(/^pos:\s+(\d+)$/m.exec(info)?.[1]);
    const flags = Number.parseInt(/^flags:\s+([0-7]+)$/m.exec(info)?.[1] ?? "", 8);
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(flags)) return undefined;
    const append = (flags & constants.O_APPEND) !== 0;
    return { readFd: openSync("/proc/self/fd/1", "r"), at: append ? st.size : pos };
  } catch {
    return undefined;
  }
}

/** Bytes read at once from an archive stream. */
const READ_BUFFER = 1 << 20;

/**
 * A stream's chunks, read into one reused buffer when the stream is a byte stream (a local save: no new
 * memory per chunk, whose page faults cost more than the copying), else as the stream hands them out.
 */
async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    yield* stream; // not a byte stream (a response body from `bunker serve`)
    return;
  }
  let buffer = new Uint8Array(READ_BUFFER);
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read(buffer);
      if ((ended = done)) return;
      yield value;
      buffer = new Uint8Array(value.buffer, 0, READ_BUFFER); // the same memory, handed back
    }
  } finally {
    // Left early (the write failed): the stream is cancelled, as a for-await over it would.
    if (!ended) await reader.cancel().catch(() => {});
  }
}

