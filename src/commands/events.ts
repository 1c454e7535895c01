/** `bunker events` (`system events`): the engine's events as the docker CLI prints them, live or from `--since`. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { parseFilters } from "./_filters.ts";
import { renderFormatted } from "./_output.ts";
import { eventJson, type EngineEvent } from "../engine/events.ts";
import { parseTimeArgNs } from "../engine/containers/logs/args.ts";
import type { EventMessage } from "../api/backend.ts";

/** jsonmessage.RFC3339NanoFixed in the local zone ("2006-01-02T15:04:05.000000000Z07:00"), as the docker CLI prints event times. */
export function rfc3339NanoFixed(ns: bigint, offsetMin = -new Date(Number(ns / 1_000_000n)).getTimezoneOffset()): string {
  const local = new Date(Number(ns / 1_000_000_000n) * 1000 + offsetMin * 60_000).toISOString().slice(0, 19);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, "0");
  const zone = offsetMin === 0 ? "Z" : `${offsetMin < 0 ? "-" : "+"}${String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, "0")}:${String(Math.abs(offsetMin) % 60).padStart(2, "0")}`;
  return `${local}.${frac}${zone}`;
}

/** The docker CLI's prettyPrintEvent: time, type, action, ID, then the attributes sorted by key. */
function prettyEvent(m: EventMessage): string {
  const attrs = Object.keys(m.Actor.Attributes).sort().map((k) => `${k}=${m.Actor.Attributes[k]}`);
  return `${rfc3339NanoFixed(m.timeNano)} ${m.Type} ${m.Action} ${m.Actor.ID}${attrs.length ? ` (${attrs.join(", ")})` : ""}`;
}

export default defineCommand({
  meta: { name: "events", description: "Get real time events from the server", usage: "[OPTIONS]", aliases: ["bunker system events", "bunker events"] },
  flags: {
    filter: { type: "string", alias: "f", multiple: true, description: "Filter output based on conditions provided", valueHint: "filter" },
    format: { type: "string", description: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template", valueHint: "string" },
    since: { type: "string", description: "Show all events created since timestamp", valueHint: "string" },
    until: { type: "string", description: "Stream events until this timestamp", valueHint: "string" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    const since = flags.since ? parseTimeArgNs(flags.since) : undefined;
    const until = flags.until ? parseTimeArgNs(flags.until) : undefined;
    const backend = await openBackend(global);
    const format: string | undefined = flags.format || undefined;
    for await (const m of backend.events({ since, until, filters: parseFilters(flags.filter) })) {
      let line: string;
      if (format === "json") line = eventJson(m as unknown as EngineEvent);
      else if (format) line = renderFormatted(format, [{ ...m, timeNano: Number(m.timeNano) }]);
      else line = prettyEvent(m);
      process.stdout.write(`${line}\n`);
    }
    return 0;
  },
});
