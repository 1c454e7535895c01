/** `bunker rm`: remove containers (-f kills running ones first). */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { forEach } from "./_each.ts";

export default defineCommand({
  meta: { name: "rm", description: "Remove one or more containers", usage: "[OPTIONS] CONTAINER [CONTAINER...]", aliases: ["bunker container rm", "bunker container remove", "bunker rm"] },
  flags: {
    force: { type: "boolean", alias: "f", description: "Force the removal of a running container (uses SIGKILL)" },
    link: { type: "boolean", alias: "l", description: "Remove the specified link" },
    volumes: { type: "boolean", alias: "v", description: "Remove anonymous volumes associated with the container" },
  },
  args: { min: 1 },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    // Removals run at once (kill, wait and delete overlap), as dockerd serves the CLI's parallel requests.
    const removals = new Map(args.map((ref) => [ref, backend.removeContainer(ref, { force: flags.force, volumes: flags.volumes })]));
    for (const p of removals.values()) p.catch(() => {});
    return forEach(args, (ref) => removals.get(ref)!);
  },
});
