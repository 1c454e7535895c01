/** `bunker stop`: the stop signal, then SIGKILL after the timeout. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "stop", description: "Stop one or more running containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container stop", "bunker stop"] },
  flags: {
    signal: { type: "string", alias: "s", description: "Signal to send to the container", valueHint: "string" },
    time: { type: "int", alias: "t", description: "Seconds to wait before killing the container", valueHint: "int" },
    timeout: { type: "int", description: "Seconds to wait before killing the container", hidden: true },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    const timeout: number | undefined = flags.time ?? flags.timeout;
    // Several containers stop at once, as dockerd stops them in parallel; output keeps argument order.
    const stops = new Map(args.map((ref) => [ref, backend.stopContainer(ref, { timeout, signal: flags.signal })]));
    for (const p of stops.values()) p.catch(() => {});
    return forEach(args, (ref) => stops.get(ref)!);
  },
});
