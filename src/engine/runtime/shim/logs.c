/* logs.c: the json-file log driver: records as moby writes them, with rotation. */
#include "shim.h"

static struct logw { int fd; long long size; char line[2][16384]; size_t len[2]; } L = {.fd = -1};

void log_open(void) {
  if (!P.log || !*P.log) return; /* --log-driver none */
  L.fd = open(P.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  struct stat st;
  L.size = L.fd >= 0 && fstat(L.fd, &st) == 0 ? st.st_size : 0;
}

static void log_rotate(void) {
  char a[PATH_MAX], b[PATH_MAX];
  close(L.fd);
  if (P.log_files <= 1) truncate(P.log, 0);
  for (int i = P.log_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(a, sizeof a, "%s", P.log);
    else snprintf(a, sizeof a, "%s.%d", P.log, i - 1);
    snprintf(b, sizeof b, "%s.%d", P.log, i);
    rename(a, b);
  }
  log_open();
}

/* One json-file record, escaped as Go's encoding/json does (HTML-safe, invalid UTF-8 -> U+FFFD). */
static void log_emit(int stream, const unsigned char *s, size_t n) {
  if (L.fd < 0) return;
  static char out[16384 * 6 + 128];
  char *o = out;
  o += sprintf(o, "{\"log\":\"");
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') *o++ = '\\', *o++ = c;
      else if (c == '\n') *o++ = '\\', *o++ = 'n';
      else if (c == '\r') *o++ = '\\', *o++ = 'r';
      else if (c == '\t') *o++ = '\\', *o++ = 't';
      else if (c < 0x20 || c == '<' || c == '>' || c == '&') o += sprintf(o, "\\u%04x", c);
      else *o++ = c;
      i++;
      continue;
    }
    int k = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    int ok = k && i + k <= n;
    for (int j = 1; ok && j < k; j++) ok = (s[i + j] & 0xc0) == 0x80;
    if (ok && k == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) ok = 0;
    if (ok && k == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) ok = 0;
    if (!ok) {
      o += sprintf(o, "\\ufffd");
      i++;
    } else if (k == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
      o += sprintf(o, "\\u202%c", s[i + 2] == 0xa8 ? '8' : '9');
      i += 3;
    } else {
      memcpy(o, s + i, k);
      o += k;
      i += k;
    }
  }
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  o += sprintf(o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream == 1 ? "stdout" : "stderr", ts);
  if (P.log_max > 0 && L.size >= P.log_max) log_rotate(); /* moby rotates before a write once the cap is reached */
  if (L.fd >= 0 && write_all(L.fd, out, o - out) == 0) L.size += o - out;
}

/* Splits a stream into lines; moby cuts lines longer than 16 KiB into partial records (no trailing \n). */
void log_write(int stream, const char *buf, size_t n) {
  int s = stream - 1;
  for (size_t i = 0; i < n; i++) {
    L.line[s][L.len[s]++] = buf[i];
    if (buf[i] == '\n' || L.len[s] == sizeof L.line[s]) {
      log_emit(stream, (unsigned char *)L.line[s], L.len[s]);
      L.len[s] = 0;
    }
  }
}

void log_flush(int stream) {
  int s = stream - 1;
  if (L.len[s]) log_emit(stream, (unsigned char *)L.line[s], L.len[s]);
  L.len[s] = 0;
}
