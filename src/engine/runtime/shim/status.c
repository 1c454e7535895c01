/* status.c: status.json: what S records about the container (pid, exit, OOM, restarts), written atomically. */
#include "shim.h"

struct state ST;

/* The OOM kills so far in the container's memory cgroup ("oom_kill N": v2 memory.events, v1
 * memory.oom_control), -1 without one. Why: Docker's State.OOMKilled, true when the run lost a process to
 * the kernel's OOM killer under its -m limit. cgroupfs files report no size: read, not slurp(). */
long long oom_kills(void) {
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

char *proc_stat(pid_t pid, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return NULL;
  buf[n] = 0;
  return strrchr(buf, ')'); /* the last one: a command name may hold ')' itself */
}

unsigned long long proc_starttime(pid_t pid) {
  char buf[1024];
  char *p = proc_stat(pid, buf, sizeof buf);
  if (!p) return 0;
  unsigned long long v = 0;
  /* field 22 (starttime); after ") " we are at field 3 */
  for (int f = 3; p && f <= 22; f++) p = strchr(p + 1, ' ');
  if (p) v = strtoull(p + 1, NULL, 10);
  return v;
}

void json_str(char *out, size_t n, const char *s) {
  size_t o = 0;
  for (; *s && o + 8 < n; s++) {
    if (*s == '"' || *s == '\\') out[o++] = '\\', out[o++] = *s;
    else if ((unsigned char)*s < 0x20) o += snprintf(out + o, n - o, "\\u%04x", *s);
    else out[o++] = *s;
  }
  out[o] = 0;
}

pid_t guardian_pid;

void write_status(void) {
  char buf[2048], err[1100], code[16] = "null";
  json_str(err, sizeof err, ST.error);
  if (ST.has_exit) snprintf(code, sizeof code, "%d", ST.exit_code);
  int n = snprintf(buf, sizeof buf,
                   "{\"running\":%s,\"restarting\":%s,\"pid\":%d,\"pidStart\":%llu,\"supervisorPid\":%d,\"guardianPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\","
                   "\"exitCode\":%s,\"restartCount\":%lld,\"error\":\"%s\",\"oomKilled\":%s,\"health\":\"%s\"}\n",
                   ST.running ? "true" : "false", ST.restarting ? "true" : "false", ST.pid, ST.pid_start, getpid(), guardian_pid, ST.started, ST.finished, code, ST.restart_count, err,
                   ST.oom_killed ? "true" : "false", health_status());
  /* write + rename: a reader sees the old or the new record, never half of one */
  int fd = open("status.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, buf, n);
  close(fd);
  rename("status.json.tmp", "status.json");
}
