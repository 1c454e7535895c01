/** `bunker start`: start one or more stopped containers (with -a, attached, exiting with its code). */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { forEach } from "./_each.ts";
import { CliError } from "../engine/errors.ts";
import { relay } from "./_attach.ts";

export default defineCommand({
  meta: { name: "start", description: "Start one or more stopped containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container start", "bunker start"] },
  flags: {
    attach: { type: "boolean", alias: "a", description: "Attach STDOUT/STDERR and forward signals" },
    interactive: { type: "boolean", alias: "i", description: "Attach container's STDIN" },
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string", hidden: true },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const engine = await openEngine(global);
    const { startContainer, waitContainer } = await import("../engine/containers/manager.ts");
    if (flags.attach || flags.interactive) {
      if (args.length > 1) throw new CliError("you cannot start and attach multiple containers at once", 1);
      const c = engine.containers.resolve(args[0]!);
      const started = await startContainer(engine, c.id, { attach: { onStdout: (b) => void process.stdout.write(b), onStderr: (b) => void process.stderr.write(b) } });
      if (started.alreadyRunning) return 0;
      const { signalContainer } = await import("../engine/runtime/status.ts");
      const code = await relay((started as { attach?: import("../engine/runtime/index.ts").Attachment }).attach!, { stdin: !!flags.interactive && c.config.OpenStdin, tty: c.config.Tty, onSignal: (sig) => signalContainer(c.dir, sig) });
      return code === undefined ? 0 : (code ?? (await waitContainer(engine, c.id)));
    }
    return forEach(args, async (ref) => void (await startContainer(engine, ref)));
  },
});
