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

/** The syscalls the engine needs that node:fs does not offer. All are synchronous on the calling thread. */
export interface Sys {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;
  sethostname(name: string): void;
  chroot(path: string): void;
  chdir(path: string): void;
  /** mknod(2): device nodes, fifos and overlayfs whiteouts (char 0:0). */
  mknod(path: string, mode: number, dev: number): void;
  /** lsetxattr(2): never follows a symlink, so a hostile layer cannot redirect it. */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  lgetxattr(path: string, name: string): Uint8Array | null;
  llistxattr(path: string): string[];
  /** flock(2) on an open fd; returns false instead of blocking when LOCK_NB is set and the lock is held. */
  flock(fd: number, op: number): boolean;
  prctl(option: number, arg2: number | bigint): number;
  /** execve(2): only returns by throwing. */
  execve(file: string, argv: string[], env: string[]): never;
  getpid(): number;
  umask(mask: number): number;
  close(fd: number): void;
  /** Capabilities: capset(2) for the calling thread (v3, 64-bit sets). */
  capset(effective: bigint, permitted: bigint, inheritable: bigint): void;
}

/** mount(2) flags (linux/mount.h). */
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

/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2, EXPIRE: 4 } as const;

/** clone(2)/unshare(2) namespace flags. */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
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
