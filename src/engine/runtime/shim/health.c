/*
 * health.c: the container's HEALTHCHECK, run by S (or G after a takeover) as dockerd's health monitor does
 * (moby daemon/health.go): one check at a time, the first one interval after each start; exit 0 is healthy,
 * anything else a failure counted towards Retries once the start period is over. Status, failing streak and
 * the last 5 results go to health.json (write+rename); the status also goes to status.json.
 *
 * Each check is a process K, a fork of S that joins the container as `exec` does (shim/exec.c exec_child)
 * and is reaped by S:
 *   S -- K  host namespaces; setns(CLONE_NEWPID) for its child; waits for X at most Timeout, then kills X's
 *      |    process group (X is a session leader: whatever it started goes too) and reaps it
 *      `- X the check command, in the container's namespaces, cgroups, user, caps and seccomp profile
 * X's stdout and stderr share one pipe S reads (the first 4096 bytes kept, as moby's limitedBuffer);
 * K reports a timeout ("T") or a failed start ("E<code><reason>") on a second pipe, read once K is reaped.
 * Nothing outlives a check but the orphans X's command may leave behind in the container, as in Docker.
 */
#include "shim.h"

enum { H_NONE, H_STARTING, H_HEALTHY, H_UNHEALTHY };
static const char *const health_names[] = {"", "starting", "healthy", "unhealthy"};
#define HLOG 5      /* moby's maxLogEntries */
#define HOUT 4096   /* moby's maxOutputLen */

struct hresult { char start[40], end[40]; int code, len, truncated; long long t0; char out[HOUT + 160]; };
static struct {
  int status, streak, nlog;
  struct hresult log[HLOG]; /* oldest first */
  struct hresult cur;
  long long run_start, next; /* ms, CLOCK_MONOTONIC */
  pid_t k;                   /* the running check, 0 when none */
  int out, rep;              /* its output and report pipes (S's read ends) */
} H = {.out = -1, .rep = -1};

/* Results of an earlier supervisor (a restart of the container by the engine, or S's before a takeover), as
 * the JSON objects it wrote: moby keeps the Log across starts. Older than H.log; dropped first. */
static char *prev[HLOG];
static int nprev, loaded, prev_streak;

/* Splits health.json's Log into its objects: no string in it holds an unescaped quote, so `},{"Start":"`
 * can only be the boundary between two results. */
static void load_previous(void) {
  if (loaded++) return;
  size_t len;
  char *s = slurp("health.json", &len), *p, *end;
  if (s && (p = strstr(s, "\"FailingStreak\":"))) prev_streak = atoi(p + 16);
  if (s && (p = strstr(s, "\"Log\":[{")) && (end = strrchr(s, ']')) && end > p) {
    *end = 0;
    for (p += 7; p && *p == '{' && nprev < HLOG;) {
      char *next = strstr(p, "},{\"Start\":\"");
      size_t n = next ? (size_t)(next - p) + 1 : strlen(p);
      if (!(prev[nprev] = strndup(p, n))) break;
      nprev++;
      p = next ? next + 2 : NULL;
    }
  }
  free(s);
}

static long long mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

const char *health_status(void) { return health_names[H.status]; }

/* moby's probe interval: StartInterval while starting within the start period, Interval otherwise. */
static long long interval(void) {
  if (mono_ms() - H.run_start >= P.hc_start_period) return P.hc_interval;
  return H.status == H_STARTING ? P.hc_start_interval : P.hc_interval;
}

/* health.json, with write+rename; output escaped through a small buffer (S stays small). */
static char wbuf[2048];
static int wlen, wfd;
static void wflush(void) { write_all(wfd, wbuf, wlen), wlen = 0; }
static void wput(const char *s, size_t n) {
  while (n) {
    if (wlen == sizeof wbuf) wflush();
    size_t k = sizeof wbuf - wlen < n ? sizeof wbuf - wlen : n;
    memcpy(wbuf + wlen, s, k), wlen += k, s += k, n -= k;
  }
}
static void wstr(const char *s) { wput(s, strlen(s)); }
static void wjson(const char *s, size_t n) { /* a JSON string; the reader maps invalid UTF-8 to U+FFFD */
  wput("\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    char e[8];
    if (c == '"' || c == '\\') e[0] = '\\', e[1] = c, wput(e, 2);
    else if (c < 0x20 || c == 0x7f) wput(e, snprintf(e, sizeof e, "\\u%04x", c));
    else wput((char *)&c, 1);
  }
  wput("\"", 1);
}

static void write_health(void) {
  if ((wfd = open("health.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) return;
  char num[64];
  wstr("{\"Status\":\"");
  wstr(health_names[H.status]);
  wput(num, snprintf(num, sizeof num, "\",\"FailingStreak\":%d,\"Log\":[", H.streak));
  for (int i = 0; i < nprev; i++) {
    wstr(i ? "," : "");
    wstr(prev[i]);
  }
  for (int i = 0; i < H.nlog; i++) {
    struct hresult *r = &H.log[i];
    wput(num, snprintf(num, sizeof num, "%s{\"Start\":\"", i || nprev ? "," : ""));
    wstr(r->start);
    wstr("\",\"End\":\"");
    wstr(r->end);
    wput(num, snprintf(num, sizeof num, "\",\"ExitCode\":%d,\"Output\":", r->code));
    wjson(r->out, r->len);
    wstr("}");
  }
  wstr("]}\n");
  wflush();
  close(wfd);
  rename("health.json.tmp", "health.json");
}

/* Appends to the current result's output while there is room (moby's limitedBuffer: "..." marks a loss). */
static void keep_output(const char *s, size_t n) {
  size_t room = HOUT - H.cur.len;
  if (n > room) H.cur.truncated = 1, n = room;
  memcpy(H.cur.out + H.cur.len, s, n);
  H.cur.len += n;
}

/* After each (re)start: starting again, the log kept (moby's initHealthMonitor). */
void health_begin(void) {
  if (!P.hc_nargs) return;
  load_previous();
  H.status = H_STARTING;
  H.streak = 0;
  H.run_start = mono_ms();
  H.next = H.run_start + interval();
  write_health();
}

/* G after a takeover: S's schedule is lost; the status S last recorded holds and checks go on. */
void health_adopt(const char *status) {
  if (!P.hc_nargs) return;
  load_previous();
  H.status = H_STARTING;
  for (int i = H_HEALTHY; i <= H_UNHEALTHY; i++)
    if (!strcmp(status, health_names[i])) H.status = i;
  H.streak = prev_streak;
  H.run_start = mono_ms() - P.hc_start_period; /* when it started is unknown: past the start period */
  H.next = mono_ms() + interval();
}

/* K's report of a check that could not start: "E<code><reason>", as exec_child reports it to ES. */
static void check_fail(int rep, int code, const char *fmt, ...) {
  char msg[1100];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg + 2, sizeof msg - 2, fmt, ap);
  va_end(ap);
  msg[0] = 'E', msg[1] = (char)code;
  write_all(rep, msg, 2 + (n < (int)sizeof msg - 2 ? n : (int)sizeof msg - 3));
  _exit(code);
}

/* K: the check, joined like an exec; exits with X's code after writing its report. */
static void check_process(int out, int rep) {
  exec_mode = 1;
  long long deadline = mono_ms() + P.hc_timeout;
  int pidfd = syscall(SYS_pidfd_open, ST.pid, 0);
  char msg[1100];
  /* the pidfd pins the container's init (start time checked): every setns goes to it or fails */
  if (pidfd < 0 || proc_starttime(ST.pid) != ST.pid_start) check_fail(rep, 125, "container %s is not running", P.id);
  prctl(PR_SET_DUMPABLE, 0); /* X is non-dumpable from its first instant in the container (CVE-2019-5736) */
  if (setns(pidfd, CLONE_NEWPID) < 0) check_fail(rep, 125, "join the container's pid namespace: %s", strerror(errno));
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) _exit(125);
  /* the exec's view of the container's plan: no tty, no stdin, the check's command; TERM only with a tty */
  if (P.tty && P.nenv && !strcmp(P.env[P.nenv - 1], "TERM=xterm")) P.env[--P.nenv] = NULL;
  P.tty = P.open_stdin = 0;
  P.args = P.hc_args;
  P.nargs = P.hc_nargs;
  pid_t x = fork();
  if (x < 0) check_fail(rep, 125, "fork: %s", strerror(errno));
  if (x == 0) {
    close(sp[0]);
    close(rep);
    sync_sock = sp[1];
    exec_child(pidfd, -1, out, out);
  }
  close(sp[1]);
  close(pidfd);
  close(out);
  for (int i = 0; i < P.ncgroups; i++) { /* X joins the container's cgroups before any of its code runs */
    int fd = open(P.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", x) < 0) {
      kill(x, SIGKILL);
      waitpid(x, NULL, 0);
      check_fail(rep, 126, "join cgroup %s: %s", P.cgroups[i], strerror(errno));
    }
    close(fd);
  }
  if (P.ncgroups) send(sp[0], "G", 1, MSG_NOSIGNAL);
  ssize_t n = recv(sp[0], msg, sizeof msg - 1, 0); /* EOF: X exec'd; else "E<code><reason>" */
  close(sp[0]);
  int st = 0;
  if (n > 1 && msg[0] == 'E') {
    waitpid(x, &st, 0);
    write_all(rep, msg, n);
    _exit((unsigned char)msg[1]);
  }
  /* SIGCHLD is blocked (inherited from S's signalfd setup): wait for it until the deadline */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    if (waitpid(x, &st, WNOHANG) == x) break;
    long long left = deadline - mono_ms();
    if (left <= 0) {
      kill(-x, SIGKILL); /* X and its process group (X called setsid) */
      kill(x, SIGKILL);
      waitpid(x, &st, 0);
      write_all(rep, "T", 1);
      _exit(137);
    }
    struct timespec ts = {left / 1000, (left % 1000) * 1000000};
    sigtimedwait(&chld, NULL, &ts);
  }
  _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void check_start(void) {
  int o[2], r[2];
  if (pipe2(o, O_CLOEXEC) < 0) return;
  if (pipe2(r, O_CLOEXEC) < 0) {
    close(o[0]), close(o[1]);
    return;
  }
  H.cur.len = H.cur.truncated = 0;
  now_rfc3339(H.cur.start, sizeof H.cur.start);
  H.cur.t0 = mono_ms();
  pid_t k = fork();
  if (k == 0) {
    close(o[0]), close(r[0]);
    check_process(o[1], r[1]);
  }
  close(o[1]), close(r[1]);
  if (k < 0) {
    close(o[0]), close(r[0]);
    H.next = mono_ms() + interval();
    return;
  }
  fcntl(o[0], F_SETFL, O_NONBLOCK);
  fcntl(r[0], F_SETFL, O_NONBLOCK);
  H.k = k, H.out = o[0], H.rep = r[0];
}

static void read_output(void) {
  char buf[4096];
  ssize_t n;
  while (H.out >= 0 && (n = read(H.out, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      break;
    }
    keep_output(buf, n);
  }
  close(H.out); /* EOF (or an error): nobody writes any more */
  H.out = -1;
}

/* Whether the container's init is exiting or gone: /proc/<pid>/stat's state Z, or PF_EXITING (0x4) in its
 * flags (field 9). Its exit kills everything in its pid namespace (a check too) before it is reported. */
static int init_exiting(void) {
  char buf[512];
  char *p = proc_stat(ST.pid, buf, sizeof buf);
  if (!p || p[2] == 'Z' || p[2] == 'X') return 1;
  for (int f = 3; p && f <= 9; f++) p = strchr(p + 1, ' '); /* after ") " we are at field 3 */
  return !p || (strtoul(p + 1, NULL, 10) & 0x4);
}

/* K has exited with `status`: its result, moby's handleProbeResult, the files. A check the container's end
 * cut short is no result (moby drops a probe's result once the container stops). */
static void check_done(int status) {
  read_output(); /* what is there now; orphans still holding the pipe are not waited for */
  if (H.out >= 0) close(H.out), H.out = -1;
  char rep[1100];
  ssize_t n = read(H.rep, rep, sizeof rep - 1);
  close(H.rep);
  H.rep = -1;
  H.k = 0;
  if (init_exiting()) return;
  struct hresult *r = &H.cur;
  r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r->truncated) memcpy(r->out + r->len, "...", 3), r->len += 3; /* moby's limitedBuffer.String() */
  char out[sizeof r->out];
  int k = -1;
  if (n > 0 && rep[0] == 'T') /* moby: ExitCode -1, "Health check exceeded timeout (30s)[: output]" */
    k = snprintf(out, sizeof out, "Health check exceeded timeout (%s)%s%.*s", P.hc_timeout_text, r->len ? ": " : "", r->len, r->out);
  else if (n > 1 && rep[0] == 'E') { /* the exec could not start: dockerd's error text, ExitCode -1 */
    rep[n] = 0;
    k = snprintf(out, sizeof out, "OCI runtime exec failed: exec failed: unable to start container process: %s: unknown", rep + 2);
  }
  if (k >= 0) r->code = -1, r->len = k < (int)sizeof out ? k : (int)sizeof out - 1, memcpy(r->out, out, r->len);
  now_rfc3339(r->end, sizeof r->end);
  if (nprev && nprev + H.nlog == HLOG) free(prev[0]), memmove(&prev[0], &prev[1], sizeof prev[0] * --nprev);
  else if (H.nlog == HLOG) memmove(&H.log[0], &H.log[1], sizeof H.log[0] * (HLOG - 1)), H.nlog--;
  H.log[H.nlog++] = *r;
  int old = H.status;
  if (r->code == 0) H.streak = 0, H.status = H_HEALTHY;
  else {
    /* while starting, a failure inside the start period does not count (moby: from the check's start) */
    int grace = H.status == H_STARTING && r->t0 - H.run_start < P.hc_start_period;
    if (!grace && ++H.streak >= P.hc_retries) H.status = H_UNHEALTHY;
  }
  write_health();
  if (old != H.status) write_status();
  H.next = mono_ms() + interval();
}

/* Checks stop with the container: a running one is killed (the pid namespace's end takes X), and the
 * status turns unhealthy, as moby's CloseMonitorChannel leaves it. */
void health_stop(void) {
  if (!P.hc_nargs || H.status == H_NONE) return;
  if (H.k) {
    kill(H.k, SIGKILL);
    waitpid(H.k, NULL, 0);
    H.k = 0;
    for (int *f = (int[]){H.out, H.rep}, i = 0; i < 2; i++)
      if (f[i] >= 0) close(f[i]);
    H.out = H.rep = -1;
  }
  H.status = H_UNHEALTHY;
  write_health();
}

int health_fd(void) { return H.out; }

/* ms until a check is due (-1: none runs; a running check ends by itself at Timeout). */
int health_timeout(void) {
  if (!P.hc_nargs || H.status == H_NONE || H.k || !ST.running) return -1;
  long long left = H.next - mono_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* One turn of the monitor loop: output read, a due check started. */
void health_run(int readable) {
  if (readable) read_output();
  if (P.hc_nargs && H.status != H_NONE && !H.k && ST.running && !M.exited && mono_ms() >= H.next) check_start();
}

/* Whether `pid` is the running check; if so it is reaped and its result recorded. */
int health_reap(pid_t pid) {
  if (!H.k || pid != H.k) return 0;
  int st;
  if (waitpid(pid, &st, 0) == pid) check_done(st);
  return 1;
}
