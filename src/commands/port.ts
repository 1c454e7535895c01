/** `bunker port`: a container's published ports ("80/tcp -> 0.0.0.0:8080"), or the bindings of one port. */
import { defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";
import { CliError } from "../engine/errors.ts";
import { portsOf } from "../engine/network/index.ts";

export default defineCommand({
  meta: { name: "port", description: "List port mappings or a specific mapping for the container", usage: "CONTAINER [PRIVATE_PORT[/PROTO]]", aliases: ["bunker container port", "bunker port"] },
  flags: {},
  args: { min: 1, max: 2 },
  async run({ args, global }) {
    const maps = portsOf(await openEngine(global), args[0]!).sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto));
    if (args[1] !== undefined) {
      const [port, proto = "tcp"] = args[1].split("/");
      if (!/^\d+$/.test(port!)) throw new CliError(`Error: invalid port (${port}): strconv.ParseUint: parsing "${port}": invalid syntax`, 1);
      const hits = maps.filter((m) => m.containerPort === Number(port) && m.proto === proto);
      if (!hits.length) throw new CliError(`Error: No public port '${port}/${proto}' published for ${args[0]}`, 1);
      for (const m of hits) console.log(`${m.hostIp}:${m.hostPort}`);
      return 0;
    }
    for (const m of maps) console.log(`${m.containerPort}/${m.proto} -> ${m.hostIp}:${m.hostPort}`);
    return 0;
  },
});
