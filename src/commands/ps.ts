/** `bunker ps` / `container ls`: list containers with Docker's columns, filters and formats. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { compileTemplate, humanSize, since, table, renderFormatted } from "./_output.ts";
import { parseFilters } from "./_filters.ts";
import { displayPorts } from "../engine/network/ports.ts";
// The engine area this command runs in-process, loaded with the command's own chunks: a later import() from
// src/api/local.ts costs ~1 ms more (measured on ps and run). Unused, and cheap, when a daemon answers.
import "../engine/containers/query.ts";

/** docker's stringutils.Ellipsis. */
function ellipsis(s: string, n: number): string {
  if (s.length <= n) return s; // no more code points than UTF-16 units: short enough, without splitting it
  const r = [...s];
  return r.length <= n ? s : `${r.slice(0, n - 1).join("")}…`;
}

type Listed = Awaited<ReturnType<Awaited<ReturnType<typeof openBackend>>["listContainers"]>>[number];

/** A container with nothing in it: what ps runs a --format template on before listing. */
const BLANK = { Id: "", Image: "", Command: "", Created: 0, Ports: [], State: "", Status: "", Names: [], Labels: {}, Mounts: [], HostConfig: { NetworkMode: "" } } as unknown as Listed;

/** A listing's row: docker's formatter.ContainerContext fields, as getters (a table reads seven of them; see src/jit.ts). */
function psRow(c: Listed, noTrunc: boolean) {
  return {
    get ID() {
      return noTrunc ? c.Id : c.Id.slice(0, 12);
    },
    get Image() {
      return c.Image.startsWith("sha256:") && !noTrunc ? c.Image.slice(7, 19) : c.Image;
    },
    get Command() {
      return JSON.stringify(noTrunc ? c.Command : ellipsis(c.Command, 20));
    },
    get CreatedAt() {
      return new Date(c.Created * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC");
    },
    get RunningFor() {
      return since(c.Created * 1000);
    },
    get Ports() {
      return displayPorts(c.Ports);
    },
    State: c.State,
    Status: c.Status,
    get Size() {
      return c.SizeRw !== undefined ? `${humanSize(c.SizeRw)} (virtual ${humanSize(c.SizeRootFs ?? 0)})` : "";
    },
    get Names() {
      return c.Names.map((n) => n.slice(1)).join(",");
    },
    get Labels() {
      return Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(",");
    },
    Label: (k: string) => c.Labels[k] ?? "",
    // A volume's name, else the bind's source, each cut to 15 characters unless --no-trunc.
    get Mounts() {
      return (c.Mounts as { Name?: string; Source: string }[]).map((m) => (noTrunc ? (m.Name ?? m.Source) : ellipsis(m.Name ?? m.Source, 15))).join(",");
    },
    Networks: c.HostConfig.NetworkMode,
  };
}

export default defineCommand({
  meta: { name: "ps", description: "List containers", usage: "[OPTIONS]", aliases: ["bunker container ls", "bunker container list", "bunker container ps", "bunker ps"] },
  flags: {
    all: { type: "boolean", alias: "a", description: "Show all containers (default shows just running)" },
    filter: { type: "string", alias: "f", multiple: true, description: "Filter output based on conditions provided", valueHint: "filter" },
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    last: { type: "int", alias: "n", description: "Show n last created containers (includes all states)", default: "-1", valueHint: "int" },
    latest: { type: "boolean", alias: "l", description: "Show the latest created container (includes all states)" },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    quiet: { type: "boolean", alias: "q", description: "Only display container IDs" },
    size: { type: "boolean", alias: "s", description: "Display total file sizes" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const limit: number = flags.latest ? 1 : flags.last;
    const noTrunc = !!flags["no-trunc"];
    // Sizes cost a walk of each upper dir: only for -s or a template that names the field.
    const wantsSize = !!flags.size || (typeof flags.format === "string" && flags.format.includes(".Size"));
    // As docker's ps, the template runs once on a blank row first: a bad one fails even when no container is listed.
    if (typeof flags.format === "string" && flags.format && flags.format !== "json") compileTemplate(flags.format).render(psRow(BLANK, noTrunc));
    const list = await (await openBackend(global)).listContainers({ all: flags.all, limit, size: wantsSize, filters: parseFilters(flags.filter) });
    const rows = list.map((c) => psRow(c, noTrunc));
    if (flags.quiet) {
      for (const r of rows) console.log(r.ID);
      return 0;
    }
    if (flags.format) {
      const out = renderFormatted(flags.format, rows, { ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED", Ports: "PORTS", State: "STATE", Status: "STATUS", Size: "SIZE", Names: "NAMES", Labels: "LABELS", Mounts: "MOUNTS", Networks: "NETWORKS" });
      if (out) console.log(out);
      return 0;
    }
    const header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", ...(flags.size ? ["SIZE"] : [])];
    console.log(table([header, ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names, ...(flags.size ? [r.Size] : [])])]));
    return 0;
  },
});
