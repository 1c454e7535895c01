/** `bunker exec`: run a command in a running container. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { DETACHED, detachKeysOf, relay, stdioOutput } from "./_attach.ts";
import { createOptionsFrom } from "./_container.ts";

export default defineCommand({
  meta: { name: "exec", description: "Execute a command in a running container", usage: "[OPTIONS] CONTAINER COMMAND [ARG...]", aliases: ["bunker container exec", "bunker exec"] },
  flags: {
    detach: { type: "boolean", alias: "d", description: "Detached mode: run command in the background" },
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string" },
    env: { type: "string", alias: "e", multiple: true, description: "Set environment variables", valueHint: "list" },
    "env-file": { type: "string", multiple: true, description: "Read in a file of environment variables", valueHint: "list" },
    interactive: { type: "boolean", alias: "i", description: "Keep STDIN open even if not attached" },
    privileged: { type: "boolean", description: "Give extended privileges to the command" },
    tty: { type: "boolean", alias: "t", description: "Allocate a pseudo-TTY" },
    user: { type: "string", alias: "u", description: "Username or UID (format: \"<name|uid>[:<group|gid>]\")", valueHint: "string" },
    workdir: { type: "string", alias: "w", description: "Working directory inside the container", valueHint: "string" },
  },
  interspersed: false,
  args: { min: 2 },
  async run({ flags, args, global }) {
    const detachKeys = flags.detach ? undefined : detachKeysOf(flags["detach-keys"], "escape");
    const backend = await openBackend(global);
    // The same -e/--env-file rules as run (a bare KEY takes the caller's value).
    const { env } = createOptionsFrom({ env: flags.env, "env-file": flags["env-file"] }, [""]);
    const started = await backend.exec(
      args[0]!,
      { args: args.slice(1), env, cwd: flags.workdir, user: flags.user, tty: flags.tty, stdin: flags.interactive, privileged: flags.privileged, detach: flags.detach },
      stdioOutput(),
    );
    if (flags.detach || !started.attach) return 0;
    const code = await relay(started.attach, { stdin: !!flags.interactive, tty: !!flags.tty, detachKeys });
    // Detached with the keys (the process goes on): the docker CLI's exec reports its EscapeError, exit 1.
    if (code === DETACHED) throw new CliError("read escape sequence", 1);
    return code ?? 0;
  },
});
