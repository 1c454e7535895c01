/**
 * The real Sys: libc through bun:ffi. This is the only module that imports bun:ffi.
 * Every call runs on the JS thread and blocks it, so only calls that return at once belong here (flock is
 * used with LOCK_NB); anything that changes the process (namespaces, mounts, capabilities) is the shim's.
 */
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { constants } from "node:os";
import { SysError, type Sys } from "./index.ts";

const { i32, i64, u32, ptr: P, u64 } = FFIType;

function openLibc() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: P },
    mknod: { args: [P, u32, u64], returns: i32 },
    lsetxattr: { args: [P, P, P, u64, i32], returns: i32 },
    lgetxattr: { args: [P, P, P, u64], returns: i64 },
    llistxattr: { args: [P, P, u64], returns: i64 },
    flock: { args: [i32, i32], returns: i32 },
  });
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** A NUL-terminated C string that stays alive as long as the returned buffer is referenced. */
function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** The libc-backed Sys. */
export function linuxSys(): Sys {
  const { symbols: c } = openLibc();
  const errnoPtr = c.__errno_location() as Pointer;
  const fail = (syscall: string, path: string | null): never => {
    const errno = read.i32(errnoPtr, 0);
    throw new SysError(syscall, path, errno, errnoNames.get(errno) ?? `errno ${errno}`);
  };
  const check = (rc: number | bigint, syscall: string, path: string | null) => {
    if (Number(rc) < 0) fail(syscall, path);
  };

  return {
    mknod(path, mode, dev) {
      check(c.mknod(ptr(cstr(path)), mode, BigInt(dev)), "mknod", path);
    },
    lsetxattr(path, name, value) {
      const v = value.length ? value : new Uint8Array(1);
      check(c.lsetxattr(ptr(cstr(path)), ptr(cstr(name)), ptr(v), BigInt(value.length), 0), "lsetxattr", path);
    },
    lgetxattr(path, name) {
      const p = cstr(path);
      const n = cstr(name);
      const size = Number(c.lgetxattr(ptr(p), ptr(n), null, 0n));
      if (size < 0) {
        const errno = read.i32(errnoPtr, 0);
        if (errnoNames.get(errno) === "ENODATA") return null;
        fail("lgetxattr", path);
      }
      const buf = new Uint8Array(Math.max(size, 1));
      const got = Number(c.lgetxattr(ptr(p), ptr(n), ptr(buf), BigInt(buf.length)));
      if (got < 0) fail("lgetxattr", path);
      return buf.subarray(0, got);
    },
    llistxattr(path) {
      const p = cstr(path);
      const size = Number(c.llistxattr(ptr(p), null, 0n));
      if (size < 0) fail("llistxattr", path);
      if (size === 0) return [];
      const buf = Buffer.alloc(size);
      const got = Number(c.llistxattr(ptr(p), ptr(buf), BigInt(size)));
      if (got < 0) fail("llistxattr", path);
      return buf.subarray(0, got).toString("latin1").split("\0").filter(Boolean);
    },
    flock(fd, op) {
      if (c.flock(fd, op) === 0) return true;
      const errno = read.i32(errnoPtr, 0);
      if (errnoNames.get(errno) === "EWOULDBLOCK" || errnoNames.get(errno) === "EAGAIN") return false;
      return fail("flock", null);
    },
  };
}
