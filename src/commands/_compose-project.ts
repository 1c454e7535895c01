/**
 * What every orchestrating `bunker compose` subcommand starts from: the project compose's flags load
 * (_compose.ts) and a Backend (in-process or `-H`), as one ComposeContext.
 */
import { isTerminal } from "./_terminal.ts";
import { basename, resolve } from "node:path";
import type { Invocation } from "./_cli.ts";
import { loadComposeProject } from "./_compose.ts";
import { openBackend } from "./_backend.ts";
import type { ComposeContext } from "../compose/state.ts";
import { plainProgress, quietProgress, ttyProgress, type Progress } from "../compose/progress.ts";
import { stdSink } from "./_stdio.ts";
import { ComposeError } from "../compose/errors.ts";

const stdout = stdSink(1);
const stderr = stdSink(2);
/** Writes to stdout now (blocking writes to fd 1, not process.stdout's Node stream: see _stdio.ts). */
export const writeOut = (data: string | Uint8Array) => (stdout.write(data), stdout.flush());
/** Writes to stderr now. */
export const writeErr = (data: string | Uint8Array) => (stderr.write(data), stderr.flush());

/** --ansi, checked: never, always or auto (the default). */
function ansiOf(inv: Invocation): "never" | "always" | "auto" {
  const ansi = inv.flags.ansi ?? "auto";
  if (ansi !== "never" && ansi !== "always" && ansi !== "auto") throw new ComposeError(`invalid --ansi value: ${ansi}`);
  return ansi;
}

/** Whether output goes to a terminal in colour (--ansi). */
export function useColour(inv: Invocation): boolean {
  const ansi = ansiOf(inv);
  return ansi === "always" || (ansi === "auto" && isTerminal(1));
}

/**
 * The progress view docker compose v2 picks (cmd/compose/compose.go): `auto` draws the terminal view when
 * stderr is a terminal and ANSI is not off, `--ansi always` forces it, `--ansi never` the plain lines; `none`
 * is `quiet`. Contradicting flags are compose's errors.
 */
function progressFor(mode = "auto", ansi: ReturnType<typeof ansiOf>): Progress {
  if (mode === "tty" && ansi === "never") throw new ComposeError("can't use --progress tty while ANSI support is disabled");
  if (mode === "plain" && ansi === "always") throw new ComposeError("can't use --progress plain while ANSI support is forced");
  if (mode === "quiet" || mode === "none") return quietProgress(writeErr);
  if (mode !== "auto" && mode !== "tty" && mode !== "plain") throw new ComposeError(`unsupported --progress value "${mode}"`);
  const tty = mode === "tty" || (mode === "auto" && ansi !== "never" && (ansi === "always" || isTerminal(2)));
  return tty ? ttyProgress(writeErr, { columns: isTerminal(2) ? process.stderr.columns : undefined }) : plainProgress(writeErr);
}

/**
 * Opens the project: its files loaded as docker compose does, or, with `labelsOnly` and no file found, the
 * bare project name (-p, COMPOSE_PROJECT_NAME or the directory's) so ps/down/logs work from the labels.
 */
export async function openProject(inv: Invocation, opts: { labelsOnly?: boolean; services?: string[] } = {}): Promise<ComposeContext> {
  const c = inv.flags;
  const progress = progressFor(c.progress, ansiOf(inv));
  const [backend, loaded] = await Promise.all([
    openBackend(inv.global),
    loadComposeProject(c, { services: opts.services }).catch((e) => {
      if (!opts.labelsOnly || c.file?.length || !/no configuration file/i.test((e as Error).message)) throw e;
      return undefined;
    }),
  ]);
  if (!loaded) {
    const name = c["project-name"] ?? process.env.COMPOSE_PROJECT_NAME ?? basename(resolve(c["project-directory"] ?? process.cwd())).toLowerCase().replace(/[^a-z0-9_-]/g, "");
    return { backend, project: { name, services: {} }, origin: { workingDir: process.cwd(), composeFiles: [] }, progress };
  }
  const { project, meta } = loaded;
  return {
    backend,
    project,
    origin: { workingDir: meta.workingDir, composeFiles: meta.composeFiles, envFiles: c["env-file"]?.map((f: string) => resolve(f)) },
    progress,
    disabled: Object.keys(meta.disabledServices ?? {}),
    environment: meta.environment,
  };
}
