/**
 * moby's archive.RebaseArchiveEntries: a tar stream with the leading path `oldBase` of every member name
 * (and hardlink target) replaced by `newBase`, headers rewritten as Go writes them (tar-write.ts), bodies
 * passed through a chunk at a time. `docker cp` uses it to give a copied file or directory the name of its
 * destination.
 */
import { encodeHeader, END_OF_ARCHIVE, padding } from "./tar-write.ts";
import { TarReader, type TarEntry } from "./tar.ts";

/** moby's newNameRebaser: `oldBase` itself, or `oldBase/...`, becomes `newBase` (trailing slashes ignored). */
export function nameRebaser(oldBase: string, newBase: string): (name: string) => string {
  const from = oldBase.replace(/\/+$/, "");
  const to = newBase.replace(/\/+$/, "");
  if (from === "") return (name) => (to === "" ? name.replace(/^\/+/, "") : `${to}/${name.replace(/^\/+/, "")}`);
  return (name) => {
    if (!name.startsWith(from)) return name;
    const suffix = name.slice(from.length);
    return suffix === "" || suffix.startsWith("/") ? to + suffix : name;
  };
}

/** `tar` with its member names rebased from `oldBase` to `newBase`. */
export function rebaseTar(tar: ReadableStream<Uint8Array>, oldBase: string, newBase: string): ReadableStream<Uint8Array> {
  const rebase = nameRebaser(oldBase, newBase);
  let out: TransformStreamDefaultController<Uint8Array>;
  let size = 0;
  const reader = new TarReader({
    entry(e: TarEntry) {
      size = e.size;
      out.enqueue(encodeHeader({ ...e, name: rebase(e.name), linkname: e.type === "hardlink" ? rebase(e.linkname) : e.linkname }));
    },
    data(chunk) {
      out.enqueue(chunk.slice());
    },
    entryEnd() {
      if (size) out.enqueue(padding(size));
      size = 0;
    },
  });
  return tar.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        out = c;
      },
      transform(chunk) {
        reader.write(chunk);
      },
      flush(c) {
        reader.end();
        c.enqueue(END_OF_ARCHIVE);
      },
    }),
  );
}
