/** `bunker network ls`: networks with Docker's columns, filters and formats. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { naturalCompare, renderFormatted, table } from "./_output.ts";
import { parseFilters } from "./_filters.ts";

/** Go's time.Time.String() of an RFC 3339 UTC time: "2025-01-02 03:04:05.1 +0000 UTC" (trailing zeros of the fraction dropped). */
const goTime = (iso: string) => {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  const frac = (m[3] ?? "").replace(/0+$/, "");
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ""} +0000 UTC`;
};

export default defineCommand({
  meta: { name: "ls", description: "List networks", usage: "[OPTIONS]", aliases: ["bunker network ls", "bunker network list"] },
  flags: {
    filter: { type: "string", alias: "f", multiple: true, description: 'Provide filter values (e.g. "driver=bridge")', valueHint: "filter" },
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    "no-trunc": { type: "boolean", description: "Do not truncate the output" },
    quiet: { type: "boolean", alias: "q", description: "Only display network IDs" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    // The docker CLI sorts by name, naturally.
    const list = (await (await openBackend(global)).listNetworks({ filters: parseFilters(flags.filter) })).sort((a, b) => naturalCompare(a.Name, b.Name));
    const id = (s: string) => (flags["no-trunc"] ? s : s.slice(0, 12));
    if (flags.quiet) {
      for (const n of list) console.log(id(n.Id));
      return 0;
    }
    // Keys in sorted order: `--format json` prints them as Go marshals the CLI's context (sorted).
    const rows = list.map((n) => ({
      CreatedAt: goTime(n.Created),
      Driver: n.Driver,
      ID: id(n.Id),
      IPv4: String(n.EnableIPv4),
      IPv6: String(n.EnableIPv6),
      Internal: String(n.Internal),
      Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(","),
      Name: n.Name,
      Scope: n.Scope,
      Label: (k: string) => n.Labels?.[k] ?? "",
    }));
    if (flags.format) {
      const out = renderFormatted(flags.format, rows, { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv4: "IPV4", IPv6: "IPV6", Internal: "INTERNAL", CreatedAt: "CREATED AT", Labels: "LABELS" });
      if (out) console.log(out);
      return 0;
    }
    console.log(table([["NETWORK ID", "NAME", "DRIVER", "SCOPE"], ...rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope])]));
    return 0;
  },
});
