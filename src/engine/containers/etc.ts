/**
 * A container's /etc/hosts and /etc/resolv.conf beyond what its network gives: `--add-host` (ExtraHosts)
 * and `--dns`/`--dns-search`/`--dns-option`, applied at each start as Docker builds those files then.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Engine } from "../engine.ts";
import { HOST_GATEWAY, hostsFile, parseExtraHost, resolvWith, type ContainerPlan } from "../runtime/spec.ts";
import { writeEtcFiles } from "../runtime/start.ts";
import type { HostConfig } from "./types.ts";
import { network } from "../lazy.ts";

/** Rewrites the container's hosts and resolv.conf for this start; a plan with embedded DNS gets the --dns servers as its upstreams. */
export function applyEtcOptions(engine: Engine, c: { dir: string; hostConfig: HostConfig }, plan: ContainerPlan): void {
  const hc = c.hostConfig;
  const extra = hc.ExtraHosts ?? [];
  const servers = hc.Dns ?? [];
  const search = hc.DnsSearch ?? [];
  const options = hc.DnsOptions ?? [];
  if (!extra.length && !servers.length && !search.length && !options.length) return;
  writeEtcFiles(plan); // the network's own files, for the modes whose files are written only once
  if (extra.length) {
    // Written fresh each start: a bridge's file was rewritten by its network this start; the others are made here.
    const base = plan.netifs?.length ? readFileSync(`${c.dir}/hosts`, "utf8") : plan.network === "host" ? readFileSync("/etc/hosts", "utf8") : hostsFile(plan.hostname);
    // networking loads only here: `host-gateway` on a container that may have none of its own
    const gateway = () => network().lookupNetwork(engine, "bridge")?.gateway ?? "";
    const lines = extra.map((e) => {
      const [host, ip] = parseExtraHost(e);
      return `${ip === HOST_GATEWAY ? gateway() : ip}\t${host}`;
    });
    writeFileSync(`${c.dir}/hosts`, `${base.replace(/\n*$/, "\n")}${lines.join("\n")}\n`);
  }
  if (servers.length || search.length || options.length) {
    const path = `${c.dir}/resolv.conf`;
    if (plan.dns) {
      // Docker's embedded resolver stays the nameserver; the --dns servers become where it forwards.
      if (servers.length) plan.dns.upstream = servers;
      const opts = options.length && !options.some((o) => o.startsWith("ndots:")) ? ["ndots:0", ...options] : options;
      writeFileSync(path, resolvWith(readFileSync(path, "utf8"), { servers: [], search, options: opts }));
    } else writeFileSync(path, resolvWith(readFileSync(path, "utf8"), { servers, search, options }));
  }
}
