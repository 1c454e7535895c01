/** `bunker compose cp`: copies between a service container (SERVICE:PATH, --index) and the host, through `bunker cp`. */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand, parseFlags } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { projectContainers } from "../compose/state.ts";
import * as L from "../compose/labels.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "cp", description: "Copy files/folders between a service container and the local filesystem", usage: "[OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n\tbunker compose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH" },
  flags: {
    ...composeFlags,
    archive: { type: "boolean", alias: "a", description: "Archive mode (copy all uid/gid information)" },
    "follow-link": { type: "boolean", alias: "L", description: "Always follow symbol link in SRC_PATH" },
    index: { type: "int", description: "Index of the container if service has multiple replicas", valueHint: "int", default: "1" },
  },
  args: { exact: 2 },
  async run(inv) {
    const ctx = await openProject(inv, { labelsOnly: true });
    const at = inv.args.findIndex((a) => /^[^/.][^:/]*:/.test(a));
    if (at < 0) throw new CliError("must specify at least one container source", 1);
    const arg = inv.args[at]!;
    const service = arg.slice(0, arg.indexOf(":"));
    const c = (await projectContainers(ctx.backend, ctx.project.name, { services: [service] })).find((x) => L.numberOf(x.Labels) === inv.flags.index);
    if (!c) throw new ComposeError(`service "${service}" has no container with index ${inv.flags.index}`);
    const args = [...inv.args];
    args[at] = `${c.Id}${arg.slice(arg.indexOf(":"))}`;
    const cp = (await import("./cp.ts")).default;
    const sub = parseFlags([...(inv.flags.archive ? ["-a"] : []), ...(inv.flags["follow-link"] ? ["-L"] : []), ...args], cp, "bunker cp");
    sub.global = inv.global;
    return (await cp.run(sub)) ?? 0;
  },
});
