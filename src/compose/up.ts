/**
 * `up`'s convergence (docker compose v2's convergence.go): networks and volumes first, then each service in
 * depends_on order: images ensured, containers scaled to the wanted count, recreated exactly where the
 * config hash or the image changed (or when forced), started after their dependencies' conditions hold.
 */
import type { Backend } from "../api/backend.ts";
import type { ServiceConfig } from "./model.ts";
import { ComposeError } from "./errors.ts";
import * as L from "./labels.ts";
import { containerPlan, imageOf, networksByPriority, type ContainerPlan, type NamedService } from "./convert.ts";
import { serviceHash } from "./output.ts";
import { dependenciesOf, sharesWith, withDependencies } from "./graph.ts";
import { type ComposeContext, type Summary, ofService, orphanWarning, projectContainers, waitFor } from "./state.ts";
import { removeContainers, removeWithVolumes } from "./down.ts";
import { buildService } from "./build.ts";
import { tarOf } from "./tar.ts";

/** What `up`/`create` ask for (docker compose v2's CreateOptions and StartOptions). */
export interface UpOptions {
  /** Services named on the command line (all when empty). */
  services?: string[];
  /** --no-deps: the named services only. */
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  /** --scale SERVICE=N. */
  scale?: Record<string, number>;
  removeOrphans?: boolean;
  /** -V: anonymous volumes made anew, not taken over from the replaced container. */
  renewAnonVolumes?: boolean;
  /** --build / --no-build. */
  build?: boolean;
  noBuild?: boolean;
  /** --pull always|missing|never (the service's pull_policy otherwise). */
  pull?: string;
  /** `create`: nothing is started. */
  noStart?: boolean;
  /** --wait: until every container runs (healthy where it has a healthcheck); --wait-timeout in ms. */
  wait?: boolean;
  waitTimeoutMs?: number;
  /** -t: seconds to stop a replaced container. */
  timeout?: number;
  /** Called with every container once all are created, before any starts (attached `up` prints "Attaching to"). */
  beforeStart?: (containers: UpContainer[]) => void;
  /** Attached `up`: output handlers for each container started (keyed by container name). */
  attach?: (c: { id: string; name: string; service: string }) => { onStdout(b: Uint8Array): void; onStderr(b: Uint8Array): void } | undefined;
}

/** A container `up` leaves in place. */
export interface UpContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  /** Its attachment when `attach` asked for it at start. */
  exited?: Promise<number | undefined>;
  /** Whether it was running when `up` found it (a container `up` creates is not). */
  running?: boolean;
}

/** The replica count of a service (--scale, deploy.replicas, scale, 1). */
export function scaleOf(name: string, service: ServiceConfig, flags: Record<string, number> = {}): number {
  return flags[name] ?? service.deploy?.replicas ?? service.scale ?? 1;
}

/** The services an operation on `names` touches: all, or the named ones and (unless noDeps) their dependencies. */
export function selectServices(ctx: ComposeContext, names: string[] = [], noDeps = false): string[] {
  for (const n of names) if (!(n in ctx.project.services)) throw new ComposeError(`no such service: ${n}`);
  if (!names.length) return Object.keys(ctx.project.services);
  return noDeps ? names : withDependencies(ctx.project, names);
}

/** A service of the project with its name. */
export const named = (ctx: ComposeContext, s: string): NamedService => ({ ...ctx.project.services[s]!, name: s });

/** Creates the project's networks and volumes that the services use (declared external ones must exist). */
export async function ensureResources(ctx: ComposeContext, services: string[]): Promise<void> {
  const { backend, project } = ctx;
  const nets = new Set<string>();
  const vols = new Set<string>();
  for (const s of services) {
    const svc = project.services[s]!;
    if (!svc.network_mode) for (const n of networksByPriority(named(ctx, s))) nets.add(n);
    for (const v of svc.volumes ?? []) if (v.type === "volume" && v.source && project.volumes?.[v.source]) vols.add(v.source);
  }
  await Promise.all([...nets].map((key) => ensureNetwork(ctx, key)));
  await Promise.all([...vols].map(async (key) => {
    const decl = project.volumes![key]!;
    const name = L.resourceName(project.name, key, decl);
    const found = await backend.inspectVolume(name).catch(notFound);
    if (decl.external) {
      if (!found) throw new ComposeError(`external volume "${name}" not found`);
      return;
    }
    if (found) {
      if (found.Labels?.[L.PROJECT] !== project.name) ctx.progress.warn(`volume "${name}" already exists but was not created by Docker Compose. Use \`external: true\` to use an existing volume`);
      return;
    }
    ctx.progress.event(`Volume "${name}"`, "Creating");
    await backend.createVolume({ Name: name, Driver: decl.driver || "local", DriverOpts: decl.driver_opts ?? {}, Labels: { ...(decl.labels ?? {}), [L.VOLUME]: key, [L.PROJECT]: project.name, [L.VERSION]: L.COMPOSE_VERSION } });
    ctx.progress.event(`Volume "${name}"`, "Created");
  }));
}

/** undefined for a "not found" error, the error otherwise. */
function notFound(e: unknown): undefined {
  if ((e as { code?: string }).code === "notFound" || /not found|no such/i.test((e as Error).message)) return undefined;
  throw e;
}

/** Creates one project network unless it exists (compose v2's ensureNetwork). */
async function ensureNetwork(ctx: ComposeContext, key: string): Promise<void> {
  const { backend, project } = ctx;
  const decl = project.networks?.[key] ?? {};
  const name = L.resourceName(project.name, key, decl);
  const found = await backend.inspectNetwork(name).catch(notFound);
  if (decl.external) {
    if (!found) throw new ComposeError(`network ${name} declared as external, but could not be found`);
    return;
  }
  if (found) {
    if (found.Labels?.[L.PROJECT] !== project.name) ctx.progress.warn(`a network with name ${name} exists but was not created by compose.\nSet \`external: true\` to use an existing network`);
    return;
  }
  if (decl.enable_ipv6) throw new ComposeError(`network ${key}: enable_ipv6 is not supported by bunker compose`);
  if (decl.enable_ipv4 === false) throw new ComposeError(`network ${key}: enable_ipv4: false is not supported by bunker compose`);
  ctx.progress.event(`Network ${name}`, "Creating");
  await backend.createNetwork({
    Name: name,
    Driver: decl.driver || "bridge",
    Internal: !!decl.internal,
    Attachable: !!decl.attachable,
    Options: decl.driver_opts ?? {},
    Labels: { ...(decl.labels ?? {}), [L.NETWORK]: key, [L.PROJECT]: project.name, [L.VERSION]: L.COMPOSE_VERSION },
    ...(decl.ipam ? { IPAM: { Driver: decl.ipam.driver || "default", Options: decl.ipam.options ?? {}, Config: (decl.ipam.config ?? []).map((c) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ip_range, AuxiliaryAddresses: c.aux_addresses })) } } : {}),
  });
  ctx.progress.event(`Network ${name}`, "Created");
}

/**
 * The image of each service, pulled or refused as its pull_policy (or --pull) says, resolved to its ID so
 * a container made from an older image is recreated. A service with `build:` needs the builder.
 */
export async function ensureImages(ctx: ComposeContext, services: string[], opts: { build?: boolean; noBuild?: boolean; pull?: string } = {}): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  await Promise.all(services.map(async (s) => {
    const svc = ctx.project.services[s]!;
    const image = imageOf(ctx.project, { ...svc, name: s });
    const policy = opts.pull ?? svc.pull_policy ?? "missing";
    if (!["always", "missing", "if_not_present", "never", "build", ""].includes(policy)) throw new ComposeError(`service "${s}": pull_policy ${policy} is not supported by bunker compose`);
    // --build, or pull_policy build, builds; a missing image of a service with `build:` is built (unless --no-build).
    if (svc.build && !opts.noBuild && (opts.build || policy === "build")) return void ids.set(s, await buildService(ctx, s));
    let found = policy === "always" ? undefined : await ctx.backend.inspectImage(image).catch(notFound);
    if (!found && svc.build && !opts.noBuild && policy !== "always") return void ids.set(s, await buildService(ctx, s));
    if (!found) {
      if (policy === "never" || (svc.build && opts.noBuild)) throw new ComposeError(`service "${s}": image ${image} not found${svc.build ? " and --no-build was given" : " and pull_policy is never"}`);
      if (!svc.image) throw new ComposeError(`service "${s}" has neither an image nor a build context specified: invalid compose project`);
      ctx.progress.event(s, "Pulling");
      await ctx.backend.pull(image, { platform: svc.platform }, () => {});
      ctx.progress.event(s, "Pulled");
      found = await ctx.backend.inspectImage(image);
    }
    ids.set(s, found.Id);
  }));
  return ids;
}

/** Containers that run services the project no longer has. */
export function orphansOf(ctx: ComposeContext, list: Summary[]): Summary[] {
  const known = new Set([...Object.keys(ctx.project.services), ...(ctx.disabled ?? [])]);
  return list.filter((c) => !known.has(c.Labels[L.SERVICE] ?? ""));
}

/** Converges and starts the project (docker compose v2's create + start). */
export async function up(ctx: ComposeContext, opts: UpOptions = {}): Promise<UpContainer[]> {
  const { backend, project } = ctx;
  const selected = selectServices(ctx, opts.services, opts.noDeps);
  for (const s of selected) {
    const svc = project.services[s]!;
    if (svc.container_name && scaleOf(s, svc, opts.scale) > 1) throw new ComposeError(`services.${s}: can't set container_name and ${s} as container name must be unique: invalid compose project`);
  }
  // The images and the containers there are, at once; then the networks and volumes (after the listing,
  // which may reap exited --rm containers and their endpoints in this process).
  const [imageIds, observed] = await Promise.all([ensureImages(ctx, selected, opts), projectContainers(backend, project.name)]);
  const orphans = orphansOf(ctx, observed);
  if (orphans.length && opts.removeOrphans) await removeContainers(ctx, orphans, { timeout: opts.timeout, stop: true });
  else if (orphans.length) ctx.progress.warn(orphanWarning(orphans));
  await ensureResources(ctx, selected);

  const result = new Map<string, UpContainer[]>();
  const changed = new Set<string>();
  const created = new Map<string, Promise<void>>();
  const firstOf = (s: string) => {
    const c = result.get(s)?.[0] ?? ofService(observed, s)[0];
    if (!c) throw new ComposeError(`service ${s} has no container to share with`);
    return "id" in c ? c.id : c.Id;
  };
  const converge = async (s: string) => {
    await Promise.all(dependenciesOf(project, s).filter((d) => selected.includes(d)).map((d) => created.get(d)));
    const svc = named(ctx, s);
    const hash = serviceHash(project.services[s]!);
    const plan = (number: number, name?: string, anonymous?: Map<string, string>) =>
      containerPlan(svc, { project, origin: ctx.origin, number, hash, imageId: imageIds.get(s), name, anonymous, serviceContainer: firstOf, environment: ctx.environment });
    const want = scaleOf(s, svc, opts.scale);
    let mine = ofService(observed, s);
    // Scale down: the highest numbers go (those with an outdated config first, as compose v2 sorts them).
    // A container sharing a namespace or volumes with one that was replaced points at the old one: replaced too.
    const sharedChanged = sharesWith(project, s).some((d) => changed.has(d));
    const outdated = (c: Summary) => sharedChanged || c.Labels[L.CONFIG_HASH] !== hash || c.ImageID !== imageIds.get(s);
    if (mine.length > want) {
      const order = [...mine].sort((a, b) => Number(outdated(b)) - Number(outdated(a)) || L.numberOf(b.Labels) - L.numberOf(a.Labels));
      const extra = order.slice(0, mine.length - want);
      await removeContainers(ctx, extra, { timeout: opts.timeout, stop: true });
      mine = mine.filter((c) => !extra.includes(c));
    }
    const kept: UpContainer[] = [];
    await Promise.all(mine.map(async (c) => {
      const number = L.numberOf(c.Labels);
      const name = L.canonicalName(c.Names);
      if (opts.forceRecreate || (!opts.noRecreate && outdated(c))) {
        kept.push({ ...(await recreate(ctx, c, L.containerName(project.name, svc, number), (anon) => plan(number, undefined, anon), opts)), service: s, number });
        changed.add(s);
      } else kept.push({ id: c.Id, name, service: s, number, running: c.State === "running" || c.State === "restarting" || c.State === "paused" });
    }));
    let next = Math.max(0, ...mine.map((c) => L.numberOf(c.Labels))) + 1;
    const fresh = Array.from({ length: Math.max(0, want - mine.length) }, () => next++);
    await Promise.all(fresh.map(async (number) => {
      const p = plan(number);
      kept.push({ id: await createFrom(ctx, p), name: p.options.name!, service: s, number });
    }));
    if (fresh.length) changed.add(s);
    result.set(s, kept.sort((a, b) => a.number - b.number));
  };
  for (const s of selected) created.set(s, Promise.resolve().then(() => converge(s)));
  // Every service's creation settles before any failure is reported, so none is left half-made.
  const settled = await Promise.allSettled(created.values());
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  if (opts.noStart) return selected.flatMap((s) => result.get(s) ?? []);
  opts.beforeStart?.(selected.flatMap((s) => result.get(s) ?? []));
  return start(ctx, selected, result, changed, opts);
}

/**
 * Creates a container, connects its further networks and writes its `environment:`/`content:` secrets and
 * configs into it; a failure after create removes it again.
 */
export async function createFrom(ctx: ComposeContext, p: ContainerPlan, report = true): Promise<string> {
  const name = p.options.name!;
  if (report) ctx.progress.event(`Container ${name}`, "Creating");
  const { Id } = await ctx.backend.createContainer(p.options);
  try {
    for (const n of p.extraNetworks) await ctx.backend.connectNetwork(n.network, Id, { Aliases: n.aliases, ...(n.ipv4Address ? { IPAddress: n.ipv4Address } : {}) });
    if (p.files.length) await ctx.backend.putArchive(Id, "/", new Blob([tarOf(p.files)]).stream(), {});
  } catch (e) {
    await ctx.backend.removeContainer(Id, { force: true }).catch(() => {});
    throw e;
  }
  if (report) ctx.progress.event(`Container ${name}`, "Created");
  return Id;
}

/**
 * Replaces a container: the old one stopped and removed, the new one created under the service's name for it
 * (compose v2's, also for a container docker-compose 1.29 named `p_web_1`), taking over its anonymous volumes
 * (and those its image declares) unless -V.
 */
async function recreate(ctx: ComposeContext, old: Summary, name: string, plan: (anonymous: Map<string, string>) => ContainerPlan, opts: UpOptions): Promise<{ id: string; name: string }> {
  ctx.progress.event(`Container ${L.canonicalName(old.Names)}`, "Recreate");
  const anonymous = new Map<string, string>();
  if (!opts.renewAnonVolumes) {
    const named = new Set(Object.keys(ctx.project.volumes ?? {}).map((k) => L.resourceName(ctx.project.name, k, ctx.project.volumes![k])));
    const inspect = await ctx.backend.inspectContainer(old.Id);
    for (const m of (inspect.Mounts ?? []) as { Type: string; Name?: string; Destination: string }[]) if (m.Type === "volume" && m.Name && !named.has(m.Name)) anonymous.set(m.Destination, m.Name);
  }
  const p = plan(anonymous);
  // Volumes the image declares (not in the file) are kept too: named on the new container by their old volume.
  const declared = new Set((p.options.mounts ?? []).map((m) => m.Target));
  for (const b of p.options.binds ?? []) declared.add(b.split(":")[1]!);
  for (const t of Object.keys(p.options.tmpfs ?? {})) declared.add(t);
  const inherited = [...anonymous].filter(([t]) => !declared.has(t)).map(([Target, Source]) => ({ Type: "volume", Source, Target }));
  if (inherited.length) p.options.mounts = [...(p.options.mounts ?? []), ...inherited];
  p.options.labels = { ...p.options.labels, [L.REPLACE]: old.Id };
  // The old one goes first: the engine reserves a container's name and static addresses (ipv4_address,
  // mac_address) at create, so the new one could not have them while the old one exists. Its plan was made
  // (and any refusal raised) before anything is stopped; its anonymous volumes stay for the new one.
  await ctx.backend.stopContainer(old.Id, { timeout: opts.timeout });
  await removeWithVolumes(ctx, old.Id, !!opts.renewAnonVolumes);
  const Id = await createFrom(ctx, p, false);
  ctx.progress.event(`Container ${name}`, "Recreated");
  return { id: Id, name };
}

/**
 * Starts each service once its dependencies' conditions hold (service_started: started; service_healthy;
 * service_completed_successfully); a `required: false` dependency that fails is skipped with a warning.
 * A service depending with `restart: true` on one that changed is restarted.
 */
async function start(ctx: ComposeContext, selected: string[], containers: Map<string, UpContainer[]>, changed: Set<string>, opts: UpOptions): Promise<UpContainer[]> {
  const { backend, project } = ctx;
  const started = new Map<string, Promise<void>>();
  const restarted = new Set<string>();
  const startService = async (s: string) => {
    const deps = (project.services[s]!.depends_on ?? {}) as Record<string, { condition?: string; required?: boolean; restart?: boolean }>;
    await Promise.all(Object.entries(deps).map(async ([d, cfg]) => {
      if (!(d in project.services)) {
        if (ctx.disabled?.includes(d) || cfg.required === false) return;
        throw new ComposeError(`service "${s}" depends on undefined service "${d}": invalid compose project`);
      }
      await started.get(d);
      const condition = cfg.condition ?? "service_started";
      if (condition === "service_started") return;
      const waiting = (containers.get(d) ?? (await projectContainers(backend, project.name, { services: [d] })).map((c) => ({ id: c.Id, name: L.canonicalName(c.Names), service: d, number: 0 })));
      if (!waiting.length || scaleOf(d, project.services[d]!, opts.scale) === 0) {
        if (cfg.required === false) return;
        throw new ComposeError(`${s} is missing dependency ${d}`);
      }
      try {
        await waitFor(ctx, waiting, condition as "service_healthy", Infinity);
      } catch (e) {
        if (cfg.required !== false) throw e instanceof ComposeError && condition === "service_healthy" ? new ComposeError(`dependency failed to start: ${e.message}`) : e;
        ctx.progress.warn(`optional dependency "${d}" failed to start: ${(e as Error).message}`);
      }
    }));
    const mine = containers.get(s) ?? [];
    const restartForDep = !changed.has(s) && Object.entries(deps).some(([d, cfg]) => cfg.restart && (changed.has(d) || restarted.has(d)));
    await Promise.all(mine.map(async (c) => {
      // What `up` found, or created just now (not running): no inspect on the way.
      const state = { Running: !!c.running };
      const id = `Container ${c.name}`;
      if (state.Running && restartForDep) {
        ctx.progress.event(id, "Restarting");
        await backend.restartContainer(c.id, { timeout: opts.timeout });
        restarted.add(s);
        ctx.progress.event(id, "Restarted");
        return;
      }
      if (state.Running) {
        if (!changed.has(s)) ctx.progress.event(id, "Running");
        if (opts.attach) {
          const h = opts.attach(c);
          if (h) c.exited = (await backend.attachContainer(c.id, { ...h, stdin: false, tty: false })).exited;
        }
        return;
      }
      ctx.progress.event(id, "Starting");
      const h = opts.attach?.(c);
      const res = await backend.startContainer(c.id, h ? { ...h } : undefined);
      if (res.attach) c.exited = res.attach.exited;
      ctx.progress.event(id, "Started");
    }));
  };
  for (const s of selected) started.set(s, Promise.resolve().then(() => startService(s)));
  const settled = await Promise.allSettled(started.values());
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const all = selected.flatMap((s) => containers.get(s) ?? []);
  if (opts.wait) {
    const deadline = opts.waitTimeoutMs ? Date.now() + opts.waitTimeoutMs : Infinity;
    // One-shot services others wait to complete are done when they exited 0, not running: --wait skips them.
    const oneShots = new Set(selected.flatMap((s) => Object.entries(project.services[s]!.depends_on ?? {}).filter(([, d]) => d.condition === "service_completed_successfully").map(([d]) => d)));
    await waitFor(ctx, all.filter((c) => !oneShots.has(c.service)), "running_or_healthy", deadline);
  }
  return all;
}
