/** `bunker compose images`: the images the project's containers run, with docker compose v2's columns. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { humanSize, table } from "./_output.ts";
import { projectContainers } from "../compose/state.ts";
import * as L from "../compose/labels.ts";

export default defineCommand({
  meta: { name: "images", description: "List images used by the created containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    format: { type: "string", description: "Format the output. Values: [table | json]", valueHint: "string", default: "table" },
    quiet: { type: "boolean", alias: "q", description: "Only display IDs" },
  },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    const list = await projectContainers(ctx.backend, ctx.project.name, { services: inv.args, oneoff: true });
    const images = new Map(await Promise.all([...new Set(list.map((c) => c.ImageID))].map(async (id) => [id, await ctx.backend.inspectImage(id).catch(() => undefined)] as const)));
    const rows = list.map((c) => {
      const ref = c.Image.startsWith("sha256:") ? "" : c.Image;
      const at = ref.lastIndexOf(":");
      const [repo, tag] = at > ref.lastIndexOf("/") ? [ref.slice(0, at), ref.slice(at + 1)] : [ref || "<none>", ref ? "latest" : "<none>"];
      return { ID: c.ImageID, ContainerName: L.canonicalName(c.Names), Repository: repo, Tag: tag, Size: images.get(c.ImageID)?.Size ?? 0 };
    });
    if (inv.flags.quiet) {
      for (const id of new Set(rows.map((r) => r.ID))) console.log(id);
      return 0;
    }
    if (inv.flags.format === "json") {
      console.log(JSON.stringify(rows));
      return 0;
    }
    console.log(table([["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], ...rows.map((r) => [r.ContainerName, r.Repository, r.Tag, r.ID.replace(/^sha256:/, "").slice(0, 12), humanSize(r.Size)])]));
    return 0;
  },
});
