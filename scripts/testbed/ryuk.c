/*
 * A stand-in for testcontainers/ryuk (github.com/testcontainers/moby-ryuk), built offline for the test bed:
 * the same protocol and timeouts, a small static program instead of the Go one.
 *
 * Listens on TCP :RYUK_PORT (8080) and logs "Started". Each client sends filter lines in URL-query form
 * ("label=org.testcontainers.session-id=<id>\r\n"), each answered "ACK\n". When the last client has been
 * gone for RYUK_RECONNECTION_TIMEOUT (10s), or none came within RYUK_CONNECTION_TIMEOUT (60s), it removes
 * what matches any filter over the Docker API at /var/run/docker.sock (or DOCKER_HOST=unix://...):
 * containers (force, with volumes; reaper containers, labelled org.testcontainers.ryuk=true, and itself
 * are skipped), then networks, volumes and images, retrying each up to RYUK_REMOVE_RETRIES (10) times a
 * second apart, and exits. Simplification: no "changes detected" wait for resources created mid-prune.
 *
 *   gcc -static -Os -o ryuk ryuk.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_FILTERS 64

static char *filters[MAX_FILTERS]; /* each a JSON filters object, e.g. {"label":["a=b"]} */
static int nfilters;
static char sock_path[108] = "/var/run/docker.sock";
static char self[256]; /* our hostname: the first 12 hex of our container ID */

static void logf_(const char *level, const char *fmt, ...) {
  char ts[32];
  time_t t = time(NULL);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  printf("time=%s level=%s msg=", ts, level);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* A Go duration ("2s", "500ms", "1m30s") in milliseconds; `def` when unset or unparsable. */
static long duration_ms(const char *env, long def) {
  const char *s = getenv(env);
  if (!s || !*s) return def;
  double total = 0;
  while (*s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s) return def;
    s = end;
    double unit;
    if (!strncmp(s, "ms", 2)) unit = 1, s += 2;
    else if (!strncmp(s, "us", 2)) unit = 0.001, s += 2;
    else if (!strncmp(s, "ns", 2)) unit = 0.000001, s += 2;
    else if (*s == 'h') unit = 3600000, s++;
    else if (*s == 'm') unit = 60000, s++;
    else if (*s == 's') unit = 1000, s++;
    else return def;
    total += v * unit;
  }
  return (long)total;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ filters */

static int hexval(int c) { return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10; }

/* URL-query decoding of one component ("+" is a space, %XX a byte). */
static void unescape(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '+') *o++ = ' ';
    else if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2])), s += 2;
    else *o++ = *s;
  }
  *o = 0;
}

/* Appends `s` as a JSON string. */
static void json_str(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  if (n + 2 >= cap) return;
  out[n++] = '"';
  for (; *s && n + 8 < cap; s++) {
    if (*s == '"' || *s == '\\') out[n++] = '\\', out[n++] = *s;
    else if ((unsigned char)*s < 0x20) n += snprintf(out + n, cap - n, "\\u%04x", *s);
    else out[n++] = *s;
  }
  out[n++] = '"';
  out[n] = 0;
}

/* One client line ("label=a=b&label=c") as a Docker filters object, kept once. */
static void add_filter(char *line) {
  char json[4096] = "{";
  char *save = NULL;
  int first = 1;
  for (char *kv = strtok_r(line, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) continue;
    *eq = 0;
    unescape(kv);
    unescape(eq + 1);
    if (!first) strncat(json, ",", sizeof json - strlen(json) - 1);
    first = 0;
    json_str(json, sizeof json, kv);
    strncat(json, ":[", sizeof json - strlen(json) - 1);
    json_str(json, sizeof json, eq + 1);
    strncat(json, "]", sizeof json - strlen(json) - 1);
  }
  strncat(json, "}", sizeof json - strlen(json) - 1);
  if (first) return;
  for (int i = 0; i < nfilters; i++)
    if (!strcmp(filters[i], json)) return;
  if (nfilters < MAX_FILTERS) filters[nfilters++] = strdup(json);
  logf_("INFO", "\"adding filter\" filter=%s", json);
}

/* ------------------------------------------------------------------ the Docker API over the unix socket */

/* One request (HTTP/1.1, Connection: close); returns the status and the body (de-chunked), malloc'ed. */
static int api(const char *method, const char *path, char **body) {
  *body = NULL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    logf_("ERROR", "\"connect %s\" error=\"%s\"", sock_path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  char req[8192];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: ryuk-standin\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, path);
  if (write(fd, req, n) != n) {
    close(fd);
    return -1;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  ssize_t r;
  while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
    len += r;
    if (cap - len < 4096) buf = realloc(buf, cap *= 2);
  }
  close(fd);
  buf[len] = 0;
  int status = 0;
  sscanf(buf, "HTTP/%*s %d", &status);
  char *hdr_end = strstr(buf, "\r\n\r\n");
  if (!hdr_end) {
    free(buf);
    return -1;
  }
  *hdr_end = 0;
  char *data = hdr_end + 4;
  int chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
  char *out = malloc(len + 1);
  size_t o = 0;
  if (chunked) {
    while (*data) {
      size_t sz = strtoul(data, &data, 16);
      data = strstr(data, "\r\n");
      if (!data || !sz) break;
      data += 2;
      memcpy(out + o, data, sz);
      o += sz;
      data += sz + 2;
    }
  } else {
    o = strlen(data);
    memcpy(out, data, o);
  }
  out[o] = 0;
  free(buf);
  *body = out;
  return status;
}

/* Percent-encodes a query value. */
static void query_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  for (; *s && n + 4 < cap; s++) {
    if (isalnum((unsigned char)*s) || strchr("-_.~", *s)) out[n++] = *s;
    else n += snprintf(out + n, cap - n, "%%%02X", (unsigned char)*s);
  }
  out[n] = 0;
}

/*
 * A JSON walk just deep enough for list answers: calls `on` with (depth, key of the enclosing object at
 * depth-1, key, string value) for each string member, and with key NULL when an object at `depth` closes.
 */
typedef void (*member_fn)(int depth, const char *parent, const char *key, const char *val, void *ctx);
static void json_walk(const char *s, member_fn on, void *ctx) {
  char keys[16][256] = {{0}};
  char str[4096];
  int depth = 0, expect_value = 0, in_object[16] = {0};
  char key[256] = "";
  while (*s) {
    char c = *s++;
    if (c == '"') {
      size_t n = 0;
      while (*s && *s != '"') {
        if (*s == '\\' && s[1]) s++;
        if (n < sizeof str - 1) str[n++] = *s;
        s++;
      }
      if (*s) s++;
      str[n] = 0;
      if (!expect_value && depth > 0 && in_object[depth]) snprintf(key, sizeof key, "%s", str);
      else if (expect_value) {
        on(depth, depth > 1 ? keys[depth - 1] : "", key, str, ctx);
        expect_value = 0;
      }
    } else if (c == ':') {
      expect_value = 1;
    } else if (c == '{' || c == '[') {
      if (depth < 15) {
        depth++;
        in_object[depth] = c == '{';
        snprintf(keys[depth - 1], sizeof keys[0], "%s", expect_value ? key : "");
      }
      expect_value = 0;
    } else if (c == '}' || c == ']') {
      if (c == '}') on(depth, depth > 1 ? keys[depth - 1] : "", NULL, NULL, ctx);
      if (depth > 0) depth--;
      expect_value = 0;
    } else if (c == ',') {
      expect_value = 0;
    } else if (!isspace((unsigned char)c)) {
      expect_value = 0; /* a number, true, false or null value */
      while (*s && !strchr(",}]", *s)) s++;
    }
  }
}

#define MAX_IDS 1024
struct idlist { char *ids[MAX_IDS]; int n; int depth; const char *field; char cur[256]; int reaper; };

/* Collects `field` of each object at `depth`; containers labelled org.testcontainers.ryuk=true are skipped. */
static void collect(int depth, const char *parent, const char *key, const char *val, void *p) {
  struct idlist *l = p;
  if (key == NULL) {
    if (depth == l->depth && l->cur[0] && !l->reaper && l->n < MAX_IDS) {
      int dup = 0;
      for (int i = 0; i < l->n; i++) dup |= !strcmp(l->ids[i], l->cur);
      if (!dup) l->ids[l->n++] = strdup(l->cur);
    }
    if (depth == l->depth) l->cur[0] = 0, l->reaper = 0;
    return;
  }
  if (depth == l->depth && !strcmp(key, l->field)) snprintf(l->cur, sizeof l->cur, "%s", val);
  if (depth == l->depth + 1 && !strcmp(parent, "Labels") && !strcmp(key, "org.testcontainers.ryuk") && !strcmp(val, "true")) l->reaper = 1;
}

/* Lists one kind of resource for every filter. */
static void list(const char *what, const char *extra, const char *field, int depth, struct idlist *l) {
  memset(l, 0, sizeof *l);
  l->depth = depth;
  l->field = field;
  for (int i = 0; i < nfilters; i++) {
    char q[8192], path[9000];
    query_escape(q, sizeof q, filters[i]);
    snprintf(path, sizeof path, "/%s/json?%sfilters=%s", what, extra, q);
    if (!strcmp(what, "volumes")) snprintf(path, sizeof path, "/volumes?filters=%s", q);
    if (!strcmp(what, "networks")) snprintf(path, sizeof path, "/networks?filters=%s", q);
    char *body;
    int st = api("GET", path, &body);
    if (st == 200) json_walk(body, collect, l);
    else logf_("ERROR", "\"list %s\" status=%d", what, st);
    free(body);
  }
}

/* Removes each listed resource, retrying failures; 404 counts as gone. Returns how many it removed. */
static int remove_all(const char *what, const char *path_fmt, struct idlist *l, int retries) {
  int removed = 0;
  for (int attempt = 1; attempt <= retries; attempt++) {
    int left = 0;
    for (int i = 0; i < l->n; i++) {
      if (!l->ids[i]) continue;
      if (!strcmp(what, "container") && !strncmp(l->ids[i], self, strlen(self))) { /* ourselves */
        l->ids[i] = NULL;
        continue;
      }
      char path[512], *body;
      snprintf(path, sizeof path, path_fmt, l->ids[i]);
      int st = api("DELETE", path, &body);
      free(body);
      if (st >= 200 && st < 300) removed++;
      if ((st >= 200 && st < 300) || st == 404) l->ids[i] = NULL;
      else {
        logf_("ERROR", "remove resource=%s id=%s status=%d attempt=%d", what, l->ids[i], st, attempt);
        left++;
      }
    }
    if (!left) break;
    if (attempt < retries) sleep(1);
  }
  return removed;
}

static void prune(void) {
  int retries = getenv("RYUK_REMOVE_RETRIES") ? atoi(getenv("RYUK_REMOVE_RETRIES")) : 10;
  struct idlist l;
  int c, n, v, im;
  list("containers", "all=1&", "Id", 2, &l);
  c = remove_all("container", "/containers/%s?force=1&v=1", &l, retries);
  list("networks", "", "Id", 2, &l);
  n = remove_all("network", "/networks/%s", &l, retries);
  list("volumes", "", "Name", 3, &l);
  v = remove_all("volume", "/volumes/%s?force=1", &l, retries);
  list("images", "", "Id", 2, &l);
  im = remove_all("image", "/images/%s", &l, retries);
  logf_("INFO", "removed containers=%d networks=%d volumes=%d images=%d", c, n, v, im);
}

/* ------------------------------------------------------------------ main loop */

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *host = getenv("DOCKER_HOST");
  if (host && !strncmp(host, "unix://", 7)) snprintf(sock_path, sizeof sock_path, "%s", host + 7);
  gethostname(self, sizeof self);
  long conn_timeout = duration_ms("RYUK_CONNECTION_TIMEOUT", 60000);
  long reconn_timeout = duration_ms("RYUK_RECONNECTION_TIMEOUT", 10000);
  int port = getenv("RYUK_PORT") ? atoi(getenv("RYUK_PORT")) : 8080;

  char *body;
  if (api("GET", "/_ping", &body) != 200) {
    logf_("ERROR", "\"ping\" error=\"no daemon at %s\"", sock_path);
    return 1;
  }
  free(body);
  logf_("INFO", "starting connection_timeout=%ldms reconnection_timeout=%ldms port=%d", conn_timeout, reconn_timeout, port);

  int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int off = 0, on = 1;
  setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in6 sin = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 16) < 0) {
    /* no IPv6 in this namespace: IPv4 only */
    if (lfd >= 0) close(lfd);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&s4, sizeof s4) < 0 || listen(lfd, 16) < 0) {
      logf_("ERROR", "\"listen\" error=\"%s\"", strerror(errno));
      return 1;
    }
  }
  /* testcontainers waits for this line: keep "Started" as is */
  logf_("INFO", "Started address=[::]:%d", port);

  struct client { int fd; size_t len; char buf[4096]; } clients[MAX_CLIENTS];
  int nclients = 0;
  long deadline = now_ms() + conn_timeout; /* prune at this time unless a client is connected */
  for (;;) {
    struct pollfd pfd[MAX_CLIENTS + 1];
    pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < nclients; i++) pfd[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    long wait = nclients ? -1 : deadline - now_ms();
    if (!nclients && wait <= 0) break;
    if (poll(pfd, nclients + 1, wait > 1000 ? 1000 : (int)wait) < 0 && errno != EINTR) break;
    if (pfd[0].revents & POLLIN) {
      int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0 && nclients < MAX_CLIENTS) {
        clients[nclients].fd = fd;
        clients[nclients].len = 0;
        nclients++;
        logf_("INFO", "\"client connected\" clients=%d", nclients);
      } else if (fd >= 0) close(fd);
    }
    for (int i = nclients - 1; i >= 0; i--) {
      if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      struct client *cl = &clients[i];
      ssize_t r = read(cl->fd, cl->buf + cl->len, sizeof cl->buf - 1 - cl->len);
      if (r <= 0) {
        close(cl->fd);
        clients[i] = clients[--nclients];
        logf_("INFO", "\"client disconnected\" clients=%d", nclients);
        if (!nclients) deadline = now_ms() + reconn_timeout;
        continue;
      }
      cl->len += r;
      cl->buf[cl->len] = 0;
      char *nl;
      while ((nl = strchr(cl->buf, '\n'))) {
        *nl = 0;
        if (nl > cl->buf && nl[-1] == '\r') nl[-1] = 0;
        if (*cl->buf) add_filter(cl->buf);
        if (write(cl->fd, "ACK\n", 4) != 4) logf_("ERROR", "\"ack write\"");
        size_t rest = cl->len - (nl + 1 - cl->buf);
        memmove(cl->buf, nl + 1, rest + 1);
        cl->len = rest;
      }
      if (cl->len == sizeof cl->buf - 1) cl->len = 0; /* an overlong line: dropped */
    }
  }
  close(lfd);
  logf_("INFO", "\"prune check\" clients=0");
  prune();
  logf_("INFO", "done");
  return 0;
}
