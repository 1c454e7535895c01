/**
 * The syscall boundary. Everything the engine asks of the kernel beyond node:fs goes through `Sys`,
 * so unit tests can swap in the recording fake (src/sys/fake.ts) and only src/sys/linux.ts touches bun:ffi.
 */

/** A failed syscall: names the call, its path argument and the errno, as crun does ("mount `/proc`: EPERM"). */
export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly path: string | null,
    readonly errno: number,
    readonly code: string,
  ) {
    super(path === null ? `${syscall}: ${code}` : `${syscall} \`${path}\`: ${code}`);
    this.name = "SysError";
  }
}

/**
 * The syscalls the engine needs that node:fs does not offer: device nodes, xattrs (overlayfs whiteouts and
 * opaque directories) and flock. All are synchronous on the calling thread. Namespaces, mounts and
 * capabilities are set up by the C shim (src/engine/runtime/shim), not from JS.
 */
export interface Sys {
  /** mknod(2): device nodes, fifos and overlayfs whiteouts (char 0:0). */
  mknod(path: string, mode: number, dev: number): void;
  /** lsetxattr(2): never follows a symlink, so a hostile layer cannot redirect it. */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  /** lgetxattr(2); null when the attribute is absent (ENODATA). */
  lgetxattr(path: string, name: string): Uint8Array | null;
  /** llistxattr(2): the attribute names of `path` itself, not of a symlink's target. */
  llistxattr(path: string): string[];
  /** flock(2) on an open fd; returns false instead of blocking when LOCK_NB is set and the lock is held. */
  flock(fd: number, op: number): boolean;
  /**
   * openat2(2): opens `path` relative to `dirFd` with `resolve` (RESOLVE_*) rules; returns the fd. With
   * RESOLVE_IN_ROOT every symlink and ".." is resolved as if `dirFd` were "/", by the kernel, atomically:
   * how paths inside a container's root are looked up from the host.
   */
  openat2(dirFd: number, path: string, flags: number, resolve: number): number;
  /**
   * Runs `fn` on the calling thread inside a fresh private copy of this mount namespace, then returns to
   * the original one (and working directory). Mounts made by `fn` live as long as the returned fd of the
   * new namespace stays open (close it to drop them); nothing of it is visible to other processes.
   */
  inPrivateMountNamespace<T>(fn: () => T): { result: T; nsFd: number };
  /** mount(2), only inside `inPrivateMountNamespace` (targets are /proc/self/fd/N paths of in-root lookups). */
  mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void;
  /**
   * Sets the directory flag FS_TOPDIR_FL (`chattr +T`) on the open directory `fd`: ext4's Orlov allocator then
   * places each new subdirectory (and the files in it) in a block group of its own choosing, away from the
   * parent's. False when the file system has no such flag.
   */
  markTopDir(fd: number): boolean;
  /**
   * The nf_tables ruleset generation (NFT_MSG_GETGEN over a NETLINK_NETFILTER socket): it changes with every
   * committed change to any nf_tables table, so an unchanged one proves the rules are as last seen. Undefined
   * when the kernel does not answer (no nf_tables).
   */
  nftGeneration(): number | undefined;
  /**
   * One rtnetlink request (a whole nlmsghdr with NLM_F_ACK) on a NETLINK_ROUTE socket; returns the errno of
   * its acknowledgement (0: done). Only for requests the kernel completes at once (a link or address added).
   */
  routeRequest(message: Uint8Array): number;
  /**
   * copy_file_range(2): up to `length` bytes from `inFd` to `outFd`, each at and advancing its own file
   * offset, copied by the kernel (page cache to page cache, never through this process); returns the bytes
   * copied, 0 at the end of `inFd`. Throws SysError EXDEV/EINVAL/EOPNOTSUPP/ENOSYS where the kernel cannot:
   * the caller then copies through a buffer.
   */
  copyFileRange(inFd: number, outFd: number, length: number): number;
}

/** openat2(2)'s resolve flags (linux/openat2.h). */
export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;

/** open(2) flags node's constants lack (x86-64 and arm64 values). */
export const O_PATH = 0o10000000;
/** open(2)'s close-on-exec flag: bunker spawns shims, no fd of a container's tree may leak into them. */
export const O_CLOEXEC = 0o2000000;

/** mount(2) flags (linux/mount.h), as the plan encodes them for the shim (runtime/spec.ts). */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  NOATIME: 1024,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  STRICTATIME: 1 << 24,
} as const;

/** flock(2) operations. */
export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

/** File type bits for mknod(2) (sys/stat.h). */
export const S_IF = { FIFO: 0o010000, CHR: 0o020000, DIR: 0o040000, BLK: 0o060000, REG: 0o100000, LNK: 0o120000, SOCK: 0o140000 } as const;

/** makedev(3) as glibc encodes it. */
export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
}

let current: Sys | undefined;

/** The process-wide Sys: the real one unless a test installed a fake with `useSys`. Loads bun:ffi lazily. */
export function sys(): Sys {
  if (!current) current = (require("./linux.ts") as typeof import("./linux.ts")).linuxSys();
  return current;
}

/** Installs another Sys (tests); returns the previous one. */
export function useSys(next: Sys | undefined): Sys | undefined {
  const prev = current;
  current = next;
  return prev;
}
