/**
 * The bridge driver's options (com.docker.network.bridge.*), parsed and refused with moby's errors.
 */
import { invalidParameter } from "../errors.ts";
import { parseBridgeName, parseIPv4 } from "./ipam.ts";
import { strconvError } from "../../go/strconv.ts";
export { containerPorts } from "./ports.ts";


/** Go's strconv.ParseBool for a driver option, with the bridge driver's error. */
export function boolOption(key: string, v: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw invalidParameter(`failed to parse ${key} value: ${v} (${strconvError("ParseBool", v)})`);
}

/**
 * The bridge driver's options, checked and applied: name, MTU, masquerade, ICC and the default host binding
 * address. Other com.docker.network.* options are refused rather than ignored; options outside that
 * namespace are kept as the network's metadata and reach nothing on the host.
 */
export function checkBridgeOptions(opts: Record<string, string>): void {
  for (const [k, v] of Object.entries(opts)) {
    switch (k) {
      case "com.docker.network.bridge.name":
        parseBridgeName(v);
        break;
      case "com.docker.network.driver.mtu": {
        if (!/^\d{1,5}$/.test(v)) throw invalidParameter(`failed to parse ${k} value: ${v} (${strconvError("Atoi", v)})`);
        if (Number(v) < 68 || Number(v) > 65535) throw invalidParameter(`invalid MTU number: ${v}`);
        break;
      }
      case "com.docker.network.bridge.enable_ip_masquerade":
      case "com.docker.network.bridge.enable_icc":
        boolOption(k, v);
        break;
      case "com.docker.network.bridge.host_binding_ipv4":
        parseIPv4(v);
        break;
      default:
        if (k.startsWith("com.docker.network.")) throw invalidParameter(`network option ${k} is not supported`);
    }
  }
}
