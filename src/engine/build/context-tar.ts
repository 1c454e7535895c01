/**
 * A build context that arrives as a tar stream (POST /build's body, `bunker build -`): plain or gzip, unpacked
 * as it streams (never buffered whole) into a private directory, <data-root>/build/contexts/<id>, with the safe
 * extractor (src/fs/extract.ts: `../` names, absolute symlinks and links out of the directory are refused or
 * resolved inside it). The directory is the context the builder reads; the caller removes it afterwards.
 * Not under tmp/: the layer store's collection empties tmp/ while builds may run. A lock per context marks
 * it live; one whose process died is removed by the next unpack.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine.ts";
import { EngineError } from "../errors.ts";
import { extractTar } from "../../fs/extract.ts";
import { decompressed } from "../../fs/unpack.ts";
import { lock, tryLock } from "../store/locks.ts";
import { peekStream } from "../../fs/peek.ts";

/** An unpacked context directory; `remove()` deletes it (idempotent). */
export interface UnpackedContext {
  dir: string;
  remove(): void;
}

/** Unpacks `tar` (plain, gzip or zstd, sniffed) into a new private directory; removes it again on failure. */
export async function unpackContext(engine: Engine, tar: ReadableStream<Uint8Array>): Promise<UnpackedContext> {
  const root = join(engine.root.root, "build", "contexts");
  removeStale(engine, root);
  const id = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  const held = await lock(engine.root.lock(`build-context-${id}`));
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    // rmSync unlinks symlinks, never follows them: a hostile context's links point nowhere it can reach.
    rmSync(dir, { recursive: true, force: true });
    held.release();
    rmSync(engine.root.lock(`build-context-${id}`), { force: true });
  };
  // O_NOFOLLOW: the directory was just made by us; the fd is the root every member is resolved under.
  const rootFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const { head, stream } = await peekStream(tar, 6);
    // moby also reads bzip2 and xz contexts; clients send plain or gzip tars (docker build --compress: gzip).
    if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) throw new EngineError("invalidParameter", "a bzip2 build context is not supported: send a plain or gzip tar");
    if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a) throw new EngineError("invalidParameter", "an xz build context is not supported: send a plain or gzip tar");
    await extractTar(await decompressed(stream), rootFd, "/", { owner: "header", devices: false });
    return { dir, remove };
  } catch (e) {
    remove();
    if (e instanceof EngineError) throw e;
    throw new EngineError("invalidParameter", `failed to read the build context: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(rootFd);
  }
}

/** Removes contexts whose build died with its process (their lock is free). */
function removeStale(engine: Engine, root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (!/^[a-f0-9]{16}$/.test(name)) continue;
    const held = tryLock(engine.root.lock(`build-context-${name}`));
    if (!held) continue; // a live build
    try {
      rmSync(join(root, name), { recursive: true, force: true });
    } finally {
      held.release();
    }
  }
}
