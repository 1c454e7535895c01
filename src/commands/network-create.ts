/** `bunker network create`: a user-defined bridge network; prints its ID. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

const kv = (list: string[] | undefined, what: string) => {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const i = l.indexOf("=");
    if (what === "opt" && i <= 0) throw new CliError(`invalid key value pair format in driver options`, 125);
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
    opt: { type: "string", alias: "o", multiple: true, description: "Set driver specific options", valueHint: "map" },
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
      Labels: kv(flags.label, "label"),
      Options: kv(flags.opt, "opt"),
      IPAM: { Driver: "default", Config: subnets.map((s, i) => ({ Subnet: s, ...(gateways[i] ? { Gateway: gateways[i] } : {}), ...(ranges[i] ? { IPRange: ranges[i] } : {}) })) },
    });
    console.log(r.Id);
    return 0;
  },
});
