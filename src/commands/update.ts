/** `bunker update`: change the resource limits and restart policy of containers, running or not. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";
import { createFlags, parseRestart, resourcesFrom } from "./_container.ts";

const shared = ["blkio-weight", "cpu-period", "cpu-quota", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "memory", "memory-swap", "pids-limit"] as const;

export default defineCommand({
  meta: { name: "update", description: "Update configuration of one or more containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container update", "bunker update"] },
  flags: { ...Object.fromEntries(shared.map((f) => [f, createFlags[f]!])), restart: { type: "string", description: "Restart policy to apply when a container exits", valueHint: "string" } },
  args: { min: 1 },
  async run({ flags, args, global }) {
    if (![...shared, "restart"].some((f) => (flags as Record<string, unknown>)[f] !== undefined)) throw new CliError("you must provide one or more flags when using this command", 1);
    const update = { ...resourcesFrom(flags), ...(flags.restart !== undefined ? { RestartPolicy: parseRestart(flags.restart) } : {}) };
    const backend = await openBackend(global);
    return forEach(args, async (ref) => {
      const { Warnings } = await backend.updateContainer(ref, update);
      for (const w of Warnings ?? []) console.error(w);
    });
  },
});
