/**
 * Byte-exact layer tars from an unpacked layer, after Docker's tar-split: while a layer unpacks, everything of
 * its uncompressed tar stream except regular files' contents (headers, pax/GNU extension blocks, padding, end
 * blocks, trailing bytes) is recorded, and for each regular file's body only its path in the diff dir and its
 * size. Reassembly streams the segments and the files' bytes back in order, so the layer tar (and its diff ID)
 * is the one that was pulled, without keeping a copy of the layer.
 *
 * On disk: `tar-split.gz`, tar-split's entry model (type 2: a segment of raw bytes; type 1: a file body, by
 * path in diff/ and size) in a binary framing rather than tar-split's JSON lines, which cost a base64 and a
 * JSON string per header (measured: a third of the recording time of a debian layer went to building and
 * joining those strings). Records, little-endian: `0x02 u32:length bytes` and `0x01 u32:length name-utf8
 * f64:size`. They are gzip'd (level 1) in independent members of about 1 MiB each, so recording never holds
 * more. Beside it `tar-size`, the tar's length in bytes (a saved layer's tar header needs it before the body).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import { O_CLOEXEC, RESOLVE, SysError, sys } from "../sys/index.ts";
import { ThreadHasher } from "./hash-thread.ts";
import type { ArchiveFile } from "./archive-file.ts";

/** File names of a layer's tar-split record, inside its layer directory (beside diff/). */
export const TAR_SPLIT_FILE = "tar-split.gz";
export const TAR_SIZE_FILE = "tar-size";

const FLUSH_BYTES = 1 << 20; // record bytes gzip'd at once
const SEGMENT = 2;
const FILE = 1;
const utf8 = new TextEncoder();

/** A body range the tar reader announced: `name` is the file's path relative to the diff dir. */
interface Body {
  start: number;
  size: number;
  name: string;
  begun?: boolean;
}

/**
 * Records a layer's tar stream as it is unpacked. The unpacker calls `file()` from its tar sink for every
 * regular file whose body lands in the diff dir, and `write()` with each raw tar chunk right after the tar
 * reader has parsed it (so every body that starts in the chunk is already known).
 */
export class TarSplitRecorder {
  #pos = 0; // tar stream bytes consumed
  readonly #bodies: Body[] = [];
  #head = 0; // index in #bodies of the next body
  #out = new Uint8Array(FLUSH_BYTES + 4096);
  #fill = 0;
  #segment = -1; // offset in #out of the open segment's length field, or -1
  readonly #view = () => new DataView(this.#out.buffer, this.#out.byteOffset, this.#out.byteLength);
  readonly #fd: number;

  /** Starts recording into `dir` (the layer directory: tar-split.gz and tar-size go there). */
  constructor(readonly dir: string) {
    this.#fd = openSync(`${dir}/${TAR_SPLIT_FILE}`, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  }

  /** A regular file's body of `size` bytes starts at `bodyOffset` of the tar stream; it is kept as `name`. */
  file(name: string, bodyOffset: number, size: number): void {
    this.#bodies.push({ start: bodyOffset, size, name });
  }

  /** The next raw (uncompressed) bytes of the tar stream. */
  write(chunk: Uint8Array): void {
    const base = this.#pos;
    const end = base + chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const abs = base + off;
      const body = this.#bodies[this.#head];
      if (body && body.start <= abs) {
        // Inside (or at the start of) a file body: its bytes are in the diff dir, not here.
        if (!body.begun) this.#fileEntry(body);
        const skip = Math.min(body.start + body.size - abs, chunk.length - off);
        off += skip;
        if (body.start + body.size <= abs + skip) this.#next();
        continue;
      }
      const stop = Math.min(body ? body.start : end, end);
      this.#append(chunk.subarray(off, stop - base));
      off = stop - base;
    }
    this.#pos = end;
    // Zero-size bodies that start exactly at the end of this chunk.
    for (let b = this.#bodies[this.#head]; b && b.size === 0 && b.start === end; b = this.#bodies[this.#head]) {
      this.#fileEntry(b);
      this.#next();
    }
  }

  /** The stream ended: writes the last records and the tar size. Returns the tar's length. */
  finish(): number {
    for (let b = this.#bodies[this.#head]; b; b = this.#bodies[this.#head]) {
      // Only zero-size bodies at the very end can be left (an announced body is consumed before the end).
      if (b.size !== 0 || b.start !== this.#pos) throw new Error(`tar-split: body of "${b.name}" was never read`);
      this.#fileEntry(b);
      this.#next();
    }
    this.#flush();
    closeSync(this.#fd);
    writeFileSync(`${this.dir}/${TAR_SIZE_FILE}`, String(this.#pos), { mode: 0o600 });
    return this.#pos;
  }

  /** Closes the record after a failure (the caller removes the directory). */
  abort(): void {
    try {
      closeSync(this.#fd);
    } catch {}
  }

  #next(): void {
    this.#bodies[this.#head++] = undefined as unknown as Body; // let it be collected
    if (this.#head > 4096) {
      this.#bodies.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Room for `n` more bytes in the buffer (it only grows for a file name longer than the slack). */
  #room(n: number): void {
    if (this.#fill + n <= this.#out.length) return;
    const grown = new Uint8Array(this.#fill + n + 4096);
    grown.set(this.#out.subarray(0, this.#fill));
    this.#out = grown;
  }

  #fileEntry(body: Body): void {
    body.begun = true;
    this.#closeSegment();
    const name = utf8.encode(body.name);
    this.#room(9 + name.length + 8);
    const v = this.#view();
    this.#out[this.#fill] = FILE;
    v.setUint32(this.#fill + 1, name.length, true);
    this.#out.set(name, this.#fill + 5);
    v.setFloat64(this.#fill + 5 + name.length, body.size, true);
    this.#fill += 13 + name.length;
    if (this.#fill >= FLUSH_BYTES) this.#flush();
  }

  #append(bytes: Uint8Array): void {
    while (bytes.length) {
      if (this.#segment < 0) {
        this.#room(5);
        this.#out[this.#fill] = SEGMENT;
        this.#segment = this.#fill + 1;
        this.#fill += 5;
      }
      const n = Math.min(bytes.length, FLUSH_BYTES + 4096 - this.#fill);
      this.#room(n);
      this.#out.set(bytes.subarray(0, n), this.#fill);
      this.#fill += n;
      bytes = bytes.subarray(n);
      if (this.#fill >= FLUSH_BYTES) this.#flush();
    }
  }

  /** Writes the open segment's length. */
  #closeSegment(): void {
    if (this.#segment < 0) return;
    this.#view().setUint32(this.#segment, this.#fill - this.#segment - 4, true);
    this.#segment = -1;
  }

  #flush(): void {
    this.#closeSegment();
    if (!this.#fill) return;
    // level 1: the records are mostly tar headers, which compress well at any level; unpack speed matters more.
    const gz = Bun.gzipSync(this.#out.subarray(0, this.#fill), { level: 1 });
    this.#fill = 0;
    for (let off = 0; off < gz.length; ) off += writeSync(this.#fd, gz, off);
  }
}

/** The layer has no tar-split record (unpacked by an older build) or a damaged one. */
export class TarSplitMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarSplitMissingError";
  }
}

/** The tar's length recorded for the layer directory `dir`. */
export function recordedTarSize(dir: string): number {
  let text: string;
  try {
    text = readFileSync(`${dir}/${TAR_SIZE_FILE}`, "utf8");
  } catch {
    throw new TarSplitMissingError(`no tar-split record in ${dir}`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new TarSplitMissingError(`damaged tar size in ${dir}`);
  return n;
}

/** Bytes handed on at once: segments and small files are gathered, so a layer of 10k files is ~100 chunks, not 20k. */
const OUT_CHUNK = 1 << 20;

/** A regular file's body in a layer tar: its file in diff/, open, checked to be the `size` bytes it was when unpacked. */
export interface LayerFileBody {
  fd: number;
  size: number;
  /** Its path in diff/. */
  name: string;
}

/**
 * The layer tar of layer directory `dir`, in order, from its tar-split record: the recorded bytes (headers,
 * padding, end blocks) and the files' bodies. Both belong to the generator and are valid until the next part
 * is asked for (or the generator is returned): a segment's memory is reused, a body's fd closed. Files are
 * opened beneath diff/ with no symlink on the way (openat2), so a diff dir whose directory was replaced by a
 * symlink after the file was written cannot read outside it; a file of another size than recorded, a damaged
 * record or one naming a path outside the layer ends it with an error. Nothing is hashed here: the consumers
 * check the diff ID.
 */
export async function* layerTarParts(dir: string, diffId: string): AsyncGenerator<Uint8Array | LayerFileBody, void, void> {
  const diff = `${dir}/diff`;
  const records = Bun.file(`${dir}/${TAR_SPLIT_FILE}`).stream().pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>).getReader();
  // Bodies are opened beneath diff/ by the kernel, in one step: no symlink anywhere in the path (a directory
  // replaced by one after the file was written cannot lead outside), no "..", no magic link; no window between
  // a check and the open. One lookup from the directory's fd, where lstat of each parent and an open from the
  // root took ~45-55 ms of a save of the debian layer (5,233 files), this ~40.
  const beneath = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;
  const diffFd = openSync(diff, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | O_CLOEXEC);
  // Decompressed record bytes not parsed yet: rec[at..]. A record cut by a chunk boundary waits for the next chunk.
  let rec: Uint8Array = new Uint8Array(0);
  let at = 0;
  let joined = new Uint8Array(0);
  const utf8d = new TextDecoder("utf-8", { fatal: true });
  /** The next whole record, or null when more bytes are needed. */
  const nextRecord = (): { type: number; payload?: Uint8Array; name?: string; size?: number } | null => {
    const left = rec.length - at;
    if (left < 5) return null;
    const v = new DataView(rec.buffer, rec.byteOffset + at, left);
    const type = rec[at]!;
    const len = v.getUint32(1, true);
    if (type === SEGMENT) {
      if (left < 5 + len) return null;
      const payload = rec.subarray(at + 5, at + 5 + len);
      at += 5 + len;
      return { type, payload };
    }
    if (type !== FILE) throw new TarSplitMissingError(`layer ${diffId}: damaged tar-split record`);
    if (left < 13 + len) return null;
    const name = utf8d.decode(rec.subarray(at + 5, at + 5 + len));
    const size = v.getFloat64(5 + len, true);
    at += 13 + len;
    return { type, name, size };
  };
  let fd = -1;
  let ended = false;
  try {
    for (;;) {
      const e = nextRecord();
      if (!e) {
        const r = await records.read();
        if ((ended = r.done)) {
          if (at < rec.length) throw new TarSplitMissingError(`layer ${diffId}: tar-split record ends mid-entry`);
          return;
        }
        // A record cut by the chunk boundary: its start and the new chunk, joined in a buffer kept for this (a
        // fresh one per chunk cost 13 ms of page faults on the debian layer's 5 MB of records).
        const rest = rec.length - at;
        if (!rest) rec = r.value!;
        else {
          const need = rest + r.value!.length;
          if (joined.length < need) {
            const bigger = new Uint8Array(Math.max(need, joined.length * 2));
            bigger.set(rec.subarray(at));
            joined = bigger;
          } else joined.set(rec.subarray(at)); // may overlap: set copies as if through a temporary
          joined.set(r.value!, rest);
          rec = joined.subarray(0, need);
        }
        at = 0;
        continue;
      }
      // A segment is a view of `rec` (maybe of `joined`): valid until the next part is asked for, as documented.
      if (e.type === SEGMENT) {
        yield e.payload!;
        continue;
      }
      if (!Number.isSafeInteger(e.size) || e.size! < 0) throw new TarSplitMissingError(`layer ${diffId}: damaged tar-split record`);
      const name = e.name!;
      if (name === "" || name.startsWith("/") || (name.includes("..") && name.split("/").includes(".."))) throw new TarSplitMissingError(`layer ${diffId}: tar-split names "${name}" outside the layer`);
      try {
        fd = sys().openat2(diffFd, name, constants.O_RDONLY | O_CLOEXEC, beneath);
      } catch (e) {
        if (e instanceof SysError && (e.code === "ELOOP" || e.code === "EXDEV" || e.code === "ENOTDIR")) throw new Error(`layer ${diffId}: "${name}" is no longer a file under a directory in the layer`);
        throw e;
      }
      const st = fstatSync(fd);
      if (!st.isFile() || st.size !== e.size) throw new Error(`layer ${diffId}: "${name}" is not the ${e.size}-byte file it was when unpacked`);
      if (e.size) yield { fd, size: e.size!, name };
      closeSync(fd);
      fd = -1;
    }
  } finally {
    if (fd >= 0) closeSync(fd);
    closeSync(diffFd);
    if (!ended) await records.cancel().catch(() => {});
  }
}

/** The error of a reassembled layer tar whose hash is not its diff ID. */
function changedLayer(diffId: string, got: string): Error {
  return new Error(`layer ${diffId}: reassembled tar has diff ID ${got} (the layer was changed after it was unpacked, or its tar named one path twice)`);
}

/**
 * Streams the layer tar of layer directory `dir` back from its tar-split record and diff/ (layerTarParts),
 * hashing it. The stream errors (after the last byte) unless it hashes to `diffId`, and at once if a file
 * changed size or the record is missing. A byte stream: a BYOB reader's buffer is filled in place (files are
 * read straight into it).
 */
export function assembleLayerTar(dir: string, diffId: string): ReadableStream<Uint8Array> {
  recordedTarSize(dir); // fails early, before any byte, for a layer without a record
  const hasher = new ThreadHasher(); // hashes on another core while this thread reads the files
  const parts = layerTarParts(dir, diffId);
  // Bytes of the current segment not handed on yet (a reader's own buffer may be smaller than a segment),
  // and the file whose body is being read.
  let segment: Uint8Array | null = null;
  let file: { fd: number; left: number; name: string } | null = null;
  const stop = async () => {
    hasher.cancel();
    await parts.return().catch(() => {});
  };

  return new ReadableStream<Uint8Array>(
    {
      type: "bytes",
      async pull(c) {
        // A reader with its own buffer (a BYOB reader) gets the bytes read straight into it; any other gets
        // chunks of OUT_CHUNK bytes. Neither gets a zero-filled fresh array: that cost more than the hashing
        // (page faults on new memory: 120 ms of a 121 MB save).
        const request = c.byobRequest;
        const out = request ? (request.view as Uint8Array<ArrayBuffer>) : Buffer.allocUnsafe(OUT_CHUNK);
        let fill = 0;
        const flush = () => {
          hasher.update(out.subarray(0, fill));
          if (request) request.respond(fill);
          else c.enqueue(out.subarray(0, fill));
        };
        try {
          const behind = hasher.backlog(); // the hash thread is behind: let it catch up (bounded memory)
          if (behind) await behind;
          for (;;) {
            if (fill === out.length) return flush();
            if (segment) {
              const n = Math.min(segment.length, out.length - fill);
              out.set(segment.subarray(0, n), fill);
              fill += n;
              segment = n === segment.length ? null : segment.subarray(n);
              continue;
            }
            if (file) {
              // Straight into the output buffer: no copy per file.
              const r = readSync(file.fd, out, fill, Math.min(file.left, out.length - fill), null);
              if (r === 0) throw new Error(`layer ${diffId}: "${file.name}" is shorter than when it was unpacked`);
              fill += r;
              file.left -= r;
              if (file.left === 0) file = null;
              continue;
            }
            // More parts, while what is gathered waits: every chunk but the last is full (fewer writes).
            const next = await parts.next();
            if (next.done) {
              if (fill) return flush(); // the end is answered by the next pull
              const got = `sha256:${await hasher.digest()}`;
              if (got !== diffId) throw changedLayer(diffId, got);
              c.close();
              request?.respond(0); // a BYOB read pending at the end is answered "done"
              return;
            }
            const part = next.value;
            if (part instanceof Uint8Array) segment = part;
            else file = { fd: part.fd, left: part.size, name: part.name };
          }
        } catch (err) {
          await stop();
          throw err;
        }
      },
      cancel: stop,
    },
    { highWaterMark: 0 },
  );
}

/**
 * Writes the layer tar of layer directory `dir` into `out` (layerTarParts: file bodies copied by the kernel)
 * and returns once it is written. Its `checked` resolves once the hash thread has read the written range
 * back and hashed it, and rejects unless that is `diffId`: `out`'s fds must stay open until then. (A promise
 * in an object: returned bare, the written layer's promise would wait for it.)
 */
export async function writeLayerTar(dir: string, diffId: string, out: ArchiveFile): Promise<{ checked: Promise<void> }> {
  recordedTarSize(dir);
  const hasher = new ThreadHasher();
  // The thread hashes what is in the file: each range is handed over once written, every few MiB.
  let hashed = out.position;
  const handOver = () => {
    out.flush();
    hasher.updateFromFile(out.readFd, hashed, out.position);
    hashed = out.position;
  };
  try {
    for await (const part of layerTarParts(dir, diffId)) {
      if (part instanceof Uint8Array) out.write(part);
      else out.copyFrom(part.fd, part.size, () => `layer ${diffId}: "${part.name}" is shorter than when it was unpacked`);
      if (out.position - hashed >= HASH_STEP) handOver();
    }
    handOver();
  } catch (e) {
    await hasher.cancel(); // the thread is done with `out` before the caller closes it
    throw e;
  }
  const checked = hasher.digest().then((hex) => {
    if (`sha256:${hex}` !== diffId) throw changedLayer(diffId, `sha256:${hex}`);
  });
  return { checked };
}

/** Bytes written before the hash thread is given them: small enough to keep it busy alongside, large enough to batch. */
const HASH_STEP = 4 << 20;
