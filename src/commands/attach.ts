/** `bunker attach`: this terminal's stdin, stdout and stderr to a running container, until it exits or the detach keys. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { DETACHED, detachKeysOf, relay, stdioOutput } from "./_attach.ts";

export default defineCommand({
  meta: { name: "attach", description: "Attach local standard input, output, and error streams to a running container", usage: "[OPTIONS] CONTAINER", aliases: ["bunker container attach", "bunker attach"] },
  flags: {
    "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", valueHint: "string" },
    "no-stdin": { type: "boolean", description: "Do not attach STDIN" },
    "sig-proxy": { type: "boolean", description: "Proxy all received signals to the process", default: true },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const detachKeys = detachKeysOf(flags["detach-keys"]);
    const backend = await openBackend(global);
    const c = await backend.inspectContainer(args[0]!);
    // The docker CLI's own checks (cli/command/container/attach.go), before it attaches.
    if (!c.State.Running) throw new CliError("You cannot attach to a stopped container, start it first", 1);
    if (c.State.Paused) throw new CliError("You cannot attach to a paused container, unpause it first", 1);
    if (c.State.Restarting) throw new CliError("You cannot attach to a restarting container, wait until it is running", 1);
    const stdin = !flags["no-stdin"] && c.Config.OpenStdin;
    const tty = c.Config.Tty;
    const attachment = await backend.attachContainer(c.Id, { stdin, tty, ...stdioOutput() });
    const code = await relay(attachment, {
      stdin,
      tty,
      detachKeys,
      onSignal: flags["sig-proxy"] === false || tty ? undefined : (sig) => void backend.signalContainer(c.Id, sig).catch(() => {}),
    });
    // Detached (the container keeps running): the docker CLI's attach reports its EscapeError, exit 1.
    if (code === DETACHED) throw new CliError("read escape sequence", 1);
    return code ?? 0;
  },
});
