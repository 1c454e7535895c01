/** `bunker image prune`: remove unused images. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { confirm, humanSize } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove unused images", usage: "[OPTIONS]" },
  flags: {
    all: { type: "boolean", alias: "a", description: "Remove all unused images, not just dangling ones" },
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "until=<timestamp>")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const warning = flags.all
      ? "WARNING! This will remove all images without at least one container associated to them."
      : "WARNING! This will remove all dangling images.";
    if (!flags.force && !(await confirm(warning))) return 0;
    const report = await (await openBackend(global)).pruneImages({ all: flags.all, filters: parseFilters(flags.filter) });
    if (report.ImagesDeleted?.length) {
      console.log("Deleted Images:");
      for (const item of report.ImagesDeleted) console.log("Untagged" in item ? `untagged: ${item.Untagged}` : `deleted: ${item.Deleted}`);
      console.log("");
    }
    console.log(`Total reclaimed space: ${humanSize(report.SpaceReclaimed, 4)}`); // go-units HumanSize: 4 significant digits
    return 0;
  },
});
