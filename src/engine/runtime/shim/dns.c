/* dns.c: the embedded DNS server (127.0.0.11) that S answers for user networks. */
#include "shim.h"

/* Why in S: the CLI is short-lived and there may be no daemon, and S already lives exactly as long as the
 * container, in the host's netns, polling. C binds 127.0.0.11:53 inside the container's netns and hands
 * the socket over; S answers A queries for the names listed in the plan's name files (one per user
 * network, "IP name alias..." lines the engine rewrites with rename), and relays anything else to the
 * host's resolvers from the host's netns (so a loopback resolver like 127.0.0.53 works, as in Docker).
 * No process, no memory beyond S's, nothing to clean up. UDP only. */

static struct { uint16_t id; struct sockaddr_in client; int used; } pend[64];
static unsigned pend_next;

/* The addresses a name has in the name files (case-insensitive); -1 if no file knows it. */
static int dns_lookup(const char *name, uint32_t *ips, int max) {
  int n = -1;
  for (int f = 0; f < P.ndnsfiles; f++) {
    size_t len;
    char *buf = slurp(P.dnsfiles[f], &len);
    if (!buf) continue;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
      char *sp = strchr(line, ' ');
      if (!sp) continue;
      *sp = 0;
      for (char *tok = sp + 1; *tok;) {
        size_t k = strcspn(tok, " ");
        if (k == strlen(name) && !strncasecmp(tok, name, k)) {
          struct in_addr a;
          if (n < 0) n = 0;
          if (n < max && inet_pton(AF_INET, line, &a) == 1) ips[n++] = a.s_addr;
          break;
        }
        tok += k + (tok[k] == ' ');
      }
    }
    free(buf);
  }
  return n;
}

static void dns_reply(unsigned char *q, size_t qlen, int rcode, const uint32_t *ips, int nips, struct sockaddr_in *to) {
  unsigned char r[512];
  if (qlen + (size_t)nips * 16 > sizeof r) nips = (sizeof r - qlen) / 16;
  memcpy(r, q, qlen);
  r[2] = 0x80 | (q[2] & 0x01) | 0x04; /* QR, RD copied, AA: these names are ours */
  r[3] = 0x80 | rcode;                /* RA */
  r[6] = 0, r[7] = nips, r[8] = r[9] = r[10] = r[11] = 0;
  size_t o = qlen;
  for (int i = 0; i < nips; i++) {
    unsigned char rr[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 2, 88, 0, 4}; /* name -> question, A, IN, TTL 600 */
    memcpy(rr + 12, &ips[i], 4);
    memcpy(r + o, rr, 16);
    o += 16;
  }
  sendto(M.dns, r, o, MSG_DONTWAIT, (struct sockaddr *)to, sizeof *to);
}

void dns_query(void) {
  unsigned char q[512];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(M.dns, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
  if (n < 12 || (q[2] & 0x80)) return;
  char name[256];
  size_t off = 12, k = 0;
  while (off < (size_t)n && q[off]) {
    unsigned l = q[off++];
    if ((l & 0xc0) || off + l > (size_t)n || k + l + 1 >= sizeof name) return;
    if (k) name[k++] = '.';
    memcpy(name + k, q + off, l);
    k += l;
    off += l;
  }
  name[k] = 0;
  if (off + 5 > (size_t)n || q[4] != 0 || q[5] != 1) return;
  int qtype = q[off + 1] << 8 | q[off + 2];
  off += 5;
  uint32_t ips[24];
  int nips = k ? dns_lookup(name, ips, 24) : -1;
  if (nips >= 0) { /* ours: A records; other types of a known name get an empty NOERROR, as Docker's resolver */
    dns_reply(q, off, 0, ips, qtype == 1 || qtype == 255 ? nips : 0, &from);
    return;
  }
  if (!P.ndnsup) {
    dns_reply(q, off, 2, NULL, 0, &from); /* SERVFAIL: nowhere to forward */
    return;
  }
  if (M.up < 0) M.up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  unsigned slot = pend_next++ % 64;
  pend[slot].id = q[0] << 8 | q[1];
  pend[slot].client = from;
  pend[slot].used = 1;
  uint16_t nid = (uint16_t)(((pend_next / 64) << 6 | slot) & 0xffff);
  q[0] = nid >> 8, q[1] = nid & 0xff;
  struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons(53)};
  inet_pton(AF_INET, P.dnsup[slot % P.ndnsup], &up.sin_addr);
  sendto(M.up, q, n, MSG_DONTWAIT, (struct sockaddr *)&up, sizeof up);
}

void dns_answer(void) {
  unsigned char r[4096];
  ssize_t n;
  while ((n = recv(M.up, r, sizeof r, MSG_DONTWAIT)) >= 12) {
    unsigned slot = (r[0] << 8 | r[1]) & 63;
    if (!pend[slot].used || M.dns < 0) continue;
    pend[slot].used = 0;
    r[0] = pend[slot].id >> 8, r[1] = pend[slot].id & 0xff;
    sendto(M.dns, r, n, MSG_DONTWAIT, (struct sockaddr *)&pend[slot].client, sizeof pend[slot].client);
  }
}
