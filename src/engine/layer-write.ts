/**
 * Directories registered as layers: the write side commit, import and the builder share. Every layer goes
 * through the layer store's `register` (staging, lock, chain ID, row, GC rules); kept apart from commit.ts so
 * the builder does not load the container manager to write its layers.
 */
import { basename, dirname } from "node:path";
import { chmodSync, renameSync, rmdirSync, statfsSync } from "node:fs";
import type { Engine } from "./engine.ts";
import { packDir } from "../fs/pack.ts";
import { unpackLayer } from "../fs/unpack.ts";
import { TarSplitRecorder } from "../fs/tar-split.ts";

/** Bytes a layer may unpack: the data root's free space less a reserve (as pull.ts bounds a layer). */
export function writableBytes(dir: string): number {
  const st = statfsSync(dir);
  return Math.max(0, st.bavail * st.bsize - Math.min(1 << 30, (st.blocks * st.bsize) / 20));
}

/**
 * An overlay upper dir (whiteouts and opaque dirs included) registered as a layer on `parent`: packed and
 * unpacked through the layer store's one path, as commit does. The caller holds the GC lock shared.
 */
export function registerUpperDir(engine: Engine, parent: string | null, upper: string) {
  return engine.layers.register(parent, (dir) => unpackLayer(packDir(upper, { overlay: true }), dir, { maxBytes: writableBytes(dir), tarSplitDir: dirname(dir) }));
}

/**
 * An upper dir nothing will write again (a finished build step's: its container gone, its mount closed)
 * registered as a layer on `parent` by moving it into the store's staging area instead of copying it: the
 * layer store's register path as for any layer (staging, lock, chain ID, row), the diff ID hashed from the tar
 * packDir makes of it and its tar-split recorded from that same stream, so save and push rebuild that tar.
 * It is already in the store's format (overlay whiteouts, opaque xattrs). Why not registerUpperDir: a copy
 * of every file the step wrote; moving halves a COPY step's writes. Both are on the data root's file system.
 */
export function registerFinishedDir(engine: Engine, parent: string | null, upper: string) {
  return engine.layers.register(parent, async (dir) => {
    rmdirSync(dir);
    renameSync(upper, dir);
    chmodSync(dir, 0o700); // as the unpacker leaves a layer's root (the tar has no member for it)
    const hasher = new Bun.CryptoHasher("sha256");
    const recorder = new TarSplitRecorder(dirname(dir));
    let size = 0;
    // The writer says where each file's body starts as it writes it: one pass, the tar never parsed back.
    const onFileBody = (name: string, offset: number, bytes: number) => {
      // Whiteouts and opaque markers are devices and xattrs in the diff dir, not files: no body to find there.
      if (basename(name).startsWith(".wh.")) return;
      recorder.file(name, offset, bytes);
      size += bytes;
    };
    try {
      const reader = packDir(dir, { overlay: true, onFileBody }).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        hasher.update(r.value);
        recorder.write(r.value);
      }
      recorder.finish();
    } catch (e) {
      recorder.abort();
      throw e;
    }
    return { diffId: `sha256:${hasher.digest("hex")}`, size };
  });
}
