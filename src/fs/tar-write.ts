/**
 * A streaming tar writer, the counterpart of tar.ts. Headers are written as Go's archive/tar writes them for
 * moby's archives (FormatPAX): a plain ustar header when every field fits it, and a pax 'x' header in front
 * when one does not (long or non-ASCII names and link targets, big ids, sizes or times, long user or group
 * names, xattrs as SCHILY.xattr.*). Bodies are read from memory or from an open file descriptor, a chunk at a
 * time as the consumer asks, so an archive of any size costs one chunk of memory.
 */
import { closeSync, readSync } from "node:fs";
import type { EntryType, TarEntry } from "./tar.ts";

/** What a member's header says: TarEntry's fields, the optional ones defaulting to 0, "" or none. */
export type TarHeader = Pick<TarEntry, "name" | "type" | "mode" | "size"> & Partial<Omit<TarEntry, "name" | "type" | "mode" | "size">>;

/** A member's body: bytes in memory, or an open file the writer reads `size` bytes from and then closes. */
export type TarBody = Uint8Array | { fd: number };

/** One member to write; `body` is required when `header.size` is not 0. */
export interface TarMember {
  header: TarHeader;
  body?: TarBody;
}

/** The body of a member ran short of the size its header announced (a file shrank while it was archived). */
export class TarWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarWriteError";
  }
}

const BLOCK = 512;
const CHUNK = 1 << 20;
/** How many bytes of members one chunk of a tar stream gathers (and the largest body read whole). */
const BATCH = 64 << 10;
const enc = new TextEncoder();
const TYPEFLAG: Record<EntryType, string> = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

/** Two zero blocks: the end of an archive. */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK);

/** Zero bytes from a body of `size` bytes to the next block boundary. */
export function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

const isAscii = (s: string) => /^[\x01-\x7f]*$/.test(s);
/** Largest value of an octal field of `len` bytes (len - 1 digits and a NUL). */
const octalMax = (len: number) => 8 ** (len - 1) - 1;

function putString(h: Uint8Array, off: number, len: number, s: string): void {
  h.set(enc.encode(s).subarray(0, len), off);
}

/** Go's formatOctal: zero-padded digits leaving room for a NUL. */
function putOctal(h: Uint8Array, off: number, len: number, v: number): void {
  putString(h, off, len, v.toString(8).padStart(len - 1, "0"));
}

/** ustar's split of a long name into prefix (≤155 bytes) "/" name (≤100 bytes), or null when none fits. */
function splitName(name: string): [string, string] | null {
  if (name.length <= 100) return ["", name];
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] !== "/") continue;
    const rest = name.slice(i + 1);
    if (rest.length > 100) return null;
    if (rest.length > 0) return [name.slice(0, i), rest];
  }
  return null;
}

/** One pax record: "<len> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = [enc.encode(` ${key}=`), value, enc.encode("\n")];
  const n = rest.reduce((a, b) => a + b.length, 0);
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return Buffer.concat([enc.encode(String(len)), ...rest]);
}

/** A 512-byte ustar header. Fields must fit (encodeHeader moves what does not into pax records). */
function ustarHeader(h: TarHeader, prefix: string, name: string, typeflag: string): Uint8Array {
  const b = new Uint8Array(BLOCK);
  putString(b, 0, 100, name);
  putOctal(b, 100, 8, h.mode & 0o7777);
  putOctal(b, 108, 8, h.uid ?? 0);
  putOctal(b, 116, 8, h.gid ?? 0);
  putOctal(b, 124, 12, h.size);
  putOctal(b, 136, 12, Math.max(0, Math.floor(h.mtime ?? 0)));
  b[156] = typeflag.charCodeAt(0);
  putString(b, 157, 100, h.linkname ?? "");
  putString(b, 257, 8, "ustar\x0000");
  putString(b, 265, 32, h.uname ?? "");
  putString(b, 297, 32, h.gname ?? "");
  if (h.type === "char" || h.type === "block") {
    putOctal(b, 329, 8, h.devmajor ?? 0);
    putOctal(b, 337, 8, h.devminor ?? 0);
  }
  putString(b, 345, 155, prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  putOctal(b, 148, 7, sum); // six digits and a NUL; the eighth byte stays a space, as Go and GNU tar write it
  return b;
}

/** The header block(s) of one member: a pax header first when a field does not fit ustar. */
export function encodeHeader(h: TarHeader): Uint8Array {
  const records = new Map<string, Uint8Array>();
  let split = isAscii(h.name) ? splitName(h.name) : null;
  if (!split) {
    records.set("path", enc.encode(h.name));
    split = ["", h.name.slice(0, 100)];
  }
  const linkname = h.linkname ?? "";
  if (linkname.length > 100 || !isAscii(linkname)) records.set("linkpath", enc.encode(linkname));
  for (const [key, v, len] of [["uid", h.uid ?? 0, 8], ["gid", h.gid ?? 0, 8], ["size", h.size, 12], ["mtime", Math.floor(h.mtime ?? 0), 12]] as const) {
    if (v < 0 || v > octalMax(len)) records.set(key, enc.encode(String(v)));
  }
  for (const [key, v] of [["uname", h.uname ?? ""], ["gname", h.gname ?? ""]] as const) if (v.length > 32 || !isAscii(v)) records.set(key, enc.encode(v));
  for (const [k, v] of h.xattrs ?? []) records.set(`SCHILY.xattr.${k}`, v);
  const header = ustarHeader(
    { ...h, linkname: records.has("linkpath") ? linkname.slice(0, 100) : linkname, ...(records.has("uid") ? { uid: 0 } : {}), ...(records.has("gid") ? { gid: 0 } : {}), ...(records.has("size") ? { size: 0 } : {}), ...(records.has("mtime") ? { mtime: 0 } : {}) },
    split[0],
    split[1],
    TYPEFLAG[h.type],
  );
  if (!records.size) return header;
  // Go sorts the records by key and names the pax header <dir>/PaxHeaders.0/<base>, cut to 100 bytes.
  const body = Buffer.concat([...records.keys()].sort().map((k) => paxRecord(k, records.get(k)!)));
  const slash = h.name.replace(/\/+$/, "").lastIndexOf("/");
  const paxName = `${slash < 0 ? "." : h.name.slice(0, slash)}/PaxHeaders.0/${h.name.replace(/\/+$/, "").slice(slash + 1)}`;
  const pax = ustarHeader({ name: "", type: "file", mode: 0, size: body.length, mtime: 0 }, "", isAscii(paxName) ? paxName.slice(0, 100) : "PaxHeaders.0", "x");
  return Buffer.concat([pax, body, padding(body.length), header]);
}

/**
 * A tar archive of `members`, ending with END_OF_ARCHIVE. Members are taken from the iterable only as the
 * consumer reads, and file bodies are read in chunks, so memory stays at one chunk whatever the sizes.
 * A file that yields fewer bytes than its header's size fails the stream with TarWriteError (the archive
 * would be corrupt); bytes past the size (a file that grew) are not read. `onFileBody`: told where each
 * regular file's body starts in the stream (its tar-split record, without parsing the tar again).
 */
export function tarStream(members: AsyncIterable<TarMember> | Iterable<TarMember>, opts: { onFileBody?: (name: string, offset: number, size: number) => void } = {}): ReadableStream<Uint8Array> {
  const it = Symbol.asyncIterator in members ? (members as AsyncIterable<TarMember>)[Symbol.asyncIterator]() : (members as Iterable<TarMember>)[Symbol.iterator]();
  let file: { fd: number; left: number; size: number; name: string } | null = null;
  let done = false;
  let pos = 0; // bytes enqueued so far
  const enqueue = (controller: ReadableStreamDefaultController<Uint8Array>, b: Uint8Array) => {
    pos += b.length;
    controller.enqueue(b);
  };
  const closeFile = () => {
    if (file) closeSync(file.fd);
    file = null;
  };
  /** Ends the member source early (its finally blocks close what it holds open). */
  const stop = async () => {
    closeFile();
    done = true;
    await (it as AsyncIterator<TarMember>).return?.();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        await step(controller);
      } catch (e) {
        await stop();
        throw e;
      }
    },
    cancel: stop,
  });

  async function step(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (file) {
      const buf = new Uint8Array(Math.min(CHUNK, file.left));
      const n = readSync(file.fd, buf, 0, buf.length, null);
      if (n === 0) {
        const { name, size, left } = file;
        closeFile();
        throw new TarWriteError(`${name}: file shrank while it was archived (${size - left} of ${size} bytes)`);
      }
      file.left -= n;
      enqueue(controller, n === buf.length ? buf : buf.subarray(0, n));
      if (file.left === 0) {
        enqueue(controller, padding(file.size));
        closeFile();
      }
      return;
    }
    if (done) return;
    // Members are gathered into one chunk of up to BATCH bytes, small files' bodies read whole: a layer of
    // 2,000 small files is a handful of chunks through the stream (each a promise, a hash update and a
    // parse downstream), not 6,000. The bytes are the same.
    const parts: Uint8Array[] = [];
    let bytes = 0;
    const add = (b: Uint8Array) => {
      parts.push(b);
      bytes += b.length;
    };
    while (bytes < BATCH) {
      const next = await it.next();
      if (next.done) {
        done = true;
        add(END_OF_ARCHIVE);
        break;
      }
      const { header, body } = next.value;
      add(encodeHeader(header));
      if (header.type === "file") opts.onFileBody?.(header.name, pos + bytes, header.size);
      if (header.size === 0) {
        if (body && !(body instanceof Uint8Array)) closeSync(body.fd);
        continue;
      }
      if (!body) throw new TarWriteError(`${header.name}: a member of ${header.size} bytes has no body`);
      if (body instanceof Uint8Array) {
        if (body.length !== header.size) throw new TarWriteError(`${header.name}: body of ${body.length} bytes for a header of ${header.size}`);
        add(body);
        add(padding(header.size));
        continue;
      }
      if (header.size <= BATCH) {
        add(readWhole(body.fd, header.size, header.name));
        add(padding(header.size));
        continue;
      }
      file = { fd: body.fd, left: header.size, size: header.size, name: header.name };
      break;
    }
    if (parts.length) enqueue(controller, parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes));
    if (done) controller.close();
  }
}

/** A small member's body: `size` bytes of the open fd (closed after), in as few reads as the kernel allows. */
function readWhole(fd: number, size: number, name: string): Uint8Array {
  try {
    const buf = new Uint8Array(size);
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, off, size - off, null);
      if (n === 0) throw new TarWriteError(`${name}: file shrank while it was archived (${off} of ${size} bytes)`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

