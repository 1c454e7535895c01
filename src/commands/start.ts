/** `bunker start`: start one or more stopped containers (with -a, attached, exiting with its code). */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";
import { DETACHED, detachKeysOf, relay, stdioOutput } from "./_attach.ts";

export default defineCommand({
  meta: { name: "start", description: "Start one or more stopped containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container start", "bunker start"] },
  flags: {
    attach: { type: "boolean", alias: "a", description: "Attach STDOUT/STDERR and forward signals" },
    interactive: { type: "boolean", alias: "i", description: "Attach container's STDIN" },
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    if (flags.attach || flags.interactive) {
      if (args.length > 1) throw new CliError("you cannot start and attach multiple containers at once", 1);
      const detachKeys = detachKeysOf(flags["detach-keys"]);
      const c = await backend.inspectContainer(args[0]!);
      if (c.State.Running) return 0;
      const stdin = !!flags.interactive && c.Config.OpenStdin;
      const started = await backend.startContainer(c.Id, { stdin, tty: c.Config.Tty, ...stdioOutput() });
      const code = await relay(started.attach!, { stdin, tty: c.Config.Tty, detachKeys, onSignal: (sig) => void backend.signalContainer(c.Id, sig).catch(() => {}) });
      return code === DETACHED ? 0 : (code ?? (await backend.waitContainer(c.Id)));
    }
    return forEach(args, async (ref) => void (await backend.startContainer(ref)));
  },
});
