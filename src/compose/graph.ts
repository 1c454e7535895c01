/**
 * depends_on as a graph (docker compose v2's dependencies.go): services in dependency order, level by
 * level (a level's services are independent of each other and start together), and the closure of a set.
 */
import type { Project } from "./model.ts";
import { ComposeError } from "./errors.ts";

/**
 * The services `name` depends on, as compose v2's GetDependencies: depends_on, links, volumes_from and
 * `service:` network, pid and ipc modes (those of the project only: a dependency on a disabled one is skipped).
 */
export function dependenciesOf(project: Project, name: string): string[] {
  const s = project.services[name];
  if (!s) return [];
  const shared = [s.network_mode, s.pid, s.ipc].filter((m) => m?.startsWith("service:")).map((m) => m!.slice(8));
  const volumes = (s.volumes_from ?? []).filter((v) => !v.startsWith("container:")).map((v) => v.split(":")[0]!);
  const links = (s.links ?? []).map((l) => l.split(":")[0]!);
  return [...new Set([...Object.keys(s.depends_on ?? {}), ...shared, ...volumes, ...links])].filter((d) => d in project.services);
}

/** The services whose containers `name` shares a namespace or volumes with (compose recreates it with them). */
export function sharesWith(project: Project, name: string): string[] {
  const s = project.services[name];
  if (!s) return [];
  return [...[s.network_mode, s.pid, s.ipc].filter((m) => m?.startsWith("service:")).map((m) => m!.slice(8)), ...(s.volumes_from ?? []).filter((v) => !v.startsWith("container:")).map((v) => v.split(":")[0]!)];
}

/** `names` and everything they depend on, transitively. */
export function withDependencies(project: Project, names: string[]): string[] {
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n)) return;
    out.add(n);
    for (const d of dependenciesOf(project, n)) visit(d);
  };
  for (const n of names) visit(n);
  return [...out];
}

/** `names` and every service depending on them, transitively. */
export function withDependents(project: Project, names: string[]): string[] {
  const out = new Set<string>(names);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of Object.keys(project.services)) if (!out.has(s) && dependenciesOf(project, s).some((d) => out.has(d))) grew = out.add(s).size > 0;
  }
  return [...out];
}

/**
 * `names` in levels: each level depends only on earlier ones (dependencies outside `names` count as met).
 * A cycle is refused as compose refuses it.
 */
export function dependencyLevels(project: Project, names: string[]): string[][] {
  const pending = new Set(names);
  const done = new Set<string>();
  const levels: string[][] = [];
  while (pending.size) {
    const level = [...pending].filter((n) => dependenciesOf(project, n).every((d) => done.has(d) || !pending.has(d))).sort();
    if (!level.length) throw new ComposeError(`dependency cycle detected: ${[...pending].sort().join(" -> ")}`);
    for (const n of level) {
      pending.delete(n);
      done.add(n);
    }
    levels.push(level);
  }
  return levels;
}
