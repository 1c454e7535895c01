/* mount.c: the container's mounts, done inside its root: binds, tmpfs, masks, and volume copy-up
 * (populateVolume). */
#include "shim.h"

/* Owner, mode, xattrs and times of `st` onto the open fd (in that order: chown clears setuid bits and file
 * capabilities). Unsupported xattrs are skipped, as moby's copy ignores them. */
static void copy_meta(int sfd, int dfd, const struct stat *st) {
  if (fchown(dfd, st->st_uid, st->st_gid) < 0 || fchmod(dfd, st->st_mode & 07777) < 0) init_fail(125, "volume copy: chown/chmod: %s", strerror(errno));
  char names[4096], val[4096];
  ssize_t n = flistxattr(sfd, names, sizeof names);
  for (ssize_t i = 0; n > 0 && i < n; i += strlen(names + i) + 1) {
    ssize_t vn = fgetxattr(sfd, names + i, val, sizeof val);
    if (vn >= 0) fsetxattr(dfd, names + i, val, vn, 0);
  }
  struct timespec ts[2] = {st->st_atim, st->st_mtim};
  futimens(dfd, ts);
}

/* Copies the tree under sfd into dfd. Every step is one name relative to an open directory, opened with
 * O_NOFOLLOW and created with O_EXCL: a symlink (in the image, or planted in the volume by a container
 * that shares it) is copied or refused, never followed, so nothing outside the root is read and nothing
 * outside the volume is written. Hard links are copied as separate files. */
static void copy_tree(int sfd, int dfd) {
  DIR *dp = fdopendir(dup(sfd));
  if (!dp) init_fail(125, "volume copy: %s", strerror(errno));
  struct dirent *e;
  while ((e = readdir(dp))) {
    const char *name = e->d_name;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    struct stat st;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
    int s2 = -1, d2 = -1;
    switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
      if (mkdirat(dfd, name, 0700) < 0 || (s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
          (d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      copy_tree(s2, d2);
      copy_meta(s2, d2, &st);
      break;
    case S_IFREG: {
      if ((s2 = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 ||
          (d2 = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      static char buf[65536];
      ssize_t n;
      while ((n = read(s2, buf, sizeof buf)) > 0)
        if (write(d2, buf, n) != n) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      if (n < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      copy_meta(s2, d2, &st);
      break;
    }
    case S_IFLNK: {
      char target[PATH_MAX];
      ssize_t n = readlinkat(sfd, name, target, sizeof target - 1);
      if (n < 0) init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      target[n] = 0;
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      if (symlinkat(target, dfd, name) < 0 || fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
      break;
    }
    case S_IFIFO:
    case S_IFCHR:
    case S_IFBLK: { /* the volume is bound nodev: a copied device node opens nothing */
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      if (mknodat(dfd, name, st.st_mode, st.st_rdev) < 0 || fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        init_fail(125, "volume copy `%s`: %s", name, strerror(errno));
      utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
      break;
    }
    default: /* sockets: nothing to copy */
      break;
    }
    if (s2 >= 0) close(s2);
    if (d2 >= 0) close(d2);
  }
  closedir(dp);
}

/* MK_COPY: the image's content at `dst` (resolved in the root) into the volume dir `src`, only while the
 * volume is empty; then the volume dir takes the owner and mode of the image's directory. */
static void copy_up(struct mnt *m) {
  int sfd = in_root(m->dst, O_RDONLY | O_DIRECTORY);
  if (sfd < 0) return; /* nothing there (or not a directory): nothing to copy, as in Docker */
  int dfd = open(m->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) init_fail(125, "volume `%s`: %s", m->src, strerror(errno));
  DIR *dp = fdopendir(dup(dfd));
  int empty = 1;
  for (struct dirent *e; dp && (e = readdir(dp));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
  if (dp) closedir(dp);
  if (empty) {
    struct stat st;
    mode_t old = umask(0); /* modes come from the image, exactly */
    if (fstat(sfd, &st) < 0) init_fail(125, "volume copy: %s", strerror(errno));
    copy_tree(sfd, dfd);
    copy_meta(sfd, dfd, &st);
    umask(old);
  }
  close(sfd);
  close(dfd);
}

/* runc's checkProcMount once image symlinks are resolved: the engine refused /proc destinations by name
 * (allowing a procfs source on /proc and the files lxcfs emulates), so a target that lands on procfs by
 * any other name came through a symlink (`/x -> /proc/sys`) and would shadow the container's own procfs. */
static void check_proc_target(struct mnt *m, int tfd, int sfd) {
  struct statfs fs;
  if (fstatfs(tfd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) return;
  if (!strncmp(m->dst, "/proc/", 6)) return;
  if (!strcmp(m->dst, "/proc") && sfd >= 0 && fstatfs(sfd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) return;
  init_fail(125, "check proc-safety of %s mount: \"%s\" cannot be mounted because it is inside /proc", m->dst, m->dst);
}

/*
 * MK_SHARE (--ipc container:X): X's mount at `dst` (its /dev/shm) onto ours. A mount of another namespace
 * cannot be bound from here: mount(2) binds the directory under it and open_tree(2) refuses it. So C enters
 * X's mount namespace (setns: there "/" is X's root, so `dst` resolves inside X, symlinks included), takes a
 * private copy of it (unshare: X's own namespace is left untouched), clones the mount as a detached tree
 * (open_tree: the same tmpfs), returns to its own namespace (setns) and attaches the tree there (move_mount).
 */
static void share_mount(struct mnt *m) {
  int own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC), tree = -1; /* X's: shmns_fd, pinned by S */
  if (own < 0 || shmns_fd < 0) init_fail(125, "open mount namespace for %s: %s", m->dst, strerror(errno));
  if (setns(shmns_fd, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0) init_fail(125, "enter the IPC container's mount namespace: %s", strerror(errno));
  tree = syscall(SYS_open_tree, AT_FDCWD, m->dst, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  int err = errno;
  if (setns(own, CLONE_NEWNS) < 0) init_fail(125, "return to the container's mount namespace: %s", strerror(errno));
  if (tree < 0) init_fail(125, "%s of the IPC container: %s", m->dst, strerror(err));
  close(own);
  int tfd = ensure_in_root(m->dst, 1);
  if (tfd < 0) init_fail(125, "mkdir `%s`: %s", m->dst, strerror(errno));
  if (syscall(SYS_move_mount, tree, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) init_fail(125, "mount %s of the IPC container: %s", m->dst, strerror(errno));
  close(tfd);
  close(tree);
}

void do_mount(struct mnt *m) {
  char tp[64], sp[64];
  struct stat st;
  int tfd, sfd;
  switch (m->kind) {
  case MK_FS:
  case MK_DIR:
    if ((tfd = ensure_in_root(m->dst, 1)) < 0) init_fail(125, "mkdir `%s`: %s", m->dst, strerror(errno));
    check_proc_target(m, tfd, -1);
    fdpath(tp, tfd);
    if (m->kind == MK_FS && mount(m->src, tp, m->fstype, m->flags, *m->data ? m->data : NULL) < 0)
      init_fail(125, "mount %s on `%s`: %s", m->fstype, m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_COPY:
    copy_up(m);
    return;
  case MK_REMOUNT: /* new flags for a mount point already there (/sys/fs/cgroup's tmpfs, read-only once filled) */
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    fdpath(tp, tfd);
    if (mount(NULL, tp, NULL, MS_BIND | MS_REMOUNT | m->flags, NULL) < 0) init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_LINK: {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", m->dst);
    char *slash = strrchr(parent, '/');
    *slash = 0;
    int pfd = in_root(*parent ? parent : "/", O_PATH | O_DIRECTORY);
    if (pfd < 0 || (symlinkat(m->src, pfd, slash + 1) < 0 && errno != EEXIST)) init_fail(125, "symlink `%s`: %s", m->dst, strerror(errno));
    close(pfd);
    return;
  }
  case MK_BIND:
    /* the source is a host path the engine chose (container dir, volume, /dev/null); the target is resolved in the root */
    if ((sfd = open(m->src, O_PATH | O_CLOEXEC)) < 0 || fstat(sfd, &st) < 0) init_fail(125, "bind source `%s`: %s", m->src, strerror(errno));
    if ((tfd = ensure_in_root(m->dst, S_ISDIR(st.st_mode))) < 0) init_fail(125, "bind target `%s`: %s", m->dst, strerror(errno));
    check_proc_target(m, tfd, sfd);
    fdpath(sp, sfd);
    fdpath(tp, tfd);
    /* data "bind": the source's own mount only (bind-recursive=disabled); otherwise its submounts come too */
    if (mount(sp, tp, NULL, MS_BIND | (strcmp(m->data, "bind") ? MS_REC : 0), NULL) < 0) init_fail(125, "bind `%s` on `%s`: %s", m->src, m->dst, strerror(errno));
    close(tfd);
    close(sfd);
    break;
  case MK_SHARE:
    share_mount(m);
    break;
  case MK_MASK:
    if ((tfd = in_root(m->dst, O_PATH)) < 0) return; /* absent: nothing to hide */
    fstat(tfd, &st);
    fdpath(tp, tfd);
    if (S_ISDIR(st.st_mode) ? mount("tmpfs", tp, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", tp, NULL, MS_BIND, NULL))
      init_fail(125, "mask `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    return;
  case MK_RO:
    if ((tfd = in_root(m->dst, O_PATH)) < 0) return;
    fdpath(tp, tfd);
    if (mount(tp, tp, NULL, MS_BIND | MS_REC, NULL) < 0) init_fail(125, "bind `%s`: %s", m->dst, strerror(errno));
    close(tfd);
    break;
  default:
    init_fail(125, "bad mount kind %c", m->kind);
  }
  /* MS_BIND ignores other flags, so a read-only (or nosuid/nodev) bind needs a remount of the *new* mount:
   * re-resolve the path so the fd lands on top of the bind rather than the covered dentry. */
  if (m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) {
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "reopen `%s`: %s", m->dst, strerror(errno));
    fdpath(tp, tfd);
    if (mount(NULL, tp, NULL, MS_BIND | MS_REMOUNT | (m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)), NULL) < 0)
      init_fail(125, "remount `%s`: %s", m->dst, strerror(errno));
    close(tfd);
  }
  /* data "rro" (Docker 25's default for a read-only bind, API 1.44): the submounts under the source turn
   * read-only too, in one mount_setattr(AT_RECURSIVE) on the new mount; "rro-force" (bind-recursive=
   * readonly) fails the start where the kernel cannot, plain "rro" then keeps the top one read-only, as
   * moby falls back on kernels before 5.12. */
  if (m->kind == MK_BIND && !strncmp(m->data, "rro", 3)) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if ((tfd = in_root(m->dst, O_PATH)) < 0) init_fail(125, "reopen `%s`: %s", m->dst, strerror(errno));
    if (syscall(SYS_mount_setattr, tfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
      if (errno != ENOSYS) init_fail(125, "make `%s` recursively read-only: %s", m->dst, strerror(errno));
      if (m->data[3]) init_fail(125, "rro is not supported: %s (kernel is older than 5.12?)", strerror(errno));
    }
    close(tfd);
  }
}
