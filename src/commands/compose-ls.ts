/** `bunker compose ls`: the projects the engine runs, from their containers' labels (docker compose v2's ls). */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand, type Invocation } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted, table } from "./_output.ts";
import * as L from "../compose/labels.ts";

export default defineCommand({
  meta: { name: "ls", description: "List running compose projects", usage: "[OPTIONS]" },
  flags: {
    ...composeFlags,
    all: { type: "boolean", alias: "a", description: "Show all stopped Compose projects" },
    filter: { type: "string", multiple: true, description: "Filter output based on conditions provided", valueHint: "filter" },
    format: { type: "string", description: 'Format the output. Values: [table | json]', valueHint: "string", default: "table" },
    quiet: { type: "boolean", alias: "q", description: "Only display project names" },
  },
  args: { max: 0 },
  async run({ flags, global }: Invocation) {
    const backend = await openBackend(global);
    const names: string[] = [];
    for (const f of (flags.filter ?? []) as string[]) {
      const [k, v] = f.split("=");
      if (k !== "name" || v === undefined) throw new CliError(`invalid filter '${k}'`, 1);
      names.push(v);
    }
    // Without -a only running containers are listed (and counted), as compose v2 lists them.
    const list = (await backend.listContainers({ all: true, filters: { label: [L.PROJECT] } })).filter((c) => flags.all || c.State === "running");
    const projects = new Map<string, { states: Map<string, number>; files: Set<string> }>();
    for (const c of list) {
      const name = c.Labels[L.PROJECT]!;
      const p = projects.get(name) ?? projects.set(name, { states: new Map(), files: new Set() }).get(name)!;
      p.states.set(c.State, (p.states.get(c.State) ?? 0) + 1);
      if (c.Labels[L.CONFIG_FILES]) p.files.add(c.Labels[L.CONFIG_FILES]);
    }
    const rows = [...projects]
      .filter(([name]) => !names.length || names.some((n) => name.includes(n)))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, p]) => ({ Name: name, Status: [...p.states].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}(${n})`).join(", "), ConfigFiles: [...p.files].join(",") }));
    if (flags.quiet) {
      for (const r of rows) console.log(r.Name);
      return 0;
    }
    if (flags.format === "json") {
      console.log(JSON.stringify(rows));
      return 0;
    }
    if (flags.format !== "table") {
      const out = renderFormatted(flags.format, rows, { ConfigFiles: "CONFIG FILES" });
      if (out) console.log(out);
      return 0;
    }
    console.log(table([["NAME", "STATUS", "CONFIG FILES"], ...rows.map((r) => [r.Name, r.Status, r.ConfigFiles])]));
    return 0;
  },
});
