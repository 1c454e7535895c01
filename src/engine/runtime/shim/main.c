/*
 * bunker-shim: the per-container mechanism. The TypeScript engine decides policy (what to mount, which
 * capabilities, masked paths) and writes a plan; this program only executes it. See README.md.
 *
 *   bunker-shim run <plan-file>
 *   bunker-shim exec <exec-plan-file>     (a process inside a running container: see exec_main)
 *
 * Process tree (why: a Bun process per container costs ~4 MiB PSS and a second Bun start ~5-13 ms):
 *   P0 (spawned by the engine, exits once the container runs; prints "<pid>" or an error)
 *    `- G  guardian: setsid, child subreaper, idle. If S dies (kill -9), the container is reparented to G
 *        |          and G takes over S's job with the fds S handed it, so logs and exit codes survive.
 *        `- S  supervisor: clones the container, pumps json-file logs, serves attach.sock, records
 *             |  status.json atomically, applies the restart policy.
 *             `- C  container init: mounts, pivot_root, user, caps, then execve (becomes PID 1).
 *
 * Plan format: a sequence of NUL-terminated strings; each entry is a key followed by a fixed number of
 * values (see parse_plan). Nothing here follows a path inside the container from the host side without
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), so hostile image symlinks stay inside the rootfs.
 */
#include "shim.h"

int main(int argc, char **argv) {
  argv_area = argv[0];
  argv_len = argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0];
  if (argc == 3 && !strcmp(argv[1], "exec")) return exec_main(argv[2]);
  if (argc != 3 || strcmp(argv[1], "run")) {
    fprintf(stderr, "usage: bunker-shim run <plan> | bunker-shim exec <exec-plan>\n");
    return 2;
  }
  if (parse_plan(argv[2]) < 0) {
    fprintf(stderr, "bunker-shim: invalid plan %s\n", argv[2]);
    return 2;
  }
  if (chdir(P.dir) < 0) {
    fprintf(stderr, "bunker-shim: chdir %s: %s\n", P.dir, strerror(errno));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* attach.sock is bound relative to the container dir: sun_path holds only 108 bytes */
  unlink("attach.sock");
  unlink("stop-requested");
  M.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "attach.sock"};
  if (M.lfd < 0 || bind(M.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(M.lfd, 8) < 0) {
    fprintf(stderr, "bunker-shim: attach socket: %s\n", strerror(errno));
    return 2;
  }
  chmod("attach.sock", 0600);
  if (bind_ports() < 0) {
    unlink("attach.sock");
    return 125;
  }
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) return 2;
  pid_t g = fork();
  if (g == 0) {
    close(rp[0]);
    setsid(); /* out of the CLI's session: Ctrl-C on the terminal must not reach the supervisors */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    close(null);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    guardian_pid = getpid();
    M.report = rp[1];
    guardian();
  }
  close(rp[1]);
  return print_report(rp[0], "supervisor");
}
