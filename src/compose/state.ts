/**
 * What the engine holds of a project: its containers found by label (docker compose v2's getContainers),
 * grouped by service and sorted by number, and the waits on them (running, healthy, exited).
 */
import type { Backend } from "../api/backend.ts";
import type { Project } from "./model.ts";
import type { Progress } from "./progress.ts";
import { ComposeError } from "./errors.ts";
import * as L from "./labels.ts";
import type { ProjectOrigin } from "./convert.ts";

/** A container as the engine lists it. */
export type Summary = Awaited<ReturnType<Backend["listContainers"]>>[number];

/** Everything a compose operation works with. */
export interface ComposeContext {
  backend: Backend;
  project: Project;
  origin: ProjectOrigin;
  progress: Progress;
  /** Services profiles switched off: a dependency on one is skipped, not an error. */
  disabled?: string[];
  /** The project's interpolation environment (what `environment:` secrets and configs read). */
  environment?: Record<string, string>;
}

/** The project's containers (every state; one-off ones only when asked), sorted by service then number. */
export async function projectContainers(backend: Backend, project: string, opts: { oneoff?: boolean; running?: boolean; services?: string[] } = {}): Promise<Summary[]> {
  const list = await backend.listContainers({ all: !opts.running, filters: L.projectFilter(project, { services: opts.services, oneoff: opts.oneoff ? undefined : false }) });
  return list
    .filter((c) => !opts.running || c.State === "running")
    .filter((c) => !opts.services?.length || opts.services.includes(c.Labels[L.SERVICE] ?? ""))
    .filter((c) => opts.oneoff || c.Labels[L.ONEOFF] !== "True")
    .sort((a, b) => (a.Labels[L.SERVICE] ?? "").localeCompare(b.Labels[L.SERVICE] ?? "") || L.numberOf(a.Labels) - L.numberOf(b.Labels));
}

/** A container's progress name: "Container p-web-1". */
export const progressName = (c: Summary) => `Container ${L.canonicalName(c.Names)}`;

/** compose v2's warning about containers of services the file no longer has. */
export const orphanWarning = (orphans: Summary[]) =>
  `Found orphan containers (${orphans.map((c) => L.canonicalName(c.Names)).join(", ")}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`;

/** The containers of one service, sorted by number. */
export const ofService = (list: Summary[], service: string) => list.filter((c) => c.Labels[L.SERVICE] === service);

/** Sleeps `ms`. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How a dependency is waited for. */
export type Condition = "service_started" | "service_healthy" | "service_completed_successfully" | "running_or_healthy";

/**
 * Waits until every container meets `condition` (compose v2's waitDependencies): healthy (an unhealthy or
 * exited one fails), exited with 0 (another code fails), or running_or_healthy (`--wait`). Polls inspect.
 */
export async function waitFor(ctx: ComposeContext, ids: { id: string; name: string; service: string }[], condition: Condition, deadline = Infinity): Promise<void> {
  for (const { name } of ids) ctx.progress.event(`Container ${name}`, "Waiting");
  const pending = new Set(ids);
  while (pending.size) {
    for (const c of [...pending]) {
      const state = (await ctx.backend.inspectContainer(c.id)).State as { Status: string; ExitCode: number; Health?: { Status: string } };
      if (condition === "service_completed_successfully") {
        if (state.Status !== "exited" && state.Status !== "dead") continue;
        if (state.ExitCode !== 0) throw new ComposeError(`service "${c.service}" didn't complete successfully: exit ${state.ExitCode}`);
        ctx.progress.event(`Container ${c.name}`, "Exited");
        pending.delete(c);
        continue;
      }
      if (state.Status === "exited" || state.Status === "dead") throw new ComposeError(`container ${c.name} exited (${state.ExitCode})`);
      const health = state.Health?.Status;
      if (!health && condition === "running_or_healthy") {
        if (state.Status !== "running") continue;
      } else if (!health) throw new ComposeError(`container ${c.name} has no healthcheck configured`);
      else if (health === "unhealthy") throw new ComposeError(`container ${c.name} is unhealthy`);
      else if (health !== "healthy") continue;
      ctx.progress.event(`Container ${c.name}`, "Healthy");
      pending.delete(c);
    }
    if (!pending.size) break;
    if (Date.now() > deadline) throw new ComposeError("timeout waiting for dependencies");
    await sleep(100);
  }
}
