/** `bunker compose port`: the public address a service container's private port is published on. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { projectContainers } from "../compose/state.ts";
import * as L from "../compose/labels.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "port", description: "Print the public port for a port binding", usage: "[OPTIONS] SERVICE PRIVATE_PORT" },
  flags: {
    ...composeFlags,
    index: { type: "int", description: "Index of the container if service has multiple replicas", valueHint: "int", default: "1" },
    protocol: { type: "string", description: "tcp or udp", valueHint: "string", default: "tcp" },
  },
  args: { exact: 2 },
  async run(inv) {
    const [service, port] = inv.args;
    const ctx = await openProject(inv, { labelsOnly: true });
    const c = (await projectContainers(ctx.backend, ctx.project.name, { services: [service!] })).find((x) => L.numberOf(x.Labels) === inv.flags.index);
    if (!c) throw new ComposeError(`service "${service}" is not running`);
    const p = c.Ports.find((x) => String(x.PrivatePort) === port && x.Type === inv.flags.protocol && x.PublicPort);
    if (!p) throw new ComposeError(`no port ${port}/${inv.flags.protocol} for container ${L.canonicalName(c.Names)}: []`);
    console.log(`${p.IP || "0.0.0.0"}:${p.PublicPort}`);
    return 0;
  },
});
