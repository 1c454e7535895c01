/**
 * What every `bunker compose` subcommand shares: compose's global flags (-f, -p, --profile, --env-file,
 * --project-directory), accepted before the subcommand (`compose -f x.yaml up`) and after it (`compose up
 * -f x.yaml`) as cobra's persistent flags, and the one way to load the project from them.
 *
 * A subcommand file (`compose-<name>.ts`) declares `flags: { ...composeFlags, ...its own }`, is listed in
 * `composeSubcommands`, and calls `loadComposeProject(flags)`; compose.ts merges the flags given before the
 * subcommand into `flags`.
 */
import type { Command, Flag } from "./_cli.ts";
import { CliError } from "./_cli.ts";
import type { LoadedProject, LoadOptions } from "../compose/model.ts";

/** compose's global flags, as docker compose v2 names them. */
export const composeFlags: Record<string, Flag> = {
  "all-resources": { type: "boolean", description: "Include all resources, even those not used by services" },
  file: { type: "string", alias: "f", multiple: true, description: "Compose configuration files", valueHint: "stringArray" },
  "project-name": { type: "string", alias: "p", description: "Project name", valueHint: "string" },
  profile: { type: "string", multiple: true, description: "Specify a profile to enable", valueHint: "stringArray" },
  "env-file": { type: "string", multiple: true, description: "Specify an alternate environment file", valueHint: "stringArray" },
  "project-directory": { type: "string", description: "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)", valueHint: "string" },
  ansi: { type: "string", description: 'Control when to print ANSI control characters ("never"|"always"|"auto")', valueHint: "string" },
  progress: { type: "string", description: 'Set type of progress output ("auto", "tty", "plain", "quiet")', valueHint: "string" },
};

/** The subcommands of `bunker compose`, loaded only when they run. */
export const composeSubcommands: Record<string, () => Promise<{ default: Command }>> = {
  config: () => import("./compose-config.ts"),
  up: () => import("./compose-up.ts"),
  down: () => import("./compose-down.ts"),
  ps: () => import("./compose-ps.ts"),
  logs: () => import("./compose-logs.ts"),
  exec: () => import("./compose-exec.ts"),
  run: () => import("./compose-run.ts"),
  create: () => import("./compose-create.ts"),
  start: () => import("./compose-start.ts"),
  stop: () => import("./compose-stop.ts"),
  restart: () => import("./compose-restart.ts"),
  kill: () => import("./compose-kill.ts"),
  rm: () => import("./compose-rm.ts"),
  pause: () => import("./compose-pause.ts"),
  unpause: () => import("./compose-unpause.ts"),
  ls: () => import("./compose-ls.ts"),
  top: () => import("./compose-top.ts"),
  port: () => import("./compose-port.ts"),
  images: () => import("./compose-images.ts"),
  pull: () => import("./compose-pull.ts"),
  push: () => import("./compose-push.ts"),
  events: () => import("./compose-events.ts"),
  wait: () => import("./compose-wait.ts"),
  cp: () => import("./compose-cp.ts"),
  build: () => import("./compose-build.ts"),
  version: () => import("./compose-version.ts"),
};

/** Flags given before the subcommand, merged under those given after it (lists concatenated). */
export function mergeComposeFlags(before: Record<string, any>, after: Record<string, any>): Record<string, any> {
  const out = { ...after };
  for (const k of Object.keys(composeFlags)) {
    if (before[k] === undefined) continue;
    out[k] = Array.isArray(before[k]) ? [...before[k], ...(after[k] ?? [])] : (after[k] ?? before[k]);
  }
  return out;
}

const started = performance.now();

/**
 * A warning as docker compose prints it through logrus: `WARN[0000] text` on a terminal, else
 * `time="…" level=warning msg="text"`.
 */
export function composeWarn(message: string): void {
  if (process.stderr.isTTY) console.error(`WARN[${String(Math.floor((performance.now() - started) / 1000)).padStart(4, "0")}] ${message}`);
  else console.error(`time="${new Date().toISOString().replace(/\.\d+Z$/, "Z")}" level=warning msg=${JSON.stringify(message)}`);
}

/** The loader's options from compose's flags and the process (working directory, environment, stdin). */
export function composeLoadOptions(flags: Record<string, any>, extra: Partial<LoadOptions> = {}): LoadOptions {
  return {
    workingDir: process.cwd(),
    files: flags.file,
    projectName: flags["project-name"],
    profiles: (flags.profile as string[] | undefined)?.flatMap((p) => p.split(",")).filter(Boolean),
    envFiles: flags["env-file"],
    projectDirectory: flags["project-directory"],
    allResources: flags["all-resources"] === true,
    env: process.env as Record<string, string>,
    warn: composeWarn,
    ...extra,
  };
}

/** Loads the project the flags name; compose's refusals become its message, exit 1. */
export async function loadComposeProject(flags: Record<string, any>, extra: Partial<LoadOptions> = {}): Promise<LoadedProject> {
  const { loadProjectDetails } = await import("../compose/load.ts");
  try {
    return await loadProjectDetails(composeLoadOptions(flags, extra));
  } catch (e) {
    if ((e as Error)?.name === "ComposeError") throw new CliError((e as Error).message, 1);
    throw e;
  }
}
