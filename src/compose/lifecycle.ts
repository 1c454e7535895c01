/**
 * start, stop, restart, kill, pause, unpause and rm over a project's existing containers (docker compose
 * v2's start.go, stop.go ...): stop in reverse dependency order, start in dependency order with the
 * dependencies' conditions, each with compose's progress lines.
 */
import * as L from "./labels.ts";
import { type ComposeContext, type Summary, progressName, projectContainers, waitFor } from "./state.ts";
import { dependencyLevels } from "./graph.ts";
import { ComposeError } from "./errors.ts";

/** The services named (checked against the file), or every one the project has containers of. */
function servicesOf(ctx: ComposeContext, names: string[], list: Summary[]): string[] {
  const known = Object.keys(ctx.project.services);
  for (const n of names) if (known.length && !known.includes(n)) throw new ComposeError(`no such service: ${n}`);
  return names.length ? names : [...new Set([...known, ...list.map((c) => c.Labels[L.SERVICE] ?? "")])];
}

/** The services in dependency levels (services the file does not know come first as one level). */
function levelsOf(ctx: ComposeContext, services: string[]): string[][] {
  const inFile = services.filter((s) => s in ctx.project.services);
  const others = services.filter((s) => !(s in ctx.project.services));
  return [...(others.length ? [others] : []), ...dependencyLevels(ctx.project, inFile)];
}

/** Runs `act` on the containers of each level in order (reversed for stopping), a level's containers together. */
async function byLevel(ctx: ComposeContext, names: string[], reverse: boolean, act: (c: Summary) => Promise<void>, opts: { oneoff?: boolean } = {}): Promise<void> {
  const list = await projectContainers(ctx.backend, ctx.project.name, { oneoff: opts.oneoff });
  const services = servicesOf(ctx, names, list);
  const levels = levelsOf(ctx, services);
  for (const level of reverse ? levels.reverse() : levels) await Promise.all(list.filter((c) => level.includes(c.Labels[L.SERVICE] ?? "")).map(act));
}

/** `stop`: running containers stopped, dependents first. */
export function stopServices(ctx: ComposeContext, names: string[], timeout?: number): Promise<void> {
  return byLevel(ctx, names, true, async (c) => {
    if (c.State !== "running" && c.State !== "paused" && c.State !== "restarting") return;
    ctx.progress.event(progressName(c), "Stopping");
    await ctx.backend.stopContainer(c.Id, { timeout });
    ctx.progress.event(progressName(c), "Stopped");
  });
}

/** `kill`: a signal to each running container. */
export function killServices(ctx: ComposeContext, names: string[], signal?: string): Promise<void> {
  return byLevel(ctx, names, true, async (c) => {
    if (c.State !== "running") return;
    ctx.progress.event(progressName(c), "Killing");
    await ctx.backend.killContainer(c.Id, signal);
    ctx.progress.event(progressName(c), "Killed");
  });
}

/** `restart`: each container restarted, dependencies first. */
export function restartServices(ctx: ComposeContext, names: string[], timeout?: number): Promise<void> {
  return byLevel(ctx, names, false, async (c) => {
    ctx.progress.event(progressName(c), "Restarting");
    await ctx.backend.restartContainer(c.Id, { timeout });
    ctx.progress.event(progressName(c), "Started");
  });
}

/** `pause` / `unpause`. */
export function pauseServices(ctx: ComposeContext, names: string[], pause: boolean): Promise<void> {
  return byLevel(ctx, names, !pause, async (c) => {
    if (pause ? c.State !== "running" : c.State !== "paused") return;
    ctx.progress.event(progressName(c), pause ? "Pausing" : "Unpausing");
    await (pause ? ctx.backend.pauseContainer(c.Id) : ctx.backend.unpauseContainer(c.Id));
    ctx.progress.event(progressName(c), pause ? "Paused" : "Unpaused");
  });
}

/** `start`: stopped containers started in dependency order, each after its dependencies' conditions hold. */
export async function startServices(ctx: ComposeContext, names: string[], opts: { wait?: boolean } = {}): Promise<void> {
  const list = await projectContainers(ctx.backend, ctx.project.name);
  const services = servicesOf(ctx, names, list);
  // compose v2's startService: a service of the file that should run but has no container is an error.
  for (const s of services) {
    const svc = ctx.project.services[s];
    if (svc && (svc.deploy?.replicas ?? svc.scale ?? 1) > 0 && !list.some((c) => c.Labels[L.SERVICE] === s)) throw new ComposeError(`service "${s}" has no container to start`);
  }
  for (const level of levelsOf(ctx, services)) {
    await Promise.all(level.map(async (s) => {
      for (const [d, cfg] of Object.entries(ctx.project.services[s]?.depends_on ?? {})) {
        const condition = cfg.condition ?? "service_started";
        if (condition === "service_started") continue;
        const deps = list.filter((c) => c.Labels[L.SERVICE] === d).map((c) => ({ id: c.Id, name: L.canonicalName(c.Names), service: d }));
        if (deps.length) await waitFor(ctx, deps, condition);
      }
      await Promise.all(list.filter((c) => c.Labels[L.SERVICE] === s && c.State !== "running").map(async (c) => {
        ctx.progress.event(progressName(c), "Starting");
        await ctx.backend.startContainer(c.Id);
        ctx.progress.event(progressName(c), "Started");
      }));
    }));
  }
  if (opts.wait) await waitFor(ctx, list.filter((c) => services.includes(c.Labels[L.SERVICE] ?? "")).map((c) => ({ id: c.Id, name: L.canonicalName(c.Names), service: c.Labels[L.SERVICE] ?? "" })), "running_or_healthy");
}

/** `rm`: stopped containers removed (with `stop`, running ones stopped first); the list it would remove. */
export async function removableContainers(ctx: ComposeContext, names: string[], opts: { stop?: boolean; all?: boolean }): Promise<Summary[]> {
  const list = await projectContainers(ctx.backend, ctx.project.name, { oneoff: opts.all });
  const services = servicesOf(ctx, names, list);
  return list.filter((c) => services.includes(c.Labels[L.SERVICE] ?? "") && (opts.stop || (c.State !== "running" && c.State !== "paused" && c.State !== "restarting")));
}
