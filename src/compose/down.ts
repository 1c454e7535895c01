/**
 * `down` (docker compose v2's down.go): the project's containers stopped and removed in reverse dependency
 * order, then its networks, and with -v its volumes, with --rmi its images. Works from the labels alone
 * when the file is gone, so a project started by another compose is taken down too.
 */
import * as L from "./labels.ts";
import { type ComposeContext, type Summary, orphanWarning, progressName, projectContainers } from "./state.ts";
import { dependenciesOf, dependencyLevels } from "./graph.ts";
import { imageOf } from "./convert.ts";
import { ComposeError } from "./errors.ts";

/** Stops the running ones of `list`, all at once, with compose's progress. */
export async function stopContainers(ctx: ComposeContext, list: Summary[], timeout?: number): Promise<void> {
  await Promise.all(list.map(async (c) => {
    if (c.State !== "running" && c.State !== "paused" && c.State !== "restarting") return;
    ctx.progress.event(progressName(c), "Stopping");
    await ctx.backend.stopContainer(c.Id, { timeout });
    ctx.progress.event(progressName(c), "Stopped");
  }));
}

/** Stops (when asked) and removes containers, all at once, with compose's progress. */
export async function removeContainers(ctx: ComposeContext, list: Summary[], opts: { timeout?: number; stop?: boolean; volumes?: boolean }): Promise<void> {
  if (opts.stop) await stopContainers(ctx, list, opts.timeout);
  await Promise.all(list.map(async (c) => {
    ctx.progress.event(progressName(c), "Removing");
    await removeWithVolumes(ctx, c.Id, !!opts.volumes);
    ctx.progress.event(progressName(c), "Removed");
  }));
}

/** Marks a volume the engine made for an anonymous mount. */
const ANONYMOUS = "com.docker.volume.anonymous";

/**
 * Removes a container; with `volumes`, its anonymous volumes too, also those a recreate handed on by name
 * (the engine, as moby, keeps a volume mounted by name, so a recreated container's would be left behind).
 */
export async function removeWithVolumes(ctx: ComposeContext, id: string, volumes: boolean): Promise<void> {
  const mounts = volumes ? (((await ctx.backend.inspectContainer(id)).Mounts ?? []) as { Type: string; Name?: string }[]) : [];
  await ctx.backend.removeContainer(id, { force: true, volumes });
  for (const m of mounts) {
    if (m.Type !== "volume" || !m.Name) continue;
    const v = await ctx.backend.inspectVolume(m.Name).catch(() => undefined);
    // Still used by another container: it stays, as the engine's own rm -v leaves it.
    if (v?.Labels && ANONYMOUS in v.Labels) await ctx.backend.removeVolume(m.Name, {}).catch(() => {});
  }
}

/** What `down` asks for. */
export interface DownOptions {
  /** -v: named volumes declared by the project and anonymous volumes of its containers. */
  volumes?: boolean;
  /** --rmi all|local. */
  rmi?: string;
  removeOrphans?: boolean;
  /** -t seconds. */
  timeout?: number;
  /** Services named on the command line: only their containers (networks and volumes stay). */
  services?: string[];
}

/** Takes the project down. */
export async function down(ctx: ComposeContext, opts: DownOptions = {}): Promise<void> {
  const { backend, project } = ctx;
  if (opts.rmi && opts.rmi !== "all" && opts.rmi !== "local") throw new ComposeError(`invalid value for --rmi: ${opts.rmi}`);
  const all = await projectContainers(backend, project.name, { oneoff: true });
  const known = new Set([...Object.keys(project.services), ...(ctx.disabled ?? [])]);
  // A project known only by its labels (no file) owns every container that carries its name.
  const labelOnly = !Object.keys(project.services).length;
  const orphan = (c: Summary) => !labelOnly && !known.has(c.Labels[L.SERVICE] ?? "");
  // One-off (`run`) containers and orphans go only with --remove-orphans, as in compose v2.
  if (!opts.removeOrphans && !opts.services?.length) {
    const orphans = all.filter((c) => orphan(c) && c.Labels[L.ONEOFF] !== "True");
    if (orphans.length) ctx.progress.warn(orphanWarning(orphans));
  }
  const mine = all.filter((c) => (opts.services?.length ? opts.services.includes(c.Labels[L.SERVICE] ?? "") : true) && (opts.removeOrphans || (!orphan(c) && c.Labels[L.ONEOFF] !== "True")));
  await stopAndRemove(ctx, mine, opts);
  if (opts.services?.length) return;
  await removeNetworks(ctx);
  if (opts.volumes) await removeVolumes(ctx);
  if (opts.rmi) await removeImages(ctx, mine, opts.rmi);
}

/**
 * Each service's containers stop once those of every service depending on it have (dependents first, as
 * compose v2) and are removed right after, while the services they depend on stop. One-off containers and
 * services the file does not know (orphans) have no place in the graph: they go at once.
 */
async function stopAndRemove(ctx: ComposeContext, list: Summary[], opts: DownOptions): Promise<void> {
  const { project } = ctx;
  const ranked = (c: Summary) => c.Labels[L.ONEOFF] !== "True" && (c.Labels[L.SERVICE] ?? "") in project.services;
  const services = [...new Set(list.filter(ranked).map((c) => c.Labels[L.SERVICE]!))];
  dependencyLevels(project, services); // a cycle is refused before anything stops
  const stopped = new Map<string, Promise<void>>();
  const stopOf = (s: string): Promise<void> => {
    let p = stopped.get(s);
    if (!p) {
      const dependents = services.filter((d) => dependenciesOf(project, d).includes(s));
      p = Promise.all(dependents.map(stopOf)).then(() => stopContainers(ctx, list.filter((c) => ranked(c) && c.Labels[L.SERVICE] === s), opts.timeout));
      stopped.set(s, p);
    }
    return p;
  };
  const removeAll = (group: Summary[]) => removeContainers(ctx, group, { volumes: opts.volumes });
  const work = [removeContainers(ctx, list.filter((c) => !ranked(c)), { timeout: opts.timeout, stop: true, volumes: opts.volumes }), ...services.map((s) => stopOf(s).then(() => removeAll(list.filter((c) => ranked(c) && c.Labels[L.SERVICE] === s))))];
  const settled = await Promise.allSettled(work);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** The project's networks: those it declares (not external) and any other labelled with it. */
async function removeNetworks(ctx: ComposeContext): Promise<void> {
  const { backend, project } = ctx;
  const labelled = await backend.listNetworks({ filters: { label: [`${L.PROJECT}=${project.name}`] } });
  const names = new Set(labelled.map((n) => n.Name));
  for (const [key, decl] of Object.entries(project.networks ?? {})) if (!decl.external) names.add(L.resourceName(project.name, key, decl));
  await Promise.all([...names].map(async (name) => {
    const found = labelled.find((n) => n.Name === name) ?? (await backend.inspectNetwork(name).catch(() => undefined));
    if (!found) return;
    ctx.progress.event(`Network ${name}`, "Removing");
    await backend.removeNetwork(found.Id);
    ctx.progress.event(`Network ${name}`, "Removed");
  }));
}

/** The project's named volumes: those it declares (not external) and any other labelled with it. */
async function removeVolumes(ctx: ComposeContext): Promise<void> {
  const { backend, project } = ctx;
  const labelled = (await backend.listVolumes({ label: [`${L.PROJECT}=${project.name}`] })).Volumes ?? [];
  const names = new Set(labelled.map((v) => v.Name));
  for (const [key, decl] of Object.entries(project.volumes ?? {})) if (!decl.external) names.add(L.resourceName(project.name, key, decl));
  await Promise.all([...names].map(async (name) => {
    if (!labelled.some((v) => v.Name === name) && !(await backend.inspectVolume(name).catch(() => undefined))) return;
    ctx.progress.event(`Volume ${name}`, "Removing");
    await backend.removeVolume(name, {});
    ctx.progress.event(`Volume ${name}`, "Removed");
  }));
}

/** --rmi: every service image (all), or those without an `image:` (local: built ones). */
async function removeImages(ctx: ComposeContext, containers: Summary[], mode: string): Promise<void> {
  const names = new Set<string>();
  for (const [name, svc] of Object.entries(ctx.project.services)) if (mode === "all" || !svc.image) names.add(imageOf(ctx.project, { ...svc, name }));
  if (mode === "all") for (const c of containers) names.add(c.Image);
  for (const name of names) {
    if (!(await ctx.backend.inspectImage(name).catch(() => undefined))) continue;
    ctx.progress.event(`Image ${name}`, "Removing");
    await ctx.backend.removeImage(name, {});
    ctx.progress.event(`Image ${name}`, "Removed");
  }
}
