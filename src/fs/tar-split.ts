/**
 * Byte-exact layer tars from an unpacked layer, after Docker's tar-split: while a layer unpacks, everything of
 * its uncompressed tar stream except regular files' contents (headers, pax/GNU extension blocks, padding, end
 * blocks, trailing bytes) is recorded, and for each regular file's body only its path in the diff dir and its
 * size. Reassembly streams the segments and the files' bytes back in order, so the layer tar (and its diff ID)
 * is the one that was pulled, without keeping a copy of the layer.
 *
 * On disk: `tar-split.json.gz`, tar-split's entry model as JSON lines (`{"type":2,"payload":"<base64>"}` for a
 * segment, `{"type":1,"name":"<path in diff/>","size":N}` for a file body, each with its `position`), gzip'd
 * in independent members of about 1 MiB of text each (so recording never holds more), and `tar-size`, the
 * tar's length in bytes (a saved layer's tar header needs it before the body).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";

/** File names of a layer's tar-split record, inside its layer directory (beside diff/). */
export const TAR_SPLIT_FILE = "tar-split.json.gz";
export const TAR_SIZE_FILE = "tar-size";

const FLUSH_TEXT = 1 << 20; // characters of JSON lines gzip'd at once
const MAX_SEGMENT = 1 << 20; // a segment longer than this (trailing junk) is split

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
  #segment = new Uint8Array(64 * 1024);
  #segmentFill = 0;
  #lines: string[] = [];
  #text = 0;
  #position = 0;
  readonly #fd: number;

  /** Starts recording into `dir` (the layer directory: tar-split.json.gz and tar-size go there). */
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
    this.#flushSegment();
    this.#flushText();
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

  #fileEntry(body: Body): void {
    body.begun = true;
    this.#flushSegment();
    this.#line(`{"type":1,"name":${JSON.stringify(body.name)},"size":${body.size},"position":${this.#position++}}`);
  }

  #append(bytes: Uint8Array): void {
    while (bytes.length) {
      if (this.#segmentFill === this.#segment.length) {
        if (this.#segment.length >= MAX_SEGMENT) this.#flushSegment();
        else {
          const grown = new Uint8Array(this.#segment.length * 2);
          grown.set(this.#segment);
          this.#segment = grown;
        }
      }
      const n = Math.min(bytes.length, this.#segment.length - this.#segmentFill);
      this.#segment.set(bytes.subarray(0, n), this.#segmentFill);
      this.#segmentFill += n;
      bytes = bytes.subarray(n);
    }
  }

  #flushSegment(): void {
    if (!this.#segmentFill) return;
    const payload = Buffer.from(this.#segment.buffer, 0, this.#segmentFill).toString("base64");
    this.#segmentFill = 0;
    this.#line(`{"type":2,"payload":"${payload}","position":${this.#position++}}`);
  }

  #line(s: string): void {
    this.#lines.push(s);
    if ((this.#text += s.length + 1) >= FLUSH_TEXT) this.#flushText();
  }

  #flushText(): void {
    if (!this.#lines.length) return;
    // level 1: the records are mostly tar headers, which compress well at any level; unpack speed matters more.
    const gz = Bun.gzipSync(`${this.#lines.join("\n")}\n`, { level: 1 });
    this.#lines = [];
    this.#text = 0;
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

/**
 * Streams the layer tar of layer directory `dir` back from its tar-split record and diff/, hashing it. The
 * stream errors (after the last byte) unless it hashes to `diffId`, and at once if a file changed size or
 * the record is missing. Files are opened without following symlinks, parents checked with lstat, so a
 * diff dir whose directory was replaced by a symlink after the file was written cannot read outside it.
 */
export function assembleLayerTar(dir: string, diffId: string): ReadableStream<Uint8Array> {
  recordedTarSize(dir); // fails early, before any byte, for a layer without a record
  const diff = `${dir}/diff`;
  const hasher = new Bun.CryptoHasher("sha256");
  const lines = Bun.file(`${dir}/${TAR_SPLIT_FILE}`).stream().pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>).pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  const checkedDirs = new Set<string>([""]);
  let pending = ""; // text after the last newline
  let queue: string[] = [];
  let file: { fd: number; left: number; name: string } | null = null;

  const checkParents = (rel: string) => {
    const parts = rel.split("/");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i]!;
      if (checkedDirs.has(cur)) continue;
      if (!lstatSync(`${diff}/${cur}`, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`layer ${diffId}: "${rel}" is no longer a file under a directory in the layer`);
      checkedDirs.add(cur);
    }
  };
  const closeFile = () => {
    if (file) closeSync(file.fd);
    file = null;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        let out = new Uint8Array(OUT_CHUNK);
        let fill = 0;
        const flush = () => {
          const chunk = fill === out.length ? out : out.subarray(0, fill);
          hasher.update(chunk);
          c.enqueue(chunk);
          out = new Uint8Array(OUT_CHUNK);
          fill = 0;
        };
        const put = (bytes: Uint8Array) => {
          for (let off = 0; off < bytes.length; ) {
            const n = Math.min(bytes.length - off, out.length - fill);
            out.set(bytes.subarray(off, off + n), fill);
            fill += n;
            off += n;
            if (fill === out.length) flush();
          }
        };
        try {
          for (;;) {
            if (fill >= OUT_CHUNK) return flush();
            if (file) {
              // Straight into the output buffer: no copy per file.
              const want = Math.min(file.left, out.length - fill);
              const r = readSync(file.fd, out, fill, want, null);
              if (r === 0) throw new Error(`layer ${diffId}: "${file.name}" is shorter than when it was unpacked`);
              fill += r;
              file.left -= r;
              if (file.left === 0) closeFile();
              if (fill === out.length) return flush();
              continue;
            }
            const line = queue.pop();
            if (line === undefined) {
              if (fill) return flush(); // hand on what is gathered before waiting for more of the record
              const r = await lines.read();
              if (r.done) {
                if (pending.trim()) throw new TarSplitMissingError(`layer ${diffId}: tar-split record ends mid-entry`);
                const got = `sha256:${hasher.digest("hex")}`;
                if (got !== diffId) throw new Error(`layer ${diffId}: reassembled tar has diff ID ${got} (the layer was changed after it was unpacked, or its tar named one path twice)`);
                return c.close();
              }
              const parts = (pending + r.value).split("\n");
              pending = parts.pop()!;
              queue = parts.reverse(); // popped from the end: shift() on a long array is linear
              continue;
            }
            if (!line) continue;
            const e = JSON.parse(line) as { type: number; name?: string; size?: number; payload?: string };
            if (e.type === 2) {
              put(Buffer.from(e.payload ?? "", "base64"));
              continue;
            }
            if (e.type !== 1 || typeof e.name !== "string" || !Number.isSafeInteger(e.size)) throw new TarSplitMissingError(`layer ${diffId}: damaged tar-split record`);
            const name = e.name;
            if (name === "" || name.startsWith("/") || name.split("/").includes("..")) throw new TarSplitMissingError(`layer ${diffId}: tar-split names "${name}" outside the layer`);
            checkParents(name);
            const fd = openSync(`${diff}/${name}`, constants.O_RDONLY | constants.O_NOFOLLOW);
            const st = fstatSync(fd);
            if (!st.isFile() || st.size !== e.size) {
              closeSync(fd);
              throw new Error(`layer ${diffId}: "${name}" is not the ${e.size}-byte file it was when unpacked`);
            }
            if (e.size === 0) closeSync(fd);
            else file = { fd, left: e.size!, name };
          }
        } catch (err) {
          closeFile();
          await lines.cancel().catch(() => {});
          throw err;
        }
      },
      cancel() {
        closeFile();
        return lines.cancel().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
