/*
 * bunker-shim: the per-container mechanism. The TypeScript engine decides policy (what to mount, which
 * capabilities, masked paths) and writes a plan; this program only executes it. See README.md.
 *
 *   bunker-shim run <plan-file>
 *   bunker-shim exec <exec-plan-file>     (a process inside a running container: see exec_main)
 *
 * Process tree (why: a Bun process per container costs ~4 MiB PSS and a second Bun start ~5-13 ms):
 *   P0 (spawned by the engine, exits once the container runs; prints "<pid>" or an error)
 *    `- G  guardian: setsid, child subreaper, idle. If S dies (kill -9), the container is reparented to G
 *        |          and G takes over S's job with the fds S handed it, so logs and exit codes survive.
 *        `- S  supervisor: clones the container, pumps json-file logs, serves attach.sock, records
 *             |  status.json atomically, applies the restart policy.
 *             `- C  container init: mounts, pivot_root, user, caps, then execve (becomes PID 1).
 *
 * Plan format: a sequence of NUL-terminated strings; each entry is a key followed by a fixed number of
 * values (see parse_plan). Nothing here follows a path inside the container from the host side without
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), so hostile image symlinks stay inside the rootfs.
 */
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
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* ------------------------------------------------------------------ plan */

enum { MK_FS = 'M', MK_BIND = 'B', MK_MASK = 'm', MK_RO = 'r', MK_LINK = 'L', MK_DIR = 'd', MK_COPY = 'C', MK_REMOUNT = 'R' };
struct mnt { int kind; char *src, *dst, *fstype, *data; unsigned long flags; };
/* One bridge endpoint: S creates the veth pair (host end on the bridge, peer straight into the
 * container's netns), C gives the peer its address and, for the first one, the default route. */
struct netif { char *host, *peer, *bridge, *mac, *ip, *gateway; int prefix, mtu; };
/* A published host port: held (kernel DNAT mode) or, with `to_ip` set, served by the userland proxy. */
struct hostport { char *proto, *ip, *to_ip; int port, to_port, fd; unsigned ev; };

static struct plan {
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
} P;

static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0) return NULL;
  char *buf = malloc(st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, st.st_size - got);
    if (n <= 0) break;
    got += n;
  }
  close(fd);
  buf[got] = 0;
  *len = got;
  return buf;
}

#define PUSH(arr, n, v) do { arr = realloc(arr, sizeof(*arr) * ((n) + 2)); arr[(n)++] = (v); arr[n] = NULL; } while (0)

static int parse_plan(const char *file) {
  size_t len;
  char *buf = slurp(file, &len);
  if (!buf) return -1;
  char *p = buf, *end = buf + len;
#define NEXT() ({ char *s_ = p; if (p >= end) return -1; p += strlen(p) + 1; s_; })
  P.restart = "no";
  P.net = "private";
  P.cwd = "/";
  P.user = "";
  while (p < end) {
    char *k = NEXT();
    if (!strcmp(k, "id")) P.id = NEXT();
    else if (!strcmp(k, "hostname")) P.hostname = NEXT();
    else if (!strcmp(k, "rootfs")) { P.merged = NEXT(); P.overlay = NEXT(); }
    else if (!strcmp(k, "arg")) PUSH(P.args, P.nargs, NEXT());
    else if (!strcmp(k, "env")) PUSH(P.env, P.nenv, NEXT());
    else if (!strcmp(k, "cgroup")) PUSH(P.cgroups, P.ncgroups, NEXT());
    else if (!strcmp(k, "cwd")) P.cwd = NEXT();
    else if (!strcmp(k, "user")) P.user = NEXT();
    else if (!strcmp(k, "tty")) P.tty = atoi(NEXT());
    else if (!strcmp(k, "stdin")) P.open_stdin = atoi(NEXT());
    else if (!strcmp(k, "nnp")) P.nnp = atoi(NEXT());
    else if (!strcmp(k, "wait")) P.wait_attach = atoi(NEXT());
    else if (!strcmp(k, "caps")) P.caps = strtoull(NEXT(), NULL, 16);
    else if (!strcmp(k, "readonly")) P.readonly = atoi(NEXT());
    else if (!strcmp(k, "init")) P.init = atoi(NEXT());
    else if (!strcmp(k, "seccomp")) { P.seccomp = 1; P.seccomp_caps = strtoull(NEXT(), NULL, 16); }
    else if (!strcmp(k, "rlimit") && P.nrlimits < 16) {
      P.rlimits[P.nrlimits].res = atoi(NEXT());
      P.rlimits[P.nrlimits].soft = atoll(NEXT());
      P.rlimits[P.nrlimits++].hard = atoll(NEXT());
    }
    else if (!strcmp(k, "net")) P.net = NEXT();
    else if (!strcmp(k, "log")) P.log = NEXT();
    else if (!strcmp(k, "logmax")) P.log_max = atoll(NEXT());
    else if (!strcmp(k, "logfiles")) P.log_files = atoi(NEXT());
    else if (!strcmp(k, "restart")) P.restart = NEXT();
    else if (!strcmp(k, "retries")) P.retries = atoll(NEXT());
    else if (!strcmp(k, "dir")) P.dir = NEXT();
    else if (!strcmp(k, "exec")) P.exec_id = NEXT();
    else if (!strcmp(k, "pid")) P.target = atoi(NEXT());
    else if (!strcmp(k, "pidstart")) P.target_start = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(k, "detach")) P.detach = atoi(NEXT());
    else if (!strcmp(k, "netns")) P.netns = NEXT();
    else if (!strcmp(k, "dnsfile")) PUSH(P.dnsfiles, P.ndnsfiles, NEXT());
    else if (!strcmp(k, "dnsup")) PUSH(P.dnsup, P.ndnsup, NEXT());
    else if (!strcmp(k, "netif")) {
      P.netifs = realloc(P.netifs, sizeof(struct netif) * (P.nnetifs + 1));
      struct netif *n = &P.netifs[P.nnetifs++];
      n->host = NEXT();
      n->peer = NEXT();
      n->bridge = NEXT();
      n->mac = NEXT();
      n->ip = NEXT();
      n->prefix = atoi(NEXT());
      n->gateway = NEXT();
      n->mtu = atoi(NEXT());
    } else if (!strcmp(k, "port")) {
      P.ports = realloc(P.ports, sizeof(struct hostport) * (P.nports + 1));
      struct hostport *h = &P.ports[P.nports++];
      h->proto = NEXT();
      h->ip = NEXT();
      h->port = atoi(NEXT());
      h->to_ip = NEXT(); /* "": hold only */
      h->to_port = atoi(NEXT());
      h->fd = -1;
    } else if (!strcmp(k, "hostnet")) {
      P.hostnet = strtoull(NEXT(), NULL, 10);
    } else if (!strcmp(k, "sysctl")) {
      PUSH(P.sysctls, P.nsysctls, NEXT());
      PUSH(P.sysctls, P.nsysctls, NEXT());
    } else if (!strcmp(k, "dev")) {
      P.devs = realloc(P.devs, sizeof(struct devnode) * (P.ndevs + 1));
      struct devnode *d = &P.devs[P.ndevs++];
      d->path = NEXT();
      d->type = NEXT()[0];
      d->major = strtoul(NEXT(), NULL, 10);
      d->minor = strtoul(NEXT(), NULL, 10);
      d->mode = strtoul(NEXT(), NULL, 8);
      d->uid = strtoul(NEXT(), NULL, 10);
      d->gid = strtoul(NEXT(), NULL, 10);
    } else if (!strcmp(k, "devrule")) {
      P.devrules = realloc(P.devrules, sizeof(struct devrule) * (P.ndevrules + 1));
      struct devrule *r = &P.devrules[P.ndevrules++];
      r->type = NEXT()[0];
      r->major = atoll(NEXT());
      r->minor = atoll(NEXT());
      snprintf(r->access, sizeof r->access, "%s", NEXT());
    } else if (!strcmp(k, "devcg")) {
      P.cgv = atoi(NEXT());
      P.cgdir = NEXT();
    } else if (!strcmp(k, "cgroupns")) P.cgroupns = atoi(NEXT());
    else if (!strcmp(k, "rootdev")) P.rootdev = atoi(NEXT());
    else if (!strcmp(k, "mount")) {
      P.mounts = realloc(P.mounts, sizeof(struct mnt) * (P.nmounts + 1));
      struct mnt *m = &P.mounts[P.nmounts++];
      m->kind = NEXT()[0];
      m->src = NEXT();
      m->dst = NEXT();
      m->fstype = NEXT();
      m->flags = strtoul(NEXT(), NULL, 10);
      m->data = NEXT();
    } else return -1;
  }
  if (!P.id || !P.nargs || !P.dir) return -1;
  if (P.exec_id) { /* the exec id names files under <dir>/execs/: a plain name, nothing that walks */
    if (!*P.exec_id || strchr(P.exec_id, '/') || P.exec_id[0] == '.' || P.target <= 0) return -1;
  } else if (!P.merged || !P.overlay) return -1;
  if (!P.hostname) P.hostname = P.id;
  return 0;
}

/* ------------------------------------------------------------------ helpers */

static void now_rfc3339(char *out, size_t n) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + k, n - k, ".%09ldZ", ts.tv_nsec); /* moby's RFC3339NanoFixed */
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= w;
  }
  return 0;
}

/* Sends bytes and optionally one fd over a unix socket (SCM_RIGHTS). */
static int send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds) {
  struct iovec iov = {(void *)buf, n};
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds) {
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static ssize_t recv_fds(int sock, void *buf, size_t n, int *fds, int *nfds, int flags) {
  struct iovec iov = {buf, n};
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (r < 0 && errno == EINTR);
  *nfds = 0;
  if (r >= 0)
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(fds + *nfds, CMSG_DATA(c), sizeof(int) * k);
        *nfds += k;
      }
  return r;
}

/* ------------------------------------------------------------------ container init (runs as C) */

static int sync_sock = -1; /* to S; CLOEXEC, so a successful execve closes it */
static int exec_mode;      /* `bunker-shim exec`: setup failures are 126, as dockerd reports a failed exec */

static void init_fail(int code, const char *fmt, ...) {
  char msg[1024];
  if (exec_mode && code == 125) code = 126;
  msg[0] = 'E';
  msg[1] = (char)code;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg + 2, sizeof msg - 2, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof msg - 3) n = sizeof msg - 3;
  send(sync_sock, msg, n + 2, MSG_NOSIGNAL);
  _exit(code);
}

static int rootfd = -1;

/* Opens a path inside the container root; symlinks (even absolute ones) resolve inside it, magic links refused. */
static int in_root(const char *path, int flags) {
  struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* mkdir -p inside the root, then opens it (O_PATH); creates an empty file instead when !dir. */
static int ensure_in_root(const char *path, int dir) {
  int fd = in_root(path, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  const char *base = slash ? slash + 1 : parent;
  if (slash == parent) parent[1] = 0, base = path + 1;
  else if (slash) *slash = 0;
  int pfd = slash ? ensure_in_root(parent, 1) : dup(rootfd);
  if (pfd < 0) return -1;
  int rc;
  if (dir) rc = mkdirat(pfd, base, 0755);
  else if ((rc = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644)) >= 0) rc = close(rc);
  close(pfd);
  if (rc < 0 && errno != EEXIST) return -1;
  return in_root(path, O_PATH);
}

static void fdpath(char *out, int fd) { snprintf(out, 64, "/proc/self/fd/%d", fd); }

/* ------------------------------------------------------------------ volume copy-up (Docker's populateVolume) */

/* Owner, mode, xattrs and times of `st` onto the open fd (in that order: chown clears setuid bits and file
 * capabilities). Unsupported xattrs are skipped, as moby's copy ignores them. */
static void copy_meta(int sfd, int dfd, const struct stat *st) {
  if (fchown(dfd, st->st_uid, st->st_gid) < 0 || fchmod(dfd, st->st_mode & 07777) < 0) init_fail(125, "volume copy: chown/chmod: %s", strerror(errno));
  char names[4096], val[4096];
  ssize_t n = flistxattr(sfd, names, sizeof names);
  for (ssize_t i = 0; n > 0 && i < n; i += strlen(names + i) + 1) {
    ssize_t vn = fgetxattr(sfd, names + i, val, sizeof val);
    if (vn >= 0) fsetxattr(dfd, names + i, val, vn, 0);
  }
  struct timespec ts[2] = {st->st_atim, st->st_mtim};
  futimens(dfd, ts);
}

/* Copies the tree under sfd into dfd. Every step is one name relative to an open directory, opened with
 * O_NOFOLLOW and created with O_EXCL: a symlink (in the image, or planted in the volume by a container
 * that shares it) is copied or refused, never followed, so nothing outside the root is read and nothing
 * outside the volume is written. Hard links are copied as separate files. */
static void copy_tree(int sfd, int dfd) {
  DIR *dp = fdopendir(dup(sfd));
  if (!dp) init_fail(125, "volume copy: %s", strerror(errno));
  struct dirent *e;
  while ((e = readdir(dp))) {
    const char *name = e->d_name;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    struct stat st;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
    int s2 = -1, d2 = -1;
    switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
      if (mkdirat(dfd, name, 0700) < 0 || (s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
          (d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      copy_tree(s2, d2);
      copy_meta(s2, d2, &st);
      break;
    case S_IFREG: {
      if ((s2 = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 ||
          (d2 = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      static char buf[65536];
      ssize_t n;
      while ((n = read(s2, buf, sizeof buf)) > 0)
        if (write(d2, buf, n) != n) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      if (n < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      copy_meta(s2, d2, &st);
      break;
    }
    case S_IFLNK: {
      char target[PATH_MAX];
      ssize_t n = readlinkat(sfd, name, target, sizeof target - 1);
      if (n < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      target[n] = 0;
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      if (symlinkat(target, dfd, name) < 0 || fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
      break;
    }
    case S_IFIFO:
    case S_IFCHR:
    case S_IFBLK: { /* the volume is bound nodev: a copied device node opens nothing */
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      if (mknodat(dfd, name, st.st_mode, st.st_rdev) < 0 || fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
      break;
    }
    default: /* sockets: nothing to copy */
      break;
    }
    if (s2 >= 0) close(s2);
    if (d2 >= 0) close(d2);
  }
  closedir(dp);
}

/* MK_COPY: the image's content at `dst` (resolved in the root) into the volume dir `src`, only while the
 * volume is empty; then the volume dir takes the owner and mode of the image's directory. */
static void copy_up(struct mnt *m) {
  int sfd = in_root(m->dst, O_RDONLY | O_DIRECTORY);
  if (sfd < 0) return; /* nothing there (or not a directory): nothing to copy, as in Docker */
  int dfd = open(m->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) init_fail(125, "volume `%s`: %s", m->src, strerror(errno));
  DIR *dp = fdopendir(dup(dfd));
  int empty = 1;
  for (struct dirent *e; dp && (e = readdir(dp));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
  if (dp) closedir(dp);
  if (empty) {
    struct stat st;
    mode_t old = umask(0); /* modes come from the image, exactly */
    if (fstat(sfd, &st) < 0) init_fail(125, "volume copy: %s", strerror(errno));
    copy_tree(sfd, dfd);
    copy_meta(sfd, dfd, &st);
    umask(old);
  }
  close(sfd);
  close(dfd);
}

/* runc's checkProcMount once image symlinks are resolved: the engine refused /proc destinations by name
 * (allowing a procfs source on /proc and the files lxcfs emulates), so a target that lands on procfs by
 * any other name came through a symlink (`/x -> /proc/sys`) and would shadow the container's own procfs. */
static void check_proc_target(struct mnt *m, int tfd, int sfd) {
  struct statfs fs;
  if (fstatfs(tfd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) return;
  if (!strncmp(m->dst, "/proc/", 6)) return;
  if (!strcmp(m->dst, "/proc") && sfd >= 0 && fstatfs(sfd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) return;
  init_fail(125, "check proc-safety of %s mount: \"%s\" cannot be mounted because it is inside /proc", m->dst, m->dst);
}

static void do_mount(struct mnt *m) {
  char tp[64], sp[64];
  struct stat st;
  int tfd, sfd;
  switch (m->kind) {
  case MK_FS:
  case MK_DIR:
    if ((tfd = ensure_in_root(m->dst, 1)) < 0) init_fail(125, "mkdir `%s`: %s", m->dst, strerror(errno));
    check_proc_target(m, tfd, -1);
    fdpath(tp, tfd);
    if (m->kind == MK_FS && mount(m->src, tp, m->fstype, m->flags, *m->data ? m->data : NULL) < 0)
      init_fail(125, "mount %s on `%s`: %s", m->fstype, m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_COPY:
    copy_up(m);
    return;
  case MK_REMOUNT: /* new flags for a mount point already there (/sys/fs/cgroup's tmpfs, read-only once filled) */
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    fdpath(tp, tfd);
    if (mount(NULL, tp, NULL, MS_BIND | MS_REMOUNT | m->flags, NULL) < 0) init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_LINK: {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", m->dst);
    char *slash = strrchr(parent, '/');
    *slash = 0;
    int pfd = in_root(*parent ? parent : "/", O_PATH | O_DIRECTORY);
    if (pfd < 0 || (symlinkat(m->src, pfd, slash + 1) < 0 && errno != EEXIST)) init_fail(125, "symlink `%s`: %s", m->dst, strerror(errno));
    close(pfd);
    return;
  }
  case MK_BIND:
    /* the source is a host path the engine chose (container dir, volume, /dev/null); the target is resolved in the root */
    if ((sfd = open(m->src, O_PATH | O_CLOEXEC)) < 0 || fstat(sfd, &st) < 0) init_fail(125, "bind source `%s`: %s", m->src, strerror(errno));
    if ((tfd = ensure_in_root(m->dst, S_ISDIR(st.st_mode))) < 0) init_fail(125, "bind target `%s`: %s", m->dst, strerror(errno));
    check_proc_target(m, tfd, sfd);
    fdpath(sp, sfd);
    fdpath(tp, tfd);
    /* data "bind": the source's own mount only (bind-recursive=disabled); otherwise its submounts come too */
    if (mount(sp, tp, NULL, MS_BIND | (strcmp(m->data, "bind") ? MS_REC : 0), NULL) < 0) init_fail(125, "bind `%s` on `%s`: %s", m->src, m->dst, strerror(errno));
    close(tfd);
    close(sfd);
    break;
  case MK_MASK:
    if ((tfd = in_root(m->dst, O_PATH)) < 0) return; /* absent: nothing to hide */
    fstat(tfd, &st);
    fdpath(tp, tfd);
    if (S_ISDIR(st.st_mode) ? mount("tmpfs", tp, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", tp, NULL, MS_BIND, NULL))
      init_fail(125, "mask `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_RO:
    if ((tfd = in_root(m->dst, O_PATH)) < 0) return;
    fdpath(tp, tfd);
    if (mount(tp, tp, NULL, MS_BIND | MS_REC, NULL) < 0) init_fail(125, "bind `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    break;
  default:
    init_fail(125, "bad mount kind %c", m->kind);
  }
  /* MS_BIND ignores other flags, so a read-only (or nosuid/nodev) bind needs a remount of the *new* mount:
   * re-resolve the path so the fd lands on top of the bind rather than the covered dentry. */
  if (m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) {
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "reopen `%s`: %s", m->dst, strerror(errno));
    fdpath(tp, tfd);
    if (mount(NULL, tp, NULL, MS_BIND | MS_REMOUNT | (m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)), NULL) < 0)
      init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    close(tfd);
  }
  /* data "rro" (Docker 25's default for a read-only bind, API 1.44): the submounts under the source turn
   * read-only too, in one mount_setattr(AT_RECURSIVE) on the new mount; "rro-force" (bind-recursive=
   * readonly) fails the start where the kernel cannot, plain "rro" then keeps the top one read-only, as
   * moby falls back on kernels before 5.12. */
  if (m->kind == MK_BIND && !strncmp(m->data, "rro", 3)) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "reopen `%s`: %s", m->dst, strerror(errno));
    if (syscall(SYS_mount_setattr, tfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
      if (errno != ENOSYS) init_fail(125, "make `%s` recursively read-only: %s", m->dst, strerror(errno));
      if (m->data[3]) init_fail(125, "rro is not supported: %s (kernel is older than 5.12?)", strerror(errno));
    }
    close(tfd);
  }
}

/* ------------------------------------------------------------------ /dev: the container's own device nodes */

/* The plan's nodes, made with mknod in the container's /dev tmpfs (as runc does): chmod or chown of them
 * inside changes only these inodes, never the host's. What a node may open is the devices cgroup's call. */
static void make_devices(void) {
  mode_t old = umask(0); /* the modes are the plan's, exactly */
  for (int i = 0; i < P.ndevs; i++) {
    struct devnode *d = &P.devs[i];
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", d->path);
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1]) init_fail(125, "device path `%s`", d->path);
    *slash = 0;
    int pfd = ensure_in_root(*parent ? parent : "/", 1);
    mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
    if (pfd < 0) init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    if (mknodat(pfd, slash + 1, type | (d->mode & 07777), makedev(d->major, d->minor)) < 0) {
      if (errno != EEXIST) init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    } else if (fchownat(pfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) /* a path already there stays, as with runc */
      init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    close(pfd);
  }
  umask(old);
}

/* Reads "name:x:uid:gid:..." lines of the container's /etc/passwd or /etc/group (opened inside the root). */
static char *read_etc(const char *path) {
  int fd = in_root(path, O_RDONLY);
  if (fd < 0) return NULL;
  char *buf = malloc(1 << 20);
  ssize_t got = 0, n;
  while (got < (1 << 20) - 1 && (n = read(fd, buf + got, (1 << 20) - 1 - got)) > 0) got += n;
  close(fd);
  buf[got] = 0;
  return buf;
}

static int is_num(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* Field i (0-based) of a ':'-separated line, copied into out. */
static int field(const char *line, int i, char *out, size_t n) {
  for (; i > 0; i--) {
    line = strchr(line, ':');
    if (!line) return -1;
    line++;
  }
  size_t k = strcspn(line, ":\n");
  if (k >= n) k = n - 1;
  memcpy(out, line, k);
  out[k] = 0;
  return 0;
}

static char home[PATH_MAX] = "/";

/* Docker's -u user[:group] semantics (runc's GetExecUser): names resolve through the image's files,
 * numbers need not exist; supplementary groups are the /etc/group entries listing the user. */
static void resolve_user(uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups) {
  char user[256], group[256] = "", name[256] = "", f[256];
  snprintf(user, sizeof user, "%s", P.user);
  char *colon = strchr(user, ':');
  if (colon) *colon = 0, snprintf(group, sizeof group, "%s", colon + 1);
  *uid = 0;
  *gid = 0;
  *ngroups = 0;
  int found = 0;
  char *pw = read_etc("/etc/passwd");
  for (char *line = pw; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
    if (field(line, 0, name, sizeof name) || field(line, 2, f, sizeof f)) continue;
    int match = !*user ? atoi(f) == 0 : (is_num(user) ? strtoul(user, 0, 10) == strtoul(f, 0, 10) : !strcmp(user, name));
    if (!match) continue;
    *uid = strtoul(f, 0, 10);
    field(line, 3, f, sizeof f);
    *gid = strtoul(f, 0, 10);
    field(line, 5, home, sizeof home);
    found = 1;
    break;
  }
  if (!found) {
    if (*user && !is_num(user)) init_fail(125, "unable to find user %s: no matching entries in passwd file", user);
    *uid = *user ? strtoul(user, 0, 10) : 0;
    name[0] = 0;
  }
  char *gr = NULL;
  if (*group) {
    if (is_num(group)) *gid = strtoul(group, 0, 10);
    else {
      gr = read_etc("/etc/group");
      int gfound = 0;
      for (char *line = gr; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line))
        if (!field(line, 0, f, sizeof f) && !strcmp(f, group) && !field(line, 2, f, sizeof f)) {
          *gid = strtoul(f, 0, 10);
          gfound = 1;
          break;
        }
      if (!gfound) init_fail(125, "unable to find group %s: no matching entries in group file", group);
    }
  }
  groups[(*ngroups)++] = *gid;
  if (found && !*group) { /* an explicit group replaces the supplementary list, as in runc */
    if (!gr) gr = read_etc("/etc/group");
    static char members[4096];
    for (char *line = gr; line && *line && *ngroups < 64; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
      if (field(line, 3, members, sizeof members) || field(line, 2, f, sizeof f)) continue;
      for (char *tok = strtok(members, ","); tok; tok = strtok(NULL, ","))
        if (!strcmp(tok, name)) {
          groups[(*ngroups)++] = strtoul(f, 0, 10);
          break;
        }
    }
  }
  free(pw);
  free(gr);
}


static const char *getenv_plan(const char *key) {
  size_t k = strlen(key);
  for (int i = 0; i < P.nenv; i++)
    if (!strncmp(P.env[i], key, k) && P.env[i][k] == '=') return P.env[i] + k + 1;
  return NULL;
}

/* The user's ids and groups, and HOME from its passwd entry unless the plan sets it (run and exec alike). */
static void resolve_user_env(uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups) {
  resolve_user(uid, gid, groups, ngroups);
  if (!getenv_plan("HOME")) {
    char *h = malloc(strlen(home) + 6);
    sprintf(h, "HOME=%s", *home ? home : "/");
    PUSH(P.env, P.nenv, h);
  }
}

/* PATH lookup done before the start barrier, so "executable file not found" is a start error, as in Docker. */
static void find_exec(char *out) {
  const char *a0 = P.args[0];
  struct stat st;
  if (strchr(a0, '/')) {
    if (stat(a0, &st) < 0) init_fail(127, "exec: \"%s\": stat %s: no such file or directory", a0, a0);
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) init_fail(126, "exec: \"%s\": permission denied", a0);
    snprintf(out, PATH_MAX, "%s", a0);
    return;
  }
  const char *path = getenv_plan("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (*path) {
    size_t k = strcspn(path, ":");
    snprintf(out, PATH_MAX, "%.*s/%s", (int)k, k ? path : ".", a0);
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return;
    path += k + (path[k] == ':');
  }
  init_fail(127, "exec: \"%s\": executable file not found in $PATH", a0);
}

/* ------------------------------------------------------------------ seccomp (Docker's default profile) */

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
static void apply_rlimits(int code) {
  for (int i = 0; i < P.nrlimits; i++) {
    struct rlimit rl = {P.rlimits[i].soft < 0 ? RLIM_INFINITY : (rlim_t)P.rlimits[i].soft, P.rlimits[i].hard < 0 ? RLIM_INFINITY : (rlim_t)P.rlimits[i].hard};
    if (setrlimit(P.rlimits[i].res, &rl) < 0) init_fail(code, "error setting rlimit type %d: %s", P.rlimits[i].res, strerror(errno));
  }
}

/* Installs the profile for P.seccomp_caps. Before the capabilities are dropped: without no_new_privs,
 * only CAP_SYS_ADMIN may install a filter (runc's order too); what runs after it until execve (capset,
 * setresuid, prctl, dup2, sendmsg, execve...) is all allowed. */
static void apply_seccomp(void) {
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
static void apply_creds(uid_t uid, gid_t gid, gid_t *groups, int ngroups) {
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

/* ------------------------------------------------------------------ networking (bridge endpoints) */

/* Why here and not in the engine: the container's network must exist before its process runs, and S
 * already holds the container at the start barrier. One netlink request per endpoint (the veth pair,
 * the host end enslaved to the bridge and up, the peer created directly inside the container's netns
 * under its final name) costs well under a millisecond and no process spawn, and S repeats it on every
 * restart-policy restart without the engine. The kernel destroys both ends when the netns dies, so an
 * exited container leaves no veth behind; until then (asynchronously, tens of ms after the exit) the dead
 * netns still answers ARP for the address on the bridge. The host end's alias names that address, so
 * the engine gives it to no other container while such a veth is there (ipam.ts, ghostAddresses). */

static void nl_attr(struct nlmsghdr *h, int type, const void *data, int len) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static struct rtattr *nl_nest(struct nlmsghdr *h, int type) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  nl_attr(h, type, NULL, 0);
  return a;
}

static void nl_end(struct nlmsghdr *h, struct rtattr *a) { a->rta_len = (char *)h + h->nlmsg_len - (char *)a; }

static int parse_mac(const char *s, unsigned char *mac) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* Sends one netlink request and reads its ack: 0 or an errno. */
static int nl_talk(int nl, struct nlmsghdr *req) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  char ack[1024];
  ssize_t r = recv(nl, ack, sizeof ack, 0);
  struct nlmsghdr *h = (struct nlmsghdr *)ack;
  if (r < 0) return errno;
  return r >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR ? -((struct nlmsgerr *)NLMSG_DATA(h))->error : 0;
}

/* One request about an existing link, by name: RTM_DELLINK, or RTM_NEWLINK without NLM_F_CREATE to set its
 * alias (the kernel takes none when it creates a link). Returns 0 or an errno. */
static int link_request(int nl, int type, const char *name, const char *alias) {
  union { struct nlmsghdr h; char buf[128]; } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  ((struct ifinfomsg *)NLMSG_DATA(&req.h))->ifi_family = AF_UNSPEC;
  nl_attr(&req.h, IFLA_IFNAME, name, strlen(name) + 1);
  if (alias) nl_attr(&req.h, IFLA_IFALIAS, alias, strlen(alias));
  return nl_talk(nl, &req.h);
}

/* S: creates every endpoint's veth pair for container `pid`. Returns 0, or -1 with ST.error set. */
static char net_error[512];
static int net_create(pid_t pid) {
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) return snprintf(net_error, sizeof net_error, "netlink: %s", strerror(errno)), -1;
  for (int i = 0; i < P.nnetifs; i++) {
    struct netif *n = &P.netifs[i];
    unsigned bridge = if_nametoindex(n->bridge);
    if (!bridge) {
      snprintf(net_error, sizeof net_error, "failed to set up container networking: bridge %s: %s", n->bridge, strerror(errno));
      close(nl);
      return -1;
    }
    union { struct nlmsghdr h; char buf[1024]; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    req.h.nlmsg_seq = i + 1;
    struct ifinfomsg *ifi = NLMSG_DATA(&req.h);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_flags = ifi->ifi_change = IFF_UP;
    nl_attr(&req.h, IFLA_IFNAME, n->host, strlen(n->host) + 1);
    nl_attr(&req.h, IFLA_MASTER, &bridge, 4);
    if (n->mtu > 0) nl_attr(&req.h, IFLA_MTU, &n->mtu, 4);
    struct rtattr *info = nl_nest(&req.h, IFLA_LINKINFO);
    nl_attr(&req.h, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = nl_nest(&req.h, IFLA_INFO_DATA);
    struct rtattr *peer = nl_nest(&req.h, VETH_INFO_PEER);
    /* the peer stays down here (asking for IFF_UP across namespaces fails with ENOTCONN on 6.x); C raises it */
    struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
    memcpy((char *)&req + req.h.nlmsg_len, &pifi, sizeof pifi);
    req.h.nlmsg_len += NLMSG_ALIGN(sizeof pifi);
    nl_attr(&req.h, IFLA_IFNAME, n->peer, strlen(n->peer) + 1);
    uint32_t p32 = pid;
    nl_attr(&req.h, IFLA_NET_NS_PID, &p32, 4);
    unsigned char mac[6];
    if (!parse_mac(n->mac, mac)) nl_attr(&req.h, IFLA_ADDRESS, mac, 6);
    if (n->mtu > 0) nl_attr(&req.h, IFLA_MTU, &n->mtu, 4);
    nl_end(&req.h, peer);
    nl_end(&req.h, data);
    nl_end(&req.h, info);
    int err = nl_talk(nl, &req.h);
    if (err == EEXIST) {
      /* The previous run's veth (the name is this endpoint's): the kernel dismantles a dead netns
       * asynchronously, so a start right after a stop, or a quick restart, can find it still there. */
      link_request(nl, RTM_DELLINK, n->host, NULL);
      err = nl_talk(nl, &req.h);
    }
    if (err) {
      snprintf(net_error, sizeof net_error, "failed to set up container networking: create veth %s on %s: %s", n->host, n->bridge, strerror(err));
      close(nl);
      return -1;
    }
    link_request(nl, RTM_NEWLINK, n->host, n->ip); /* the alias names the peer's address (see above) */
  }
  close(nl);
  return 0;
}

static void set_in(struct sockaddr *sa, const char *ip) {
  struct sockaddr_in *sin = (struct sockaddr_in *)sa;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sin->sin_addr);
}

/* C, inside its netns, once S said the veths exist: addresses and the default route, with plain
 * ioctls (the interface already came up with its final name and MAC in S's request). */
static void net_config(void) {
  char go;
  if (recv(sync_sock, &go, 1, 0) != 1 || go != 'N') _exit(125); /* S failed: it reports the error */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) init_fail(125, "socket: %s", strerror(errno));
  for (int i = 0; i < P.nnetifs; i++) {
    struct netif *n = &P.netifs[i];
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", n->peer);
    set_in(&ifr.ifr_addr, n->ip);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0) init_fail(125, "failed to set up container networking: address %s on %s: %s", n->ip, n->peer, strerror(errno));
    uint32_t mask = n->prefix ? htonl(~0U << (32 - n->prefix)) : 0;
    set_in(&ifr.ifr_netmask, "0.0.0.0");
    ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr = mask;
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) init_fail(125, "failed to set up container networking: netmask on %s: %s", n->peer, strerror(errno));
    struct in_addr a;
    inet_pton(AF_INET, n->ip, &a);
    set_in(&ifr.ifr_broadaddr, "0.0.0.0");
    ((struct sockaddr_in *)&ifr.ifr_broadaddr)->sin_addr.s_addr = a.s_addr | ~mask;
    ioctl(s, SIOCSIFBRDADDR, &ifr);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) init_fail(125, "failed to set up container networking: %s: %s", n->peer, strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) init_fail(125, "failed to set up container networking: %s up: %s", n->peer, strerror(errno));
    if (*n->gateway && i == 0) {
      struct rtentry rt = {0};
      set_in(&rt.rt_dst, "0.0.0.0");
      set_in(&rt.rt_genmask, "0.0.0.0");
      set_in(&rt.rt_gateway, n->gateway);
      rt.rt_flags = RTF_UP | RTF_GATEWAY;
      rt.rt_dev = n->peer;
      if (ioctl(s, SIOCADDRT, &rt) < 0) init_fail(125, "failed to set up container networking: default route via %s: %s", n->gateway, strerror(errno));
    }
  }
  close(s);
}

/* P0: binds every published host port before G and S are forked, so both inherit the sockets and hold
 * them for the container's whole life, restarts and a supervisor takeover included. Why: with kernel
 * DNAT nothing listens on the host port, so this bound (never listening) socket is what makes a later
 * container, from any data root, or a host process fail to take the port; it goes away with the
 * supervisors, so nothing needs cleaning. Nothing ever connects to it: DNAT rewrites the traffic first.
 * In userland-proxy mode (`to_ip` set) the same socket is the proxy's: TCP ones listen right here, so a
 * port is either fully ours or the start fails with Docker's message. */
static int bind_ports(void) {
  for (int i = 0; i < P.nports; i++) {
    struct hostport *h = &P.ports[i];
    int udp = !strcmp(h->proto, "udp"), proxy = *h->to_ip != 0, one = 1;
    const char *op = "socket";
    int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | (proxy ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(h->port)};
    inet_pton(AF_INET, h->ip, &sin.sin_addr);
    /* a listener with SO_REUSEADDR (as Go's, docker-proxy's) can be bound again while connections it
     * served sit in TIME_WAIT; a bound-only or UDP socket must not have it: two such sockets would share */
    if (s >= 0 && proxy && !udp) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* UDP replies leave from the address the client wrote to, even when we listen on 0.0.0.0 */
    if (s >= 0 && proxy && udp) setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    if (s >= 0) op = "bind";
    if (s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof sin) == 0) op = proxy && !udp ? "listen" : NULL;
    if (op && !strcmp(op, "listen") && listen(s, SOMAXCONN) == 0) op = NULL;
    if (op) {
      char err[128];
      snprintf(err, sizeof err, "%s", strerror(errno));
      err[0] = tolower((unsigned char)err[0]); /* Go's wording: "address already in use" */
      fprintf(stderr, "Error starting userland proxy: listen %s4 %s:%d: %s: %s\n", h->proto, h->ip, h->port, op, err);
      return -1;
    }
    h->fd = s;
  }
  return 0;
}

static int dns_fd = -1; /* C: 127.0.0.11:53 in the container's netns, handed to S with "R" */

/* ------------------------------------------------------------------ --init */

static char *argv_area; /* main()'s argv strings, contiguous: PID 1's /proc/1/cmdline under --init */
static size_t argv_len;

/*
 * --init: what docker-init (tini) does, without a binary of its own in the container. This process stays
 * PID 1 and forks the program, which runs in its own process group (the terminal's foreground one with -t).
 * Why: a program that is not written to be PID 1 gets no default action for SIGTERM/SIGINT there, and
 * never reaps the orphans reparented to it. PID 1 passes every signal it gets on to the program, reaps
 * whatever exits, and ends with the program's status (128+n for a signal), as tini. All signals are blocked
 * before the fork, so none is lost: blocked signals are queued even for a namespace's init, which ignores
 * those it has no handler for. Seccomp and the capabilities are already applied to both.
 */
static void init_fork(void) {
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &all, NULL);
  pid_t child = fork();
  if (child < 0) init_fail(125, "--init: fork: %s", strerror(errno));
  if (child == 0) {
    setpgid(0, 0);
    if (P.tty) tcsetpgrp(0, getpid()); /* SIGTTOU is blocked here: a background group may take the terminal */
    sigprocmask(SIG_SETMASK, &none, NULL);
    return; /* on to execve */
  }
  close(sync_sock); /* S sees EOF once the child has exec'd (or gets its error first) */
  prctl(PR_SET_NAME, "docker-init");
  if (argv_area) { /* not the shim's plan path: what `ps` shows for docker's init */
    static const char shown[] = "/sbin/docker-init\0--";
    memset(argv_area, 0, argv_len);
    memcpy(argv_area, shown, sizeof shown < argv_len ? sizeof shown : argv_len - 1);
  }
  syscall(SYS_close_range, 3, ~0U, 0);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
      if (p == child) _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
}

/* --sysctl, as runc writes them: /proc/sys resolves a net, ipc or uts parameter in the writer's own
 * namespaces, so C (already in the container's) writes them through the host's /proc before pivot_root
 * (the container's own /proc/sys is read-only by then). The engine let through only namespaced keys as
 * plain names; RESOLVE_BENEATH keeps each path under /proc/sys all the same. A net.* key is refused in
 * the engine's network namespace (runc's isHostNetNS), which --network container:X can lead back to;
 * the engine names it in the plan, as C may not read another process's /proc/<pid>/ns here. */
static void apply_sysctls(void) {
  if (!P.nsysctls) return;
  int dir = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) init_fail(125, "open /proc/sys: %s", strerror(errno));
  for (int i = 0; i + 1 < P.nsysctls; i += 2) {
    char key[PATH_MAX];
    snprintf(key, sizeof key, "%s", P.sysctls[i]);
    for (char *c = key; *c; c++) *c = *c == '/' ? '.' : *c == '.' ? '/' : *c;
    struct stat own;
    if (!strncmp(P.sysctls[i], "net/", 4) && (!P.hostnet || stat("/proc/self/ns/net", &own) < 0 || own.st_ino == P.hostnet))
      init_fail(125, "sysctl \"%s\" not allowed in host network namespace", key);
    struct open_how how = {.flags = O_WRONLY | O_TRUNC | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = syscall(SYS_openat2, dir, P.sysctls[i], &how, sizeof how);
    if (fd < 0) init_fail(125, "open sysctl %s file: %s", key, strerror(errno));
    size_t n = strlen(P.sysctls[i + 1]);
    if (write(fd, P.sysctls[i + 1], n) != (ssize_t)n) init_fail(125, "failed to write sysctl %s = \"%s\": %s", key, P.sysctls[i + 1], strerror(errno));
    close(fd);
  }
  close(dir);
}

static void container_init(int stdin_r, int stdout_w, int stderr_w) {
  /* Until execve replaces this image, /proc/<pid>/exe is the shim on the host; non-dumpable keeps every
   * other process (there are none yet in this pid namespace) from opening it or our fds. */
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* S blocks SIGCHLD for its signalfd; the mask survives execve */
  signal(SIGPIPE, SIG_DFL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) init_fail(125, "make / private: %s", strerror(errno));
  /* nodev on the overlay (unless privileged or a --device lives outside /dev): a node shipped in an image
   * layer or mknod'ed into the upper dir stays inert even where the devices cgroup would allow it */
  if (mount("overlay", P.merged, "overlay", P.rootdev ? 0 : MS_NODEV, P.overlay) < 0) init_fail(125, "mount overlay on `%s`: %s", P.merged, strerror(errno));
  if ((rootfd = open(P.merged, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) init_fail(125, "open rootfs: %s", strerror(errno));
  if (P.cgroupns && P.cgv == 1) { /* a cgroup namespace rooted at the container's cgroups: S says when we are in them */
    char j;
    if (recv(sync_sock, &j, 1, 0) != 1 || j != 'J') _exit(125);
    if (unshare(CLONE_NEWCGROUP) < 0) init_fail(125, "unshare cgroup namespace: %s", strerror(errno));
  }
  for (int i = 0; i < P.nmounts; i++) do_mount(&P.mounts[i]);
  make_devices();
  if (sethostname(P.hostname, strlen(P.hostname)) < 0) init_fail(125, "sethostname: %s", strerror(errno));
  if (P.netns) { /* --network container:NAME: that container's netns (its lo is already up) */
    int fd = open(P.netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) init_fail(125, "joining network namespace of container: %s", strerror(errno));
    close(fd);
  } else if (strcmp(P.net, "host")) { /* a fresh net namespace has lo down; Docker's none/bridge both bring it up */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) init_fail(125, "lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) init_fail(125, "lo up: %s", strerror(errno));
    close(s);
    if (P.nnetifs) net_config();
    if (P.ndnsfiles) { /* the embedded resolver's socket, made here because only C is in the netns; S serves it */
      struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(53)};
      inet_pton(AF_INET, "127.0.0.11", &sin.sin_addr);
      if ((dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 || bind(dns_fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        init_fail(125, "embedded DNS on 127.0.0.11:53: %s", strerror(errno));
    }
  }
  apply_sysctls();
  /* pivot_root(".", "."): the old root ends up stacked on the new one and is detached right away (runc's
   * trick; needs no put_old directory inside the image) */
  if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) init_fail(125, "pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) init_fail(125, "detach old root: %s", strerror(errno));
  close(rootfd);
  if ((rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) init_fail(125, "open /: %s", strerror(errno));

  int master = -1;
  if (P.tty) { /* the pty comes from the container's own devpts instance, so `tty` names /dev/pts/0 inside */
    int zero = 0, n = 0;
    if ((master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 || ioctl(master, TIOCSPTLCK, &zero) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
      init_fail(125, "open pty: %s", strerror(errno));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) init_fail(125, "open pty peer: %s", strerror(errno));
    char pts[64];
    snprintf(pts, sizeof pts, "/dev/pts/%d", n);
    int cfd = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (cfd >= 0) close(cfd);
    if (mount(pts, "/dev/console", NULL, MS_BIND, NULL) < 0) init_fail(125, "bind console: %s", strerror(errno));
    stdin_r = stdout_w = stderr_w = slave;
  } else if (stdin_r < 0 && (stdin_r = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
    init_fail(125, "open /dev/null: %s", strerror(errno));

  uid_t uid;
  gid_t gid, groups[66];
  int ngroups;
  resolve_user_env(&uid, &gid, groups, &ngroups);
  if (chdir(P.cwd) < 0) {
    int fd = ensure_in_root(P.cwd, 1); /* Docker creates a missing WORKDIR */
    if (fd < 0 || chdir(P.cwd) < 0) init_fail(125, "chdir to cwd (\"%s\") set in config.json failed: %s", P.cwd, strerror(errno));
    close(fd);
  }
  /* --read-only: remounting the root's mount point leaves every mount on top (volumes, tmpfs, /dev, /proc,
   * the /etc files) as it is; MS_NODEV must be given again, a bind remount sets the flags it is given */
  if (P.readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | (P.rootdev ? 0 : MS_NODEV), NULL) < 0) init_fail(125, "remount / read-only: %s", strerror(errno));
  char exe[PATH_MAX];
  find_exec(exe);

  apply_rlimits(125);
  apply_seccomp();
  apply_creds(uid, gid, groups, ngroups);

  setsid(); /* own session: no signals from the engine's terminal; with -t the pty becomes its ctty */
  if (master >= 0) ioctl(stdout_w, TIOCSCTTY, 0);
  if (dup2(stdin_r, 0) < 0 || dup2(stdout_w, 1) < 0 || dup2(stderr_w, 2) < 0) init_fail(125, "dup2: %s", strerror(errno));
  /* ready: hand S the pty master, then wait for "go" (attach clients connect in between) */
  int rfds[2], nr = 0; /* order: pty master (with -t), then the DNS socket (with dnsfile entries) */
  if (master >= 0) rfds[nr++] = master;
  if (dns_fd >= 0) rfds[nr++] = dns_fd;
  send_fds(sync_sock, "R", 1, rfds, nr);
  if (master >= 0) close(master);
  if (dns_fd >= 0) close(dns_fd);
  char go;
  if (recv(sync_sock, &go, 1, 0) != 1) _exit(125);
  if (P.init) init_fork();
  /* no host fd may reach the container: everything above 2 closes on exec (the sync socket included) */
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  execve(exe, P.args, P.env);
  init_fail(errno == ENOENT ? 127 : 126, "exec: \"%s\": %s", P.args[0], strerror(errno));
}

/* ------------------------------------------------------------------ json-file logs */

static struct logw { int fd; long long size; char line[2][16384]; size_t len[2]; } L = {.fd = -1};

static void log_open(void) {
  if (!P.log) return;
  L.fd = open(P.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  struct stat st;
  L.size = L.fd >= 0 && fstat(L.fd, &st) == 0 ? st.st_size : 0;
}

static void log_rotate(void) {
  char a[PATH_MAX], b[PATH_MAX];
  close(L.fd);
  if (P.log_files <= 1) truncate(P.log, 0);
  for (int i = P.log_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(a, sizeof a, "%s", P.log);
    else snprintf(a, sizeof a, "%s.%d", P.log, i - 1);
    snprintf(b, sizeof b, "%s.%d", P.log, i);
    rename(a, b);
  }
  log_open();
}

/* One json-file record, escaped as Go's encoding/json does (HTML-safe, invalid UTF-8 -> U+FFFD). */
static void log_emit(int stream, const unsigned char *s, size_t n) {
  if (L.fd < 0) return;
  static char out[16384 * 6 + 128];
  char *o = out;
  o += sprintf(o, "{\"log\":\"");
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') *o++ = '\\', *o++ = c;
      else if (c == '\n') *o++ = '\\', *o++ = 'n';
      else if (c == '\r') *o++ = '\\', *o++ = 'r';
      else if (c == '\t') *o++ = '\\', *o++ = 't';
      else if (c < 0x20 || c == '<' || c == '>' || c == '&') o += sprintf(o, "\\u%04x", c);
      else *o++ = c;
      i++;
      continue;
    }
    int k = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    int ok = k && i + k <= n;
    for (int j = 1; ok && j < k; j++) ok = (s[i + j] & 0xc0) == 0x80;
    if (ok && k == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) ok = 0;
    if (ok && k == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) ok = 0;
    if (!ok) {
      o += sprintf(o, "\\ufffd");
      i++;
    } else if (k == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
      o += sprintf(o, "\\u202%c", s[i + 2] == 0xa8 ? '8' : '9');
      i += 3;
    } else {
      memcpy(o, s + i, k);
      o += k;
      i += k;
    }
  }
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  o += sprintf(o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream == 1 ? "stdout" : "stderr", ts);
  if (P.log_max > 0 && L.size >= P.log_max) log_rotate(); /* moby rotates before a write once the cap is reached */
  if (L.fd >= 0 && write_all(L.fd, out, o - out) == 0) L.size += o - out;
}

/* Splits a stream into lines; moby cuts lines longer than 16 KiB into partial records (no trailing \n). */
static void log_write(int stream, const char *buf, size_t n) {
  int s = stream - 1;
  for (size_t i = 0; i < n; i++) {
    L.line[s][L.len[s]++] = buf[i];
    if (buf[i] == '\n' || L.len[s] == sizeof L.line[s]) {
      log_emit(stream, (unsigned char *)L.line[s], L.len[s]);
      L.len[s] = 0;
    }
  }
}

static void log_flush(int stream) {
  int s = stream - 1;
  if (L.len[s]) log_emit(stream, (unsigned char *)L.line[s], L.len[s]);
  L.len[s] = 0;
}

/* ------------------------------------------------------------------ status.json */

static struct state {
  pid_t pid;
  unsigned long long pid_start;
  int running, exit_code, has_exit, restarting, oom_killed;
  long long restart_count, oom_base; /* oom_base: the memory cgroup's OOM kills when this run started */
  char started[64], finished[64], error[512];
} ST;

/* The OOM kills so far in the container's memory cgroup ("oom_kill N": v2 memory.events, v1
 * memory.oom_control), -1 without one. Why: Docker's State.OOMKilled, true when the run lost a process to
 * the kernel's OOM killer under its -m limit. cgroupfs files report no size: read, not slurp(). */
static long long oom_kills(void) {
  static const char *const files[] = {"memory.events", "memory.oom_control"};
  for (int i = 0; i < P.ncgroups; i++) {
    char path[PATH_MAX + 32], buf[512];
    const char *slash = strrchr(P.cgroups[i], '/');
    if (!slash) continue;
    for (int f = 0; f < 2; f++) {
      snprintf(path, sizeof path, "%.*s/%s", (int)(slash - P.cgroups[i]), P.cgroups[i], files[f]);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n <= 0) continue;
      buf[n] = 0;
      const char *k = strstr(buf, "oom_kill ");
      if (k) return atoll(k + 9);
    }
  }
  return -1;
}

static unsigned long long proc_starttime(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long v = 0;
  /* field 22 (starttime); after ") " we are at field 3 */
  for (int f = 3; p && f <= 22; f++) p = strchr(p + 1, ' ');
  if (p) v = strtoull(p + 1, NULL, 10);
  return v;
}

static void json_str(char *out, size_t n, const char *s) {
  size_t o = 0;
  for (; *s && o + 8 < n; s++) {
    if (*s == '"' || *s == '\\') out[o++] = '\\', out[o++] = *s;
    else if ((unsigned char)*s < 0x20) o += snprintf(out + o, n - o, "\\u%04x", *s);
    else out[o++] = *s;
  }
  out[o] = 0;
}

static pid_t guardian_pid;

static void write_status(void) {
  char buf[2048], err[1100], code[16] = "null";
  json_str(err, sizeof err, ST.error);
  if (ST.has_exit) snprintf(code, sizeof code, "%d", ST.exit_code);
  int n = snprintf(buf, sizeof buf,
                   "{\"running\":%s,\"restarting\":%s,\"pid\":%d,\"pidStart\":%llu,\"supervisorPid\":%d,\"guardianPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\","
                   "\"exitCode\":%s,\"restartCount\":%lld,\"error\":\"%s\",\"oomKilled\":%s}\n",
                   ST.running ? "true" : "false", ST.restarting ? "true" : "false", ST.pid, ST.pid_start, getpid(), guardian_pid, ST.started, ST.finished, code, ST.restart_count, err,
                   ST.oom_killed ? "true" : "false");
  /* write + rename: a reader sees the old or the new record, never half of one */
  int fd = open("status.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, buf, n);
  close(fd);
  rename("status.json.tmp", "status.json");
}

/* ------------------------------------------------------------------ supervisor */

#define MAXC 8
static struct mon {
  int out, err, master, stdin_w; /* this run's host ends */
  int lfd, sigfd, gsock;         /* attach listener, SIGCHLD, channel to the guardian */
  int clients[MAXC];
  int exited, status, report;    /* report: pipe to P0 until the first start is reported */
  int dns, up;                   /* embedded DNS: the socket in the container's netns, the upstream socket */
  int ns[3];                     /* this run's mnt, net and pid namespaces, held until its exit is reported */
} M = {.out = -1, .err = -1, .master = -1, .stdin_w = -1, .lfd = -1, .sigfd = -1, .gsock = -1, .report = -1, .dns = -1, .up = -1, .ns = {-1, -1, -1}};

/*
 * Holds the container's namespaces while it runs. When the last process of a mount namespace exits, the
 * kernel unmounts its ~35 mounts and waits out an RCU grace period inside that process's exit, before the
 * exit reaches us as SIGCHLD: 1-20 ms on this kind of VM, paid by every `run --rm`, `stop` and `wait`.
 * With a reference held here the exit is reported at once, and the teardown runs when release_ns()
 * closes the references, after the exit code is recorded and sent.
 */
static void hold_ns(pid_t pid) {
  static const char *const names[3] = {"mnt", "net", "pid"};
  char path[64];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, names[i]);
    M.ns[i] = open(path, O_RDONLY | O_CLOEXEC); /* best effort: without it the exit is only slower */
  }
}

static void release_ns(void) {
  for (int i = 0; i < 3; i++)
    if (M.ns[i] >= 0) close(M.ns[i]), M.ns[i] = -1;
}

static void report(const char *fmt, ...) {
  if (M.report < 0) return;
  char buf[1100];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  write_all(M.report, buf, n);
  close(M.report);
  M.report = -1;
}

static void frame(int fd, int stream, const void *buf, uint32_t n) {
  unsigned char h[8] = {stream, 0, 0, 0, n >> 24, n >> 16, n >> 8, n};
  if (write_all(fd, h, 8) < 0 || write_all(fd, buf, n) < 0) return;
}

static void broadcast(int stream, const void *buf, uint32_t n) {
  for (int i = 0; i < MAXC; i++)
    if (M.clients[i] > 0) frame(M.clients[i], stream, buf, n);
}

static void drop_client(int i) {
  close(M.clients[i]);
  M.clients[i] = 0;
}

static int accept_client(void) {
  int c = accept4(M.lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  for (int i = 0; i < MAXC; i++)
    if (!M.clients[i]) return M.clients[i] = c, i;
  close(c);
  return -1;
}

/* Client -> shim frames: [type,0,0,0,len BE32] payload. 0 stdin data, 1 stdin EOF, 2 resize (rows,cols BE16), 3 start. */
static int client_frame(int i) {
  unsigned char h[8];
  static char buf[65536];
  ssize_t n = recv(M.clients[i], h, 8, MSG_WAITALL);
  if (n != 8) return drop_client(i), -1;
  uint32_t len = (uint32_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
  if (len > sizeof buf || (len && recv(M.clients[i], buf, len, MSG_WAITALL) != (ssize_t)len)) return drop_client(i), -1;
  int in = M.master >= 0 ? M.master : M.stdin_w;
  switch (h[0]) {
  case 0:
    if (in >= 0) write_all(in, buf, len);
    break;
  case 1:
    if (M.stdin_w >= 0) close(M.stdin_w), M.stdin_w = -1;
    break;
  case 2:
    if (M.master >= 0 && len >= 4) {
      struct winsize ws = {.ws_row = (unsigned char)buf[0] << 8 | (unsigned char)buf[1], .ws_col = (unsigned char)buf[2] << 8 | (unsigned char)buf[3]};
      ioctl(M.master, TIOCSWINSZ, &ws);
    }
    break;
  }
  return h[0];
}

/* ------------------------------------------------------------------ devices cgroup */

/* Writes one line to a cgroup file; the kernel takes a devices rule per write. */
static int cg_write(const char *dir, const char *file, const char *line) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line);
  int err = errno;
  if (fd >= 0) close(fd);
  if (!ok) snprintf(ST.error, sizeof ST.error, "devices cgroup: write \"%s\" to %s: %s", line, path, strerror(err));
  return ok ? 0 : -1;
}

static int devcg_allow_all(void) {
  for (int i = 0; i < P.ndevrules; i++)
    if (P.devrules[i].type == 'a') return 1;
  return 0;
}

/* v1: deny everything, then allow the plan's rules one by one ("c 1:3 rwm"). */
static int devcg_v1(void) {
  if (devcg_allow_all()) return cg_write(P.cgdir, "devices.allow", "a");
  if (cg_write(P.cgdir, "devices.deny", "a") < 0) return -1;
  for (int i = 0; i < P.ndevrules; i++) {
    struct devrule *r = &P.devrules[i];
    char line[64], maj[24] = "*", min[24] = "*";
    if (r->major >= 0) snprintf(maj, sizeof maj, "%lld", r->major);
    if (r->minor >= 0) snprintf(min, sizeof min, "%lld", r->minor);
    snprintf(line, sizeof line, "%c %s:%s %s", r->type, maj, min, r->access);
    if (cg_write(P.cgdir, "devices.allow", line) < 0) return -1;
  }
  return 0;
}

/* v2: the allow-list as a BPF_PROG_TYPE_CGROUP_DEVICE program (what runc and crun build). Its context is
 * {access_type = access << 16 | type, major, minor}; each rule is a block that returns 1 (allow) when
 * every field it names matches, else falls through to the next; after the last, 0 (deny). */
#define DEVCG_MAX_RULES 1024
static struct bpf_insn devcg_prog[8 + 8 * DEVCG_MAX_RULES]; /* at most 8 instructions a rule, 8 around them */
static int devcg_n;
static void devcg_ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  devcg_prog[devcg_n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* Builds the program into devcg_prog; returns its length, or -1 for too many rules. */
static int devcg_build(void) {
  if (P.ndevrules > DEVCG_MAX_RULES) return -1;
  devcg_n = 0;
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0); /* r2 = access_type */
  devcg_ins(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0); /* r3 = r2 */
  devcg_ins(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);     /* r2: the device type */
  devcg_ins(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);         /* r3: the access asked for */
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0); /* r4 = major */
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0); /* r5 = minor */
  for (int i = 0; i < P.ndevrules; i++) {
    struct devrule *r = &P.devrules[i];
    int jumps[4], nj = 0, acc = 0;
    for (const char *a = r->access; *a; a++) acc |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : *a == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
    if (r->type != 'a') jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    if (acc != 7) { /* asked & ~allowed must be 0 */
      devcg_ins(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
      devcg_ins(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~acc & 7);
      jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0);
    }
    if (r->major >= 0) jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t)r->major);
    if (r->minor >= 0) jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t)r->minor);
    devcg_ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
    devcg_ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (int j = 0; j < nj; j++) devcg_prog[jumps[j]].off = devcg_n - jumps[j] - 1; /* to the next rule */
  }
  devcg_ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  devcg_ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return devcg_n;
}

static int devcg_v2(void) {
  if (devcg_allow_all()) return 0; /* no program: the cgroup v2 device controller allows everything */
  if (devcg_build() < 0) return snprintf(ST.error, sizeof ST.error, "devices cgroup: more than %d device rules", DEVCG_MAX_RULES), -1;
  union bpf_attr load = {.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE, .insn_cnt = devcg_n, .insns = (uintptr_t)devcg_prog, .license = (uintptr_t) "GPL"};
  /* why: BPF_PROG_LOAD verifies and loads the filter; the attach below keeps it alive after we exit */
  int prog = syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) return snprintf(ST.error, sizeof ST.error, "devices cgroup: load BPF program: %s", strerror(errno)), -1;
  int cg = open(P.cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* why: attached without BPF_F_ALLOW_MULTI, a later start's program replaces this one instead of stacking */
  union bpf_attr at = {.target_fd = cg, .attach_bpf_fd = prog, .attach_type = BPF_CGROUP_DEVICE};
  int rc = cg < 0 ? -1 : syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof at);
  if (rc < 0) snprintf(ST.error, sizeof ST.error, "devices cgroup: attach BPF program to %s: %s", P.cgdir, strerror(errno));
  if (cg >= 0) close(cg);
  close(prog);
  return rc < 0 ? -1 : 0;
}

/* The container's device allow-list, once per supervisor (restarts reuse the cgroup as it is). */
static int devcg_apply(void) {
  static int done;
  if (done || !P.cgdir) return 0;
  if ((P.cgv == 2 ? devcg_v2() : devcg_v1()) < 0) return -1;
  done = 1;
  return 0;
}

/* Writes a process into each of the plan's cgroups; on failure ST.error says which, and it must not run. */
static int join_cgroups(pid_t pid) {
  for (int i = 0; i < P.ncgroups; i++) {
    int fd = open(P.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", pid) < 0) {
      snprintf(ST.error, sizeof ST.error, "join cgroup %s: %s", P.cgroups[i], strerror(errno));
      if (fd >= 0) close(fd);
      return -1;
    }
    close(fd);
  }
  return 0;
}

/* A start given up before the barrier: the half-made container killed and reaped, this run's fds closed. */
static pid_t abandon_run(pid_t pid, int sock, int out, int err, int in) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(sock);
  for (int *f = (int[]){out, err, in}, k = 0; k < 3; k++)
    if (f[k] >= 0) close(f[k]);
  return -125;
}

/* Clones the container and runs it up to the start barrier. Returns its pid, or -exitcode on failure. */
static pid_t start_run(void) {
  int sp[2], o[2] = {-1, -1}, e[2] = {-1, -1}, in[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return -125;
  if (!P.tty && (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0)) return -125;
  if (P.open_stdin && !P.tty && pipe2(in, O_CLOEXEC) < 0) return -125;
  if (P.cgv == 2 && devcg_apply() < 0) return -125; /* v2: in place before the child is born in the cgroup */
  uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (strcmp(P.net, "host") && !P.netns ? CLONE_NEWNET : 0);
  pid_t pid;
  int into = -1; /* v2: born in its cgroup (and in a cgroup namespace rooted there): no migration, no wait */
  if (P.cgv == 2 && (into = open(P.cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(ST.error, sizeof ST.error, "open cgroup %s: %s", P.cgdir, strerror(errno));
    return -125;
  }
  if (into >= 0) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; } ca = {
        .flags = flags | CLONE_INTO_CGROUP | (P.cgroupns ? CLONE_NEWCGROUP : 0), .exit_signal = SIGCHLD, .cgroup = into};
    pid = syscall(SYS_clone3, &ca, sizeof ca); /* why: CLONE_INTO_CGROUP (kernel 5.7) places the child atomically */
    close(into);
  } else pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    snprintf(ST.error, sizeof ST.error, "clone: %s", strerror(errno));
    return -125;
  }
  if (pid == 0) {
    close(sp[0]);
    sync_sock = sp[1];
    container_init(in[0], o[1], e[1]);
  }
  close(sp[1]);
  if (o[1] >= 0) close(o[1]), close(e[1]);
  if (in[0] >= 0) close(in[0]);
  /* v1: the device rules, then the joins, before any user code runs (C waits for "G") but while C sets up,
   * after the veths C needs sooner; first only when C waits for them ("J": its cgroup namespace is made
   * inside them). Rules before the join: C opens /dev/null once in them. */
  int early = into < 0 && P.cgroupns && P.cgv == 1;
  if (early && (devcg_apply() < 0 || join_cgroups(pid) < 0)) return abandon_run(pid, sp[0], o[0], e[0], in[1]);
  if (early) send(sp[0], "J", 1, MSG_NOSIGNAL);
  char msg[1100];
  int fds[4], nfds;
  /* the veths are made while C mounts its root in parallel; C waits for "N" only when it configures them */
  if (P.nnetifs && net_create(pid) < 0) {
    kill(pid, SIGKILL);
    close(sp[0]);
    int st;
    waitpid(pid, &st, 0);
    for (int *f = (int[]){o[0], e[0], in[1]}, k = 0; k < 3; k++)
      if (f[k] >= 0) close(f[k]);
    snprintf(ST.error, sizeof ST.error, "%s", net_error);
    return -125;
  }
  if (P.nnetifs) send(sp[0], "N", 1, MSG_NOSIGNAL);
  if (into < 0 && !early && (devcg_apply() < 0 || join_cgroups(pid) < 0)) return abandon_run(pid, sp[0], o[0], e[0], in[1]);
  ssize_t n = recv_fds(sp[0], msg, sizeof msg - 1, fds, &nfds, 0);
  int code = 125;
  if (n > 0 && msg[0] == 'R') {
    hold_ns(pid);
    M.out = o[0], M.err = e[0], M.stdin_w = in[1], M.master = P.tty && nfds ? fds[0] : -1;
    if (M.dns >= 0) close(M.dns); /* a restart's socket lives in the new netns; the old one pinned the old */
    M.dns = P.ndnsfiles && nfds > P.tty ? fds[P.tty] : -1;
    ST.pid = pid;
    ST.pid_start = proc_starttime(pid);
    /* tell the guardian which pid and fds to adopt should we die */
    int gf[3], ng = 0;
    if (M.master >= 0) gf[ng++] = M.master;
    else gf[ng++] = M.out, gf[ng++] = M.err;
    if (M.dns >= 0) gf[ng++] = M.dns;
    send_fds(M.gsock, &pid, sizeof pid, gf, ng);
    if (P.wait_attach) { /* attached run: hold the barrier until the client is listening (30 s at most) */
      report("%d\n", pid);
      struct pollfd pf = {M.lfd, POLLIN, 0};
      int i;
      if (poll(&pf, 1, 30000) == 1 && (i = accept_client()) >= 0) {
        struct pollfd cf = {M.clients[i], POLLIN, 0};
        while (M.clients[i] && poll(&cf, 1, 30000) == 1) { /* stdin frames may precede "start" (3) */
          int t = client_frame(i);
          if (t == 3 || t < 0) break;
        }
      }
    }
    send(sp[0], "G", 1, MSG_NOSIGNAL);
    n = recv(sp[0], msg, sizeof msg - 1, 0); /* EOF = execve succeeded (the socket was close-on-exec) */
    close(sp[0]);
    if (n <= 0) {
      ST.running = 1;
      ST.restarting = 0;
      ST.has_exit = 0;
      ST.oom_killed = 0;
      ST.oom_base = oom_kills();
      now_rfc3339(ST.started, sizeof ST.started);
      ST.finished[0] = 0;
      ST.error[0] = 0;
      write_status();
      report("%d\n", pid);
      return pid;
    }
  } else close(sp[0]);
  if (n > 1) {
    msg[n] = 0;
    code = (unsigned char)msg[1];
    snprintf(ST.error, sizeof ST.error, "%.500s", msg + 2);
  } else snprintf(ST.error, sizeof ST.error, "container init exited during setup");
  int st;
  waitpid(pid, &st, 0);
  release_ns();
  for (int *f = (int[]){M.out, M.err, M.stdin_w, M.master}, k = 0; k < 4; k++)
    if (f[k] >= 0) close(f[k]);
  M.out = M.err = M.stdin_w = M.master = -1;
  return -code;
}

static int should_restart(int code) {
  if (faccessat(AT_FDCWD, "stop-requested", F_OK, 0) == 0) return 0; /* `stop`/`kill` by the user */
  if (!strcmp(P.restart, "always") || !strcmp(P.restart, "unless-stopped")) return 1;
  if (!strcmp(P.restart, "on-failure")) return code != 0 && (P.retries <= 0 || ST.restart_count < P.retries);
  return 0;
}

static void finish_run(int code, int again) {
  if (M.dns >= 0) close(M.dns), M.dns = -1; /* the socket pins the dead container's netns (and its veths) */
  log_flush(1);
  log_flush(2);
  ST.running = 0;
  ST.restarting = again;
  ST.exit_code = code;
  ST.has_exit = 1;
  long long kills = oom_kills();
  ST.oom_killed = kills > 0 && kills > ST.oom_base;
  now_rfc3339(ST.finished, sizeof ST.finished);
  write_status();
  if (ST.pid > 0) waitpid(ST.pid, NULL, WNOHANG); /* recorded: the zombie can go (see reap_children) */
  char c[16];
  int n = snprintf(c, sizeof c, "%d", code);
  broadcast(3, c, n);
  for (int i = 0; i < MAXC; i++)
    if (M.clients[i]) drop_client(i);
  if (M.stdin_w >= 0) close(M.stdin_w), M.stdin_w = -1;
  release_ns(); /* the exit is recorded and sent: the namespaces' teardown delays no one now */
  M.exited = 0;
}

static void pump(int *fd, int stream) {
  static char buf[32768];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n > 0) {
    log_write(stream, buf, n);
    broadcast(stream, buf, n);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) { /* EOF, or EIO from a pty whose slave is gone */
    log_flush(stream);
    close(*fd);
    *fd = -1;
  }
}

/* ------------------------------------------------------------------ embedded DNS (127.0.0.11) */

/* Why in S: the CLI is short-lived and there may be no daemon, and S already lives exactly as long as the
 * container, in the host's netns, polling. C binds 127.0.0.11:53 inside the container's netns and hands
 * the socket over; S answers A queries for the names listed in the plan's name files (one per user
 * network, "IP name alias..." lines the engine rewrites with rename), and relays anything else to the
 * host's resolvers from the host's netns (so a loopback resolver like 127.0.0.53 works, as in Docker).
 * No process, no memory beyond S's, nothing to clean up. UDP only. */

static struct { uint16_t id; struct sockaddr_in client; int used; } pend[64];
static unsigned pend_next;

/* The addresses a name has in the name files (case-insensitive); -1 if no file knows it. */
static int dns_lookup(const char *name, uint32_t *ips, int max) {
  int n = -1;
  for (int f = 0; f < P.ndnsfiles; f++) {
    size_t len;
    char *buf = slurp(P.dnsfiles[f], &len);
    if (!buf) continue;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
      char *sp = strchr(line, ' ');
      if (!sp) continue;
      *sp = 0;
      for (char *tok = sp + 1; *tok;) {
        size_t k = strcspn(tok, " ");
        if (k == strlen(name) && !strncasecmp(tok, name, k)) {
          struct in_addr a;
          if (n < 0) n = 0;
          if (n < max && inet_pton(AF_INET, line, &a) == 1) ips[n++] = a.s_addr;
          break;
        }
        tok += k + (tok[k] == ' ');
      }
    }
    free(buf);
  }
  return n;
}

static void dns_reply(unsigned char *q, size_t qlen, int rcode, const uint32_t *ips, int nips, struct sockaddr_in *to) {
  unsigned char r[512];
  if (qlen + (size_t)nips * 16 > sizeof r) nips = (sizeof r - qlen) / 16;
  memcpy(r, q, qlen);
  r[2] = 0x80 | (q[2] & 0x01) | 0x04; /* QR, RD copied, AA: these names are ours */
  r[3] = 0x80 | rcode;                /* RA */
  r[6] = 0, r[7] = nips, r[8] = r[9] = r[10] = r[11] = 0;
  size_t o = qlen;
  for (int i = 0; i < nips; i++) {
    unsigned char rr[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 2, 88, 0, 4}; /* name -> question, A, IN, TTL 600 */
    memcpy(rr + 12, &ips[i], 4);
    memcpy(r + o, rr, 16);
    o += 16;
  }
  sendto(M.dns, r, o, MSG_DONTWAIT, (struct sockaddr *)to, sizeof *to);
}

static void dns_query(void) {
  unsigned char q[512];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(M.dns, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
  if (n < 12 || (q[2] & 0x80)) return;
  char name[256];
  size_t off = 12, k = 0;
  while (off < (size_t)n && q[off]) {
    unsigned l = q[off++];
    if ((l & 0xc0) || off + l > (size_t)n || k + l + 1 >= sizeof name) return;
    if (k) name[k++] = '.';
    memcpy(name + k, q + off, l);
    k += l;
    off += l;
  }
  name[k] = 0;
  if (off + 5 > (size_t)n || q[4] != 0 || q[5] != 1) return;
  int qtype = q[off + 1] << 8 | q[off + 2];
  off += 5;
  uint32_t ips[24];
  int nips = k ? dns_lookup(name, ips, 24) : -1;
  if (nips >= 0) { /* ours: A records; other types of a known name get an empty NOERROR, as Docker's resolver */
    dns_reply(q, off, 0, ips, qtype == 1 || qtype == 255 ? nips : 0, &from);
    return;
  }
  if (!P.ndnsup) {
    dns_reply(q, off, 2, NULL, 0, &from); /* SERVFAIL: nowhere to forward */
    return;
  }
  if (M.up < 0) M.up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  unsigned slot = pend_next++ % 64;
  pend[slot].id = q[0] << 8 | q[1];
  pend[slot].client = from;
  pend[slot].used = 1;
  uint16_t nid = (uint16_t)(((pend_next / 64) << 6 | slot) & 0xffff);
  q[0] = nid >> 8, q[1] = nid & 0xff;
  struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons(53)};
  inet_pton(AF_INET, P.dnsup[slot % P.ndnsup], &up.sin_addr);
  sendto(M.up, q, n, MSG_DONTWAIT, (struct sockaddr *)&up, sizeof up);
}

static void dns_answer(void) {
  unsigned char r[4096];
  ssize_t n;
  while ((n = recv(M.up, r, sizeof r, MSG_DONTWAIT)) >= 12) {
    unsigned slot = (r[0] << 8 | r[1]) & 63;
    if (!pend[slot].used || M.dns < 0) continue;
    pend[slot].used = 0;
    r[0] = pend[slot].id >> 8, r[1] = pend[slot].id & 0xff;
    sendto(M.dns, r, n, MSG_DONTWAIT, (struct sockaddr *)&pend[slot].client, sizeof pend[slot].client);
  }
}

/* ------------------------------------------------------------------ userland proxy (published ports without DNAT) */

/* Why in S: where the kernel path (iptables DNAT) is unavailable or switched off, published ports are
 * relayed in user space as docker-proxy does, but with no process per port: S already lives exactly as long
 * as the container, in the host's netns, with a poll loop. One epoll set (its fd sits in monitor's poll)
 * holds the listeners and every relayed socket, so nothing runs while idle and the cost grows per
 * connection, not per port. No threads: every socket is non-blocking.
 *   TCP: each accepted connection gets a non-blocking connect to the container's IP:port, then each read
 *        is written on at once from one shared buffer. What the other side does not take yet waits in that
 *        direction's own fixed buffer (mmap'd on first need, unmapped at close), and the direction is not
 *        read again until it is written out: a slow reader stalls its writer through TCP's own window
 *        (back-pressure), never our memory, and request/response traffic holds no buffer at all. EOF is
 *        passed on as shutdown(SHUT_WR) (half-close); an error on either side closes both.
 *   UDP: one flow per client address (a socket connected to the container), dropped after 90 s idle as
 *        docker-proxy does; replies leave from the address the client wrote to (IP_PKTINFO).
 * A restart-policy restart keeps the container's address, so the listeners simply stay. */

#define PBUF 32768 /* per direction, as docker-proxy's io.Copy */
#define UDP_IDLE 90 /* seconds: docker-proxy's UDPConnTrackTimeout */
#define UDP_MAXFLOWS 1024

enum { EV_TCPL = 1, EV_UDPL, EV_CONN0, EV_CONN1, EV_FLOW };
/* side 0 is the client, side 1 the container; buf[d] holds what side d read and side !d did not take yet */
struct pconn { int fd[2], connecting, eof[2], shut[2]; uint32_t len[2], off[2], ev[2]; char *buf[2]; };
struct uflow { int fd, port; unsigned ev; struct sockaddr_in client; struct in_addr local; time_t last; };
/* paused: when accepting ran out of fds or memory (listeners off until a connection closes, or 1 s passed) */
static struct { int ep, nconn, nflow; time_t paused; struct pconn **conn; struct uflow *flow; } X = {.ep = -1};
static unsigned char iobuf[65536]; /* one read or datagram at a time; only the pages one touched count */

static uint64_t ev_tag(int kind, int i) { return (uint64_t)kind << 32 | (uint32_t)i; }

static time_t mono_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec;
}

static void to_addr(struct sockaddr_in *sa, const struct hostport *h) {
  *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(h->to_port)};
  inet_pton(AF_INET, h->to_ip, &sa->sin_addr);
}

/* Sets what fd is watched for; 0 unregisters it (an idle socket must not report HUP over and over, and a
 * closed one must leave the set even while a clone of S briefly holds a copy of the fd). */
static void ep_set(int fd, unsigned *cur, unsigned want, uint64_t tag) {
  if (*cur == want) return;
  struct epoll_event e = {.events = want, .data.u64 = tag};
  epoll_ctl(X.ep, !*cur ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &e);
  *cur = want;
}

static void tcp_listeners(int on) {
  for (int i = 0; i < P.nports; i++)
    if (*P.ports[i].to_ip && strcmp(P.ports[i].proto, "udp")) ep_set(P.ports[i].fd, &P.ports[i].ev, on ? EPOLLIN : 0, ev_tag(EV_TCPL, i));
}

/* S at its start, G at a takeover: each has its own set (G's listeners are the same sockets, inherited). */
static void proxy_init(void) {
  int any = 0;
  for (int i = 0; i < P.nports; i++) any |= *P.ports[i].to_ip && P.ports[i].fd >= 0;
  if (!any || X.ep >= 0 || (X.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return;
  for (int i = 0; i < P.nports; i++) {
    struct hostport *h = &P.ports[i];
    h->ev = 0;
    if (*h->to_ip && !strcmp(h->proto, "udp")) ep_set(h->fd, &h->ev, EPOLLIN, ev_tag(EV_UDPL, i));
  }
  tcp_listeners(1);
}

static void conn_close(int i) {
  struct pconn *c = X.conn[i];
  for (int s = 0; s < 2; s++) ep_set(c->fd[s], &c->ev[s], 0, 0), close(c->fd[s]);
  for (int d = 0; d < 2; d++)
    if (c->buf[d]) munmap(c->buf[d], PBUF);
  free(c);
  X.conn[i] = NULL;
  if (X.paused) X.paused = 0, tcp_listeners(1); /* out of fds earlier: one came free */
}

/* Each side waits for input while its buffer is empty (the client only once the container accepted), and
 * for output while the other side's data waits or its connect is in progress. */
static void conn_watch(int i) {
  struct pconn *c = X.conn[i];
  for (int s = 0; s < 2; s++) {
    unsigned want = (!c->eof[s] && !c->len[s] && !c->connecting ? EPOLLIN : 0) | (c->off[!s] < c->len[!s] || (s && c->connecting) ? EPOLLOUT : 0);
    ep_set(c->fd[s], &c->ev[s], want, ev_tag(s ? EV_CONN1 : EV_CONN0, i));
  }
}

/* Writes what side d read to side !d; once all is written, passes d's EOF on. -1: close the pair. */
static int conn_flush(struct pconn *c, int d) {
  while (c->off[d] < c->len[d]) {
    ssize_t n = send(c->fd[!d], c->buf[d] + c->off[d], c->len[d] - c->off[d], MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    c->off[d] += n;
  }
  c->len[d] = c->off[d] = 0;
  if (c->eof[d] && !c->shut[!d]) shutdown(c->fd[!d], SHUT_WR), c->shut[!d] = 1; /* half-close */
  return 0;
}

static int conn_read(struct pconn *c, int d) {
  ssize_t n = recv(c->fd[d], iobuf, PBUF, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
  if (n == 0) return c->eof[d] = 1, conn_flush(c, d);
  ssize_t w = send(c->fd[!d], iobuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
  if (w < 0) w = 0;
  if (w == n) return 0;
  if (!c->buf[d] && (c->buf[d] = mmap(NULL, PBUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) return c->buf[d] = NULL, -1;
  memcpy(c->buf[d], iobuf + w, n - w);
  c->len[d] = n - w, c->off[d] = 0;
  return 0;
}

static void conn_event(int i, int s, unsigned ev) {
  struct pconn *c = X.conn[i];
  if (!c) return;
  int err = 0;
  socklen_t l = sizeof err;
  if (ev & EPOLLERR) getsockopt(c->fd[s], SOL_SOCKET, SO_ERROR, &err, &l);
  if (s && c->connecting && !err) {
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    if (getpeername(c->fd[1], (struct sockaddr *)&peer, &pl) < 0) return; /* not connected yet */
    c->connecting = 0;
  }
  /* refused, unreachable, reset or a failed write: both sides go (as with docker-proxy); or both are done */
  if (err || ((ev & EPOLLOUT) && conn_flush(c, !s) < 0) ||
      ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->eof[s] && !c->len[s] && !c->connecting && conn_read(c, s) < 0) ||
      (c->eof[0] && c->eof[1] && !c->len[0] && !c->len[1]))
    conn_close(i);
  else
    conn_watch(i);
}

static int conn_slot(void) {
  for (int i = 0; i < X.nconn; i++)
    if (!X.conn[i]) return i;
  int n = X.nconn ? X.nconn * 2 : 16;
  struct pconn **p = realloc(X.conn, n * sizeof *p);
  if (!p) return -1;
  memset(p + X.nconn, 0, (n - X.nconn) * sizeof *p);
  X.conn = p;
  int i = X.nconn;
  X.nconn = n;
  return i;
}

static void tcp_accept(int li) {
  struct hostport *h = &P.ports[li];
  struct sockaddr_in to;
  to_addr(&to, h);
  for (int k = 0; k < 64; k++) {
    int a = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0 && errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM) return; /* EAGAIN: all taken */
    int b = a < 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), i = b < 0 ? -1 : conn_slot();
    struct pconn *c = i < 0 ? NULL : calloc(1, sizeof *c);
    if (!c) { /* out of fds or memory: the backlog waits (a level-triggered listener would spin) */
      if (b >= 0) close(b);
      if (a >= 0) close(a);
      X.paused = mono_now();
      tcp_listeners(0);
      return;
    }
    int one = 1; /* relayed segments go out as they come: Nagle would hold a reply behind an unacked one */
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *c = (struct pconn){.fd = {a, b}};
    X.conn[i] = c;
    if (connect(b, (struct sockaddr *)&to, sizeof to) < 0) {
      if (errno != EINPROGRESS) { /* docker-proxy: the client's connection is closed */
        conn_close(i);
        continue;
      }
      c->connecting = 1;
    }
    conn_watch(i);
  }
}

static void flow_close(int j) {
  struct uflow *f = &X.flow[j];
  ep_set(f->fd, &f->ev, 0, 0);
  close(f->fd);
  f->fd = -1;
}

static struct uflow *flow_open(int port, const struct sockaddr_in *client) {
  int j = 0;
  while (j < X.nflow && X.flow[j].fd >= 0) j++;
  if (j == X.nflow) {
    if (X.nflow >= UDP_MAXFLOWS) return NULL; /* full: the datagram is dropped, as UDP may be */
    int n = X.nflow ? X.nflow * 2 : 8;
    struct uflow *p = realloc(X.flow, n * sizeof *p);
    if (!p) return NULL;
    for (int k = X.nflow; k < n; k++) p[k].fd = -1;
    X.flow = p;
    X.nflow = n;
  }
  struct sockaddr_in to;
  to_addr(&to, &P.ports[port]);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) return close(fd), NULL;
  struct uflow *f = &X.flow[j];
  *f = (struct uflow){.fd = fd, .port = port, .client = *client};
  ep_set(fd, &f->ev, EPOLLIN, ev_tag(EV_FLOW, j));
  return f;
}

/* Client -> container: each datagram goes out through its client's flow. */
static void udp_in(int li) {
  for (int k = 0; k < 64; k++) {
    struct sockaddr_in from;
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct iovec iov = {iobuf, sizeof iobuf};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(P.ports[li].fd, &m, MSG_DONTWAIT);
    if (n < 0) return;
    struct uflow *f = NULL;
    for (int j = 0; j < X.nflow && !f; j++)
      if (X.flow[j].fd >= 0 && X.flow[j].port == li && X.flow[j].client.sin_addr.s_addr == from.sin_addr.s_addr && X.flow[j].client.sin_port == from.sin_port) f = &X.flow[j];
    if (!f && !(f = flow_open(li, &from))) continue;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) f->local = ((struct in_pktinfo *)CMSG_DATA(c))->ipi_spec_dst;
    f->last = mono_now();
    send(f->fd, iobuf, n, MSG_DONTWAIT);
  }
}

/* Container -> client: from the listening socket, with the client's own destination as the source. */
static void flow_in(int j) {
  for (int k = 0; k < 64 && X.flow[j].fd >= 0; k++) {
    struct uflow *f = &X.flow[j];
    ssize_t n = recv(f->fd, iobuf, sizeof iobuf, MSG_DONTWAIT);
    if (n < 0 && errno == ECONNREFUSED) continue; /* the container's ICMP: nothing listens there yet */
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) flow_close(j);
      return;
    }
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
    struct iovec iov = {iobuf, n};
    struct msghdr m = {.msg_name = &f->client, .msg_namelen = sizeof f->client, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_PKTINFO, c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    ((struct in_pktinfo *)CMSG_DATA(c))->ipi_spec_dst = f->local;
    if (sendmsg(P.ports[f->port].fd, &m, MSG_DONTWAIT) < 0 && errno == EINVAL) { /* a source we may not use: let routing pick */
      m.msg_control = NULL, m.msg_controllen = 0;
      sendmsg(P.ports[f->port].fd, &m, MSG_DONTWAIT);
    }
    f->last = mono_now();
  }
}

/* Milliseconds until the next UDP flow idles out or a pause ends (monitor's poll timeout); -1: none. */
static int proxy_timeout(void) {
  time_t now = mono_now(), next = X.paused ? X.paused + 1 : 0;
  for (int j = 0; j < X.nflow; j++)
    if (X.flow[j].fd >= 0 && (!next || X.flow[j].last + UDP_IDLE < next)) next = X.flow[j].last + UDP_IDLE;
  return !next ? -1 : next <= now ? 0 : (int)(next - now) * 1000;
}

/* Handles what the epoll set reports (`ready`: monitor's poll saw it readable), then idle UDP flows. */
static void proxy_run(int ready) {
  struct epoll_event ev[64];
  int n = ready ? epoll_wait(X.ep, ev, 64, 0) : 0;
  for (int k = 0; k < n; k++) {
    int kind = ev[k].data.u64 >> 32, i = (uint32_t)ev[k].data.u64;
    if (kind == EV_TCPL) tcp_accept(i);
    else if (kind == EV_UDPL) udp_in(i);
    else if (kind == EV_FLOW) flow_in(i);
    else if (kind == EV_CONN0 || kind == EV_CONN1) conn_event(i, kind == EV_CONN1, ev[k].events);
  }
  time_t now = mono_now();
  for (int j = 0; j < X.nflow; j++)
    if (X.flow[j].fd >= 0 && now - X.flow[j].last >= UDP_IDLE) flow_close(j);
  if (X.paused && now > X.paused) X.paused = 0, tcp_listeners(1);
}

/* Sleeps `ms` while the proxy keeps relaying (the restart backoff may last a minute). */
static void proxy_sleep(long long ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  long long end = t.tv_sec * 1000LL + t.tv_nsec / 1000000 + ms;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long left = end - (t.tv_sec * 1000LL + t.tv_nsec / 1000000);
    if (left <= 0) return;
    struct pollfd pf = {X.ep, POLLIN, 0};
    int to = X.ep >= 0 ? proxy_timeout() : -1;
    int r = poll(&pf, 1, to < 0 || to > left ? (int)left : to);
    if (X.ep >= 0) proxy_run(r > 0 && pf.revents);
  }
}

/*
 * Notes the container's exit without reaping it: its pid stays a zombie until finish_run() has written the
 * exit to status.json, so a reader that finds the record saying "running" and the pid still there (zombie
 * or not) is right to take it as running, and never sees an exit without its code (src/engine/runtime/status.ts).
 * Any other child (processes a guardian adopted) is reaped at once.
 */
static void reap_children(void) {
  for (;;) {
    siginfo_t si = {0};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) return;
    if (si.si_pid == ST.pid || !ST.pid) { /* !pid: adopted before S named it */
      if (!ST.pid) waitpid(si.si_pid, NULL, 0); /* nothing names it: there is no record to keep it for */
      M.exited = 1;
      M.status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : si.si_status & 0x7f;
      if (ST.pid) return; /* reaped by finish_run(), after the record */
      continue;
    }
    waitpid(si.si_pid, NULL, 0);
  }
}

/* The monitor loop, shared by S and by G after a takeover. */
static void monitor(void) {
  long long backoff = 100;
  struct timespec run_start;
  clock_gettime(CLOCK_MONOTONIC, &run_start);
  proxy_init();
  for (;;) {
    struct pollfd pf[7 + MAXC];
    int n = 0;
    pf[n++] = (struct pollfd){M.sigfd, POLLIN, 0};
    pf[n++] = (struct pollfd){M.lfd, POLLIN, 0};
    int io0 = n;
    pf[n++] = (struct pollfd){M.master >= 0 ? M.master : M.out, POLLIN, 0};
    pf[n++] = (struct pollfd){M.master >= 0 ? -1 : M.err, POLLIN, 0};
    for (int i = 0; i < MAXC; i++) pf[n++] = (struct pollfd){M.clients[i] ? M.clients[i] : -1, POLLIN, 0};
    int dns0 = n;
    pf[n++] = (struct pollfd){M.dns, POLLIN, 0};
    pf[n++] = (struct pollfd){M.up, POLLIN, 0};
    int px = n;
    pf[n++] = (struct pollfd){X.ep, POLLIN, 0};
    if (!M.exited || pf[io0].fd >= 0 || pf[io0 + 1].fd >= 0)
      if (poll(pf, n, X.ep >= 0 ? proxy_timeout() : -1) < 0 && errno != EINTR) _exit(1);
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(M.sigfd, &si, sizeof si) > 0) {}
    }
    reap_children();
    if (pf[1].revents & POLLIN) accept_client();
    if (pf[io0].revents) pump(M.master >= 0 ? &M.master : &M.out, 1);
    if (pf[io0 + 1].revents) pump(&M.err, 2);
    for (int i = 0; i < MAXC; i++)
      if (pf[4 + i].fd >= 0 && pf[4 + i].revents && M.clients[i]) client_frame(i);
    if (pf[dns0].fd >= 0 && pf[dns0].revents) dns_query();
    if (pf[dns0 + 1].fd >= 0 && pf[dns0 + 1].revents) dns_answer();
    if (X.ep >= 0) proxy_run(pf[px].revents != 0);
    if (!M.exited || M.out >= 0 || M.err >= 0 || M.master >= 0) continue;
    int code = WIFEXITED(M.status) ? WEXITSTATUS(M.status) : 128 + WTERMSIG(M.status);
    int again = should_restart(code);
    finish_run(code, again);
    if (!again) break;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - run_start.tv_sec >= 10) backoff = 100; /* moby: reset the backoff after 10 s of uptime */
    proxy_sleep(backoff);
    backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
    ST.restart_count++;
    clock_gettime(CLOCK_MONOTONIC, &run_start);
    pid_t r = start_run();
    if (r < 0) {
      ST.exit_code = -r;
      ST.restarting = 0;
      write_status();
      break;
    }
  }
  unlink("attach.sock");
  _exit(0);
}

static int make_sigfd(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  sigprocmask(SIG_BLOCK, &s, NULL);
  return signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void supervisor(void) {
  M.sigfd = make_sigfd();
  log_open();
  pid_t r = start_run();
  if (r < 0) {
    ST.exit_code = -r;
    ST.has_exit = 1;
    now_rfc3339(ST.finished, sizeof ST.finished);
    write_status();
    report("E%d %s\n", -r, ST.error);
    /* an attached client (already told the pid) gets the error and the exit code like any output */
    char c[16], line[600];
    broadcast(2, line, snprintf(line, sizeof line, "%s\n", ST.error));
    broadcast(3, c, snprintf(c, sizeof c, "%d", -r));
    _exit(2);
  }
  P.wait_attach = 0; /* restarts do not wait for a client */
  monitor();
}

/* G: waits for S. If S dies by a signal, the container (reparented to us, the subreaper) is adopted. */
static void guardian(void) {
  int gs[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, gs) < 0) _exit(125);
  pid_t spid = fork();
  if (spid == 0) {
    close(gs[0]);
    M.gsock = gs[1];
    supervisor();
  }
  close(gs[1]);
  int gsock = gs[0];
  close(M.report);
  M.report = -1;
  int sigfd = make_sigfd();
  int held[3] = {-1, -1, -1}, geof = 0;
  pid_t cpid = 0, reaped = 0;
  int reaped_status = 0;
  for (;;) {
    struct pollfd pf[2] = {{sigfd, POLLIN, 0}, {geof ? -1 : gsock, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0 && errno != EINTR) _exit(1);
    if (pf[1].revents) {
      int fds[4], nfds;
      pid_t pid;
      ssize_t r = recv_fds(gsock, &pid, sizeof pid, fds, &nfds, MSG_DONTWAIT);
      if (r == 0) geof = 1; /* S closed its end (it is exiting): wait for SIGCHLD without spinning */
      if (r > 0) {
        for (int i = 0; i < 3; i++)
          if (held[i] >= 0) close(held[i]), held[i] = -1;
        for (int i = 0; i < nfds && i < 3; i++) held[i] = fds[i];
        cpid = pid;
      }
    }
    if (!pf[0].revents) continue;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) > 0) {}
    int st, takeover = 0;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p == spid) {
        if (WIFEXITED(st)) _exit(0); /* S finished its job (or failed to start): nothing to adopt */
        takeover = 1;
      } else reaped = p, reaped_status = st;
    }
    if (!takeover) continue;
    /* drain fd hand-overs that S sent just before dying */
    int fds[4], nfds;
    pid_t pid;
    while (recv_fds(gsock, &pid, sizeof pid, fds, &nfds, MSG_DONTWAIT) > 0) {
      for (int i = 0; i < 3; i++)
        if (held[i] >= 0) close(held[i]), held[i] = -1;
      for (int i = 0; i < nfds && i < 3; i++) held[i] = fds[i];
      cpid = pid;
    }
    close(gsock);
    /* the last status S wrote has startedAt/restartCount; keep them */
    size_t len;
    char *s = slurp("status.json", &len), *q;
    if (s && (q = strstr(s, "\"startedAt\":\""))) snprintf(ST.started, 31, "%s", q + 13), ST.started[strcspn(ST.started, "\"")] = 0;
    if (s && (q = strstr(s, "\"restartCount\":"))) ST.restart_count = atoll(q + 15);
    free(s);
    M.sigfd = sigfd;
    M.gsock = -1;
    ST.pid = cpid;
    ST.pid_start = proc_starttime(cpid);
    ST.running = 1;
    if (P.tty) M.master = held[0];
    else M.out = held[0], M.err = held[1];
    if (P.ndnsfiles) M.dns = held[P.tty ? 1 : 2];
    int flags;
    if (M.out >= 0) flags = fcntl(M.out, F_GETFL), fcntl(M.out, F_SETFL, flags | O_NONBLOCK);
    if (M.err >= 0) flags = fcntl(M.err, F_GETFL), fcntl(M.err, F_SETFL, flags | O_NONBLOCK);
    if (M.master >= 0) flags = fcntl(M.master, F_GETFL), fcntl(M.master, F_SETFL, flags | O_NONBLOCK);
    if (reaped && reaped == cpid) M.exited = 1, M.status = reaped_status;
    log_open();
    write_status();
    monitor();
  }
}

/* ------------------------------------------------------------------ exec into a running container */

/*
 * bunker-shim exec <plan>: one more process inside a running container (docker exec).
 *
 *   E0  bunker-shim exec <plan>  attached: E0 is ES itself (its stdin/stdout carry the frames). Detached: E0
 *    |                           forks ES, prints the pid (or "E<code> <message>") and exits.
 *    `- ES exec supervisor       host namespaces, but setns(CLONE_NEWPID) for its children; records
 *        |                       execs/<id>.json; attached: relays the process's stdio
 *        `- X  exec'd process    forked straight into the container's pid namespace, non-dumpable from birth;
 *                                joins mnt/uts/ipc/net, user, caps, cwd, then execve
 *
 * Transport (attached): the attach protocol's frames over ES's stdin/stdout pipes rather than a socket:
 * <dir>/execs/<id>.sock would overflow sun_path's 108 bytes, nothing else on the host can connect to a
 * pipe, and no start barrier is needed because the client exists before the process does.
 *   ES -> client: 4 started (pid), 1 stdout, 2 stderr (all output with a tty), 3 exit code, then EOF.
 *   client -> ES: 0 stdin data, 1 stdin EOF, 2 resize (rows, cols as u16 BE).
 * A start failure sends no frame: ES prints the reason on stderr and exits 125 (could not join: the
 * container is gone), 126 (setup failed, not executable) or 127 (not found), as dockerd reports them.
 */
static struct xstate { pid_t pid; unsigned long long pid_start; int running, has_exit, code; char error[600]; } XS;

/* execs/<id>.json, relative to the container dir (ES's cwd), with write+rename like status.json. */
static void write_exec_status(void) {
  char path[PATH_MAX], tmp[PATH_MAX], buf[2048], err[1300], code[16] = "null";
  json_str(err, sizeof err, XS.error);
  if (XS.has_exit) snprintf(code, sizeof code, "%d", XS.code);
  static unsigned long long self_start;
  if (!self_start) self_start = proc_starttime(getpid());
  int n = snprintf(buf, sizeof buf,
                   "{\"running\":%s,\"pid\":%d,\"pidStart\":%llu,\"supervisorPid\":%d,\"supervisorStart\":%llu,\"exitCode\":%s,\"error\":\"%s\"}\n",
                   XS.running ? "true" : "false", XS.pid, XS.pid_start, getpid(), self_start, code, err);
  snprintf(path, sizeof path, "execs/%s.json", P.exec_id);
  snprintf(tmp, sizeof tmp, "execs/%s.json.tmp", P.exec_id);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, buf, n);
  close(fd);
  rename(tmp, path);
}

static int xreport = -1; /* detached: pipe to E0, which prints what it reads */

/* A failure before the process runs: record it, tell the engine, exit with Docker's code. */
static void exec_fail(int code, const char *msg) {
  XS.running = 0;
  XS.has_exit = 1;
  XS.code = code;
  snprintf(XS.error, sizeof XS.error, "%s", msg);
  write_exec_status();
  if (xreport >= 0) dprintf(xreport, "E%d %s\n", code, msg);
  else dprintf(2, "%s\n", msg);
  _exit(code);
}

/* X: runs in the container's pid namespace from fork on; it holds no fd to a host directory or binary
 * (ES's fds are pipes, a socket and the pidfd, closed below), and it stays non-dumpable until execve. */
static void exec_child(int pidfd, int stdin_r, int stdout_w, int stderr_w) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* ES blocks SIGCHLD for its signalfd; the mask survives execve */
  signal(SIGPIPE, SIG_DFL);
  char go;
  if (P.ncgroups && recv(sync_sock, &go, 1, 0) != 1) _exit(126); /* ES has written us into the cgroups */
  /* One setns on the pidfd joins them all at once, and only if that very process still lives. Joining the
   * mount namespace sets our root and cwd to its root: after the container's pivot_root, the container's
   * root. The host directory ES runs in is no longer reachable from here. */
  if (setns(pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP) < 0) init_fail(126, "join the container's namespaces: %s", strerror(errno));
  close(pidfd);
  if ((rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) init_fail(126, "open /: %s", strerror(errno));

  int master = -1;
  if (P.tty) { /* from the container's devpts, as for run -t; the peer comes from the master, not a path */
    int zero = 0;
    if ((master = in_root("/dev/pts/ptmx", O_RDWR | O_NOCTTY)) < 0 || ioctl(master, TIOCSPTLCK, &zero) < 0)
      init_fail(126, "open pty: %s", strerror(errno));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) init_fail(126, "open pty peer: %s", strerror(errno));
    stdin_r = stdout_w = stderr_w = slave;
  } else {
    /* the container's /dev/null, opened in-root and non-blocking (a hostile image could make it a fifo) */
    int null = in_root("/dev/null", O_RDWR | O_NONBLOCK | O_NOCTTY);
    if (null < 0 && (stdin_r < 0 || stdout_w < 0)) init_fail(126, "open /dev/null: %s", strerror(errno));
    if (null >= 0) fcntl(null, F_SETFL, fcntl(null, F_GETFL) & ~O_NONBLOCK);
    if (stdin_r < 0) stdin_r = null;
    if (stdout_w < 0) stdout_w = stderr_w = null;
  }

  uid_t uid;
  gid_t gid, groups[66];
  int ngroups;
  resolve_user_env(&uid, &gid, groups, &ngroups);
  /* -w resolved in-root without magic links: a WORKDIR of /proc/self/fd/N must not land on a host
   * directory (runc's CVE-2024-21626); unlike run, a missing directory is an error, as with docker exec */
  int cwdfd = in_root(P.cwd, O_PATH | O_DIRECTORY);
  if (cwdfd < 0 || fchdir(cwdfd) < 0) init_fail(126, "chdir to cwd (\"%s\") set in config.json failed: %s", P.cwd, strerror(errno));
  close(cwdfd);
  char exe[PATH_MAX];
  find_exec(exe);
  apply_rlimits(126);
  apply_seccomp();
  apply_creds(uid, gid, groups, ngroups);

  setsid(); /* own session, as the container's init: with -t the pty becomes the controlling terminal */
  if (master >= 0) ioctl(stdout_w, TIOCSCTTY, 0);
  if (dup2(stdin_r, 0) < 0 || dup2(stdout_w, 1) < 0 || dup2(stderr_w, 2) < 0) init_fail(126, "dup2: %s", strerror(errno));
  if (master >= 0) {
    send_fds(sync_sock, "R", 1, &master, 1);
    close(master);
  }
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC); /* only 0-2 reach the process */
  execve(exe, P.args, P.env);
  init_fail(errno == ENOENT ? 127 : 126, "exec: \"%s\": %s", P.args[0], strerror(errno));
}

static int send_frame(int fd, int kind, const void *buf, uint32_t n) {
  unsigned char h[8] = {kind, 0, 0, 0, n >> 24, n >> 16, n >> 8, n};
  return fd < 0 || write_all(fd, h, 8) < 0 || write_all(fd, buf, n) < 0 ? -1 : 0;
}

static int read_full(int fd, void *buf, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += r;
  }
  return 0;
}

/* Attached: relays frames <-> the process's pipes (or pty) until it exits and its output is drained.
 * Stdin is written non-blocking with at most one frame pending, and the client is not read meanwhile, so a
 * process that writes while we feed it (`cat` of a big input) cannot deadlock us. A client that goes away
 * ends stdin; output is then drained and dropped, and the exit code is still recorded (as in Docker). */
static int exec_relay(pid_t x, int sigfd, int out, int err, int master, int in_w) {
  static char pend[65536], obuf[32768];
  size_t plen = 0, poff = 0;
  int cin = 0, cout = 1, eof_after = 0, exited = 0, status = 0;
  int in = master >= 0 ? master : in_w;
  for (int *f = (int[]){out, err, master, in_w}, k = 0; k < 4; k++)
    if (f[k] >= 0) fcntl(f[k], F_SETFL, fcntl(f[k], F_GETFL) | O_NONBLOCK);
#define CLOSE_IN() do { if (in_w >= 0) close(in_w); if (in == in_w) in = -1; in_w = -1; plen = poff = 0; } while (0)
  for (;;) {
    if (exited && out < 0 && err < 0 && master < 0) break;
    struct pollfd pf[5] = {
        {sigfd, POLLIN, 0},
        {plen || cin < 0 ? -1 : cin, POLLIN, 0},
        {master >= 0 ? master : out, POLLIN | (master >= 0 && plen ? POLLOUT : 0), 0},
        {err, POLLIN, 0},
        {master < 0 && plen ? in_w : -1, POLLOUT, 0},
    };
    /* once the process has exited, 200 ms without output ends the relay: a background process that
     * inherited stdout would otherwise hold the exec open (docker exec hangs there) */
    int r = poll(pf, 5, exited ? 200 : -1);
    if (r < 0 && errno != EINTR) break;
    if (r == 0) break;
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {}
      if (!exited && waitpid(x, &status, WNOHANG) == x) exited = 1;
    }
    if (pf[1].revents) {
      unsigned char h[8];
      uint32_t len = 0;
      if (read_full(cin, h, 8) < 0 || (len = (uint32_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7]) > sizeof pend || read_full(cin, pend, len) < 0) {
        cin = -1; /* the client is gone: stdin ends (a tty's master stays for the output) */
        if (master < 0) CLOSE_IN();
      } else if (h[0] == 0 && in >= 0 && P.open_stdin) plen = len, poff = 0;
      else if (h[0] == 1 && master < 0) eof_after = 1;
      else if (h[0] == 2 && master >= 0 && len >= 4) {
        struct winsize ws = {.ws_row = (unsigned char)pend[0] << 8 | (unsigned char)pend[1], .ws_col = (unsigned char)pend[2] << 8 | (unsigned char)pend[3]};
        ioctl(master, TIOCSWINSZ, &ws);
      }
    }
    if (plen && in >= 0) { /* feed stdin as far as it takes it now */
      ssize_t w = write(in, pend + poff, plen - poff);
      if (w > 0 && (poff += w) == plen) plen = poff = 0;
      if (w < 0 && errno != EAGAIN && errno != EINTR) plen = poff = 0;
    }
    if (!plen && eof_after) {
      eof_after = 0;
      CLOSE_IN();
    }
    for (int k = 2; k <= 3; k++) {
      int *fd = k == 3 ? &err : master >= 0 ? &master : &out;
      if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(*fd, obuf, sizeof obuf);
      if (n > 0) {
        if (send_frame(cout, k == 3 ? 2 : 1, obuf, n) < 0) cout = -1; /* client gone: keep draining, drop it */
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) { /* EOF, or EIO from a pty whose slave is gone */
        if (*fd == in) in = -1, plen = poff = 0;
        close(*fd);
        *fd = -1;
      }
    }
  }
#undef CLOSE_IN
  if (!exited) waitpid(x, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  char c[16];
  send_frame(cout, 3, c, snprintf(c, sizeof c, "%d", code));
  return code;
}

/* E0's side of a report pipe: prints "<pid>\n" on stdout, or the error on stderr; returns the exit code. */
static int print_report(int fd, const char *who) {
  char buf[1200];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
    got += n;
    if (buf[got - 1] == '\n') break;
  }
  buf[got] = 0;
  if (got && buf[0] != 'E') {
    fputs(buf, stdout);
    return 0;
  }
  if (!got) {
    fprintf(stderr, "bunker-shim: %s died during start\n", who);
    return 125;
  }
  char *sp = strchr(buf, ' ');
  fputs(sp ? sp + 1 : buf, stderr);
  return atoi(buf + 1);
}

static int exec_main(const char *planfile) {
  exec_mode = 1;
  if (parse_plan(planfile) < 0 || !P.exec_id) {
    fprintf(stderr, "bunker-shim: invalid exec plan %s\n", planfile);
    return 2;
  }
  unlink(planfile); /* consumed: nothing of a finished exec's request stays on disk but its status */
  if (chdir(P.dir) < 0) {
    fprintf(stderr, "bunker-shim: chdir %s: %s\n", P.dir, strerror(errno));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (P.detach) {
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) < 0) return 125;
    pid_t es = fork();
    if (es < 0) return 125;
    if (es > 0) {
      close(rp[1]);
      return print_report(rp[0], "exec supervisor");
    }
    close(rp[0]);
    xreport = rp[1];
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    close(null);
  }
  /* own session: a Ctrl-C on the CLI's terminal ends the client, never the exec (docker exec does not
   * proxy signals); the process keeps running and its exit code is still recorded */
  setsid();
  char msg[1100];
  /* pid reuse: the pidfd pins whatever process has the pid now; if its start time is the recorded one, it
   * is the container's init, and every setns below goes to that very process or fails with ESRCH */
  int pidfd = syscall(SYS_pidfd_open, P.target, 0);
  if (pidfd < 0 || proc_starttime(P.target) != P.target_start) {
    snprintf(msg, sizeof msg, "container %s is not running", P.id);
    exec_fail(125, msg);
  }
  /* X inherits "not dumpable": from its first instant in the container's pid namespace, no process in
   * there can open /proc/<X>/exe (the host's shim binary), its fds or its cwd */
  prctl(PR_SET_DUMPABLE, 0);
  int sigfd = make_sigfd(); /* SIGCHLD is blocked before the fork, so X's exit cannot slip by */
  if (setns(pidfd, CLONE_NEWPID) < 0) { /* for our children only: ES itself stays in the host's */
    snprintf(msg, sizeof msg, errno == ESRCH ? "container %s is not running" : "join the container's pid namespace: %s", errno == ESRCH ? P.id : strerror(errno));
    exec_fail(125, msg);
  }
  int sp[2], o[2] = {-1, -1}, e[2] = {-1, -1}, in[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) exec_fail(125, "socketpair failed");
  if (!P.detach && !P.tty && (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0)) exec_fail(125, "pipe failed");
  if (!P.detach && !P.tty && P.open_stdin && pipe2(in, O_CLOEXEC) < 0) exec_fail(125, "pipe failed");
  pid_t x = fork();
  if (x < 0) { /* ENOMEM: the pid namespace's init has exited, the namespace takes no new process */
    snprintf(msg, sizeof msg, errno == ENOMEM ? "container %s is not running" : "fork: %s", errno == ENOMEM ? P.id : strerror(errno));
    exec_fail(125, msg);
  }
  if (x == 0) {
    close(sp[0]);
    close(sigfd);
    if (xreport >= 0) close(xreport);
    sync_sock = sp[1];
    exec_child(pidfd, in[0], o[1], e[1]);
  }
  XS.pid = x;
  XS.pid_start = proc_starttime(x); /* now, while X waits for us or sets up: it cannot have exited yet */
  close(sp[1]);
  close(pidfd);
  for (int *f = (int[]){o[1], e[1], in[0]}, k = 0; k < 3; k++)
    if (f[k] >= 0) close(f[k]);
  for (int i = 0; i < P.ncgroups; i++) { /* join the container's cgroups before any of its code runs */
    int fd = open(P.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", x) < 0) { /* never run outside the container's devices cgroup */
      snprintf(msg, sizeof msg, "join cgroup %s: %s", P.cgroups[i], strerror(errno));
      kill(x, SIGKILL);
      waitpid(x, NULL, 0);
      exec_fail(126, msg);
    }
    close(fd);
  }
  if (P.ncgroups) send(sp[0], "G", 1, MSG_NOSIGNAL);
  /* "R" + pty master (with -t), then EOF when execve closed the socket, or "E<code><message>" */
  int master = -1, fds[4], nfds;
  ssize_t n;
  while ((n = recv_fds(sp[0], msg, sizeof msg - 1, fds, &nfds, 0)) > 0 && msg[0] == 'R')
    if (nfds) master = fds[0];
  close(sp[0]);
  if (n != 0) {
    int st;
    waitpid(x, &st, 0);
    if (master >= 0) close(master);
    if (n > 1) {
      msg[n] = 0;
      exec_fail((unsigned char)msg[1], msg + 2);
    }
    exec_fail(126, "exec'd process died during setup");
  }
  XS.running = 1;
  write_exec_status();
  char pidtxt[16];
  int plen = snprintf(pidtxt, sizeof pidtxt, "%d", x);
  int code;
  if (P.detach) {
    dprintf(xreport, "%s\n", pidtxt);
    close(xreport);
    int st;
    while (waitpid(x, &st, 0) < 0 && errno == EINTR) {}
    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  } else {
    send_frame(1, 4, pidtxt, plen);
    code = exec_relay(x, sigfd, o[0], e[0], master, in[1]);
  }
  XS.running = 0;
  XS.has_exit = 1;
  XS.code = code;
  write_exec_status();
  return 0;
}

int main(int argc, char **argv) {
  argv_area = argv[0];
  argv_len = argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0];
  if (argc == 3 && !strcmp(argv[1], "exec")) return exec_main(argv[2]);
  if (argc != 3 || strcmp(argv[1], "run")) {
    fprintf(stderr, "usage: bunker-shim run <plan> | bunker-shim exec <exec-plan>\n");
    return 2;
  }
  if (parse_plan(argv[2]) < 0) {
    fprintf(stderr, "bunker-shim: invalid plan %s\n", argv[2]);
    return 2;
  }
  if (chdir(P.dir) < 0) {
    fprintf(stderr, "bunker-shim: chdir %s: %s\n", P.dir, strerror(errno));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* attach.sock is bound relative to the container dir: sun_path holds only 108 bytes */
  unlink("attach.sock");
  unlink("stop-requested");
  M.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "attach.sock"};
  if (M.lfd < 0 || bind(M.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(M.lfd, 8) < 0) {
    fprintf(stderr, "bunker-shim: attach socket: %s\n", strerror(errno));
    return 2;
  }
  chmod("attach.sock", 0600);
  if (bind_ports() < 0) {
    unlink("attach.sock");
    return 125;
  }
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) return 2;
  pid_t g = fork();
  if (g == 0) {
    close(rp[0]);
    setsid(); /* out of the CLI's session: Ctrl-C on the terminal must not reach the supervisors */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    close(null);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    guardian_pid = getpid();
    M.report = rp[1];
    guardian();
  }
  close(rp[1]);
  return print_report(rp[0], "supervisor");
}
