/** `bunker run`: create and run a new container from an image (pulled first if missing). */
import { defineCommand } from "./_cli.ts";
import { createFlags, createFromFlags } from "./_container.ts";
import { DETACHED, detachKeysOf, relay, stdioOutput } from "./_attach.ts";
// The engine area this command runs in-process, loaded with the command's own chunks: a later import() from
// src/api/local.ts costs ~1 ms more (measured on ps and run). Unused, and cheap, when a daemon answers.
import "../engine/containers/manager.ts";

export default defineCommand({
  meta: { name: "run", description: "Create and run a new container from an image", usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", aliases: ["bunker container run", "bunker run"] },
  flags: {
    ...createFlags,
    detach: { type: "boolean", alias: "d", description: "Run container in background and print container ID" },
    "sig-proxy": { type: "boolean", description: "Proxy received signals to the process", default: true },
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string" },
  },
  interspersed: false,
  args: { min: 1 },
  async run({ flags, args, global }) {
    const detachKeys = flags.detach ? undefined : detachKeysOf(flags["detach-keys"]);
    const { backend, id } = await createFromFlags(flags, args, global, flags.detach ? undefined : { stdin: !!flags.interactive, stdout: true, stderr: true });
    if (flags.detach) {
      await backend.startContainer(id);
      console.log(id);
      return 0;
    }
    const started = await backend.startContainer(id, { stdin: !!flags.interactive, tty: !!flags.tty, ...stdioOutput() });
    const code = await relay(started.attach!, {
      stdin: !!flags.interactive,
      tty: !!flags.tty,
      detachKeys,
      onSignal: flags["sig-proxy"] === false ? undefined : (sig) => void backend.signalContainer(id, sig).catch(() => {}),
    });
    if (code === DETACHED) return 0; // detached with the detach keys: the container keeps running
    return code ?? (await backend.waitContainer(id)); // --rm removal is the backend's, as a daemon's
  },
});
