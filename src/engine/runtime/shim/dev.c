/* dev.c: the container's own device nodes in its /dev tmpfs. */
#include "shim.h"

/* The plan's nodes, made with mknod in the container's /dev tmpfs (as runc does): chmod or chown of them
 * inside changes only these inodes, never the host's. What a node may open is the devices cgroup's call. */
void make_devices(void) {
  mode_t old = umask(0); /* the modes are the plan's, exactly */
  for (int i = 0; i < P.ndevs; i++) {
    struct devnode *d = &P.devs[i];
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", d->path);
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1]) init_fail(125, "device path `%s`", d->path);
    *slash = 0;
    int pfd = ensure_in_root(*parent ? parent : "/", 1);
    mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
    if (pfd < 0) init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    if (mknodat(pfd, slash + 1, type | (d->mode & 07777), makedev(d->major, d->minor)) < 0) {
      if (errno != EEXIST) init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    } else if (fchownat(pfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) /* a path already there stays, as with runc */
      init_fail(125, "create device `%s`: %s", d->path, strerror(errno));
    close(pfd);
  }
  umask(old);
}
