/** `bunker port`: a container's published ports ("80/tcp -> 0.0.0.0:8080"), or the bindings of one port. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { naturalCompare } from "./_output.ts";
import { strconvError } from "../go/strconv.ts";

export default defineCommand({
  meta: { name: "port", description: "List port mappings or a specific mapping for the container", usage: "CONTAINER [PRIVATE_PORT[/PROTO]]", aliases: ["bunker container port", "bunker port"] },
  flags: {},
  args: { min: 1, max: 2 },
  async run({ args, global }) {
    // As the docker CLI: the container's NetworkSettings.Ports, lines in natural order.
    const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = (await (await openBackend(global)).inspectContainer(args[0]!)).NetworkSettings?.Ports ?? {};
    const hostPort = (b: { HostIp: string; HostPort: string }) => (b.HostIp.includes(":") ? `[${b.HostIp}]:${b.HostPort}` : `${b.HostIp}:${b.HostPort}`);
    let out: string[];
    if (args[1] !== undefined) {
      const [port, proto = "tcp"] = args[1].split("/");
      if (!/^\d+$/.test(port!)) throw new CliError(`Error: invalid port (${port}): ${strconvError("ParseUint", port!)}`, 1);
      const bindings = ports[`${port}/${proto}`];
      if (!bindings?.length) throw new CliError(`Error: No public port '${args[1]}' published for ${args[0]}`, 1);
      out = bindings.map(hostPort);
    } else {
      out = Object.entries(ports).flatMap(([p, bindings]) => (bindings ?? []).map((b) => `${p} -> ${hostPort(b)}`));
    }
    if (out.length) console.log(out.sort(naturalCompare).join("\n"));
    return 0;
  },
});
