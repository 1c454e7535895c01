/**
 * A container's endpoints from create to removal: addresses, name files for the embedded DNS, the
 * network part of its plan, and what start, stop and removal do to the host.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomHex } from "../random.ts";
import type { Engine } from "../engine.ts";
import type { StoredContainer } from "../containers/types.ts";
import { EngineError, conflict, invalidParameter } from "../errors.ts";
import { resolvConf, type ContainerPlan, type PlanNetIf } from "../runtime/spec.ts";
import { readContainerStatus } from "../runtime/status.ts";
import { allocate, claim, claims, ipToNum, macFor, maskOf, parseBridgeName, parseCidr, parseIPv4, release } from "./ipam.ts";
import * as host from "./host.ts";
import { mappingsOf } from "./ports.ts";
import { registerRoot } from "./roots.ts";
export { containerPorts } from "./ports.ts";
import { deleteRulesAsync, ensureBase, ensureNetworkHost, hostLockAsync, newBatch, withIntentAsync } from "./program.ts";
import { reconcileIfNeeded } from "./reconcile.ts";
import { releasePorts, reservePorts } from "./reserve.ts";
import { type Endpoint, type Network, allNetworks, ctrTag, endpointsOf, kernelPath, lookupNetwork, namedEndpoints, namesFile, netDir, networkById, owner, resolveNetwork, vethName } from "./store.ts";

// ------------------------------------------------------------------ endpoints

/** The addresses this data root's endpoints on a network hold. */
function endpointAddresses(engine: Engine, net: Network): Set<string> {
  return new Set((engine.db.query("SELECT ip FROM endpoints WHERE network_id = ?").all(net.id) as { ip: string }[]).map((r) => r.ip));
}

/**
 * What allocation skips: this data root's endpoints' addresses, and those a veth on the bridge still answers
 * for, a dead container's until the kernel has dismantled its netns (host.portAddresses). Docker deletes the
 * veth at stop instead; deleting one whose netns is alive waits for its references, 10-30 ms per stop here.
 */
function takenAddresses(engine: Engine, net: Network): Set<string> {
  const taken = endpointAddresses(engine, net);
  for (const ip of host.portAddresses(net.bridge!).keys()) taken.add(ip);
  return taken;
}

export function addEndpoint(engine: Engine, c: StoredContainer, net: Network, opts: { aliases: string[]; ip?: string; mac?: string }): Endpoint {
  const subnet = parseCidr(net.subnet!);
  const existing = endpointsOf(engine, "container_id", c.id);
  let ip: string;
  if (opts.ip) {
    // Canonical, so that it can name the claim file and go into `ip`'s input as is.
    const want = parseIPv4(opts.ip);
    if (net.name === "bridge") throw invalidParameter("user specified IP address is supported on user defined networks only");
    if ((ipToNum(want) & maskOf(subnet.prefix)) >>> 0 !== subnet.network) throw invalidParameter(`no configured subnet or ip-range contain the IP address ${want}`);
    if (endpointAddresses(engine, net).has(want) || !claim(net.bridge!, want, owner(engine, c.id))) throw new EngineError("forbidden", `Address already in use`);
    // Asked for by name, so not skipped: a dead container's veth still answering for it goes now.
    const ghost = host.portAddresses(net.bridge!).get(want);
    if (ghost) host.deleteLinks([ghost]);
    ip = want;
  } else ip = allocate(net.bridge!, subnet, ipToNum(net.gateway!), takenAddresses(engine, net), owner(engine, c.id));
  const ep: Endpoint = {
    id: randomHex(),
    containerId: c.id,
    networkId: net.id,
    ip,
    // --mac-address as given (lower case, colons: what `ip` takes and inspect shows), else one derived from the address
    mac: opts.mac ? opts.mac.trim().toLowerCase().replaceAll("-", ":") : macFor(ip),
    aliases: opts.aliases,
    position: existing.length ? Math.max(...existing.map((e) => e.position)) + 1 : 0,
  };
  try {
    engine.db
      .query("INSERT INTO endpoints (id, container_id, network_id, ip, mac, aliases, position) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(ep.id, ep.containerId, ep.networkId, ep.ip, ep.mac, JSON.stringify(ep.aliases), ep.position);
  } catch (e) {
    release(net.bridge!, ip, owner(engine, c.id));
    throw e;
  }
  writeNames(engine, net);
  return ep;
}

/** The name file the shim's resolver reads: "IP name shortid alias..." per attached container. */
export function writeNames(engine: Engine, net: Network): void {
  if (net.driver !== "bridge" || net.name === "bridge") return;
  const lines = namedEndpoints(engine, net.id).map((ep) => `${ep.ip} ${[ep.name, ep.containerId.slice(0, 12), ...ep.aliases].join(" ")}`);
  const text = `${lines.join("\n")}\n`;
  const f = namesFile(engine, net);
  // Every start of an attached container comes here, mostly with nothing changed: reading is far cheaper
  // than writing aside and renaming into place, which ext4 follows with a flush of the new file's blocks.
  try {
    if (readFileSync(f, "utf8") === text) return;
  } catch {}
  mkdirSync(netDir(engine), { recursive: true, mode: 0o700 });
  writeFileSync(`${f}.tmp`, text);
  renameSync(`${f}.tmp`, f);
}

/**
 * At create: validates the network mode and, for bridge networks, records the endpoint (address claimed now,
 * kept until removal). Returns the normalised NetworkMode.
 */
export function attachAtCreate(engine: Engine, c: StoredContainer, opts: { aliases?: string[]; ip?: string; mac?: string }): void {
  const mode = c.hostConfig.NetworkMode;
  if (mode === "host" || mode === "none" || mode.startsWith("container:")) {
    if (opts.aliases?.length) throw invalidParameter("network-scoped aliases are only supported for user-defined networks");
    return;
  }
  const net = resolveNetwork(engine, mode);
  if (net.name === "bridge" && opts.aliases?.length) throw invalidParameter("network-scoped aliases are only supported for user-defined networks");
  addEndpoint(engine, c, net, { aliases: opts.aliases ?? [], ip: opts.ip, mac: opts.mac });
}

/** Checks a --network value at create time, as dockerd: a known network, host, none or container:<existing>. */
export function validateNetworkMode(engine: Engine, mode: string): string {
  if (mode === "default") return "bridge";
  if (mode === "host" || mode === "none" || mode === "bridge") return mode;
  if (mode.startsWith("container:")) {
    const ref = mode.slice("container:".length);
    if (!ref) throw invalidParameter("invalid container format container:<name|id>");
    engine.containers.resolve(ref);
    return mode;
  }
  const net = resolveNetwork(engine, mode);
  return net.name;
}

// ------------------------------------------------------------------ container start / stop / remove

function hostsFor(hostname: string, ip: string): string {
  return ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters", `${ip}\t${hostname}`, ""].join("\n");
}

function hostResolv(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/**
 * A build's RUN step on the default bridge network, as dockerd's BuildKit runs them: one interface (veth
 * `bb<12 hex>`, outside the names reconciliation takes for stale container veths), an address claimed for
 * `scratchDir` (the build's private directory: while it exists no reconciliation releases the claim, and a
 * build killed before `release` leaves one that the next reconciliation drops once the directory is gone).
 * Undefined when there is no default bridge. The host end goes with the step's network namespace.
 */
export async function buildStepNetwork(engine: Engine, scratchDir: string): Promise<{ plan: Pick<ContainerPlan, "network" | "netifs">; ip: string; resolv: string; release(): void } | undefined> {
  if (/\s/.test(scratchDir)) return undefined; // claim owners are "<dir> <id>"
  reconcileIfNeeded(engine);
  const net = lookupNetwork(engine, "bridge");
  if (!net?.bridge) return undefined;
  const who = `${scratchDir} ${randomHex(8)}`;
  const ip = allocate(net.bridge, parseCidr(net.subnet!), ipToNum(net.gateway!), takenAddresses(engine, net), who);
  // After the claim: a live claim keeps another engine's clean-up from deleting a shared bunker0 under us.
  try {
    await ensureNetworkHost(engine, net);
  } catch (e) {
    release(net.bridge, ip, who);
    throw e;
  }
  const netif: PlanNetIf = { host: `bb${randomHex(6)}`, peer: "eth0", bridge: net.bridge, mac: macFor(ip), ip, prefix: parseCidr(net.subnet!).prefix, gateway: net.gateway!, mtu: Number(net.options["com.docker.network.driver.mtu"]) || undefined };
  return { plan: { network: "private", netifs: [netif] }, ip, resolv: resolvConf("private", hostResolv()), release: () => release(net.bridge!, ip, who) };
}

/** The plan's network part for a container's next start; writes its hosts and resolv.conf. */
export async function networkPlan(engine: Engine, c: StoredContainer): Promise<Partial<ContainerPlan>> {
  reconcileIfNeeded(engine);
  const mode = c.hostConfig.NetworkMode;
  const put = (name: string, text: string) => writeFileSync(join(c.dir, name), text);
  if (mode.startsWith("container:")) {
    const target = engine.containers.resolve(mode.slice("container:".length));
    const st = readContainerStatus(target.dir);
    if (!st.running || !st.pid) throw conflict(`cannot join network namespace of a non running container: container ${target.id} is not running`);
    for (const f of ["hosts", "resolv.conf"]) if (existsSync(join(target.dir, f))) put(f, readFileSync(join(target.dir, f), "utf8"));
    return { network: "private", netns: `/proc/${st.pid}/ns/net` };
  }
  const eps = endpointsOf(engine, "container_id", c.id);
  if (!eps.length) return {};
  const netifs: PlanNetIf[] = [];
  const dnsFiles: string[] = [];
  for (const ep of eps) {
    const net = networkById(engine, ep.networkId);
    if (!net?.bridge) continue;
    // The address survives restarts; after a reboot the claim may be gone (or, rarely, someone else's).
    if (!claim(net.bridge, ep.ip, owner(engine, c.id))) {
      const derived = ep.mac === macFor(ep.ip); // a --mac-address stays
      ep.ip = allocate(net.bridge, parseCidr(net.subnet!), ipToNum(net.gateway!), takenAddresses(engine, net), owner(engine, c.id));
      if (derived) ep.mac = macFor(ep.ip);
      engine.db.query("UPDATE endpoints SET ip = ?, mac = ? WHERE id = ?").run(ep.ip, ep.mac, ep.id);
      writeNames(engine, net);
    }
    // After the claim: until the shim plugs the veth in, the claim is what tells another data root's
    // clean-up (dropGoneRoots) that a shared bunker0 is in use; if it went just before, this makes it again.
    await ensureNetworkHost(engine, net);
    netifs.push({ host: vethName(ep), peer: `eth${netifs.length}`, bridge: net.bridge, mac: ep.mac, ip: ep.ip, prefix: parseCidr(net.subnet!).prefix, gateway: netifs.length ? "" : net.gateway!, mtu: Number(net.options["com.docker.network.driver.mtu"]) || undefined });
    if (net.name !== "bridge") {
      writeNames(engine, net);
      dnsFiles.push(namesFile(engine, net));
    }
  }
  const resolv = hostResolv();
  put("hosts", hostsFor(c.config.Hostname, netifs[0]?.ip ?? "127.0.1.1"));
  const plan: Partial<ContainerPlan> = { network: "private", netifs };
  if (dnsFiles.length) {
    // Docker's internal resolver: 127.0.0.11, the host's search domains, ndots:0; upstreams from the host.
    const search = resolv.split("\n").filter((l) => /^\s*search\s/.test(l));
    put("resolv.conf", ["nameserver 127.0.0.11", ...search, "options ndots:0", ""].join("\n"));
    const upstream = [...resolv.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!);
    plan.dns = { files: dnsFiles, upstream };
  } else {
    put("resolv.conf", resolvConf("private", resolv));
  }
  plan.hostPorts = await reservePorts(engine, c, eps);
  return plan;
}

/**
 * After the shim started the container: DNAT rules for its published ports, hairpin on its veth (kernel path
 * only). Afterwards the container's tagged rules are exactly those of its recorded ports (earlier starts'
 * go), so that releasePorts can delete them as known, without reading iptables.
 */
export async function networkStarted(engine: Engine, c: StoredContainer): Promise<void> {
  const maps = mappingsOf(engine, c.id);
  if (!maps.length || !kernelPath(engine)) return;
  const ep = endpointsOf(engine, "container_id", c.id)[0]!;
  const net = networkById(engine, ep.networkId)!;
  try {
    writeFileSync(`/sys/class/net/${vethName(ep)}/brport/hairpin_mode`, "1"); // a container reaching itself through its published port
  } catch {}
  const tag = ctrTag(engine, c.id);
  const rules = maps.map((m) => host.portRules(tag, parseBridgeName(net.bridge!), parseIPv4(ep.ip), m));
  registerRoot(host.rootTag(engine.config.dataRoot), engine.config.dataRoot);
  await withIntentAsync(engine, () =>
    hostLockAsync(async () => {
      const seen = await host.currentRules();
      const saved = seen.saved;
      // The shim bound these ports, so no live container holds them: a rule still naming one is stale.
      const stale = (l: string) =>
        /:ctr:/.test(host.ruleComment(l) ?? "") && host.ruleComment(l)!.startsWith("bunker:") && maps.some((m) => l.startsWith("-A BUNKER ") && l.includes(` -p ${m.proto} `) && l.includes(`--dport ${m.hostPort} `) && / -j DNAT /.test(l) && (m.hostIp === "0.0.0.0" ? !/ -d /.test(l) : l.includes(`-d ${m.hostIp}/32 `)));
      const batch = newBatch();
      ensureBase(engine, saved, batch);
      const wanted = { filter: rules.flatMap((r) => r.filter), nat: rules.flatMap((r) => r.nat) };
      for (const t of ["filter", "nat"] as const) {
        for (const l of saved.rules[t] ?? []) if ((t === "nat" && stale(l)) || (host.ruleComment(l) === tag && !wanted[t].includes(l))) batch[t].lines.push(l.replace(/^-A /, "-D "));
        for (const l of wanted[t]) if (!saved.rules[t]?.includes(l)) batch[t].lines.push(l);
      }
      try {
        await host.restoreSeen(batch, seen);
      } catch (e) {
        // Each table commits on its own: a table that did commit must not keep this start's rules.
        try {
          await deleteRulesAsync((cm) => cm === tag);
        } catch {}
        throw e;
      }
    }),
  );
}

/** Container removal: ports, address claims, name files. The rows go with the container's (ON DELETE CASCADE). */
export function containerRemoved(engine: Engine, c: StoredContainer): void {
  releasePorts(engine, c.id);
  const eps = endpointsOf(engine, "container_id", c.id);
  engine.db.query("DELETE FROM endpoints WHERE container_id = ?").run(c.id);
  for (const ep of eps) {
    const net = networkById(engine, ep.networkId);
    if (!net?.bridge) continue;
    release(net.bridge, ep.ip, owner(engine, c.id));
    writeNames(engine, net);
  }
  // A process killed between claiming an address and recording the endpoint leaves a claim no row names:
  // the container owns it all the same.
  const me = owner(engine, c.id);
  for (const net of allNetworks(engine)) {
    if (!net.bridge) continue;
    for (const [ip, who] of claims(net.bridge)) if (who === me) release(net.bridge, ip, who);
  }
}

/** Translates the shim's port bind failure into Docker's message. */
export function startError(engine: Engine, c: StoredContainer, e: unknown): unknown {
  const msg = (e as Error)?.message ?? "";
  if (!msg.startsWith("Error starting userland proxy")) return e;
  const ep = endpointsOf(engine, "container_id", c.id)[0];
  const err = new EngineError("system", `driver failed programming external connectivity on endpoint ${c.name} (${ep?.id ?? ""}): ${msg}`);
  (err as any).exitCode = 125;
  return err;
}
