/** `bunker history`: show the history of an image. */
import { checkPlatformFlag, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { humanSize, since, table, renderFormatted } from "./_output.ts";
import { forTerminal } from "./_terminal.ts";

/** docker's stringutils.Ellipsis: at most n runes, the last one "…" when cut. */
function ellipsis(s: string, n: number): string {
  const runes = [...s];
  return runes.length <= n ? s : `${runes.slice(0, n - 1).join("")}…`;
}

export default defineCommand({
  meta: { name: "history", description: "Show the history of an image", usage: "[OPTIONS] IMAGE", aliases: ["bunker image history", "bunker history"] },
  flags: {
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    human: { type: "boolean", alias: "H", description: "Print sizes and dates in human readable format", default: true },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    quiet: { type: "boolean", alias: "q", description: "Only show image IDs" },
    platform: { type: "string", description: "Show history for the given platform", valueHint: "string" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    await checkPlatformFlag(flags.platform);
    const items = await (await openBackend(global)).imageHistory(args[0]!, { platform: flags.platform });
    const noTrunc = !!flags["no-trunc"];
    const human = flags.human !== false;
    const rows = items.map((h) => {
      const createdBy = h.CreatedBy.replaceAll("\t", " ");
      return {
        ID: h.Id === "<missing>" || noTrunc ? h.Id : h.Id.slice(7, 19),
        CreatedSince: human ? since(h.Created * 1000) : new Date(h.Created * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
        CreatedAt: new Date(h.Created * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
        CreatedBy: noTrunc ? createdBy : ellipsis(createdBy, 45),
        Size: human ? humanSize(h.Size) : String(h.Size),
        Comment: h.Comment,
      };
    });
    if (flags.quiet) {
      for (const r of rows) console.log(r.ID);
      return 0;
    }
    if (flags.format) {
      console.log(forTerminal(renderFormatted(flags.format, rows, { ID: "IMAGE", CreatedSince: "CREATED", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT" })));
      return 0;
    }
    // Escaped before the table is laid out, so the columns line up with what the terminal shows.
    const cell = (s: string) => (process.stdout.isTTY ? forTerminal(s).replaceAll("\n", "\\n") : s);
    console.log(table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows.map((r) => [r.ID, r.CreatedSince, cell(r.CreatedBy), r.Size, cell(r.Comment)])]));
    return 0;
  },
});
