/** `bunker system df`: disk usage. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { table, humanSize } from "./_output.ts";

/** go-units HumanSize (4 significant digits), as `docker system df` prints sizes. */
const size4 = (n: number) => humanSize(n, 4);

export default defineCommand({
  meta: { name: "df", description: "Show bunker disk usage", usage: "[OPTIONS]" },
  flags: {
    format: { type: "string", description: "Format output using a custom template", valueHint: "string" },
    verbose: { type: "boolean", alias: "v", description: "Show detailed information on space usage" },
  },
  args: { max: 0 },
  async run({ global }) {
    const df = await (await openBackend(global)).df();
    const active = df.Images.filter((i) => i.Containers > 0).length;
    const total = df.LayersSize;
    // As the docker CLI computes it: all layers, less what images in use hold (shared layers count once).
    const used = df.Images.filter((i) => i.Containers > 0 && i.SharedSize !== -1).reduce((a, i) => a + i.Size - i.SharedSize, 0);
    const reclaimable = total - used;
    const pct = total > 0 ? ` (${Math.floor((reclaimable * 100) / total)}%)` : "";
    // Volumes as the docker CLI sums them: in use = some container mounts it; reclaimable = the others' data.
    // Containers as the docker CLI sums them: active = running; reclaimable = the stopped ones' size.
    const containers = (df.Containers ?? []) as { State?: string; SizeRw?: number }[];
    const running = containers.filter((c) => c.State === "running");
    const cSize = containers.reduce((a, c) => a + Math.max(0, c.SizeRw ?? 0), 0);
    const cFree = cSize - running.reduce((a, c) => a + Math.max(0, c.SizeRw ?? 0), 0);
    const cPct = cSize > 0 ? ` (${Math.floor((cFree * 100) / cSize)}%)` : "";
    const vols = (df.Volumes ?? []) as { UsageData?: { Size: number; RefCount: number } }[];
    const vSize = vols.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const vFree = vols.filter((v) => !v.UsageData?.RefCount).reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const vPct = vSize > 0 ? ` (${Math.floor((vFree * 100) / vSize)}%)` : "";
    console.log(
      table([
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        ["Images", String(df.Images.length), String(active), size4(total), `${size4(reclaimable)}${pct}`],
        ["Containers", String(containers.length), String(running.length), size4(cSize), `${size4(cFree)}${cPct}`],
        ["Local Volumes", String(vols.length), String(vols.filter((v) => v.UsageData?.RefCount).length), size4(vSize), `${size4(vFree)}${vPct}`],
        buildCacheRow(df.BuildCache ?? [], df.BuilderSize ?? 0),
      ]),
    );
    return 0;
  },
});

/** The docker CLI's "Build Cache" row (formatter/disk_usage.go): size of what is not shared with images, less what is in use. */
function buildCacheRow(cache: { InUse: boolean; Shared: boolean; Size: number }[], builderSize: number): string[] {
  const size = cache.reduce((n, c) => n + (c.Shared ? 0 : c.Size), 0);
  const inUse = cache.reduce((n, c) => n + (c.InUse && !c.Shared ? c.Size : 0), 0);
  return ["Build Cache", String(cache.length), String(cache.filter((c) => c.InUse).length), size4(size), size4(builderSize - inUse)];
}
