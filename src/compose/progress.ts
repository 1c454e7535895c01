/**
 * docker compose v2's progress lines in their plain form (pkg/progress/plain.go): ` Container p-web-1  Started`
 * one a line, what a terminal's animated view ends with too; the command layer says where they go (stderr).
 */

/** Where progress goes: a resource ("Container p-web-1", "Network p_default") and its status text; warnings. */
export interface Progress {
  event(id: string, status: string): void;
  /** A warning as compose's logrus prints it (`WARN[0000] ...`). */
  warn(message: string): void;
  /** A line of compose's own ("Aborting on container exit..."). */
  info(message: string): void;
  /** Output the orchestration relays as is (a build's RUN steps). */
  raw(data: Uint8Array): void;
}

/**
 * Progress as compose's plain writer prints it (Fprintln of "", the ID, "" and the status). Lines of one
 * turn of the event loop go out in one write (a write each was measurable on `up`).
 */
export function plainProgress(write: (data: string | Uint8Array) => void): Progress {
  let pending = "";
  const line = (text: string) => {
    if (!pending)
      queueMicrotask(() => {
        const out = pending;
        pending = "";
        write(out);
      });
    pending += text;
  };
  return {
    event: (id, status) => line(` ${id}  ${status}\n`),
    warn: (message) => line(`WARN[0000] ${message}\n`),
    info: (message) => line(`${message}\n`),
    raw: (data) => write(data),
  };
}

/** Progress nobody sees (`--progress quiet`); warnings still go to `write`. */
export function quietProgress(write: (data: string | Uint8Array) => void): Progress {
  const loud = plainProgress(write);
  return { ...loud, event() {}, info() {} };
}
