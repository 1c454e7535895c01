/* net.c: bridge endpoints over netlink (veth pairs, addresses, routes) and the published ports P0 binds. */
#include "shim.h"

/* Why here and not in the engine: the container's network must exist before its process runs, and S
 * already holds the container at the start barrier. One netlink request per endpoint (the veth pair,
 * the host end enslaved to the bridge and up, the peer created directly inside the container's netns
 * under its final name) costs well under a millisecond and no process spawn, and S repeats it on every
 * restart-policy restart without the engine. The kernel destroys both ends when the netns dies, so an
 * exited container leaves no veth behind; until then (asynchronously, tens of ms after the exit) the dead
 * netns still answers ARP for the address on the bridge. The host end's alias names that address, so
 * the engine gives it to no other container while such a veth is there (ipam.ts, ghostAddresses). */

static void nl_attr(struct nlmsghdr *h, int type, const void *data, int len) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static struct rtattr *nl_nest(struct nlmsghdr *h, int type) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  nl_attr(h, type, NULL, 0);
  return a;
}

static void nl_end(struct nlmsghdr *h, struct rtattr *a) { a->rta_len = (char *)h + h->nlmsg_len - (char *)a; }

static int parse_mac(const char *s, unsigned char *mac) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* Sends one netlink request and reads its ack: 0 or an errno. */
static int nl_talk(int nl, struct nlmsghdr *req) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  char ack[1024];
  ssize_t r = recv(nl, ack, sizeof ack, 0);
  struct nlmsghdr *h = (struct nlmsghdr *)ack;
  if (r < 0) return errno;
  return r >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR ? -((struct nlmsgerr *)NLMSG_DATA(h))->error : 0;
}

/* One request about an existing link, by name: RTM_DELLINK, or RTM_NEWLINK without NLM_F_CREATE to set its
 * alias (the kernel takes none when it creates a link). Returns 0 or an errno. */
static int link_request(int nl, int type, const char *name, const char *alias) {
  union { struct nlmsghdr h; char buf[128]; } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  ((struct ifinfomsg *)NLMSG_DATA(&req.h))->ifi_family = AF_UNSPEC;
  nl_attr(&req.h, IFLA_IFNAME, name, strlen(name) + 1);
  if (alias) nl_attr(&req.h, IFLA_IFALIAS, alias, strlen(alias));
  return nl_talk(nl, &req.h);
}

/* S: creates every endpoint's veth pair for container `pid`. Returns 0, or -1 with ST.error set. */
char net_error[512];
int net_create(pid_t pid) {
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) return snprintf(net_error, sizeof net_error, "netlink: %s", strerror(errno)), -1;
  for (int i = 0; i < P.nnetifs; i++) {
    struct netif *n = &P.netifs[i];
    unsigned bridge = if_nametoindex(n->bridge);
    if (!bridge) {
      snprintf(net_error, sizeof net_error, "failed to set up container networking: bridge %s: %s", n->bridge, strerror(errno));
      close(nl);
      return -1;
    }
    union { struct nlmsghdr h; char buf[1024]; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    req.h.nlmsg_seq = i + 1;
    struct ifinfomsg *ifi = NLMSG_DATA(&req.h);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_flags = ifi->ifi_change = IFF_UP;
    nl_attr(&req.h, IFLA_IFNAME, n->host, strlen(n->host) + 1);
    nl_attr(&req.h, IFLA_MASTER, &bridge, 4);
    if (n->mtu > 0) nl_attr(&req.h, IFLA_MTU, &n->mtu, 4);
    struct rtattr *info = nl_nest(&req.h, IFLA_LINKINFO);
    nl_attr(&req.h, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = nl_nest(&req.h, IFLA_INFO_DATA);
    struct rtattr *peer = nl_nest(&req.h, VETH_INFO_PEER);
    /* the peer stays down here (asking for IFF_UP across namespaces fails with ENOTCONN on 6.x); C raises it */
    struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
    memcpy((char *)&req + req.h.nlmsg_len, &pifi, sizeof pifi);
    req.h.nlmsg_len += NLMSG_ALIGN(sizeof pifi);
    nl_attr(&req.h, IFLA_IFNAME, n->peer, strlen(n->peer) + 1);
    uint32_t p32 = pid;
    nl_attr(&req.h, IFLA_NET_NS_PID, &p32, 4);
    unsigned char mac[6];
    if (!parse_mac(n->mac, mac)) nl_attr(&req.h, IFLA_ADDRESS, mac, 6);
    if (n->mtu > 0) nl_attr(&req.h, IFLA_MTU, &n->mtu, 4);
    nl_end(&req.h, peer);
    nl_end(&req.h, data);
    nl_end(&req.h, info);
    int err = nl_talk(nl, &req.h);
    if (err == EEXIST) {
      /* The previous run's veth (the name is this endpoint's): the kernel dismantles a dead netns
       * asynchronously, so a start right after a stop, or a quick restart, can find it still there. */
      link_request(nl, RTM_DELLINK, n->host, NULL);
      err = nl_talk(nl, &req.h);
    }
    if (err) {
      snprintf(net_error, sizeof net_error, "failed to set up container networking: create veth %s on %s: %s", n->host, n->bridge, strerror(err));
      close(nl);
      return -1;
    }
    link_request(nl, RTM_NEWLINK, n->host, n->ip); /* the alias names the peer's address (see above) */
  }
  close(nl);
  return 0;
}

static void set_in(struct sockaddr *sa, const char *ip) {
  struct sockaddr_in *sin = (struct sockaddr_in *)sa;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sin->sin_addr);
}

/* C, inside its netns, once S said the veths exist: addresses and the default route, with plain
 * ioctls (the interface already came up with its final name and MAC in S's request). */
void net_config(void) {
  char go;
  if (recv(sync_sock, &go, 1, 0) != 1 || go != 'N') _exit(125); /* S failed: it reports the error */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) init_fail(125, "socket: %s", strerror(errno));
  for (int i = 0; i < P.nnetifs; i++) {
    struct netif *n = &P.netifs[i];
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", n->peer);
    set_in(&ifr.ifr_addr, n->ip);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0) init_fail(125, "failed to set up container networking: address %s on %s: %s", n->ip, n->peer, strerror(errno));
    uint32_t mask = n->prefix ? htonl(~0U << (32 - n->prefix)) : 0;
    set_in(&ifr.ifr_netmask, "0.0.0.0");
    ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr = mask;
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) init_fail(125, "failed to set up container networking: netmask on %s: %s", n->peer, strerror(errno));
    struct in_addr a;
    inet_pton(AF_INET, n->ip, &a);
    set_in(&ifr.ifr_broadaddr, "0.0.0.0");
    ((struct sockaddr_in *)&ifr.ifr_broadaddr)->sin_addr.s_addr = a.s_addr | ~mask;
    ioctl(s, SIOCSIFBRDADDR, &ifr);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) init_fail(125, "failed to set up container networking: %s: %s", n->peer, strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) init_fail(125, "failed to set up container networking: %s up: %s", n->peer, strerror(errno));
    if (*n->gateway && i == 0) {
      struct rtentry rt = {0};
      set_in(&rt.rt_dst, "0.0.0.0");
      set_in(&rt.rt_genmask, "0.0.0.0");
      set_in(&rt.rt_gateway, n->gateway);
      rt.rt_flags = RTF_UP | RTF_GATEWAY;
      rt.rt_dev = n->peer;
      if (ioctl(s, SIOCADDRT, &rt) < 0) init_fail(125, "failed to set up container networking: default route via %s: %s", n->gateway, strerror(errno));
    }
  }
  close(s);
}

/* P0: binds every published host port before G and S are forked, so both inherit the sockets and hold
 * them for the container's whole life, restarts and a supervisor takeover included. Why: with kernel
 * DNAT nothing listens on the host port, so this bound (never listening) socket is what makes a later
 * container, from any data root, or a host process fail to take the port; it goes away with the
 * supervisors, so nothing needs cleaning. Nothing ever connects to it: DNAT rewrites the traffic first.
 * In userland-proxy mode (`to_ip` set) the same socket is the proxy's: TCP ones listen right here, so a
 * port is either fully ours or the start fails with Docker's message. */
int bind_ports(void) {
  for (int i = 0; i < P.nports; i++) {
    struct hostport *h = &P.ports[i];
    int udp = !strcmp(h->proto, "udp"), proxy = *h->to_ip != 0, one = 1;
    const char *op = "socket";
    int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | (proxy ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(h->port)};
    inet_pton(AF_INET, h->ip, &sin.sin_addr);
    /* a listener with SO_REUSEADDR (as Go's, docker-proxy's) can be bound again while connections it
     * served sit in TIME_WAIT; a bound-only or UDP socket must not have it: two such sockets would share */
    if (s >= 0 && proxy && !udp) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* UDP replies leave from the address the client wrote to, even when we listen on 0.0.0.0 */
    if (s >= 0 && proxy && udp) setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    if (s >= 0) op = "bind";
    if (s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof sin) == 0) op = proxy && !udp ? "listen" : NULL;
    if (op && !strcmp(op, "listen") && listen(s, SOMAXCONN) == 0) op = NULL;
    if (op) {
      char err[128];
      snprintf(err, sizeof err, "%s", strerror(errno));
      err[0] = tolower((unsigned char)err[0]); /* Go's wording: "address already in use" */
      fprintf(stderr, "Error starting userland proxy: listen %s4 %s:%d: %s: %s\n", h->proto, h->ip, h->port, op, err);
      return -1;
    }
    h->fd = s;
  }
  return 0;
}

int dns_fd = -1; /* C: 127.0.0.11:53 in the container's netns, handed to S with "R" */
