/**
 * What every `bunker compose` subcommand starts from: the compose options (before the subcommand), the
 * project they load, and a Backend (in-process or `-H`), as one ComposeContext.
 */
import { basename, resolve } from "node:path";
import type { Flag, Invocation } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import type { ComposeContext } from "../compose/state.ts";
import { plainProgress, silentProgress } from "../compose/progress.ts";
import { ComposeError } from "../compose/errors.ts";

/** docker compose v2's own options. */
export const composeFlags: Record<string, Flag> = {
  file: { type: "string", alias: "f", multiple: true, description: "Compose configuration files", valueHint: "stringArray" },
  "project-name": { type: "string", alias: "p", description: "Project name", valueHint: "string" },
  profile: { type: "string", multiple: true, description: "Specify a profile to enable", valueHint: "stringArray" },
  "env-file": { type: "string", multiple: true, description: "Specify an alternate environment file", valueHint: "stringArray" },
  "project-directory": { type: "string", description: "Specify an alternate working directory (default: the path of the, first specified, Compose file)", valueHint: "string" },
  ansi: { type: "string", description: 'Control when to print ANSI control characters ("never"|"always"|"auto")', valueHint: "string", default: "auto" },
  progress: { type: "string", description: 'Set type of progress output ("auto", "tty", "plain", "quiet")', valueHint: "string", default: "auto" },
  parallel: { type: "int", description: "Control max parallelism, -1 for unlimited", valueHint: "int", default: "-1" },
};

/** A subcommand's invocation with the compose options given before it. */
export interface ComposeInvocation extends Invocation {
  compose: Record<string, any>;
}

/** Whether output goes to a terminal in colour (--ansi). */
export function useColour(inv: ComposeInvocation): boolean {
  const ansi = inv.compose?.ansi ?? "auto";
  if (!["never", "always", "auto"].includes(ansi)) throw new ComposeError(`invalid --ansi value: ${ansi}`);
  return ansi === "always" || (ansi === "auto" && !!process.stdout.isTTY);
}

/**
 * Opens the project: its files loaded as docker compose does, or, with `labelsOnly` and no file found, the
 * bare project name (-p, COMPOSE_PROJECT_NAME or the directory's) so ps/down/logs work from the labels.
 */
export async function openProject(inv: ComposeInvocation, opts: { labelsOnly?: boolean; services?: string[] } = {}): Promise<ComposeContext> {
  const c = inv.compose ?? {};
  const progress = c.progress === "quiet" ? silentProgress : plainProgress();
  if (c.progress && !["auto", "tty", "plain", "quiet"].includes(c.progress)) throw new ComposeError(`unsupported --progress value "${c.progress}"`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const { loadProjectDetails } = await import("../compose/load.ts");
  const [backend, loaded] = await Promise.all([
    openBackend(inv.global),
    loadProjectDetails({
      workingDir: process.cwd(),
      files: c.file,
      projectDirectory: c["project-directory"],
      projectName: c["project-name"],
      profiles: c.profile,
      envFiles: c["env-file"],
      env,
      services: opts.services,
    }).catch((e) => {
      if (!opts.labelsOnly || c.file?.length || !/no configuration file/i.test((e as Error).message)) throw e;
      return undefined;
    }),
  ]);
  if (!loaded) {
    const name = c["project-name"] ?? env.COMPOSE_PROJECT_NAME ?? basename(resolve(c["project-directory"] ?? process.cwd())).toLowerCase().replace(/[^a-z0-9_-]/g, "");
    return { backend, project: { name, services: {} }, origin: { workingDir: process.cwd(), composeFiles: [] }, progress };
  }
  const { project, meta } = loaded;
  return {
    backend,
    project,
    origin: { workingDir: meta.workingDir, composeFiles: meta.composeFiles, envFiles: c["env-file"]?.map((f: string) => resolve(f)) },
    progress,
    disabled: Object.keys(meta.disabledServices ?? {}),
  };
}
