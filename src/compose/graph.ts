/**
 * depends_on as a graph (docker compose v2's dependencies.go): services in dependency order, level by
 * level (a level's services are independent of each other and start together), and the closure of a set.
 */
import type { Project } from "./model.ts";
import { ComposeError } from "./errors.ts";

/** The services `name` depends on (those of the project only: a dependency on a disabled one is skipped). */
export function dependenciesOf(project: Project, name: string): string[] {
  return Object.keys(project.services[name]?.depends_on ?? {}).filter((d) => d in project.services);
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
