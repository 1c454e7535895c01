/**
 * `bunker system prune`: stopped containers, unused networks, dangling (with -a: unused) images and, with
 * --volumes, unused anonymous volumes, then the build cache (with -a: all of it), in the docker CLI's order,
 * with its confirmation text and report. Build cache records carry no labels, so a label filter keeps them all.
 */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { confirm, humanSize, naturalCompare } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "prune", description: "Remove unused data", usage: "[OPTIONS]", aliases: ["bunker system prune"] },
  flags: {
    all: { type: "boolean", alias: "a", description: "Remove all unused images not just dangling ones" },
    filter: { type: "string", multiple: true, description: 'Provide filter values (e.g. "label=<key>=<value>")', valueHint: "filter" },
    force: { type: "boolean", alias: "f", description: "Do not prompt for confirmation" },
    volumes: { type: "boolean", description: "Prune anonymous volumes" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const filters = parseFilters(flags.filter);
    if (flags.volumes && filters.until) throw new CliError('ERROR: The "until" filter is not supported with "--volumes"', 1);
    // Refused before anything goes: image prune cannot apply these yet, and half a prune would be worse.
    if (filters.until || filters["label!"]) throw new CliError("bunker system prune: the until and label! filters are not supported for images yet (image prune refuses them)", 1);
    const warnings = [
      "all stopped containers",
      "all networks not used by at least one container",
      ...(flags.volumes ? ["all anonymous volumes not used by at least one container"] : []),
      flags.all ? "all images without at least one container associated to them" : "all dangling images",
      flags.all ? "all build cache" : "unused build cache",
    ];
    const shown = ["label", "label!", "until"].flatMap((k) => (filters[k] ?? []).map((v) => `${k}=${v}`)).sort(naturalCompare);
    const message = [
      "WARNING! This will remove:",
      ...warnings.map((w) => `  - ${w}`),
      ...(shown.length ? ["", "  Items to be pruned will be filtered with:", ...shown.map((f) => `  - ${f}`)] : []),
      "",
    ].join("\n");
    if (!flags.force && !(await confirm(message))) return 0;

    const backend = await openBackend(global);
    let reclaimed = 0;
    const section = (title: string, lines: string[] | null | undefined) => {
      if (lines?.length) console.log([title, ...lines, ""].join("\n"));
    };
    const containers = await backend.pruneContainers({ filters });
    reclaimed += containers.SpaceReclaimed;
    section("Deleted Containers:", containers.ContainersDeleted);
    section("Deleted Networks:", (await backend.pruneNetworks({ filters })).NetworksDeleted);
    if (flags.volumes) {
      const volumes = await backend.pruneVolumes(filters);
      reclaimed += volumes.SpaceReclaimed;
      section("Deleted Volumes:", volumes.VolumesDeleted);
    }
    const images = await backend.pruneImages({ all: flags.all, filters });
    reclaimed += images.SpaceReclaimed;
    section("Deleted Images:", images.ImagesDeleted?.map((i) => ("Untagged" in i ? `untagged: ${i.Untagged}` : `deleted: ${i.Deleted}`)));
    if (!filters.label?.length) {
      const cache = await backend.pruneBuildCache({ all: !!flags.all });
      reclaimed += cache.SpaceReclaimed;
      section("Deleted build cache objects:", cache.CachesDeleted);
    }
    console.log(`Total reclaimed space: ${humanSize(reclaimed, 4)}`);
    return 0;
  },
});
