/** `bunker volume prune`: removes unused local volumes, anonymous ones unless --all. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { confirm, humanSize } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove unused local volumes", usage: "[OPTIONS]", aliases: ["bunker volume prune"] },
  flags: {
    all: { type: "boolean", alias: "a", description: "Remove all unused volumes, not just anonymous ones" },
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "label=<label>")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const filters = parseFilters(flags.filter);
    if (flags.all) {
      if (filters.all) throw new CliError("conflicting options: cannot specify both --all and --filter all=1", 125);
      filters.all = ["true"];
    }
    const warning = flags.all ? "WARNING! This will remove all local volumes not used by at least one container." : "WARNING! This will remove anonymous local volumes not used by at least one container.";
    if (!flags.force && !(await confirm(warning))) return 0;
    const report = await (await openBackend(global)).pruneVolumes(filters);
    if (report.VolumesDeleted?.length) console.log(["Deleted Volumes:", ...report.VolumesDeleted, ""].join("\n"));
    console.log(`Total reclaimed space: ${humanSize(report.SpaceReclaimed)}`);
    return 0;
  },
});
