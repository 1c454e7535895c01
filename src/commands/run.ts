/** `bunker run`: create and run a new container from an image (pulled first if missing). */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { createFlags, createOptionsFrom, ensureImage } from "./_container.ts";
import { relay } from "./_attach.ts";
import { createContainer, startContainer, removeContainer, waitContainer } from "../engine/containers/manager.ts";
import { signalContainer } from "../engine/runtime/status.ts";

export default defineCommand({
  meta: { name: "run", description: "Create and run a new container from an image", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", aliases: ["bunker container run", "bunker run"] },
  flags: {
    ...createFlags,
    detach: { type: "boolean", alias: "d", description: "Run container in background and print container ID" },
    "sig-proxy": { type: "boolean", description: "Proxy received signals to the process", default: true },
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string", hidden: true },
  },
  interspersed: false,
  args: { min: 1 },
  async run({ flags, args, global }) {
    const opts = createOptionsFrom(flags, args);
    const engine = await openEngine(global);
    await ensureImage(engine, opts.image, { pull: flags.pull, platform: flags.platform, quiet: flags.quiet });
    if (!flags.detach) opts.attach ??= { stdin: !!flags.interactive, stdout: true, stderr: true };
    const c = await createContainer(engine, opts);
    if (flags.detach) {
      await startContainer(engine, c.id);
      console.log(c.id);
      return 0;
    }
    const started = await startContainer(engine, c.id, {
      attach: { onStdout: (b) => void process.stdout.write(b), onStderr: (b) => void process.stderr.write(b) },
    });
    const code = await relay((started as { attach?: import("../engine/runtime/index.ts").Attachment }).attach!, {
      stdin: !!flags.interactive,
      tty: !!flags.tty,
      onSignal: flags["sig-proxy"] === false ? undefined : (sig) => signalContainer(c.dir, sig),
    });
    if (code === undefined) return 0; // detached with ctrl-p ctrl-q: the container keeps running
    const exit = code ?? (await waitContainer(engine, c.id));
    if (opts.autoRemove) await removeContainer(engine, c.id, { force: true });
    return exit;
  },
});
