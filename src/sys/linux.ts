/**
 * The real Sys: libc through bun:ffi. This is the only module that imports bun:ffi.
 * Every call runs on the JS thread and blocks it, so only calls that return at once belong here (flock is
 * used with LOCK_NB); anything that changes the process (namespaces, mounts, capabilities) is the shim's,
 * except inPrivateMountNamespace, which changes only this thread, and only for one synchronous call (README).
 */
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
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
    syscall: { args: [i64, i32, P, P, u64], returns: i64 },
    unshare: { args: [i32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    fchdir: { args: [i32], returns: i32 },
    mount: { args: [P, P, P, u64, P], returns: i32 },
    ioctl: { args: [i32, u64, P], returns: i32 },
    socket: { args: [i32, i32, i32], returns: i32 },
    send: { args: [i32, P, u64, i32], returns: i64 },
    recv: { args: [i32, P, u64, i32], returns: i64 },
    close: { args: [i32], returns: i32 },
    copy_file_range: { args: [i32, P, i32, P, u64, u32], returns: i64 },
  });
}

/** openat2's syscall number: the same on x86-64 and arm64 (glibc has no wrapper). */
const SYS_openat2 = 437n;
const CLONE_NEWNS = 0x00020000;
const CLONE_FS = 0x00000200;
const MS_REC_PRIVATE = (1 << 14) | (1 << 18);

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * A NUL-terminated C string that stays alive as long as the returned buffer is referenced. Buffers are passed
 * to calls as themselves, never as ptr(buffer): an address is a number, which keeps nothing alive, so a
 * collection while the other arguments are evaluated (a BigInt allocates) could free the memory it points to
 * before the call; openat2 then saw a garbage path (ENOENT) about once a save of the 5,233-file debian layer.
 */
function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** openat2's struct open_how, reused while flags and resolve stay the same. */
const how = new BigUint64Array(3);
const HOW_SIZE = BigInt(how.byteLength);
let howFlags = -1;
let howResolve = -1;

/** A reused buffer for one call's path: `s` and its NUL, or a new buffer when `s` does not fit (see cstr). */
let scratch = Buffer.allocUnsafe(4096);
function pathBuffer(s: string): Buffer {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; a longer path gets a buffer of its own size.
  if (s.length * 3 + 1 > scratch.length) scratch = Buffer.allocUnsafe(s.length * 3 + 1);
  const n = scratch.write(s, 0, "utf8");
  scratch[n] = 0;
  return scratch;
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
      check(c.mknod(cstr(path), mode, BigInt(dev)), "mknod", path);
    },
    lsetxattr(path, name, value) {
      const v = value.length ? value : new Uint8Array(1);
      check(c.lsetxattr(cstr(path), cstr(name), v, BigInt(value.length), 0), "lsetxattr", path);
    },
    lgetxattr(path, name) {
      const p = cstr(path);
      const n = cstr(name);
      const size = Number(c.lgetxattr(p, n, null, 0n));
      if (size < 0) {
        const errno = read.i32(errnoPtr, 0);
        if (errnoNames.get(errno) === "ENODATA") return null;
        fail("lgetxattr", path);
      }
      const buf = new Uint8Array(Math.max(size, 1));
      const got = Number(c.lgetxattr(p, n, buf, BigInt(buf.length)));
      if (got < 0) fail("lgetxattr", path);
      return buf.subarray(0, got);
    },
    llistxattr(path) {
      const p = cstr(path);
      const size = Number(c.llistxattr(p, null, 0n));
      if (size < 0) fail("llistxattr", path);
      if (size === 0) return [];
      const buf = Buffer.alloc(size);
      const got = Number(c.llistxattr(p, buf, BigInt(size)));
      if (got < 0) fail("llistxattr", path);
      return buf.subarray(0, got).toString("latin1").split("\0").filter(Boolean);
    },
    markTopDir(fd) {
      // FS_IOC_GETFLAGS/SETFLAGS (linux/fs.h, _IOR/_IOW('f', 1/2, long)): the kernel reads and writes an int.
      const flags = new Int32Array(2);
      if (c.ioctl(fd, 0x80086601n, flags) < 0) return false;
      flags[0] = flags[0]! | 0x00020000; // FS_TOPDIR_FL
      return c.ioctl(fd, 0x40086602n, flags) === 0;
    },
    nftGeneration() {
      // AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_NETFILTER: the kernel answers a request within send()
      // itself, so the reply is queued when recv (MSG_DONTWAIT: never blocking the JS thread) looks.
      const fd = c.socket(16, 3 | 0o2000000, 12);
      if (fd < 0) return undefined;
      try {
        // nlmsghdr { len 20, type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN, flags NLM_F_REQUEST, seq, pid }
        // + nfgenmsg { family AF_UNSPEC, version NFNETLINK_V0, res_id 0 }
        const msg = new Uint8Array(20);
        const req = new DataView(msg.buffer);
        req.setUint32(0, 20, true);
        req.setUint16(4, (10 << 8) | 16, true);
        req.setUint16(6, 1, true);
        req.setUint32(8, 1, true);
        if (Number(c.send(fd, msg, 20n, 0)) !== 20) return undefined;
        const buf = new Uint8Array(512);
        const got = Number(c.recv(fd, buf, BigInt(buf.length), 0x40 /* MSG_DONTWAIT */));
        const v = new DataView(buf.buffer);
        // The answer is NFT_MSG_NEWGEN (an NLMSG_ERROR otherwise); its attributes follow the 20-byte header.
        if (got < 24 || v.getUint16(4, true) !== ((10 << 8) | 15)) return undefined;
        for (let off = 20; off + 8 <= Math.min(got, v.getUint32(0, true)); ) {
          const len = v.getUint16(off, true);
          if (len < 4) break;
          if ((v.getUint16(off + 2, true) & 0x3fff) === 1 && len >= 8) return v.getUint32(off + 4, false); // NFTA_GEN_ID, big-endian
          off += (len + 3) & ~3;
        }
        return undefined;
      } finally {
        c.close(fd);
      }
    },
    routeRequest(message) {
      // AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE: the kernel carries the request out within send()
      // and queues its acknowledgement, so recv (MSG_DONTWAIT) finds it without blocking.
      const fd = c.socket(16, 3 | 0o2000000, 0);
      if (fd < 0) return read.i32(errnoPtr, 0);
      try {
        if (Number(c.send(fd, message, BigInt(message.length), 0)) !== message.length) return read.i32(errnoPtr, 0);
        const buf = new Uint8Array(1024);
        const got = Number(c.recv(fd, buf, BigInt(buf.length), 0x40 /* MSG_DONTWAIT */));
        const v = new DataView(buf.buffer);
        // NLMSG_ERROR carries the negated errno (0 for the acknowledgement of a success).
        if (got < 20 || v.getUint16(4, true) !== 2) return constants.errno.EPROTO;
        return -v.getInt32(16, true);
      } finally {
        c.close(fd);
      }
    },
    copyFileRange(inFd, outFd, length) {
      // NULL offsets: both fds' own offsets are used and advanced, as read(2) and write(2) would. A short
      // copy is normal (the caller loops); the kernel caps one call at about 2 GiB.
      const n = Number(c.copy_file_range(inFd, null, outFd, null, BigInt(length), 0));
      if (n < 0) fail("copy_file_range", null);
      return n;
    },
    flock(fd, op) {
      if (c.flock(fd, op) === 0) return true;
      const errno = read.i32(errnoPtr, 0);
      if (errnoNames.get(errno) === "EWOULDBLOCK" || errnoNames.get(errno) === "EAGAIN") return false;
      return fail("flock", null);
    },
    openat2(dirFd, path, flags, resolve) {
      // struct open_how { u64 flags; u64 mode; u64 resolve; }: the kernel resolves the whole path under
      // these rules in one call, so no component can be swapped for an escaping symlink between checks.
      // The struct and the path buffer are reused (a save opens every file of a layer: thousands of calls);
      // both are module-held, so they stay alive across the call, and it is synchronous.
      if (flags !== howFlags || resolve !== howResolve) {
        how[0] = BigInt(flags);
        how[2] = BigInt(resolve);
        howFlags = flags;
        howResolve = resolve;
      }
      const fd = Number(c.syscall(SYS_openat2, dirFd, pathBuffer(path), how, HOW_SIZE));
      if (fd < 0) fail("openat2", path);
      return fd;
    },
    inPrivateMountNamespace(fn) {
      // The namespace switch is per thread: unshare(CLONE_NEWNS) gives only this (JS) thread a private copy
      // of the mount table (and its own fs_struct), so Bun's other threads never see it; setns on the saved
      // fd brings this thread back. Everything in between runs synchronously, so no other JS sees it either.
      const { openSync, closeSync } = require("node:fs") as typeof import("node:fs");
      const home = openSync("/proc/thread-self/ns/mnt", 0);
      const cwd = openSync(".", 0o200000 /* O_DIRECTORY */);
      let nsFd = -1;
      try {
        check(c.unshare(CLONE_NEWNS), "unshare", null);
        try {
          // Private, recursively: nothing mounted here may propagate back into the host's namespace.
          check(c.mount(cstr("none"), cstr("/"), null, BigInt(MS_REC_PRIVATE), null), "mount", "/");
          const result = fn();
          nsFd = openSync("/proc/thread-self/ns/mnt", 0);
          return { result, nsFd };
        } finally {
          // Back to the original namespace (and working directory, which setns resets to the root). setns
          // wants this thread's fs_struct unshared, but a thread Bun started meanwhile may share it: unshare again.
          check(c.unshare(CLONE_FS), "unshare", null);
          check(c.setns(home, CLONE_NEWNS), "setns", null);
          check(c.fchdir(cwd), "fchdir", null);
        }
      } catch (e) {
        if (nsFd >= 0) closeSync(nsFd);
        throw e;
      } finally {
        closeSync(home);
        closeSync(cwd);
      }
    },
    mount(source, target, fstype, flags, data) {
      // Only ever called inside inPrivateMountNamespace: the mount is this thread's private namespace's.
      const s = cstr(source);
      const t = cstr(target);
      const f = fstype === null ? null : cstr(fstype);
      const d = data === null ? null : cstr(data);
      check(c.mount(s, t, f, BigInt(flags), d), "mount", target);
    },
  };
}
