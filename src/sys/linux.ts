/**
 * The real Sys: libc through bun:ffi. This is the only module that imports bun:ffi.
 * Every call runs on the JS thread; namespace-changing calls therefore only make sense in a process whose
 * other threads do not matter (the `__init` child), never in a long-lived engine (see field-notes).
 */
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { constants } from "node:os";
import { SysError, type Sys } from "./index.ts";

const { i32, i64, u32, ptr: P, u64 } = FFIType;

function openLibc() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: P },
    mount: { args: [P, P, P, u64, P], returns: i32 },
    umount2: { args: [P, i32], returns: i32 },
    syscall: { args: [i64, P, P], returns: i64 },
    unshare: { args: [i32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    sethostname: { args: [P, u64], returns: i32 },
    chroot: { args: [P], returns: i32 },
    chdir: { args: [P], returns: i32 },
    mknod: { args: [P, u32, u64], returns: i32 },
    lsetxattr: { args: [P, P, P, u64, i32], returns: i32 },
    lgetxattr: { args: [P, P, P, u64], returns: i64 },
    llistxattr: { args: [P, P, u64], returns: i64 },
    flock: { args: [i32, i32], returns: i32 },
    prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
    execve: { args: [P, P, P], returns: i32 },
    getpid: { args: [], returns: i32 },
    umask: { args: [u32], returns: u32 },
    close: { args: [i32], returns: i32 },
  });
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const SYS_pivot_root = 155; // x86_64; glibc has no wrapper
const SYS_capset = 126;

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
  const orNull = (s: string | null | undefined) => (s == null ? null : ptr(cstr(s)));

  return {
    mount(source, target, fstype, flags, data) {
      const keep = [source, target, fstype, data].map((s) => (s == null ? null : cstr(s)));
      const [s, t, f, d] = keep.map((b) => (b ? ptr(b) : null));
      check(c.mount(s, t, f, BigInt(flags), d), "mount", target);
    },
    umount2(target, flags) {
      check(c.umount2(ptr(cstr(target)), flags), "umount2", target);
    },
    pivotRoot(newRoot, putOld) {
      const a = cstr(newRoot);
      const b = cstr(putOld);
      check(c.syscall(SYS_pivot_root, ptr(a), ptr(b)), "pivot_root", newRoot);
    },
    unshare(flags) {
      check(c.unshare(flags), "unshare", null);
    },
    setns(fd, nstype) {
      check(c.setns(fd, nstype), "setns", null);
    },
    sethostname(name) {
      const b = Buffer.from(name);
      check(c.sethostname(b.length ? ptr(b) : null, BigInt(b.length)), "sethostname", name);
    },
    chroot(path) {
      check(c.chroot(ptr(cstr(path))), "chroot", path);
    },
    chdir(path) {
      check(c.chdir(ptr(cstr(path))), "chdir", path);
    },
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
    prctl(option, arg2) {
      const rc = c.prctl(option, BigInt(arg2), 0n, 0n, 0n);
      if (rc < 0) fail("prctl", null);
      return rc;
    },
    execve(file, argv, env) {
      // argv/envp are NULL-terminated arrays of pointers; every buffer must outlive the call.
      const keep: Buffer[] = [];
      const vec = (items: string[]) => {
        const arr = new BigUint64Array(items.length + 1);
        items.forEach((s, i) => {
          const b = cstr(s);
          keep.push(b);
          arr[i] = BigInt(ptr(b));
        });
        return arr;
      };
      const a = vec(argv);
      const e = vec(env);
      const f = cstr(file);
      c.execve(ptr(f), ptr(a), ptr(e));
      void keep;
      return fail("execve", file);
    },
    getpid() {
      return c.getpid();
    },
    umask(mask) {
      return c.umask(mask);
    },
    close(fd) {
      check(c.close(fd), "close", null);
    },
    capset(effective, permitted, inheritable) {
      // struct __user_cap_header_struct { u32 version; int pid; } + two __user_cap_data_struct (v3 = 64-bit).
      const header = new Uint32Array([0x20080522, 0]);
      const lo = (x: bigint) => Number(x & 0xffffffffn);
      const hi = (x: bigint) => Number(x >> 32n);
      const data = new Uint32Array([lo(effective), lo(permitted), lo(inheritable), hi(effective), hi(permitted), hi(inheritable)]);
      check(c.syscall(SYS_capset, ptr(header), ptr(data)), "capset", null);
    },
  };
}
