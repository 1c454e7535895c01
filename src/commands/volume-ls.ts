/** `bunker volume ls`: volumes with Docker's columns (DRIVER, VOLUME NAME), filters and formats. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted, table } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

/** sortorder.NaturalLess, as the docker CLI sorts volume names: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): number {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const x = chunks(a);
  const y = chunks(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const [p, q] = [x[i]!, y[i]!];
    if (p === q) continue;
    const digits = /^\d/.test(p) && /^\d/.test(q);
    if (digits && Number(p) !== Number(q)) return Number(p) - Number(q);
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

export default defineCommand({
  meta: { name: "ls", description: "List volumes", usage: "[OPTIONS]", aliases: ["bunker volume ls", "bunker volume list"] },
  flags: {
    cluster: { type: "boolean", description: "Display only cluster volumes, and use cluster volume list formatting", hidden: true },
    filter: { type: "string", alias: "f", multiple: true, description: 'Provide filter values (e.g. "dangling=true")', valueHint: "filter" },
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    quiet: { type: "boolean", alias: "q", description: "Only display volume names" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const list = (await (await openBackend(global)).listVolumes(parseFilters(flags.filter))).Volumes ?? [];
    // Cluster volumes need a swarm: none here.
    const volumes = flags.cluster ? [] : list.sort((a, b) => naturalLess(a.Name, b.Name));
    if (flags.quiet && !flags.format) {
      for (const v of volumes) console.log(v.Name);
      return 0;
    }
    const rows = volumes.map((v) => ({
      Availability: "N/A",
      Driver: v.Driver,
      Group: "N/A",
      Labels: Object.entries(v.Labels ?? {}).map(([k, val]) => `${k}=${val}`).join(","),
      Links: "N/A",
      Mountpoint: v.Mountpoint,
      Name: v.Name,
      Scope: v.Scope,
      Size: "N/A",
      Status: "N/A",
      Label: (k: string) => v.Labels?.[k] ?? "",
    }));
    if (flags.format) {
      const out = renderFormatted(flags.format, rows, { Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS", Links: "LINKS", Size: "SIZE", Group: "GROUP", Availability: "AVAILABILITY", Status: "STATUS" });
      if (out) console.log(out);
      return 0;
    }
    console.log(table([["DRIVER", "VOLUME NAME"], ...rows.map((r) => [r.Driver, r.Name])]));
    return 0;
  },
});
