/* user.c: docker's -u user[:group] resolved through the image's /etc files, and the PATH lookup before start. */
#include "shim.h"

/* Reads "name:x:uid:gid:..." lines of the container's /etc/passwd or /etc/group (opened inside the root). */
static char *read_etc(const char *path) {
  int fd = in_root(path, O_RDONLY);
  if (fd < 0) return NULL;
  char *buf = malloc(1 << 20);
  ssize_t got = 0, n;
  while (got < (1 << 20) - 1 && (n = read(fd, buf + got, (1 << 20) - 1 - got)) > 0) got += n;
  close(fd);
  buf[got] = 0;
  return buf;
}

static int is_num(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* Field i (0-based) of a ':'-separated line, copied into out. */
static int field(const char *line, int i, char *out, size_t n) {
  for (; i > 0; i--) {
    line = strchr(line, ':');
    if (!line) return -1;
    line++;
  }
  size_t k = strcspn(line, ":\n");
  if (k >= n) k = n - 1;
  memcpy(out, line, k);
  out[k] = 0;
  return 0;
}

static char home[PATH_MAX] = "/";

/* Docker's -u user[:group] semantics (runc's GetExecUser): names resolve through the image's files,
 * numbers need not exist; supplementary groups are the /etc/group entries listing the user. */
static void resolve_user(uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups) {
  char user[256], group[256] = "", name[256] = "", f[256];
  snprintf(user, sizeof user, "%s", P.user);
  char *colon = strchr(user, ':');
  if (colon) *colon = 0, snprintf(group, sizeof group, "%s", colon + 1);
  *uid = 0;
  *gid = 0;
  *ngroups = 0;
  int found = 0;
  char *pw = read_etc("/etc/passwd");
  for (char *line = pw; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
    if (field(line, 0, name, sizeof name) || field(line, 2, f, sizeof f)) continue;
    int match = !*user ? atoi(f) == 0 : (is_num(user) ? strtoul(user, 0, 10) == strtoul(f, 0, 10) : !strcmp(user, name));
    if (!match) continue;
    *uid = strtoul(f, 0, 10);
    field(line, 3, f, sizeof f);
    *gid = strtoul(f, 0, 10);
    field(line, 5, home, sizeof home);
    found = 1;
    break;
  }
  if (!found) {
    if (*user && !is_num(user)) init_fail(125, "unable to find user %s: no matching entries in passwd file", user);
    *uid = *user ? strtoul(user, 0, 10) : 0;
    name[0] = 0;
  }
  char *gr = NULL;
  if (*group) {
    if (is_num(group)) *gid = strtoul(group, 0, 10);
    else {
      gr = read_etc("/etc/group");
      int gfound = 0;
      for (char *line = gr; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line))
        if (!field(line, 0, f, sizeof f) && !strcmp(f, group) && !field(line, 2, f, sizeof f)) {
          *gid = strtoul(f, 0, 10);
          gfound = 1;
          break;
        }
      if (!gfound) init_fail(125, "unable to find group %s: no matching entries in group file", group);
    }
  }
  groups[(*ngroups)++] = *gid;
  if (found && !*group) { /* an explicit group replaces the supplementary list, as in runc */
    if (!gr) gr = read_etc("/etc/group");
    static char members[4096];
    for (char *line = gr; line && *line && *ngroups < 64; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
      if (field(line, 3, members, sizeof members) || field(line, 2, f, sizeof f)) continue;
      for (char *tok = strtok(members, ","); tok; tok = strtok(NULL, ","))
        if (!strcmp(tok, name)) {
          groups[(*ngroups)++] = strtoul(f, 0, 10);
          break;
        }
    }
  }
  /* --group-add: ids as they are, names through the image's /etc/group (moby's additional groups) */
  for (int i = 0; i < P.ngroupadd && *ngroups < 64; i++) {
    const char *g = P.groupadd[i];
    int gfound = is_num(g);
    if (gfound) groups[(*ngroups)++] = strtoul(g, 0, 10);
    if (!gfound && !gr) gr = read_etc("/etc/group");
    for (char *line = gr; !gfound && line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line))
      if (!field(line, 0, f, sizeof f) && !strcmp(f, g) && !field(line, 2, f, sizeof f)) {
        groups[(*ngroups)++] = strtoul(f, 0, 10);
        gfound = 1;
      }
    if (!gfound) init_fail(125, "unable to find group %s: no matching entries in group file", g);
  }
  free(pw);
  free(gr);
}


static const char *getenv_plan(const char *key) {
  size_t k = strlen(key);
  for (int i = 0; i < P.nenv; i++)
    if (!strncmp(P.env[i], key, k) && P.env[i][k] == '=') return P.env[i] + k + 1;
  return NULL;
}

/* The user's ids and groups, and HOME from its passwd entry unless the plan sets it (run and exec alike). */
void resolve_user_env(uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups) {
  resolve_user(uid, gid, groups, ngroups);
  if (!getenv_plan("HOME")) {
    char *h = malloc(strlen(home) + 6);
    sprintf(h, "HOME=%s", *home ? home : "/");
    PUSH(P.env, P.nenv, h);
  }
}

/* PATH lookup done before the start barrier, so "executable file not found" is a start error, as in Docker. */
void find_exec(char *out) {
  const char *a0 = P.args[0];
  struct stat st;
  if (strchr(a0, '/')) {
    if (stat(a0, &st) < 0) init_fail(127, "exec: \"%s\": stat %s: no such file or directory", a0, a0);
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) init_fail(126, "exec: \"%s\": permission denied", a0);
    snprintf(out, PATH_MAX, "%s", a0);
    return;
  }
  const char *path = getenv_plan("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (*path) {
    size_t k = strcspn(path, ":");
    snprintf(out, PATH_MAX, "%.*s/%s", (int)k, k ? path : ".", a0);
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return;
    path += k + (path[k] == ':');
  }
  init_fail(127, "exec: \"%s\": executable file not found in $PATH", a0);
}
