/* exec.c: `bunker-shim exec`: one more process inside a running container (docker exec). */
#include "shim.h"

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
void exec_child(int pidfd, int stdin_r, int stdout_w, int stderr_w) {
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
int print_report(int fd, const char *who) {
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

int exec_main(const char *planfile) {
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
