/**
 * A recording fake of Sys for unit tests: every call is appended to `calls`, xattrs and device nodes live in
 * memory (nothing touches the kernel), flock keeps a table of held locks (and can play another holder), and `failNext` makes a call throw
 * the SysError the real one would. Install it with `useSys(fake)` and restore the previous Sys after.
 */
import { SysError, LOCK, type Sys } from "./index.ts";
import { constants } from "node:os";
import { openSync, readSync, writeSync } from "node:fs";

/** One recorded call: the method's name and its arguments. */
export interface SysCall {
  call: keyof Sys;
  args: unknown[];
}

/** The recording fake. */
export class FakeSys implements Sys {
  /** Every call, in order. */
  readonly calls: SysCall[] = [];
  /** Extended attributes by path, then name. */
  readonly xattrs = new Map<string, Map<string, Uint8Array>>();
  /** Nodes made by mknod, by path. */
  readonly nodes = new Map<string, { mode: number; dev: number }>();
  /** The flocks this process holds, by fd. */
  readonly locks = new Map<number, "shared" | "exclusive">();
  /** A lock another process holds on every file (set by `holdLock`), or none. */
  othersHold: "shared" | "exclusive" | undefined;
  readonly #failures: { call: keyof Sys; code: string }[] = [];

  /** Makes the next call of `call` throw SysError with errno `code` (e.g. "EPERM", "ENOTSUP"). */
  failNext(call: keyof Sys, code: string): this {
    this.#failures.push({ call, code });
    return this;
  }

  /** Simulates another process holding a lock on every file, so conflicting LOCK_NB attempts return false. */
  holdLock(kind: "shared" | "exclusive" = "exclusive"): this {
    this.othersHold = kind;
    return this;
  }

  /** Ends holdLock: the other process let go. */
  letGo(): this {
    this.othersHold = undefined;
    return this;
  }

  /** The recorded calls of one method. */
  callsOf(call: keyof Sys): unknown[][] {
    return this.calls.filter((c) => c.call === call).map((c) => c.args);
  }

  #record(call: keyof Sys, args: unknown[], path: string | null): void {
    this.calls.push({ call, args });
    const i = this.#failures.findIndex((f) => f.call === call);
    if (i < 0) return;
    const code = this.#failures.splice(i, 1)[0]!.code;
    const errno = (constants.errno as Record<string, number>)[code] ?? 0;
    throw new SysError(call, path, errno, code);
  }

  mknod(path: string, mode: number, dev: number): void {
    this.#record("mknod", [path, mode, dev], path);
    this.nodes.set(path, { mode, dev });
  }

  lsetxattr(path: string, name: string, value: Uint8Array): void {
    this.#record("lsetxattr", [path, name, value], path);
    let m = this.xattrs.get(path);
    if (!m) this.xattrs.set(path, (m = new Map()));
    m.set(name, value.slice());
  }

  lgetxattr(path: string, name: string): Uint8Array | null {
    this.#record("lgetxattr", [path, name], path);
    return this.xattrs.get(path)?.get(name)?.slice() ?? null;
  }

  llistxattr(path: string): string[] {
    this.#record("llistxattr", [path], path);
    return [...(this.xattrs.get(path)?.keys() ?? [])];
  }

  markTopDir(fd: number): boolean {
    this.#record("markTopDir", [fd], null);
    return true;
  }

  /** The nf_tables generation the fake reports (undefined: no nf_tables). */
  generation: number | undefined = undefined;

  /** The rtnetlink requests sent, and the errno the next ones answer (0: done). */
  routeRequests: Uint8Array[] = [];
  routeErrno = 0;

  routeRequest(message: Uint8Array): number {
    this.#record("routeRequest", [message.length], null);
    this.routeRequests.push(message);
    return this.routeErrno;
  }

  nftGeneration(): number | undefined {
    this.#record("nftGeneration", [], null);
    return this.generation;
  }

  flock(fd: number, op: number): boolean {
    this.#record("flock", [fd, op], null);
    if (op & LOCK.UN) return this.locks.delete(fd), true;
    const held = this.othersHold;
    const want = op & LOCK.EX ? "exclusive" : "shared";
    if (held === "exclusive" || (held === "shared" && want === "exclusive")) {
      if (op & LOCK.NB) return false;
      throw new SysError("flock", null, constants.errno.EDEADLK, "EDEADLK"); // a blocking wait would never end here
    }
    this.locks.set(fd, want);
    return true;
  }

  /** Records, then opens `path` under /proc/self/fd/<dirFd> without the kernel's resolve rules (tests of callers only). */
  openat2(dirFd: number, path: string, flags: number, resolve: number): number {
    this.#record("openat2", [dirFd, path, flags, resolve], path);
    return openSync(`/proc/self/fd/${dirFd}/${path.replace(/^\/+/, "")}`, flags);
  }

  /** Records, then copies through a buffer with read(2) and write(2) at both fds' offsets. */
  copyFileRange(inFd: number, outFd: number, length: number): number {
    this.#record("copyFileRange", [inFd, outFd, length], null);
    const buf = new Uint8Array(Math.min(length, 1 << 20));
    const n = readSync(inFd, buf, 0, buf.length, null);
    for (let off = 0; off < n; ) off += writeSync(outFd, buf, off, n - off);
    return n;
  }

  /** Runs `fn` in this namespace (the fake has none to make); the namespace fd is -1. */
  inPrivateMountNamespace<T>(fn: () => T): { result: T; nsFd: number } {
    this.#record("inPrivateMountNamespace", [], null);
    return { result: fn(), nsFd: -1 };
  }

  /** Records the mount; mounts nothing. */
  mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.#record("mount", [source, target, fstype, flags, data], target);
  }
}
