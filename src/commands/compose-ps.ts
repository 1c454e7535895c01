/** `bunker compose ps`: the project's containers with docker compose v2's columns and formats. */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { renderFormatted, since, table } from "./_output.ts";
import { displayPorts } from "../engine/network/ports.ts";
import { projectContainers, type Summary } from "../compose/state.ts";
import * as L from "../compose/labels.ts";

/** docker's stringutils.Ellipsis (the COMMAND column). */
const ellipsis = (s: string, n: number) => ([...s].length <= n ? s : `${[...s].slice(0, n - 1).join("")}…`);

/** A row as compose v2's ContainerSummary (the fields of --format json and templates). */
function summaryRow(c: Summary, project: string, noTrunc: boolean) {
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1]?.replace("health: ", "") ?? "";
  const exit = /^Exited \((\d+)\)/.exec(c.Status);
  return {
    ID: c.Id,
    Name: L.canonicalName(c.Names),
    Names: L.canonicalName(c.Names),
    Image: c.Image,
    Command: noTrunc ? c.Command : ellipsis(c.Command, 20),
    Project: project,
    Service: c.Labels[L.SERVICE] ?? "",
    Created: c.Created,
    State: c.State,
    Status: c.Status,
    Health: health,
    ExitCode: exit ? Number(exit[1]) : 0,
    Publishers: c.Ports.map((p) => ({ URL: p.IP ?? "", TargetPort: p.PrivatePort, PublishedPort: p.PublicPort ?? 0, Protocol: p.Type })),
    Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(","),
    LocalVolumes: String((c.Mounts as { Type?: string }[]).filter((m) => m.Type === "volume").length),
    Mounts: (c.Mounts as { Name?: string; Source?: string }[]).map((m) => m.Name || m.Source).join(","),
    Networks: Object.keys(c.NetworkSettings.Networks ?? {}).join(","),
    RunningFor: since(c.Created * 1000),
    Size: 0,
    Ports: displayPorts(c.Ports),
  };
}

export default defineCommand({
  meta: { name: "ps", description: "List containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    all: { type: "boolean", alias: "a", description: "Show all stopped containers (including those created by the run command)" },
    filter: { type: "string", description: "Filter services by a property (supported filters: status)", valueHint: "string" },
    format: { type: "string", description: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.", valueHint: "string", default: "table" },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    orphans: { type: "boolean", description: "Include orphaned services (not declared by project)", default: true },
    quiet: { type: "boolean", alias: "q", description: "Only display IDs" },
    services: { type: "boolean", description: "Display services" },
    status: { type: "string", multiple: true, description: "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]", valueHint: "stringArray" },
  },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { labelsOnly: true });
    for (const s of args) if (Object.keys(ctx.project.services).length && !(s in ctx.project.services)) throw new CliError(`no such service: ${s}`, 1);
    const statuses: string[] = [...(flags.status ?? [])];
    if (flags.filter) {
      const [k, v] = String(flags.filter).split("=");
      if (k !== "status" || !v) throw new CliError(`unsupported filter: ${flags.filter}`, 1);
      statuses.push(v);
    }
    let list = await projectContainers(ctx.backend, ctx.project.name, { oneoff: true, running: !flags.all && !statuses.length, services: args });
    if (statuses.length) list = list.filter((c) => statuses.includes(c.State));
    if (!flags.orphans && Object.keys(ctx.project.services).length) list = list.filter((c) => (c.Labels[L.SERVICE] ?? "") in ctx.project.services);
    list.sort((a, b) => L.canonicalName(a.Names).localeCompare(L.canonicalName(b.Names)));
    if (flags.services) {
      for (const s of [...new Set(list.map((c) => c.Labels[L.SERVICE] ?? ""))]) console.log(s);
      return 0;
    }
    if (flags.quiet) {
      for (const c of list) console.log(c.Id);
      return 0;
    }
    const rows = list.map((c) => summaryRow(c, ctx.project.name, !!flags["no-trunc"]));
    const format: string = flags.format;
    if (format === "json") {
      for (const r of rows) console.log(JSON.stringify(r));
      return 0;
    }
    if (format !== "table") {
      const out = renderFormatted(format, rows, { Name: "NAME", Names: "NAMES", RunningFor: "CREATED", Ports: "PORTS" });
      if (out) console.log(out);
      return 0;
    }
    console.log(table([["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"], ...rows.map((r) => [r.Name, r.Image, JSON.stringify(r.Command), r.Service, r.RunningFor, r.Status, r.Ports])]));
    return 0;
  },
});
