/* supervisor.c: s and G: the attach socket and its clients, the monitor loop, and the guardian's takeover. */
#include "shim.h"

struct mon M = {.out = -1, .err = -1, .master = -1, .stdin_w = -1, .lfd = -1, .sigfd = -1, .gsock = -1, .report = -1, .dns = -1, .up = -1, .ns = {-1, -1, -1}};

/*
 * Holds the container's namespaces while it runs. When the last process of a mount namespace exits, the
 * kernel unmounts its ~35 mounts and waits out an RCU grace period inside that process's exit, before the
 * exit reaches us as SIGCHLD: 1-20 ms on this kind of VM, paid by every `run --rm`, `stop` and `wait`.
 * With a reference held here the exit is reported at once, and the teardown runs when release_ns()
 * closes the references, after the exit code is recorded and sent.
 */
void hold_ns(pid_t pid) {
  static const char *const names[3] = {"mnt", "net", "pid"};
  char path[64];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, names[i]);
    M.ns[i] = open(path, O_RDONLY | O_CLOEXEC); /* best effort: without it the exit is only slower */
  }
}

void release_ns(void) {
  for (int i = 0; i < 3; i++)
    if (M.ns[i] >= 0) close(M.ns[i]), M.ns[i] = -1;
}

void report(const char *fmt, ...) {
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

void broadcast(int stream, const void *buf, uint32_t n) {
  for (int i = 0; i < MAXC; i++)
    if (M.clients[i] > 0) frame(M.clients[i], stream, buf, n);
}

void drop_client(int i) {
  close(M.clients[i]);
  M.clients[i] = 0;
}

int accept_client(void) {
  int c = accept4(M.lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  for (int i = 0; i < MAXC; i++)
    if (!M.clients[i]) return M.clients[i] = c, i;
  close(c);
  return -1;
}

/* Client -> shim frames: [type,0,0,0,len BE32] payload. 0 stdin data, 1 stdin EOF, 2 resize (rows,cols BE16), 3 start. */
int client_frame(int i) {
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
    if (health_reap(si.si_pid)) continue; /* a check: its result recorded */
    if (si.si_pid == ST.pid || !ST.pid) { /* !pid: adopted before S named it */
      if (!ST.pid) waitpid(si.si_pid, NULL, 0); /* nothing names it: there is no record to keep it for */
      M.exited = 1;
      M.status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : si.si_status & 0x7f;
      kill_leftovers(); /* a shared PID namespace: the others go with the init (their output ends too) */
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
    struct pollfd pf[8 + MAXC];
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
    pf[n++] = (struct pollfd){proxy_fd(), POLLIN, 0};
    int hc = n;
    pf[n++] = (struct pollfd){health_fd(), POLLIN, 0};
    int wait = proxy_fd() >= 0 ? proxy_timeout() : -1, due = health_timeout(), sample = sample_timeout();
    if (due >= 0 && (wait < 0 || due < wait)) wait = due;
    if (sample >= 0 && (wait < 0 || sample < wait)) wait = sample;
    if (!M.exited || pf[io0].fd >= 0 || pf[io0 + 1].fd >= 0)
      if (poll(pf, n, wait) < 0 && errno != EINTR) _exit(1);
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
    if (proxy_fd() >= 0) proxy_run(pf[px].revents != 0);
    health_run(pf[hc].fd >= 0 && pf[hc].revents);
    sample_run();
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

int make_sigfd(void) {
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
void guardian(void) {
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
    if (s && (q = strstr(s, "\"health\":\""))) q[10 + strcspn(q + 10, "\"")] = 0, health_adopt(q + 10);
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
    if (ST.running && !M.exited) sample_begin(); /* S's samples went with it: G's own, from now */
    write_status();
    monitor();
  }
}
