/* seccomp.c: docker's default seccomp profile as a BPF program, --ulimit, and the capability sets. */
#include "shim.h"

/* x86_64 numbers of syscalls newer than this libc's headers (the kernel's syscall_64.tbl). */
#ifndef SYS_uretprobe
#define SYS_uretprobe 335
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#define SYS_fchmodat2 452
#define SYS_map_shadow_stack 453
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#define SYS_statmount 457
#define SYS_listmount 458
#define SYS_lsm_get_self_attr 459
#define SYS_lsm_set_self_attr 460
#define SYS_lsm_list_modules 461
#define SYS_mseal 462
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

/* moby's profiles/seccomp/default.json (the moby/profiles version moby vendors in 2026: no io_uring,
 * moby#46762; no AF_ALG sockets) for x86_64: every other syscall fails with EPERM, as its
 * defaultAction SCMP_ACT_ERRNO. Why a filter at all: capabilities gate most of the kernel, but not all of
 * it. Without this a container can unshare(CLONE_NEWUSER) and hold every capability in a user namespace of
 * its own (the door to many kernel bugs), or use keyctl, userfaultfd, bpf and perf_event_open. */
static const int SECCOMP_ALLOW[] = {
  SYS_accept, SYS_accept4, SYS_access, SYS_adjtimex, SYS_alarm, SYS_bind, SYS_brk, SYS_capget, SYS_capset,
  SYS_chdir, SYS_chmod, SYS_chown, SYS_clock_adjtime, SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep,
  SYS_close, SYS_close_range, SYS_connect, SYS_copy_file_range, SYS_creat, SYS_dup, SYS_dup2, SYS_dup3,
  SYS_epoll_create, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_ctl_old, SYS_epoll_pwait, SYS_epoll_pwait2,
  SYS_epoll_wait, SYS_epoll_wait_old, SYS_eventfd, SYS_eventfd2, SYS_execve, SYS_execveat, SYS_exit,
  SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate, SYS_fanotify_mark, SYS_fchdir,
  SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_flistxattr,
  SYS_flock, SYS_fork, SYS_fremovexattr, SYS_fsetxattr, SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate,
  SYS_futex, SYS_futex_waitv, SYS_futimesat, SYS_getcpu, SYS_getcwd, SYS_getdents, SYS_getdents64, SYS_getegid,
  SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername, SYS_getpgid, SYS_getpgrp, SYS_getpid,
  SYS_getppid, SYS_getpriority, SYS_getrandom, SYS_getresgid, SYS_getresuid, SYS_getrlimit, SYS_get_robust_list,
  SYS_getrusage, SYS_getsid, SYS_getsockname, SYS_getsockopt, SYS_get_thread_area, SYS_gettid, SYS_gettimeofday,
  SYS_getuid, SYS_getxattr, SYS_inotify_add_watch, SYS_inotify_init, SYS_inotify_init1, SYS_inotify_rm_watch,
  SYS_io_cancel, SYS_ioctl, SYS_io_destroy, SYS_io_getevents, SYS_io_pgetevents, SYS_ioprio_get, SYS_ioprio_set,
  SYS_io_setup, SYS_io_submit, SYS_kill,
  SYS_landlock_add_rule, SYS_landlock_create_ruleset, SYS_landlock_restrict_self, SYS_lchown, SYS_lgetxattr,
  SYS_link, SYS_linkat, SYS_listen, SYS_listxattr, SYS_llistxattr, SYS_lremovexattr, SYS_lseek, SYS_lsetxattr,
  SYS_lstat, SYS_madvise, SYS_membarrier, SYS_memfd_create, SYS_memfd_secret, SYS_mincore, SYS_mkdir,
  SYS_mkdirat, SYS_mknod, SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_mprotect,
  SYS_mq_getsetattr, SYS_mq_notify, SYS_mq_open, SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink, SYS_mremap,
  SYS_msgctl, SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync, SYS_munlock, SYS_munlockall, SYS_munmap,
  SYS_name_to_handle_at, SYS_nanosleep, SYS_newfstatat, SYS_open, SYS_openat, SYS_openat2, SYS_pause,
  SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe, SYS_pipe2, SYS_pkey_alloc, SYS_pkey_free, SYS_pkey_mprotect,
  SYS_poll, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv, SYS_preadv2, SYS_prlimit64, SYS_process_mrelease,
  SYS_pselect6, SYS_pwrite64, SYS_pwritev, SYS_pwritev2, SYS_read, SYS_readahead, SYS_readlink, SYS_readlinkat,
  SYS_readv, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages, SYS_removexattr, SYS_rename,
  SYS_renameat, SYS_renameat2, SYS_restart_syscall, SYS_rmdir, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigpending,
  SYS_rt_sigprocmask, SYS_rt_sigqueueinfo, SYS_rt_sigreturn, SYS_rt_sigsuspend, SYS_rt_sigtimedwait,
  SYS_rt_tgsigqueueinfo, SYS_sched_getaffinity, SYS_sched_getattr, SYS_sched_getparam, SYS_sched_get_priority_max,
  SYS_sched_get_priority_min, SYS_sched_getscheduler, SYS_sched_rr_get_interval, SYS_sched_setaffinity,
  SYS_sched_setattr, SYS_sched_setparam, SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_select,
  SYS_semctl, SYS_semget, SYS_semop, SYS_semtimedop, SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto,
  SYS_setfsgid, SYS_setfsuid, SYS_setgid, SYS_setgroups, SYS_setitimer, SYS_setpgid, SYS_setpriority,
  SYS_setregid, SYS_setresgid, SYS_setresuid, SYS_setreuid, SYS_setrlimit, SYS_set_robust_list, SYS_setsid,
  SYS_setsockopt, SYS_set_thread_area, SYS_set_tid_address, SYS_setuid, SYS_setxattr, SYS_shmat, SYS_shmctl,
  SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack, SYS_signalfd, SYS_signalfd4, SYS_socketpair, SYS_splice,
  SYS_stat, SYS_statfs, SYS_statx, SYS_symlink, SYS_symlinkat, SYS_sync, SYS_sync_file_range, SYS_syncfs,
  SYS_sysinfo, SYS_tee, SYS_tgkill, SYS_time, SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun,
  SYS_timer_gettime, SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime, SYS_times,
  SYS_tkill, SYS_truncate, SYS_umask, SYS_uname, SYS_unlink, SYS_unlinkat, SYS_utime, SYS_utimensat, SYS_utimes,
  SYS_vfork, SYS_vmsplice, SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
  SYS_cachestat, SYS_fchmodat2, SYS_futex_requeue, SYS_futex_wait, SYS_futex_wake, SYS_getxattrat, SYS_listmount,
  SYS_listxattrat, SYS_map_shadow_stack, SYS_mseal, SYS_removexattrat, SYS_setxattrat, SYS_statmount, SYS_uretprobe,
  SYS_process_vm_readv, SYS_process_vm_writev, SYS_ptrace, /* minKernel 4.8 */
  SYS_arch_prctl, SYS_modify_ldt, /* amd64 */
};

/* The profile's "includes": {"caps": [...]} rules: syscalls a capability the container holds also opens. */
static const struct { int cap; int nr[28]; } SECCOMP_BY_CAP[] = {
  {CAP_DAC_READ_SEARCH, {SYS_open_by_handle_at}},
  {CAP_SYS_ADMIN, {SYS_bpf, SYS_clone, SYS_clone3, SYS_fanotify_init, SYS_fsconfig, SYS_fsmount, SYS_fsopen, SYS_fspick,
                   SYS_lookup_dcookie, SYS_lsm_get_self_attr, SYS_lsm_list_modules, SYS_lsm_set_self_attr, SYS_mount,
                   SYS_mount_setattr, SYS_move_mount, SYS_open_tree, SYS_perf_event_open,
                   SYS_quotactl, SYS_quotactl_fd, SYS_setdomainname, SYS_sethostname, SYS_setns, SYS_syslog, SYS_umount2,
                   SYS_unshare}},
  {CAP_SYS_BOOT, {SYS_reboot}},
  {CAP_SYS_CHROOT, {SYS_chroot}},
  {CAP_SYS_MODULE, {SYS_delete_module, SYS_init_module, SYS_finit_module}},
  {CAP_SYS_PACCT, {SYS_acct}},
  {CAP_SYS_PTRACE, {SYS_kcmp, SYS_pidfd_getfd, SYS_process_madvise}},
  {CAP_SYS_RAWIO, {SYS_iopl, SYS_ioperm}},
  {CAP_SYS_TIME, {SYS_settimeofday, SYS_clock_settime}},
  {CAP_SYS_TTY_CONFIG, {SYS_vhangup}},
  {CAP_SYS_NICE, {SYS_get_mempolicy, SYS_mbind, SYS_set_mempolicy, SYS_set_mempolicy_home_node}},
  {CAP_SYSLOG, {SYS_syslog}},
  {CAP_BPF, {SYS_bpf}},
  {CAP_PERFMON, {SYS_perf_event_open}},
};

/* A classic BPF program under construction: jumps name labels, resolved (forward only) by bpf_end(). */
#define BPF_MAX 256
enum { L_NEXT = -1, L_ALLOW, L_DENY, L_ENOSYS, L_KILL, L_SOCKET, L_SOCKET_OK, L_SOCKET_NO, L_PERSONALITY, L_PERSONALITY_OK, L_PERSONALITY_NO, L_CLONE, L_CLONE_OK, L_COUNT };
static struct { struct sock_filter ins[BPF_MAX]; int jt[BPF_MAX], jf[BPF_MAX], label[L_COUNT], n; } B;

static void bpf(unsigned short code, unsigned k, int jt, int jf) {
  if (B.n < BPF_MAX) B.ins[B.n] = (struct sock_filter){code, 0, 0, k}, B.jt[B.n] = jt, B.jf[B.n] = jf;
  B.n++;
}
static void bpf_label(int l) { B.label[l] = B.n; }
static void bpf_ret(unsigned action) { bpf(BPF_RET | BPF_K, action, L_NEXT, L_NEXT); }
/* The two verdicts a test ends in: EPERM at `deny` (or right here, L_NEXT), then allow at `allow`. */
static void bpf_verdicts(int deny, int allow) {
  if (deny != L_NEXT) bpf_label(deny);
  bpf_ret(SECCOMP_RET_ERRNO | EPERM);
  bpf_label(allow);
  bpf_ret(SECCOMP_RET_ALLOW);
}
/* The offsets of jumps to labels; -1 if the program would not fit or a jump would go back or too far. */
static int bpf_end(void) {
  if (B.n > BPF_MAX) return -1;
  for (int i = 0; i < B.n; i++) {
    if (BPF_CLASS(B.ins[i].code) != BPF_JMP) continue;
    int t = B.jt[i] == L_NEXT ? i + 1 : B.label[B.jt[i]], f = B.jf[i] == L_NEXT ? i + 1 : B.label[B.jf[i]];
    if (t <= i || f <= i || t - i - 1 > 255 || f - i - 1 > 255) return -1;
    B.ins[i].jt = t - i - 1, B.ins[i].jf = f - i - 1;
  }
  return 0;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* --ulimit, for the init and every exec: while CAP_SYS_RESOURCE (if the host grants it) is still held, as
 * runc sets them; `code` is the start failure's exit code. */
void apply_rlimits(int code) {
  for (int i = 0; i < P.nrlimits; i++) {
    struct rlimit rl = {P.rlimits[i].soft < 0 ? RLIM_INFINITY : (rlim_t)P.rlimits[i].soft, P.rlimits[i].hard < 0 ? RLIM_INFINITY : (rlim_t)P.rlimits[i].hard};
    if (setrlimit(P.rlimits[i].res, &rl) < 0) init_fail(code, "error setting rlimit type %d: %s", P.rlimits[i].res, strerror(errno));
  }
  /* --oom-score-adj: written for this process (children inherit it) while CAP_SYS_RESOURCE, which lowering it needs, is held */
  if (P.has_oom_score) {
    char v[16];
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), len = snprintf(v, sizeof v, "%d", P.oom_score);
    int ok = fd >= 0 && write(fd, v, len) == len;
    int err = errno;
    if (fd >= 0) close(fd);
    if (!ok) init_fail(code, "write /proc/self/oom_score_adj: %s", strerror(err));
  }
}

/* Installs the profile for P.seccomp_caps. Before the capabilities are dropped: without no_new_privs,
 * only CAP_SYS_ADMIN may install a filter (runc's order too); what runs after it until execve (capset,
 * setresuid, prctl, dup2, sendmsg, execve...) is all allowed. */
void apply_seccomp(void) {
  if (!P.seccomp) return;
  int nr[sizeof SECCOMP_ALLOW / sizeof *SECCOMP_ALLOW + 64], n = 0;
  for (size_t i = 0; i < sizeof SECCOMP_ALLOW / sizeof *SECCOMP_ALLOW; i++) nr[n++] = SECCOMP_ALLOW[i];
  for (size_t i = 0; i < sizeof SECCOMP_BY_CAP / sizeof *SECCOMP_BY_CAP; i++)
    if (P.seccomp_caps & (1ULL << SECCOMP_BY_CAP[i].cap))
      for (int j = 0; j < 28 && SECCOMP_BY_CAP[i].nr[j]; j++) nr[n++] = SECCOMP_BY_CAP[i].nr[j];
  int admin = (P.seccomp_caps >> CAP_SYS_ADMIN) & 1;
  qsort(nr, n, sizeof *nr, cmp_int);
  B.n = 0;
  /* other ABIs number syscalls differently (i386 through int 0x80, x32): this table does not hold for them,
   * so a 32-bit program dies of SIGSYS at its first syscall rather than run unfiltered (Docker maps them) */
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), L_NEXT, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, L_NEXT, L_KILL);
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), L_NEXT, L_NEXT);
  bpf(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, L_KILL, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, L_SOCKET, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, SYS_personality, L_PERSONALITY, L_NEXT);
  if (!admin) {
    bpf(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, L_CLONE, L_NEXT);
    bpf(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, L_ENOSYS, L_NEXT); /* glibc then falls back to clone */
  }
  /* the allowed numbers as ascending ranges: nr below a range's start is in no range, above its end maybe the next */
  for (int i = 0; i < n;) {
    int lo = nr[i], hi = lo;
    while (++i < n && nr[i] <= hi + 1) hi = nr[i];
    bpf(BPF_JMP | BPF_JGE | BPF_K, lo, L_NEXT, L_DENY);
    bpf(BPF_JMP | BPF_JGT | BPF_K, hi, L_NEXT, L_ALLOW);
  }
  bpf_verdicts(L_DENY, L_ALLOW);
  bpf_label(L_ENOSYS);
  bpf_ret(SECCOMP_RET_ERRNO | ENOSYS);
  bpf_label(L_KILL);
  bpf_ret(SECCOMP_RET_KILL_PROCESS);
  /* socket: any family but AF_ALG (38, the kernel's crypto API) and AF_VSOCK (40); the low 32 bits, the
   * int the kernel reads (a family with high bits set cannot slip past as a large number) */
  bpf_label(L_SOCKET);
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), L_NEXT, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, 38, L_SOCKET_NO, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, 40, L_SOCKET_NO, L_SOCKET_OK);
  bpf_verdicts(L_SOCKET_NO, L_SOCKET_OK);
  /* personality: the query (0xffffffff) and the personas the profile lists (PER_LINUX, UNAME26, PER_LINUX32...) */
  bpf_label(L_PERSONALITY);
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4, L_NEXT, L_NEXT);
  bpf(BPF_JMP | BPF_JEQ | BPF_K, 0, L_NEXT, L_PERSONALITY_NO);
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), L_NEXT, L_NEXT);
  static const unsigned personas[] = {0, 8, 0x20000, 0x20008, 0xffffffff};
  for (int i = 0; i < 5; i++) bpf(BPF_JMP | BPF_JEQ | BPF_K, personas[i], L_PERSONALITY_OK, L_NEXT);
  bpf_verdicts(L_PERSONALITY_NO, L_PERSONALITY_OK);
  /* clone without CAP_SYS_ADMIN: no new namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET) */
  bpf_label(L_CLONE);
  bpf(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), L_NEXT, L_NEXT);
  bpf(BPF_JMP | BPF_JSET | BPF_K, 0x7E020000, L_NEXT, L_CLONE_OK);
  bpf_verdicts(L_NEXT, L_CLONE_OK);
  if (bpf_end() < 0) init_fail(125, "seccomp: the profile does not fit a BPF program");
  struct sock_fprog prog = {(unsigned short)B.n, B.ins};
  /* SECCOMP_SET_MODE_FILTER; the TSYNC flag is not needed: this process has one thread */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) init_fail(125, "seccomp: %s", strerror(errno));
}

/* Capabilities: shrink the bounding set first (needs CAP_SETPCAP, still held), keep the permitted set
 * across setuid, then set E=P=requested, I=0. We never ask for a cap the host's bounding set lacks.
 * Shared by the container's init and by exec'd processes. */
void apply_creds(uid_t uid, gid_t gid, gid_t *groups, int ngroups) {
  for (int c = 0; c < 64; c++)
    if (!(P.caps & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL) break;
  if (setgroups(ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0) init_fail(125, "setgid %u: %s", gid, strerror(errno));
  prctl(PR_SET_KEEPCAPS, 1);
  if (setresuid(uid, uid, uid) < 0) init_fail(125, "setuid %u: %s", uid, strerror(errno));
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  syscall(SYS_capget, &hdr, data); /* glibc has no capget/capset wrappers */
  uint64_t have = data[0].permitted | ((uint64_t)data[1].permitted << 32), want = P.caps & have;
  data[0].effective = data[0].permitted = (uint32_t)want;
  data[1].effective = data[1].permitted = (uint32_t)(want >> 32);
  data[0].inheritable = data[1].inheritable = 0;
  if (syscall(SYS_capset, &hdr, data) < 0) init_fail(125, "unable to apply caps: %s", strerror(errno));
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (P.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) init_fail(125, "no_new_privs: %s", strerror(errno));
}
