/** `bunker container prune`: remove all stopped containers. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { confirm, humanSize } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove all stopped containers", usage: "[OPTIONS]" },
  flags: {
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "until=<timestamp>")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    if (!flags.force && !(await confirm("WARNING! This will remove all stopped containers."))) return 0;
    const report = await (await openBackend(global)).pruneContainers({ filters: parseFilters(flags.filter) });
    if (report.ContainersDeleted?.length) console.log(["Deleted Containers:", ...report.ContainersDeleted, ""].join("\n"));
    console.log(`Total reclaimed space: ${humanSize(report.SpaceReclaimed)}`);
    return 0;
  },
});
