/** `bunker network ls`: networks with Docker's columns, filters and formats. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { renderFormatted, table } from "./_output.ts";
import { parseFilters } from "./_filters.ts";
import { listNetworks } from "../engine/network/index.ts";

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
    const engine = await openEngine(global);
    // The docker CLI sorts by name.
    const list = listNetworks(engine, { filters: parseFilters(flags.filter) }).sort((a, b) => a.Name.localeCompare(b.Name));
    const id = (s: string) => (flags["no-trunc"] ? s : s.slice(0, 12));
    if (flags.quiet) {
      for (const n of list) console.log(id(n.Id));
      return 0;
    }
    const rows = list.map((n) => ({
      ID: id(n.Id),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      IPv4: String(n.EnableIPv4),
      IPv6: String(n.EnableIPv6),
      Internal: String(n.Internal),
      CreatedAt: new Date(n.Created).toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC"),
      Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(","),
      Label: (k: string) => n.Labels[k] ?? "",
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
