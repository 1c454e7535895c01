/**
 * A tar of a few small files (ustar headers, no directories: the engine's extraction makes the parents), for
 * the secrets and configs compose writes into a container before it starts (`environment:` and `content:`).
 */

/** One file to write: its absolute path in the container, content, mode and owner. */
export interface TarFile {
  path: string;
  data: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
}

/** An octal header field of `width` bytes (digits, then NUL). */
const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";

/** The archive, as one buffer: a 512-byte header and the padded content per file, then two zero blocks. */
export function tarOf(files: TarFile[]): Uint8Array {
  const enc = new TextEncoder();
  const blocks: Uint8Array[] = [];
  for (const f of files) {
    const name = f.path.replace(/^\/+/, "");
    if (enc.encode(name).length > 100) throw new Error(`path too long for the archive: ${f.path}`);
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(enc.encode(s), at);
    put(name, 0);
    put(octal(f.mode & 0o7777, 8), 100);
    put(octal(f.uid, 8), 108);
    put(octal(f.gid, 8), 116);
    put(octal(f.data.length, 12), 124);
    put(octal(Math.floor(Date.now() / 1000), 12), 136);
    put("        ", 148); // the checksum field counts as spaces while it is summed
    put("0", 156);
    put("ustar\u000000", 257);
    put(octal(h.reduce((a, b) => a + b, 0), 7) + " ", 148);
    blocks.push(h, f.data, new Uint8Array((512 - (f.data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of blocks) out.set(b, (off += b.length) - b.length);
  return out;
}
