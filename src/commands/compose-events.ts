/** `bunker compose events`: the engine's container events of the project, as docker compose v2 prints them. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import * as L from "../compose/labels.ts";

/** An event time as compose prints it ("2006-01-02 15:04:05.000000"). */
const when = (ns: bigint) => {
  const d = new Date(Number(ns / 1_000_000n));
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${String((ns / 1000n) % 1_000_000n).padStart(6, "0")}`;
};

export default defineCommand({
  meta: { name: "events", description: "Receive real time events from containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    json: { type: "boolean", description: "Output events as a stream of json objects" },
    since: { type: "string", description: "Show all events created since timestamp", valueHint: "string" },
    until: { type: "string", description: "Stream events until this timestamp", valueHint: "string" },
  },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { labelsOnly: true });
    const { parseTimeArgNs } = await import("../engine/containers/logs.ts");
    const since = flags.since ? parseTimeArgNs(flags.since) : undefined;
    const until = flags.until ? parseTimeArgNs(flags.until) : undefined;
    for await (const e of ctx.backend.events({ since, until, filters: { type: ["container"], label: [`${L.PROJECT}=${ctx.project.name}`] } })) {
      const service = e.Actor.Attributes[L.SERVICE] ?? "";
      if (args.length && !args.includes(service)) continue;
      const attributes = Object.fromEntries(Object.entries(e.Actor.Attributes).filter(([k]) => !k.startsWith("com.docker.compose.")));
      if (flags.json) console.log(JSON.stringify({ action: e.Action, attributes, id: e.Actor.ID, service, time: new Date(Number(e.timeNano / 1_000_000n)).toISOString(), type: "container" }));
      else console.log(`${when(e.timeNano)} container ${e.Action} ${e.Actor.ID} (${Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(", ")})`);
    }
    return 0;
  },
});
