/* init.c: the container init (C): from clone to execve (root, mounts, user, caps, seccomp), and --init as PID
 * 1. */
#include "shim.h"

int sync_sock = -1; /* to S; CLOEXEC, so a successful execve closes it */
int exec_mode;      /* `bunker-shim exec`: setup failures are 126, as dockerd reports a failed exec */

void init_fail(int code, const char *fmt, ...) {
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

int rootfd = -1;

/* Opens a path inside the container root; symlinks (even absolute ones) resolve inside it, magic links refused. */
int in_root(const char *path, int flags) {
  struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* mkdir -p inside the root, then opens it (O_PATH); creates an empty file instead when !dir. */
int ensure_in_root(const char *path, int dir) {
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

void fdpath(char *out, int fd) { snprintf(out, 64, "/proc/self/fd/%d", fd); }

/* ------------------------------------------------------------------ --init */

char *argv_area; /* main()'s argv strings, contiguous: PID 1's /proc/1/cmdline under --init */
size_t argv_len;

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

void container_init(int stdin_r, int stdout_w, int stderr_w) {
  /* Until execve replaces this image, /proc/<pid>/exe is the shim on the host; non-dumpable keeps every
   * other process (there are none yet in this pid namespace) from opening it or our fds. */
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* S blocks SIGCHLD for its signalfd; the mask survives execve */
  signal(SIGPIPE, SIG_DFL);
  /* --ipc container:X: X's IPC namespace (SysV IPC, POSIX message queues), entered before /dev/mqueue is
   * mounted, so that the mount shows X's queues (C was cloned without an IPC namespace of its own) */
  if (ipcns_fd >= 0 && setns(ipcns_fd, CLONE_NEWIPC) < 0) init_fail(125, "joining IPC namespace of container: %s", strerror(errno));
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
  if (!P.utsns && sethostname(P.hostname, strlen(P.hostname)) < 0) /* --uts host: the host's name stays */ init_fail(125, "sethostname: %s", strerror(errno));
  if (P.netns) { /* --network container:NAME: that container's netns (its lo is already up), pinned by S */
    if (netns_fd < 0 || setns(netns_fd, CLONE_NEWNET) < 0) init_fail(125, "joining network namespace of container: %s", strerror(errno));
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
