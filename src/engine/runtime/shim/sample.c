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

/* The number after "key " at a line's start in "key value" lines; 0 without it. */
static unsigned long long keyed(const char *buf, const char *key) {
  size_t k = strlen(key);
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, key, k) && p[k] == ' ') return strtoull(p + k + 1, NULL, 10);
  return 0;
}

/* The cgroup files a sample reads: v1 cpuacct.usage, cpuacct.stat (USER_HZ ticks) and the cpu hierarchy's
 * cpu.stat (throttling); v2 cpu.stat alone (usage_usec...). Each is opened once, in whichever of the plan's
 * cgroups has it (they stay the same across restarts), and re-read with pread at offset 0, which makes
 * cgroupfs generate it afresh: 3 syscalls a sample instead of 9. O_CLOEXEC, and --init's PID 1 closes
 * everything above 2: no container process gets them. */
enum { F_USAGE, F_ACCT, F_CPU, NFILES };
static const char *const names[NFILES] = {"cpuacct.usage", "cpuacct.stat", "cpu.stat"};
static int fds[NFILES] = {-2, -2, -2}; /* -2: not opened yet; -1: none */

static void open_files(void) {
  for (int f = 0; f < NFILES; f++) {
    fds[f] = -1;
    for (int i = 0; i < P.ncgroups && fds[f] < 0; i++) {
      const char *slash = strrchr(P.cgroups[i], '/');
      char path[512];
      if (!slash || snprintf(path, sizeof path, "%.*s/%s", (int)(slash - P.cgroups[i]), P.cgroups[i], names[f]) >= (int)sizeof path) continue;
      fds[f] = open(path, O_RDONLY | O_CLOEXEC);
    }
  }
}

/* One of them into buf (cgroupfs reports no size: one read); 0 when it is not there. */
static int read_file(int f, char *buf, size_t size) {
  ssize_t n = fds[f] >= 0 ? pread(fds[f], buf, size - 1, 0) : -1;
  buf[n > 0 ? n : 0] = 0;
  return n > 0;
}

/* The container's CPU counters. */
static int read_cpu(struct sample *s) {
  if (fds[0] == -2) open_files();
  char buf[1024];
  int found = 0;
  if (read_file(F_USAGE, buf, sizeof buf)) {
    long hz = sysconf(_SC_CLK_TCK);
    s->usage = strtoull(buf, NULL, 10), found = 1;
    if (hz > 0 && read_file(F_ACCT, buf, sizeof buf))
      s->user = keyed(buf, "user") * (1000000000ULL / hz), s->sys = keyed(buf, "system") * (1000000000ULL / hz);
  }
  if (read_file(F_CPU, buf, sizeof buf)) {
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
