/**
 * Loading a compose project as docker compose v2 does: files found or given, merged, interpolated,
 * extended, included, validated and normalised into a Project (model.ts).
 */
import type { LoadedProject, LoadOptions, Project } from "./model.ts";

/** Load a project into the normalised form `docker compose config --format json` prints. */
export async function loadProject(opts: LoadOptions): Promise<Project> {
  return (await loadProjectDetails(opts)).project;
}

/** Load a project and also say where it came from (working dir, files, environment, disabled services). */
export async function loadProjectDetails(opts: LoadOptions): Promise<LoadedProject> {
  void opts;
  throw new Error("compose: loadProject is not implemented yet");
}
