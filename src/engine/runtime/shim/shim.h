/*
 * shim.h: what the shim's files share: the plan (P), the supervisor's state (ST, M), and each file's
 * entry points. scripts/build-shim.sh compiles these .c files together into one static binary; main.c has the
 * process tree and the plan format.
 */
#ifndef BUNKER_SHIM_H
#define BUNKER_SHIM_H

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

enum { MK_FS = 'M', MK_BIND = 'B', MK_MASK = 'm', MK_RO = 'r', MK_LINK = 'L', MK_DIR = 'd', MK_COPY = 'C', MK_REMOUNT = 'R', MK_SHARE = 'S' };
struct mnt { int kind; char *src, *dst, *fstype, *data; unsigned long flags; };
/* One bridge endpoint: S creates the veth pair (host end on the bridge, peer straight into the
 * container's netns), C gives the peer its address and, for the first one, the default route. */
struct netif { char *host, *peer, *bridge, *mac, *ip, *gateway; int prefix, mtu; };
/* A published host port: held (kernel DNAT mode) or, with `to_ip` set, served by the userland proxy. */
struct hostport { char *proto, *ip, *to_ip; int port, to_port, fd; unsigned ev; };

/* Appends v to a NULL-terminated array of n entries. */
#define PUSH(arr, n, v) do { arr = realloc(arr, sizeof(*arr) * ((n) + 2)); arr[(n)++] = (v); arr[n] = NULL; } while (0)

struct plan {
  char *id, *hostname, *merged, *overlay, *cwd, *user, *net, *log, *restart, *dir, *netns;
  char **args, **env, **cgroups;
  int nargs, nenv, ncgroups, nmounts, tty, open_stdin, nnp, wait_attach, log_files, nnetifs, nports, ndnsfiles, ndnsup;
  char **dnsfiles, **dnsup;
  struct netif *netifs;
  struct hostport *ports;
  long long log_max, retries;
  /* exec plans only: the exec id, the container init's pid and its /proc start time, detached or not */
  char *exec_id;
  pid_t target;
  unsigned long long target_start;
  int detach;
  uint64_t caps;
  /* Docker's default seccomp profile, for this capability set; unconfined (--privileged, seccomp=unconfined) without */
  int seccomp;
  uint64_t seccomp_caps;
  /* --ulimit: setrlimit(res, soft, hard) before exec (-1: unlimited) */
  struct { int res; long long soft, hard; } rlimits[16];
  int nrlimits;
  int oom_score, has_oom_score; /* --oom-score-adj, for the init and every exec */
  int readonly; /* --read-only: the root mount read-only once the container's own mounts and cwd exist */
  int init;     /* --init: PID 1 stays a minimal init (docker-init's job) and the program runs as its child */
  struct mnt *mounts;
  char **sysctls; /* --sysctl: path under /proc/sys, value, path, value... */
  int nsysctls;
  unsigned long long hostnet; /* the engine's network namespace (inode): no net.* sysctl is written there */
  /* Device nodes made in the container's /dev (its own inodes, never the host's), and the devices cgroup:
   * `cgv` 1 (v1 devices controller) or 2 (BPF_CGROUP_DEVICE program), `cgdir` the container's cgroup there,
   * `devrules` its allow-list (everything else denied; type 'a' opens all). */
  struct devnode { char *path; int type; unsigned major, minor, mode, uid, gid; } *devs;
  struct devrule { int type; long long major, minor; char access[4]; } *devrules;
  int ndevs, ndevrules, cgv, cgroupns, rootdev;
  char *cgdir;
  /* HEALTHCHECK (health.c): the command, Interval, Timeout, StartPeriod, StartInterval in ms, Retries, and
   * Timeout as Go prints it (the timeout message); no command: no checks */
  char **hc_args, *hc_timeout_text;
  int hc_nargs, hc_retries;
  long long hc_interval, hc_timeout, hc_start_period, hc_start_interval;
  /* --pid / --ipc / --uts: NULL for the container's own namespace, "host", or the /proc/<pid>/ns file to join */
  char *pidns, *ipcns, *utsns;
  char **groupadd; /* --group-add: ids or names of the container's /etc/group */
  int ngroupadd;
};
extern struct plan P;
/* The other containers' namespaces this one joins (net, pid, ipc, and the mount one its /dev/shm comes from),
 * opened by S at the first run and kept: a restart joins the very same or fails (pin_namespaces) */
extern int netns_fd, pidns_fd, ipcns_fd, shmns_fd;

struct state {
  pid_t pid;
  unsigned long long pid_start;
  int running, exit_code, has_exit, restarting, oom_killed;
  long long restart_count, oom_base; /* oom_base: the memory cgroup's OOM kills when this run started */
  char started[64], finished[64], error[512];
};
extern struct state ST;

#define MAXC 8
struct mon {
  int out, err, master, stdin_w; /* this run's host ends */
  int lfd, sigfd, gsock;         /* attach listener, SIGCHLD, channel to the guardian */
  int clients[MAXC];
  int exited, status, report;    /* report: pipe to P0 until the first start is reported */
  int dns, up;                   /* embedded DNS: the socket in the container's netns, the upstream socket */
  int ns[3];                     /* this run's mnt, net and pid namespaces, held until its exit is reported */
};
extern struct mon M;

/* plan.c */
char *slurp(const char *path, size_t *len);
int parse_plan(const char *file);

/* util.c */
void now_rfc3339(char *out, size_t n);
int write_all(int fd, const void *buf, size_t n);
int send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds);
ssize_t recv_fds(int sock, void *buf, size_t n, int *fds, int *nfds, int flags);

/* init.c */
extern int sync_sock; /* to S; CLOEXEC, so a successful execve closes it */
extern int exec_mode;      /* `bunker-shim exec`: setup failures are 126, as dockerd reports a failed exec */
void init_fail(int code, const char *fmt, ...);
extern int rootfd;
int in_root(const char *path, int flags);
int ensure_in_root(const char *path, int dir);
void fdpath(char *out, int fd);
extern char *argv_area; /* main()'s argv strings, contiguous: PID 1's /proc/1/cmdline under --init */
extern size_t argv_len;
void container_init(int stdin_r, int stdout_w, int stderr_w);

/* mount.c */
void do_mount(struct mnt *m);

/* dev.c */
void make_devices(void);

/* user.c */
void resolve_user_env(uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups);
void find_exec(char *out);

/* seccomp.c */
void apply_rlimits(int code);
void apply_seccomp(void);
void apply_creds(uid_t uid, gid_t gid, gid_t *groups, int ngroups);

/* net.c */
extern char net_error[512];
int net_create(pid_t pid);
void net_config(void);
int bind_ports(void);
extern int dns_fd; /* C: 127.0.0.11:53 in the container's netns, handed to S with "R" */

/* logs.c */
void log_open(void);
void log_write(int stream, const char *buf, size_t n);
void log_flush(int stream);

/* status.c */
long long oom_kills(void);
/* /proc/<pid>/stat read into buf: a pointer to the ')' that ends the command name (fields 3... follow), or
 * NULL when the process is gone or the file is unreadable. */
char *proc_stat(pid_t pid, char *buf, size_t size);
unsigned long long proc_starttime(pid_t pid);
void json_str(char *out, size_t n, const char *s);
extern pid_t guardian_pid;
void write_status(void);

/* supervisor.c */
void hold_ns(pid_t pid);
void release_ns(void);
void report(const char *fmt, ...);
void broadcast(int stream, const void *buf, uint32_t n);
void drop_client(int i);
int accept_client(void);
int client_frame(int i);
int make_sigfd(void);
void guardian(void);

/* cgroup.c */
int devcg_apply(void);
int join_cgroups(pid_t pid);
void kill_leftovers(void);

/* run.c */
pid_t start_run(void);
int should_restart(int code);
void finish_run(int code, int again);
void pump(int *fd, int stream);

/* dns.c */
void dns_query(void);
void dns_answer(void);

/* proxy.c */
void proxy_init(void);
int proxy_fd(void);
int proxy_timeout(void);
void proxy_run(int ready);
void proxy_sleep(long long ms);

/* exec.c */
int print_report(int fd, const char *who);
void exec_child(int pidfd, int stdin_r, int stdout_w, int stderr_w);
int exec_main(const char *planfile);

/* health.c */
const char *health_status(void);
void health_begin(void);
void health_adopt(const char *status);
void health_stop(void);
int health_fd(void);
int health_timeout(void);
void health_run(int readable);
int health_reap(pid_t pid);

/* sample.c */
void sample_begin(void);
void sample_stop(void);
int sample_timeout(void);
void sample_run(void);

#endif
