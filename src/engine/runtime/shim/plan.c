/* plan.c: the plan: the engine's decisions for one container (or one exec), parsed once into P. */
#include "shim.h"

struct plan P;

char *slurp(const char *path, size_t *len) {
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

int parse_plan(const char *file) {
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
    else if (!strcmp(k, "health")) {
      P.hc_interval = atoll(NEXT());
      P.hc_timeout = atoll(NEXT());
      P.hc_start_period = atoll(NEXT());
      P.hc_start_interval = atoll(NEXT());
      P.hc_retries = atoi(NEXT());
      P.hc_timeout_text = NEXT();
    } else if (!strcmp(k, "hcarg")) PUSH(P.hc_args, P.hc_nargs, NEXT());
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
  if (P.hc_nargs && (P.hc_interval <= 0 || P.hc_timeout <= 0 || P.hc_start_interval <= 0 || P.hc_retries <= 0 || !P.hc_timeout_text)) return -1;
  return 0;
}
