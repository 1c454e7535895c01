/* run.c: one run of the container: clone up to the start barrier, the exit recorded, the restart policy. */
#include "shim.h"

/* A start given up before the barrier: the half-made container killed and reaped, this run's fds closed. */
static pid_t abandon_run(pid_t pid, int sock, int out, int err, int in) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(sock);
  for (int *f = (int[]){out, err, in}, k = 0; k < 3; k++)
    if (f[k] >= 0) close(f[k]);
  return -125;
}

int netns_fd = -1, pidns_fd = -1, ipcns_fd = -1, shmns_fd = -1;

/* Opens the namespace files of the containers joined (/proc/<pid>/ns/...) once, at the first run. A restart
 * by S (without the engine) then joins the very same namespaces, or fails when their processes are gone
 * (a dead PID namespace takes no new process): never the namespace of whatever process took the pid since. */
static int pin_namespaces(void) {
  const char *shm = NULL;
  for (int i = 0; i < P.nmounts; i++)
    if (P.mounts[i].kind == MK_SHARE) shm = P.mounts[i].src;
  struct { const char *path; int *fd; } ns[] = {{P.netns, &netns_fd}, {P.pidns, &pidns_fd}, {P.ipcns, &ipcns_fd}, {shm, &shmns_fd}};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    if (!ns[i].path || !strcmp(ns[i].path, "host") || *ns[i].fd >= 0) continue;
    if ((*ns[i].fd = open(ns[i].path, O_RDONLY | O_CLOEXEC)) < 0) {
      snprintf(ST.error, sizeof ST.error, "joining the namespace of another container (%s): %s", ns[i].path, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* Clones the container and runs it up to the start barrier. Returns its pid, or -exitcode on failure. */
pid_t start_run(void) {
  if (pin_namespaces() < 0) return -125;
  int sp[2], o[2] = {-1, -1}, e[2] = {-1, -1}, in[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return -125;
  if (!P.tty && (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0)) return -125;
  if (P.open_stdin && !P.tty && pipe2(in, O_CLOEXEC) < 0) return -125;
  if (P.cgv == 2 && devcg_apply() < 0) return -125; /* v2: in place before the child is born in the cgroup */
  /* a namespace of its own for each kind, but those --pid/--ipc/--uts share (the host's, or one C joins) */
  uint64_t flags = CLONE_NEWNS | (P.pidns ? 0 : CLONE_NEWPID) | (P.utsns ? 0 : CLONE_NEWUTS) | (P.ipcns ? 0 : CLONE_NEWIPC) |
                   (strcmp(P.net, "host") && !P.netns ? CLONE_NEWNET : 0);
  pid_t pid;
  int into = -1; /* v2: born in its cgroup (and in a cgroup namespace rooted there): no migration, no wait */
  if (P.cgv == 2 && (into = open(P.cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(ST.error, sizeof ST.error, "open cgroup %s: %s", P.cgdir, strerror(errno));
    return -125;
  }
  /* --pid container:X: a process cannot enter a PID namespace itself, only have its next children born there.
   * S sets that (setns: pid_for_children) for the one clone below and takes its own back right after. */
  int own_pidns = -1;
  if (pidns_fd >= 0) {
    own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own_pidns < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
      snprintf(ST.error, sizeof ST.error, "joining PID namespace of container: %s", strerror(errno));
      if (into >= 0) close(into);
      return -125;
    }
  }
  if (into >= 0) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; } ca = {
        .flags = flags | CLONE_INTO_CGROUP | (P.cgroupns ? CLONE_NEWCGROUP : 0), .exit_signal = SIGCHLD, .cgroup = into};
    pid = syscall(SYS_clone3, &ca, sizeof ca); /* why: CLONE_INTO_CGROUP (kernel 5.7) places the child atomically */
    close(into);
  } else pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid != 0 && own_pidns >= 0) { /* S's later children (none of the container's) are born in S's own again */
    int e = errno;
    if (setns(own_pidns, CLONE_NEWPID) < 0) _exit(125);
    close(own_pidns);
    errno = e;
  }
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
      health_begin();
      sample_begin();
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

/* `docker update --restart` of a running container: the engine writes "<name> <retries>" to restart-policy
 * (removed at the next start, whose plan holds it) */
static void reload_restart_policy(void) {
  static char buf[64];
  int fd = open("restart-policy", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  char *sp = strchr(buf, ' ');
  if (!sp) return;
  *sp = 0;
  if (strcmp(buf, "no") && strcmp(buf, "always") && strcmp(buf, "unless-stopped") && strcmp(buf, "on-failure")) return;
  P.restart = buf;
  P.retries = atoll(sp + 1);
}

int should_restart(int code) {
  if (faccessat(AT_FDCWD, "stop-requested", F_OK, 0) == 0) return 0; /* `stop`/`kill` by the user */
  reload_restart_policy();
  if (!strcmp(P.restart, "always") || !strcmp(P.restart, "unless-stopped")) return 1;
  if (!strcmp(P.restart, "on-failure")) return code != 0 && (P.retries <= 0 || ST.restart_count < P.retries);
  return 0;
}

void finish_run(int code, int again) {
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
  health_stop();
  sample_stop();
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

void pump(int *fd, int stream) {
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
