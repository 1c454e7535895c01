/** `bunker network create`: a user-defined bridge network; prints its ID. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

/** `--label` entries (a list, as the docker CLI's ListOpts) as a map: a bare key maps to "". */
const labelMap = (list: string[] | undefined) => {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const i = l.indexOf("=");
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
  }
  return out;
};

export default defineCommand({
  meta: { name: "network create", description: "Create a network", usage: "[OPTIONS] NETWORK" },
  flags: {
    driver: { type: "string", alias: "d", description: "Driver to manage the Network", default: "bridge", valueHint: "string" },
    subnet: { type: "string", multiple: true, description: "Subnet in CIDR format that represents a network segment", valueHint: "strings" },
    gateway: { type: "string", multiple: true, description: "IPv4 or IPv6 Gateway for the master subnet", valueHint: "strings" },
    "ip-range": { type: "string", multiple: true, description: "Allocate container ip from a sub-range", valueHint: "strings" },
    internal: { type: "boolean", description: "Restrict external access to the network" },
    attachable: { type: "boolean", description: "Enable manual container attachment" },
    ipv6: { type: "boolean", description: "Enable or disable IPv6 networking" },
    label: { type: "string", multiple: true, description: "Set metadata on a network", valueHint: "list" },
    opt: { type: "map", alias: "o", description: "Set driver specific options", valueHint: "map" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const subnets: string[] = flags.subnet ?? [];
    const gateways: string[] = flags.gateway ?? [];
    const ranges: string[] = flags["ip-range"] ?? [];
    if (gateways.length > subnets.length || ranges.length > subnets.length) throw new CliError("every ip-range or gateway must have a corresponding subnet", 1);
    const r = await (await openBackend(global)).createNetwork({
      Name: args[0]!,
      Driver: flags.driver,
      Internal: flags.internal,
      Attachable: flags.attachable,
      EnableIPv6: flags.ipv6,
      Labels: labelMap(flags.label),
      Options: flags.opt ?? {},
      IPAM: { Driver: "default", Config: subnets.map((s, i) => ({ Subnet: s, ...(gateways[i] ? { Gateway: gateways[i] } : {}), ...(ranges[i] ? { IPRange: ranges[i] } : {}) })) },
    });
    console.log(r.Id);
    return 0;
  },
});
