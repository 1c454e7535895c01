/** `bunker builder prune`: remove build cache. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { humanSize } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove build cache", usage: "[OPTIONS]" },
  flags: {
    all: { type: "boolean", alias: "a", description: "Remove all unused build cache, not just dangling ones" },
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "until=24h")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
    "keep-storage": { type: "bytes", description: "Amount of disk space to keep for cache", valueHint: "bytes" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    // The docker CLI's texts (cli/command/builder/prune.go): the question on the warning's line.
    const warning = `WARNING! This will remove all ${flags.all ? "" : "dangling "}build cache. Are you sure you want to continue?`;
    if (!flags.force && !(await ask(warning))) return 0;
    const report = await (await openBackend(global)).pruneBuildCache({ all: !!flags.all, keepStorage: flags["keep-storage"] ?? 0, filters: parseFilters(flags.filter) });
    if (report.CachesDeleted?.length) {
      console.log("Deleted build cache objects:");
      for (const id of report.CachesDeleted) console.log(id);
      console.log("");
    }
    console.log(`Total reclaimed space: ${humanSize(report.SpaceReclaimed, 4)}`);
    return 0;
  },
});

/** The docker CLI's prompt.Confirm: the message, " [y/N] ", a line read; true for y/yes. */
async function ask(message: string): Promise<boolean> {
  process.stdout.write(`${message} [y/N] `);
  for await (const line of console) return /^y(es)?$/i.test(line.trim());
  return false;
}
