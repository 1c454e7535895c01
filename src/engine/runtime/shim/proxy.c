/* proxy.c: the userland proxy: published ports relayed in S where the kernel path (DNAT) is off. */
#include "shim.h"

/* Why in S: where the kernel path (iptables DNAT) is unavailable or switched off, published ports are
 * relayed in user space as docker-proxy does, but with no process per port: S already lives exactly as long
 * as the container, in the host's netns, with a poll loop. One epoll set (its fd sits in monitor's poll)
 * holds the listeners and every relayed socket, so nothing runs while idle and the cost grows per
 * connection, not per port. No threads: every socket is non-blocking.
 *   TCP: each accepted connection gets a non-blocking connect to the container's IP:port, then each read
 *        is written on at once from one shared buffer. What the other side does not take yet waits in that
 *        direction's own fixed buffer (mmap'd on first need, unmapped at close), and the direction is not
 *        read again until it is written out: a slow reader stalls its writer through TCP's own window
 *        (back-pressure), never our memory, and request/response traffic holds no buffer at all. EOF is
 *        passed on as shutdown(SHUT_WR) (half-close); an error on either side closes both.
 *   UDP: one flow per client address (a socket connected to the container), dropped after 90 s idle as
 *        docker-proxy does; replies leave from the address the client wrote to (IP_PKTINFO).
 * A restart-policy restart keeps the container's address, so the listeners simply stay. */

#define PBUF 32768 /* per direction, as docker-proxy's io.Copy */
#define UDP_IDLE 90 /* seconds: docker-proxy's UDPConnTrackTimeout */
#define UDP_MAXFLOWS 1024

enum { EV_TCPL = 1, EV_UDPL, EV_CONN0, EV_CONN1, EV_FLOW };
/* side 0 is the client, side 1 the container; buf[d] holds what side d read and side !d did not take yet */
struct pconn { int fd[2], connecting, eof[2], shut[2]; uint32_t len[2], off[2], ev[2]; char *buf[2]; };
struct uflow { int fd, port; unsigned ev; struct sockaddr_in client; struct in_addr local; time_t last; };
/* paused: when accepting ran out of fds or memory (listeners off until a connection closes, or 1 s passed) */
static struct { int ep, nconn, nflow; time_t paused; struct pconn **conn; struct uflow *flow; } X = {.ep = -1};
static unsigned char iobuf[65536]; /* one read or datagram at a time; only the pages one touched count */

/* The proxy's epoll fd, -1 until proxy_init() found a port to serve: the monitor polls it. */
int proxy_fd(void) { return X.ep; }

static uint64_t ev_tag(int kind, int i) { return (uint64_t)kind << 32 | (uint32_t)i; }

static time_t mono_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec;
}

static void to_addr(struct sockaddr_in *sa, const struct hostport *h) {
  *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(h->to_port)};
  inet_pton(AF_INET, h->to_ip, &sa->sin_addr);
}

/* Sets what fd is watched for; 0 unregisters it (an idle socket must not report HUP over and over, and a
 * closed one must leave the set even while a clone of S briefly holds a copy of the fd). */
static void ep_set(int fd, unsigned *cur, unsigned want, uint64_t tag) {
  if (*cur == want) return;
  struct epoll_event e = {.events = want, .data.u64 = tag};
  epoll_ctl(X.ep, !*cur ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &e);
  *cur = want;
}

static void tcp_listeners(int on) {
  for (int i = 0; i < P.nports; i++)
    if (*P.ports[i].to_ip && strcmp(P.ports[i].proto, "udp")) ep_set(P.ports[i].fd, &P.ports[i].ev, on ? EPOLLIN : 0, ev_tag(EV_TCPL, i));
}

/* S at its start, G at a takeover: each has its own set (G's listeners are the same sockets, inherited). */
void proxy_init(void) {
  int any = 0;
  for (int i = 0; i < P.nports; i++) any |= *P.ports[i].to_ip && P.ports[i].fd >= 0;
  if (!any || X.ep >= 0 || (X.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return;
  for (int i = 0; i < P.nports; i++) {
    struct hostport *h = &P.ports[i];
    h->ev = 0;
    if (*h->to_ip && !strcmp(h->proto, "udp")) ep_set(h->fd, &h->ev, EPOLLIN, ev_tag(EV_UDPL, i));
  }
  tcp_listeners(1);
}

static void conn_close(int i) {
  struct pconn *c = X.conn[i];
  for (int s = 0; s < 2; s++) ep_set(c->fd[s], &c->ev[s], 0, 0), close(c->fd[s]);
  for (int d = 0; d < 2; d++)
    if (c->buf[d]) munmap(c->buf[d], PBUF);
  free(c);
  X.conn[i] = NULL;
  if (X.paused) X.paused = 0, tcp_listeners(1); /* out of fds earlier: one came free */
}

/* Each side waits for input while its buffer is empty (the client only once the container accepted), and
 * for output while the other side's data waits or its connect is in progress. */
static void conn_watch(int i) {
  struct pconn *c = X.conn[i];
  for (int s = 0; s < 2; s++) {
    unsigned want = (!c->eof[s] && !c->len[s] && !c->connecting ? EPOLLIN : 0) | (c->off[!s] < c->len[!s] || (s && c->connecting) ? EPOLLOUT : 0);
    ep_set(c->fd[s], &c->ev[s], want, ev_tag(s ? EV_CONN1 : EV_CONN0, i));
  }
}

/* Writes what side d read to side !d; once all is written, passes d's EOF on. -1: close the pair. */
static int conn_flush(struct pconn *c, int d) {
  while (c->off[d] < c->len[d]) {
    ssize_t n = send(c->fd[!d], c->buf[d] + c->off[d], c->len[d] - c->off[d], MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    c->off[d] += n;
  }
  c->len[d] = c->off[d] = 0;
  if (c->eof[d] && !c->shut[!d]) shutdown(c->fd[!d], SHUT_WR), c->shut[!d] = 1; /* half-close */
  return 0;
}

static int conn_read(struct pconn *c, int d) {
  ssize_t n = recv(c->fd[d], iobuf, PBUF, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
  if (n == 0) return c->eof[d] = 1, conn_flush(c, d);
  ssize_t w = send(c->fd[!d], iobuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
  if (w < 0) w = 0;
  if (w == n) return 0;
  if (!c->buf[d] && (c->buf[d] = mmap(NULL, PBUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) return c->buf[d] = NULL, -1;
  memcpy(c->buf[d], iobuf + w, n - w);
  c->len[d] = n - w, c->off[d] = 0;
  return 0;
}

static void conn_event(int i, int s, unsigned ev) {
  struct pconn *c = X.conn[i];
  if (!c) return;
  int err = 0;
  socklen_t l = sizeof err;
  if (ev & EPOLLERR) getsockopt(c->fd[s], SOL_SOCKET, SO_ERROR, &err, &l);
  if (s && c->connecting && !err) {
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    if (getpeername(c->fd[1], (struct sockaddr *)&peer, &pl) < 0) return; /* not connected yet */
    c->connecting = 0;
  }
  /* refused, unreachable, reset or a failed write: both sides go (as with docker-proxy); or both are done */
  if (err || ((ev & EPOLLOUT) && conn_flush(c, !s) < 0) ||
      ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->eof[s] && !c->len[s] && !c->connecting && conn_read(c, s) < 0) ||
      (c->eof[0] && c->eof[1] && !c->len[0] && !c->len[1]))
    conn_close(i);
  else
    conn_watch(i);
}

static int conn_slot(void) {
  for (int i = 0; i < X.nconn; i++)
    if (!X.conn[i]) return i;
  int n = X.nconn ? X.nconn * 2 : 16;
  struct pconn **p = realloc(X.conn, n * sizeof *p);
  if (!p) return -1;
  memset(p + X.nconn, 0, (n - X.nconn) * sizeof *p);
  X.conn = p;
  int i = X.nconn;
  X.nconn = n;
  return i;
}

static void tcp_accept(int li) {
  struct hostport *h = &P.ports[li];
  struct sockaddr_in to;
  to_addr(&to, h);
  for (int k = 0; k < 64; k++) {
    int a = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0 && errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM) return; /* EAGAIN: all taken */
    int b = a < 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), i = b < 0 ? -1 : conn_slot();
    struct pconn *c = i < 0 ? NULL : calloc(1, sizeof *c);
    if (!c) { /* out of fds or memory: the backlog waits (a level-triggered listener would spin) */
      if (b >= 0) close(b);
      if (a >= 0) close(a);
      X.paused = mono_now();
      tcp_listeners(0);
      return;
    }
    int one = 1; /* relayed segments go out as they come: Nagle would hold a reply behind an unacked one */
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *c = (struct pconn){.fd = {a, b}};
    X.conn[i] = c;
    if (connect(b, (struct sockaddr *)&to, sizeof to) < 0) {
      if (errno != EINPROGRESS) { /* docker-proxy: the client's connection is closed */
        conn_close(i);
        continue;
      }
      c->connecting = 1;
    }
    conn_watch(i);
  }
}

static void flow_close(int j) {
  struct uflow *f = &X.flow[j];
  ep_set(f->fd, &f->ev, 0, 0);
  close(f->fd);
  f->fd = -1;
}

static struct uflow *flow_open(int port, const struct sockaddr_in *client) {
  int j = 0;
  while (j < X.nflow && X.flow[j].fd >= 0) j++;
  if (j == X.nflow) {
    if (X.nflow >= UDP_MAXFLOWS) return NULL; /* full: the datagram is dropped, as UDP may be */
    int n = X.nflow ? X.nflow * 2 : 8;
    struct uflow *p = realloc(X.flow, n * sizeof *p);
    if (!p) return NULL;
    for (int k = X.nflow; k < n; k++) p[k].fd = -1;
    X.flow = p;
    X.nflow = n;
  }
  struct sockaddr_in to;
  to_addr(&to, &P.ports[port]);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) return close(fd), NULL;
  struct uflow *f = &X.flow[j];
  *f = (struct uflow){.fd = fd, .port = port, .client = *client};
  ep_set(fd, &f->ev, EPOLLIN, ev_tag(EV_FLOW, j));
  return f;
}

/* Client -> container: each datagram goes out through its client's flow. */
static void udp_in(int li) {
  for (int k = 0; k < 64; k++) {
    struct sockaddr_in from;
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct iovec iov = {iobuf, sizeof iobuf};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(P.ports[li].fd, &m, MSG_DONTWAIT);
    if (n < 0) return;
    struct uflow *f = NULL;
    for (int j = 0; j < X.nflow && !f; j++)
      if (X.flow[j].fd >= 0 && X.flow[j].port == li && X.flow[j].client.sin_addr.s_addr == from.sin_addr.s_addr && X.flow[j].client.sin_port == from.sin_port) f = &X.flow[j];
    if (!f && !(f = flow_open(li, &from))) continue;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) f->local = ((struct in_pktinfo *)CMSG_DATA(c))->ipi_spec_dst;
    f->last = mono_now();
    send(f->fd, iobuf, n, MSG_DONTWAIT);
  }
}

/* Container -> client: from the listening socket, with the client's own destination as the source. */
static void flow_in(int j) {
  for (int k = 0; k < 64 && X.flow[j].fd >= 0; k++) {
    struct uflow *f = &X.flow[j];
    ssize_t n = recv(f->fd, iobuf, sizeof iobuf, MSG_DONTWAIT);
    if (n < 0 && errno == ECONNREFUSED) continue; /* the container's ICMP: nothing listens there yet */
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) flow_close(j);
      return;
    }
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
    struct iovec iov = {iobuf, n};
    struct msghdr m = {.msg_name = &f->client, .msg_namelen = sizeof f->client, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_PKTINFO, c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    ((struct in_pktinfo *)CMSG_DATA(c))->ipi_spec_dst = f->local;
    if (sendmsg(P.ports[f->port].fd, &m, MSG_DONTWAIT) < 0 && errno == EINVAL) { /* a source we may not use: let routing pick */
      m.msg_control = NULL, m.msg_controllen = 0;
      sendmsg(P.ports[f->port].fd, &m, MSG_DONTWAIT);
    }
    f->last = mono_now();
  }
}

/* Milliseconds until the next UDP flow idles out or a pause ends (monitor's poll timeout); -1: none. */
int proxy_timeout(void) {
  time_t now = mono_now(), next = X.paused ? X.paused + 1 : 0;
  for (int j = 0; j < X.nflow; j++)
    if (X.flow[j].fd >= 0 && (!next || X.flow[j].last + UDP_IDLE < next)) next = X.flow[j].last + UDP_IDLE;
  return !next ? -1 : next <= now ? 0 : (int)(next - now) * 1000;
}

/* Handles what the epoll set reports (`ready`: monitor's poll saw it readable), then idle UDP flows. */
void proxy_run(int ready) {
  struct epoll_event ev[64];
  int n = ready ? epoll_wait(X.ep, ev, 64, 0) : 0;
  for (int k = 0; k < n; k++) {
    int kind = ev[k].data.u64 >> 32, i = (uint32_t)ev[k].data.u64;
    if (kind == EV_TCPL) tcp_accept(i);
    else if (kind == EV_UDPL) udp_in(i);
    else if (kind == EV_FLOW) flow_in(i);
    else if (kind == EV_CONN0 || kind == EV_CONN1) conn_event(i, kind == EV_CONN1, ev[k].events);
  }
  time_t now = mono_now();
  for (int j = 0; j < X.nflow; j++)
    if (X.flow[j].fd >= 0 && now - X.flow[j].last >= UDP_IDLE) flow_close(j);
  if (X.paused && now > X.paused) X.paused = 0, tcp_listeners(1);
}

/* Sleeps `ms` while the proxy keeps relaying (the restart backoff may last a minute). */
void proxy_sleep(long long ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  long long end = t.tv_sec * 1000LL + t.tv_nsec / 1000000 + ms;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long left = end - (t.tv_sec * 1000LL + t.tv_nsec / 1000000);
    if (left <= 0) return;
    struct pollfd pf = {X.ep, POLLIN, 0};
    int to = X.ep >= 0 ? proxy_timeout() : -1;
    int r = poll(&pf, 1, to < 0 || to > left ? (int)left : to);
    if (X.ep >= 0) proxy_run(r > 0 && pf.revents);
  }
}
