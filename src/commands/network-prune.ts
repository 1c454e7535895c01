/** `bunker network prune`: removes user networks no container uses. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { parseFilters } from "./_filters.ts";
import { confirm } from "./_output.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove all unused networks", usage: "[OPTIONS]" },
  flags: {
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "until=<timestamp>")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    if (!flags.force && !(await confirm("WARNING! This will remove all custom networks not used by at least one container."))) return 0;
    const r = await (await openBackend(global)).pruneNetworks({ filters: parseFilters(flags.filter) });
    if (r.NetworksDeleted?.length) console.log(["Deleted Networks:", ...r.NetworksDeleted, ""].join("\n"));
    return 0;
  },
});
