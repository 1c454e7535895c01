/**
 * Networking, in the Docker API's shapes: the networks (bridge, host, none and user-defined bridges), each
 * container's endpoints (address kept from create to removal, so restarts keep it), published ports, the
 * embedded DNS's name files, and reconciliation after a crash.
 *
 * Who does what: this module decides (subnets, addresses, names, rules, kernel DNAT or the userland proxy)
 * and programs what lives as long as a network (its bridge and rules) or a running container's published
 * ports (DNAT rules). The shim does what lives exactly as long as a container (veths, held or proxied host
 * ports, the DNS socket); the kernel removes those when the container dies, so nothing per-container can
 * leak but rules, which carry owner comments.
 *
 * The parts: store.ts (rows, built-ins, lookup, per-engine checks), program.ts (bridges and rules on the
 * host; rtnl.ts the rtnetlink requests that make a bridge), options.ts (bridge driver options), api.ts (the API's network routes and NetworkSettings),
 * endpoints.ts (a container's endpoints, plan, start and removal), reserve.ts (published host ports),
 * reconcile.ts (after a crash or a deleted data root). This file is their one entry.
 */
export { type NetworkCreateRequest, type NetworkResource, connectNetwork, createNetwork, disconnectNetwork, inspectNetwork, listNetworks, networkSettings, portsOf, pruneNetworks, removeNetwork } from "./api.ts";
export { attachAtCreate, buildStepNetwork, containerRemoved, networkPlan, networkStarted, startError, validateNetworkMode } from "./endpoints.ts";
export { checkBridgeOptions } from "./options.ts";
export { dropGoneRoots, reconcileIfNeeded, reconcileNetworking } from "./reconcile.ts";
export { releasePorts, releasePortsAsync } from "./reserve.ts";
export { DEFAULT_BIP, DEFAULT_BRIDGE, DEFAULT_POOLS, type Endpoint, type Network, endpointsOf, lookupNetwork, portForwardingMode, resolveNetwork } from "./store.ts";
export { containerPorts } from "./ports.ts";
