/**
 * docker compose v2's progress lines in their plain form (pkg/progress/plain.go): ` Container p-web-1  Started`
 * on stderr, one a line, what a terminal's animated view ends with too.
 */

/** Where progress goes: a resource ("Container p-web-1", "Network p_default") and its status text. */
export interface Progress {
  event(id: string, status: string): void;
}

/** Progress as compose's plain writer prints it (Fprintln of "", the ID, "" and the status). */
export function plainProgress(write: (line: string) => void = (l) => process.stderr.write(l)): Progress {
  return { event: (id, status) => write(` ${id}  ${status}\n`) };
}

/** Progress nobody sees (`--quiet-pull`, tests). */
export const silentProgress: Progress = { event() {} };
