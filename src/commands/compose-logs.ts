/** `bunker compose logs`: the project's containers' output, each line behind its `service-1  | ` prefix. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject, useColour, writeOut, writeErr } from "./_compose-project.ts";
import { projectContainers } from "../compose/state.ts";
import { LogPrinter, shortName } from "../compose/logs.ts";
import * as L from "../compose/labels.ts";
import { ComposeError } from "../compose/errors.ts";
import { strconvError } from "../go/strconv.ts";

export default defineCommand({
  meta: { name: "logs", description: "View output from containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    follow: { type: "boolean", alias: "f", description: "Follow log output" },
    index: { type: "int", description: "index of the container if service has multiple replicas", valueHint: "int" },
    "no-color": { type: "boolean", description: "Produce monochrome output" },
    "no-log-prefix": { type: "boolean", description: "Don't print prefix in logs" },
    since: { type: "string", description: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)", valueHint: "string" },
    tail: { type: "string", alias: "n", description: "Number of lines to show from the end of the logs for each container", valueHint: "string", default: "all" },
    timestamps: { type: "boolean", alias: "t", description: "Show timestamps" },
    until: { type: "string", description: "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)", valueHint: "string" },
  },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { labelsOnly: true });
    for (const s of args) if (Object.keys(ctx.project.services).length && !(s in ctx.project.services)) throw new ComposeError(`no such service: ${s}`);
    const tail = flags.tail === "all" ? -1 : /^-?\d+$/.test(flags.tail) ? Number(flags.tail) : NaN;
    if (Number.isNaN(tail)) throw new ComposeError(`invalid value for "tail": ${strconvError("Atoi", flags.tail)}`);
    const { parseTimeArgNs } = await import("../engine/containers/logs.ts");
    const since = flags.since ? parseTimeArgNs(flags.since) : undefined;
    const until = flags.until ? parseTimeArgNs(flags.until) : undefined;
    let list = await projectContainers(ctx.backend, ctx.project.name, { oneoff: true, services: args });
    if (flags.index !== undefined) list = list.filter((c) => L.numberOf(c.Labels) === flags.index);
    const printer = new LogPrinter({ out: writeOut, err: writeErr, colour: !flags["no-color"] && useColour(inv), prefix: !flags["no-log-prefix"] });
    const names = list.map((c) => shortName(ctx.project.name, L.canonicalName(c.Names)));
    for (const n of names) printer.register(n);
    await Promise.all(list.map(async (c, i) => {
      for await (const batch of ctx.backend.logs(c.Id, { follow: !!flags.follow, tail, since, until, timestamps: !!flags.timestamps })) for (const chunk of batch) printer.write(names[i]!, chunk.stream, chunk.data);
      printer.flush(names[i]!);
    }));
    return 0;
  },
});
