/* cgroup.c: the devices cgroup (v1 rules or a v2 BPF program) and joining the plan's cgroups. */
#include "shim.h"

/* Writes one line to a cgroup file; the kernel takes a devices rule per write. */
static int cg_write(const char *dir, const char *file, const char *line) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line);
  int err = errno;
  if (fd >= 0) close(fd);
  if (!ok) snprintf(ST.error, sizeof ST.error, "devices cgroup: write \"%s\" to %s: %s", line, path, strerror(err));
  return ok ? 0 : -1;
}

static int devcg_allow_all(void) {
  for (int i = 0; i < P.ndevrules; i++)
    if (P.devrules[i].type == 'a') return 1;
  return 0;
}

/* v1: deny everything, then allow the plan's rules one by one ("c 1:3 rwm"). */
static int devcg_v1(void) {
  if (devcg_allow_all()) return cg_write(P.cgdir, "devices.allow", "a");
  if (cg_write(P.cgdir, "devices.deny", "a") < 0) return -1;
  for (int i = 0; i < P.ndevrules; i++) {
    struct devrule *r = &P.devrules[i];
    char line[64], maj[24] = "*", min[24] = "*";
    if (r->major >= 0) snprintf(maj, sizeof maj, "%lld", r->major);
    if (r->minor >= 0) snprintf(min, sizeof min, "%lld", r->minor);
    snprintf(line, sizeof line, "%c %s:%s %s", r->type, maj, min, r->access);
    if (cg_write(P.cgdir, "devices.allow", line) < 0) return -1;
  }
  return 0;
}

/* v2: the allow-list as a BPF_PROG_TYPE_CGROUP_DEVICE program (what runc and crun build). Its context is
 * {access_type = access << 16 | type, major, minor}; each rule is a block that returns 1 (allow) when
 * every field it names matches, else falls through to the next; after the last, 0 (deny). */
#define DEVCG_MAX_RULES 1024
static struct bpf_insn devcg_prog[8 + 8 * DEVCG_MAX_RULES]; /* at most 8 instructions a rule, 8 around them */
static int devcg_n;
static void devcg_ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  devcg_prog[devcg_n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* Builds the program into devcg_prog; returns its length, or -1 for too many rules. */
static int devcg_build(void) {
  if (P.ndevrules > DEVCG_MAX_RULES) return -1;
  devcg_n = 0;
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0); /* r2 = access_type */
  devcg_ins(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0); /* r3 = r2 */
  devcg_ins(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);     /* r2: the device type */
  devcg_ins(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);         /* r3: the access asked for */
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0); /* r4 = major */
  devcg_ins(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0); /* r5 = minor */
  for (int i = 0; i < P.ndevrules; i++) {
    struct devrule *r = &P.devrules[i];
    int jumps[4], nj = 0, acc = 0;
    for (const char *a = r->access; *a; a++) acc |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : *a == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
    if (r->type != 'a') jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    if (acc != 7) { /* asked & ~allowed must be 0 */
      devcg_ins(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
      devcg_ins(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~acc & 7);
      jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0);
    }
    if (r->major >= 0) jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t)r->major);
    if (r->minor >= 0) jumps[nj++] = devcg_n, devcg_ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t)r->minor);
    devcg_ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
    devcg_ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (int j = 0; j < nj; j++) devcg_prog[jumps[j]].off = devcg_n - jumps[j] - 1; /* to the next rule */
  }
  devcg_ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  devcg_ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return devcg_n;
}

static int devcg_v2(void) {
  if (devcg_allow_all()) return 0; /* no program: the cgroup v2 device controller allows everything */
  if (devcg_build() < 0) return snprintf(ST.error, sizeof ST.error, "devices cgroup: more than %d device rules", DEVCG_MAX_RULES), -1;
  union bpf_attr load = {.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE, .insn_cnt = devcg_n, .insns = (uintptr_t)devcg_prog, .license = (uintptr_t) "GPL"};
  /* why: BPF_PROG_LOAD verifies and loads the filter; the attach below keeps it alive after we exit */
  int prog = syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) return snprintf(ST.error, sizeof ST.error, "devices cgroup: load BPF program: %s", strerror(errno)), -1;
  int cg = open(P.cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* why: attached without BPF_F_ALLOW_MULTI, a later start's program replaces this one instead of stacking */
  union bpf_attr at = {.target_fd = cg, .attach_bpf_fd = prog, .attach_type = BPF_CGROUP_DEVICE};
  int rc = cg < 0 ? -1 : syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof at);
  if (rc < 0) snprintf(ST.error, sizeof ST.error, "devices cgroup: attach BPF program to %s: %s", P.cgdir, strerror(errno));
  if (cg >= 0) close(cg);
  close(prog);
  return rc < 0 ? -1 : 0;
}

/* The container's device allow-list, once per supervisor (restarts reuse the cgroup as it is). */
int devcg_apply(void) {
  static int done;
  if (done || !P.cgdir) return 0;
  if ((P.cgv == 2 ? devcg_v2() : devcg_v1()) < 0) return -1;
  done = 1;
  return 0;
}

/* Writes a process into each of the plan's cgroups; on failure ST.error says which, and it must not run. */
int join_cgroups(pid_t pid) {
  for (int i = 0; i < P.ncgroups; i++) {
    int fd = open(P.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", pid) < 0) {
      snprintf(ST.error, sizeof ST.error, "join cgroup %s: %s", P.cgroups[i], strerror(errno));
      if (fd >= 0) close(fd);
      return -1;
    }
    close(fd);
  }
  return 0;
}

/* --pid host / container:X: the kernel ends a container's processes with its init only in a PID namespace of
 * its own; in a shared one the others outlive it (keeping its cgroup busy). So once the init has exited, S
 * kills what is left in the container's cgroups (kill(2) on each pid of cgroup.procs), as runc's kill --all. */
void kill_leftovers(void) {
  if (!P.pidns) return;
  for (int round = 0; round < 100; round++) {
    int found = 0;
    for (int i = 0; i < P.ncgroups; i++) {
      int fd = open(P.cgroups[i], O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char buf[8192];
      ssize_t n = read(fd, buf, sizeof buf - 1); /* a page of pids a round: the rest come next round */
      close(fd);
      buf[n > 0 ? n : 0] = 0;
      for (char *s = buf; *s;) {
        long pid = strtol(s, &s, 10);
        if (pid > 0 && pid != getpid() && kill(pid, SIGKILL) == 0) found = 1;
        while (*s == '\n') s++;
        if (pid <= 0) break;
      }
    }
    if (!found) return;
    usleep(1000); /* killed processes leave cgroup.procs once dead (zombies are not listed); reap_children reaps them */
  }
}
