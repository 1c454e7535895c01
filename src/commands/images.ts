/** `bunker images` / `bunker image ls`: list images with Docker's columns, filters and formats. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { humanSize, since, table, renderFormatted } from "./_output.ts";
import { forTerminal } from "./_terminal.ts";
import { parseFilters } from "./_filters.ts";

export default defineCommand({
  meta: { name: "images", description: "List images", usage: "[OPTIONS] [REPOSITORY[:TAG]]", aliases: ["bunker image ls", "bunker image list", "bunker images"] },
  flags: {
    all: { type: "boolean", alias: "a", description: "Show all images (default hides intermediate images)" },
    digests: { type: "boolean", description: "Show digests" },
    filter: { type: "string", alias: "f", multiple: true, description: "Filter output based on conditions provided", valueHint: "filter" },
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    quiet: { type: "boolean", alias: "q", description: "Only show image IDs" },
    tree: { type: "boolean", description: "List multi-platform images as a tree (EXPERIMENTAL)", hidden: true },
  },
  args: { max: 1 },
  async run({ flags, args, global }) {
    if (flags.tree) throw new CliError("--tree (multi-platform images as a tree) is not supported by bunker yet", 1);
    const filters = parseFilters(flags.filter);
    if (args[0]) (filters.reference ??= []).push(args[0]);
    const images = await (await openBackend(global)).listImages({ all: flags.all, filters });
    const noTrunc = !!flags["no-trunc"];
    const shortId = (id: string) => (noTrunc ? id : id.slice(7, 19));

    // One row per repository:tag; an untagged image shows <none> (with its digest rows under --digests).
    const rows = images.flatMap((img) => {
      const digestOf = (repo: string) => img.RepoDigests.find((d) => d.startsWith(`${repo}@`))?.split("@")[1] ?? "<none>";
      const base = { ID: shortId(img.Id), CreatedSince: since(img.Created * 1000), CreatedAt: new Date(img.Created * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC"), Size: humanSize(img.Size), Containers: "N/A", SharedSize: "N/A", UniqueSize: "N/A", VirtualSize: humanSize(img.Size), Labels: Object.entries(img.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") };
      if (img.RepoTags.length) {
        return img.RepoTags.map((rt) => {
          const i = rt.lastIndexOf(":");
          const repo = rt.slice(0, i);
          return { ...base, Repository: repo, Tag: rt.slice(i + 1), Digest: digestOf(repo) };
        });
      }
      if (img.RepoDigests.length) return img.RepoDigests.map((rd) => ({ ...base, Repository: rd.split("@")[0]!, Tag: "<none>", Digest: rd.split("@")[1]! }));
      return [{ ...base, Repository: "<none>", Tag: "<none>", Digest: "<none>" }];
    });

    if (flags.quiet) {
      // One ID per row, repeated for an image with several tags, as the docker CLI prints them.
      if (rows.length) console.log(rows.map((r) => r.ID).join("\n"));
      return 0;
    }
    if (flags.format) {
      const out = renderFormatted(flags.format, rows, { ID: "IMAGE ID", CreatedSince: "CREATED", CreatedAt: "CREATED AT", Repository: "REPOSITORY", Tag: "TAG", Digest: "DIGEST", Size: "SIZE" });
      if (out) console.log(forTerminal(out));
      return 0;
    }
    const header = ["REPOSITORY", "TAG", ...(flags.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
    const body = rows.map((r) => [r.Repository, r.Tag, ...(flags.digests ? [r.Digest] : []), r.ID, r.CreatedSince, r.Size]);
    console.log(table([header, ...body]));
    return 0;
  },
});
