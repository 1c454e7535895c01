/**
 * A streaming tar reader: push bytes in any chunking, get members out through a synchronous sink.
 * Reads v7, ustar (with the prefix field), GNU (long names 'L', long links 'K', base-256 numbers) and
 * POSIX pax ('x' records: path, linkpath, size, uid, gid, mtime, uname, gname, SCHILY.xattr.*).
 * It never buffers a member's body: data is handed on as views of the chunk that was pushed.
 */

/** A member's kind, after extension headers have been folded into the header they describe. */
export type EntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

/** One archive member as its headers describe it. */
export interface TarEntry {
  /** The path exactly as archived (may start with "./", end with "/", or be hostile: callers must check it). */
  name: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of body that follow (0 for every type but "file"). */
  size: number;
  /** Seconds since the epoch; fractional when a pax header carried sub-second precision. */
  mtime: number;
  /** Symlink target or hardlink target ("" for other types). */
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from pax SCHILY.xattr.* records, or null when there were none. */
  xattrs: Map<string, Uint8Array> | null;
}

/** Receives members in archive order. Called synchronously from `TarReader.write`/`end`. */
export interface TarSink {
  /**
   * A member starts; `data` follows with exactly `e.size` bytes in total, then `entryEnd`. `bodyOffset` is
   * where that body starts in the archive stream (after every header and extension block of the member).
   */
  entry(e: TarEntry, bodyOffset: number): void;
  /** Part of the current member's body: a view into the pushed chunk, valid only during this call. */
  data(chunk: Uint8Array): void;
  /** The current member's body is complete. */
  entryEnd(): void;
}

/** The bytes are not a well-formed tar archive. */
export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarError";
  }
}

const BLOCK = 512;
// Extension bodies (long names, pax records) are buffered; real ones are a few KiB even with xattrs.
const MAX_EXTENSION = 8 << 20;
const utf8 = new TextDecoder("utf-8");

const enum State {
  Header,
  Body,
  Padding,
  Done,
}

// What the body being read is for.
const enum BodyKind {
  Member,
  LongName,
  LongLink,
  Pax,
  GlobalPax,
  Skip,
}

/** Parses a tar stream pushed in arbitrary chunks and calls the sink for every member. */
export class TarReader {
  #state = State.Header;
  readonly #header = new Uint8Array(BLOCK);
  #headerFill = 0;
  #bodyKind = BodyKind.Member;
  #remaining = 0;
  #padding = 0;
  #ext: Uint8Array | null = null;
  #extFill = 0;
  #zeroBlocks = 0;
  #offset = 0; // archive offset of the header being parsed, for error messages
  // Extension state that applies to the next real header.
  #longName: string | null = null;
  #longLink: string | null = null;
  #pax: Map<string, Uint8Array> | null = null;

  constructor(private readonly sink: TarSink) {}

  /** Feeds the next bytes of the archive. */
  write(chunk: Uint8Array): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.#state) {
        case State.Header: {
          if (this.#headerFill === 0 && len - off >= BLOCK) {
            this.#parseHeader(chunk.subarray(off, off + BLOCK));
            this.#offset += BLOCK;
            off += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.#headerFill, len - off);
            this.#header.set(chunk.subarray(off, off + n), this.#headerFill);
            this.#headerFill += n;
            off += n;
            if (this.#headerFill === BLOCK) {
              this.#headerFill = 0;
              this.#parseHeader(this.#header);
              this.#offset += BLOCK;
            }
          }
          break;
        }
        case State.Body: {
          const n = Math.min(this.#remaining, len - off);
          const part = chunk.subarray(off, off + n);
          if (this.#bodyKind === BodyKind.Member) this.sink.data(part);
          else if (this.#ext) {
            this.#ext.set(part, this.#extFill);
            this.#extFill += n;
          }
          this.#remaining -= n;
          this.#offset += n;
          off += n;
          if (this.#remaining === 0) this.#endBody();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.#padding, len - off);
          this.#padding -= n;
          this.#offset += n;
          off += n;
          if (this.#padding === 0) this.#state = State.Header;
          break;
        }
        case State.Done:
          return;
      }
    }
  }

  /**
   * The input ended. An archive may end at a member boundary without its zero blocks (GNU tar and Go's
   * archive/tar accept that too); ending inside a header or a body is a truncated archive.
   */
  end(): void {
    if (this.#state === State.Done) return;
    if (this.#state !== State.Header || this.#headerFill !== 0) {
      throw new TarError(`archive is truncated at byte ${this.#offset + this.#headerFill}`);
    }
    if (this.#longName !== null || this.#longLink !== null || this.#pax !== null) {
      throw new TarError("archive ends after an extension header without the member it describes");
    }
  }

  #parseHeader(b: Uint8Array): void {
    if (isZero(b)) {
      // Two zero blocks end the archive; a lone one at the very end is tolerated by end().
      if (++this.#zeroBlocks === 2) this.#state = State.Done;
      return;
    }
    if (this.#zeroBlocks) throw new TarError(`header at byte ${this.#offset} follows a zero block`);
    verifyChecksum(b, this.#offset);

    const flag = b[156]!;
    const size = this.#pax?.has("size") && !isHeaderOnly(flag) ? paxNumber(this.#pax, "size")! : numeric(b, 124, 12, "size");
    switch (flag) {
      case 0x4c: // 'L': GNU long name for the next member
      case 0x4b: // 'K': GNU long link target
        return this.#startExtension(flag === 0x4c ? BodyKind.LongName : BodyKind.LongLink, numeric(b, 124, 12, "size"));
      case 0x78: // 'x': pax records for the next member
      case 0x58: // 'X': the same, as old Solaris tar wrote it
        return this.#startExtension(BodyKind.Pax, numeric(b, 124, 12, "size"));
      case 0x67: // 'g': global pax records. Ignored as moby ignores them (in practice `git archive` comments).
        return this.#startExtension(BodyKind.GlobalPax, numeric(b, 124, 12, "size"));
      case 0x56: // 'V': GNU volume label, not a file
        return this.#skipBody(numeric(b, 124, 12, "size"));
      case 0x53: // 'S'
        throw new TarError(`GNU sparse member at byte ${this.#offset} is not supported`);
    }
    const e = this.#member(b, flag, size);
    this.#longName = this.#longLink = this.#pax = null;
    this.sink.entry(e, this.#offset + BLOCK);
    if (flag === 0x44) {
      // A GNU dumpdir's body lists the directory's names for incremental restores: not file data.
      this.sink.entryEnd();
      return this.#skipBody(size);
    }
    this.#bodyKind = BodyKind.Member;
    this.#startBody(e.size);
  }

  #member(b: Uint8Array, flag: number, size: number): TarEntry {
    const pax = this.#pax;
    const magic = cstring(b, 257, 6);
    // Only POSIX ustar has a prefix field; GNU tar keeps atime/ctime at the same offset.
    const ustar = magic === "ustar";
    let name = cstring(b, 0, 100);
    if (ustar && b[345] !== 0) name = `${cstring(b, 345, 155)}/${name}`;
    name = paxString(pax, "path") ?? this.#longName ?? name;
    const linkname = paxString(pax, "linkpath") ?? this.#longLink ?? cstring(b, 157, 100);

    let type: EntryType;
    switch (flag) {
      case 0x30: // '0'
      case 0x00: // '\0': v7 regular file, or a directory when the name ends in "/"
      case 0x37: // '7': contiguous file, a regular file everywhere else
        type = name.endsWith("/") && flag !== 0x37 ? "dir" : "file";
        break;
      case 0x31:
        type = "hardlink";
        break;
      case 0x32:
        type = "symlink";
        break;
      case 0x33:
        type = "char";
        break;
      case 0x34:
        type = "block";
        break;
      case 0x35: // '5'
      case 0x44: // 'D': GNU dumpdir, a directory whose body lists its contents
        type = "dir";
        break;
      case 0x36:
        type = "fifo";
        break;
      default:
        throw new TarError(`member "${name}" at byte ${this.#offset} has unsupported typeflag ${JSON.stringify(String.fromCharCode(flag))}`);
    }
    const hasDev = ustar || magic === "ustar ";
    let xattrs: Map<string, Uint8Array> | null = null;
    if (pax) {
      for (const [key, value] of pax) {
        if (key.startsWith("SCHILY.xattr.")) (xattrs ??= new Map()).set(key.slice(13), value);
        else if (key.startsWith("GNU.sparse.")) throw new TarError(`GNU sparse member "${name}" is not supported`);
      }
    }
    return {
      name,
      type,
      mode: numeric(b, 100, 8, "mode") & 0o7777,
      uid: paxNumber(pax, "uid") ?? numeric(b, 108, 8, "uid"),
      gid: paxNumber(pax, "gid") ?? numeric(b, 116, 8, "gid"),
      // Links, devices, fifos and directories carry no data, whatever the size field says (as Go's reader).
      size: type === "file" ? size : 0,
      mtime: paxNumber(pax, "mtime") ?? numeric(b, 136, 12, "mtime"),
      linkname,
      uname: paxString(pax, "uname") ?? cstring(b, 265, 32),
      gname: paxString(pax, "gname") ?? cstring(b, 297, 32),
      devmajor: hasDev ? numeric(b, 329, 8, "devmajor") : 0,
      devminor: hasDev ? numeric(b, 337, 8, "devminor") : 0,
      xattrs,
    };
  }

  #startExtension(kind: BodyKind, size: number): void {
    if (size > MAX_EXTENSION) throw new TarError(`extension header at byte ${this.#offset} is ${size} bytes, over the ${MAX_EXTENSION} limit`);
    this.#bodyKind = kind;
    this.#ext = new Uint8Array(size);
    this.#extFill = 0;
    this.#startBody(size);
  }

  #skipBody(size: number): void {
    this.#bodyKind = BodyKind.Skip;
    this.#ext = null;
    this.#startBody(size);
  }

  #startBody(size: number): void {
    this.#remaining = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.#state = State.Body;
    if (size === 0) this.#endBody();
  }

  #endBody(): void {
    const ext = this.#ext;
    this.#ext = null;
    switch (this.#bodyKind) {
      case BodyKind.Member:
        this.sink.entryEnd();
        break;
      case BodyKind.LongName:
        this.#longName = longString(ext!, "long name");
        break;
      case BodyKind.LongLink:
        this.#longLink = longString(ext!, "long link target");
        break;
      case BodyKind.Pax:
        this.#pax = parsePax(ext!, this.#pax ?? new Map());
        break;
      case BodyKind.GlobalPax:
        parsePax(ext!, new Map()); // still validated: a malformed one means a corrupt archive
        break;
      case BodyKind.Skip:
        break;
    }
    this.#state = this.#padding ? State.Padding : State.Header;
  }
}

function isHeaderOnly(flag: number): boolean {
  return flag >= 0x31 && flag <= 0x36;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function verifyChecksum(b: Uint8Array, offset: number): void {
  const stored = numeric(b, 148, 8, "checksum");
  // The checksum field counts as eight spaces. Some old tars summed signed bytes; accept either.
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const v = b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TarError(`header at byte ${offset} has a bad checksum (stored ${stored}, computed ${unsigned})`);
  }
}

/** A numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function numeric(b: Uint8Array, off: number, len: number, field: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit as the marker (0x80.. positive, 0xff.. negative).
    const inv = first & 0x40 ? 0xff : 0;
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt((b[off + i]! ^ inv) & (i === 0 ? 0x7f : 0xff));
    const n = inv ? -Number(v) - 1 : Number(v);
    if (!Number.isSafeInteger(n)) throw new TarError(`base-256 ${field} field is out of range`);
    return n;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++; // leading padding (some writers use spaces or NULs)
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarError(`${field} field ${JSON.stringify(cstring(b, off, len))} is not octal`);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

/** A NUL-terminated header string field. */
function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return utf8.decode(b.subarray(off, end));
}

/** A GNU 'L'/'K' body: the name, NUL-terminated; a NUL inside the name would hide part of it, so refuse. */
function longString(body: Uint8Array, what: string): string {
  let end = body.length;
  while (end > 0 && body[end - 1] === 0) end--;
  const s = body.subarray(0, end);
  if (s.includes(0)) throw new TarError(`GNU ${what} contains a NUL byte`);
  return utf8.decode(s);
}

/** Parses "<len> <key>=<value>\n" records into `into` (values stay bytes: xattr values are binary). */
function parsePax(body: Uint8Array, into: Map<string, Uint8Array>): Map<string, Uint8Array> {
  let p = 0;
  while (p < body.length) {
    if (body[p] === 0) break; // NUL padding after the last record
    let len = 0;
    let q = p;
    while (q < body.length && body[q]! >= 0x30 && body[q]! <= 0x39) len = len * 10 + (body[q++]! - 0x30);
    if (q === p || body[q] !== 0x20 || len <= q - p + 1 || p + len > body.length || body[p + len - 1] !== 0x0a) {
      throw new TarError(`malformed pax record at offset ${p} of its header`);
    }
    const rec = body.subarray(q + 1, p + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new TarError(`malformed pax record at offset ${p} of its header`);
    into.set(utf8.decode(rec.subarray(0, eq)), rec.subarray(eq + 1));
    p += len;
  }
  return into;
}

/** A pax string value; an empty value means "not set" (pax: it deletes the keyword). */
function paxString(pax: Map<string, Uint8Array> | null, key: string): string | null {
  const v = pax?.get(key);
  if (!v || v.length === 0) return null;
  if (v.includes(0)) throw new TarError(`pax ${key} contains a NUL byte`);
  return utf8.decode(v);
}

function paxNumber(pax: Map<string, Uint8Array> | null, key: string): number | null {
  const s = paxString(pax, key);
  if (s === null) return null;
  // mtime may be fractional ("1700000000.5"); the others are non-negative integers.
  if (!(key === "mtime" ? /^-?\d+(\.\d+)?$/ : /^\d+$/).test(s)) throw new TarError(`pax ${key} ${JSON.stringify(s)} is not a number`);
  const v = Number(s);
  if (key !== "mtime" && !Number.isSafeInteger(v)) throw new TarError(`pax ${key} ${JSON.stringify(s)} is out of range`);
  return v;
}
