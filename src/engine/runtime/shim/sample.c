/*
 * sample.c: S's CPU sample of the running container, about once a second, in cpu.sample beside
 * status.json. Why: `docker stats --no-stream` shows CPU % over a window; dockerd's collector keeps the
 * previous sample (~1 s old), and without one the engine must take a priming sample and wait. This is that
 * previous sample, kept by the process that already supervises the container: a poll timeout, a few cgroup
 * reads and one pwrite a second, no process and no thread.
 *
 * cpu.sample is two fixed-width slots (the newest first, then the one before), each one line:
 *   cpu <seq> <pid> <realtime ns> <usage ns> <user ns> <system ns> <periods> <throttled periods> <throttled ns> <seq>
 * space-padded to SLOT bytes. Both are rewritten by one pwrite at offset 0 (the size never changes); a
 * reader that catches a write half done sees two different <seq> in a slot and ignores it
 * (src/engine/containers/stats.ts). A slot whose pid is not the running init's belongs to an earlier run.
 */
#include "shim.h"

#define SLOT 256
#define PERIOD_MS 1000

struct sample { unsigned long long seq, real, usage, user, sys, periods, throttled, throttled_ns; pid_t pid; };
static struct sample slots[2]; /* [0] the newest; seq 0: none */
static unsigned long long seq;
static long long due = -1;     /* CLOCK_MONOTONIC ms of the next sample; -1: none (not running) */
static int sfd = -1;

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* One cgroup file into buf (cgroupfs reports no size: one read). 0 when it is not there. */
static int read_cg(const char *dir, size_t dirlen, const char *file, char *buf, size_t size) {
  char path[512];
  if (dirlen + strlen(file) + 2 > sizeof path) return 0;
  snprintf(path, sizeof path, "%.*s/%s", (int)dirlen, dir, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return n > 0;
}

/* The number after "key " at a line's start in "key value" lines; 0 without it. */
static unsigned long long keyed(const char *buf, const char *key) {
  size_t k = strlen(key);
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, key, k) && p[k] == ' ') return strtoull(p + k + 1, NULL, 10);
  return 0;
}

/* The cgroup directory (its length in P.cgroups[i], a cgroup.procs file) holding `file`: -1 without one. */
static int cg_with(const char *file, size_t *len) {
  for (int i = 0; i < P.ncgroups; i++) {
    const char *slash = strrchr(P.cgroups[i], '/');
    char path[512];
    if (!slash || snprintf(path, sizeof path, "%.*s/%s", (int)(slash - P.cgroups[i]), P.cgroups[i], file) >= (int)sizeof path) continue;
    if (faccessat(AT_FDCWD, path, F_OK, 0) == 0) return *len = slash - P.cgroups[i], i;
  }
  return -1;
}

/* The container's CPU counters from its cgroups: v2 cpu.stat (usage_usec...), v1 cpuacct.usage and
 * cpuacct.stat (USER_HZ ticks) with the cpu hierarchy's cpu.stat (throttling). Where each file lives is
 * looked up once: the plan's cgroups stay the same across restarts. */
static int read_cpu(struct sample *s) {
  static int acct = -2, cpu = -2;
  static size_t acct_len, cpu_len;
  if (acct == -2) acct = cg_with("cpuacct.usage", &acct_len), cpu = cg_with("cpu.stat", &cpu_len);
  char buf[1024];
  int found = 0;
  if (acct >= 0 && read_cg(P.cgroups[acct], acct_len, "cpuacct.usage", buf, sizeof buf)) {
    long hz = sysconf(_SC_CLK_TCK);
    s->usage = strtoull(buf, NULL, 10), found = 1;
    if (hz > 0 && read_cg(P.cgroups[acct], acct_len, "cpuacct.stat", buf, sizeof buf))
      s->user = keyed(buf, "user") * (1000000000ULL / hz), s->sys = keyed(buf, "system") * (1000000000ULL / hz);
  }
  if (cpu >= 0 && read_cg(P.cgroups[cpu], cpu_len, "cpu.stat", buf, sizeof buf)) {
    s->periods = keyed(buf, "nr_periods"), s->throttled = keyed(buf, "nr_throttled");
    if (strstr(buf, "usage_usec")) { /* v2: everything is here, in microseconds */
      s->usage = keyed(buf, "usage_usec") * 1000, s->user = keyed(buf, "user_usec") * 1000, s->sys = keyed(buf, "system_usec") * 1000;
      s->throttled_ns = keyed(buf, "throttled_usec") * 1000, found = 1;
    } else s->throttled_ns = keyed(buf, "throttled_time");
  }
  return found;
}

/* One slot's line (without its padding); an empty slot is all padding. */
static int put_slot(char *out, const struct sample *s) {
  if (!s->seq) return 0;
  int n = snprintf(out, SLOT, "cpu %llu %d %llu %llu %llu %llu %llu %llu %llu %llu", s->seq, s->pid, s->real, s->usage, s->user, s->sys, s->periods, s->throttled, s->throttled_ns, s->seq);
  return n < 0 ? 0 : n > SLOT - 1 ? SLOT - 1 : n;
}

static void take_sample(void) {
  struct sample s = {.pid = ST.pid};
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t); /* the reader's clock is the wall clock (Date.now()): the window is the difference */
  s.real = t.tv_sec * 1000000000ULL + t.tv_nsec;
  if (!read_cpu(&s)) return;
  s.seq = ++seq;
  slots[1] = slots[0].pid == s.pid ? slots[0] : (struct sample){0};
  slots[0] = s;
  if (sfd < 0) sfd = open("cpu.sample", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (sfd < 0) return;
  char buf[2 * SLOT];
  for (int i = 0; i < 2; i++) {
    char *slot = buf + i * SLOT;
    int n = put_slot(slot, &slots[i]);
    memset(slot + n, ' ', SLOT - 1 - n);
    slot[SLOT - 1] = '\n';
  }
  /* why pwrite: one syscall rewrites both slots in place; no rename, no new inode each second */
  if (pwrite(sfd, buf, sizeof buf, 0) < 0) close(sfd), sfd = -1;
}

/* A run started: its first sample now (the earlier run's slots are dropped by their pid). */
void sample_begin(void) { due = now_ms(); }

/* The run ended: no more samples until the next one. */
void sample_stop(void) { due = -1; }

/* ms until a sample is due (-1: none). */
int sample_timeout(void) {
  if (due < 0 || !ST.running || M.exited) return -1;
  long long left = due - now_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* One turn of the monitor loop: a due sample taken, the next one a period later. */
void sample_run(void) {
  if (due < 0 || !ST.running || M.exited || ST.pid <= 0) return;
  long long now = now_ms();
  if (now < due) return;
  take_sample();
  due = now + PERIOD_MS;
}
