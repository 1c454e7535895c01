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

/** docker compose v2's status of an event: its spinner turns while Working; Done is blue, Error red. */
type EventState = "working" | "done" | "error";

/** The state compose gives each status text it prints (pkg/progress/event.go: "Creating" works, "Created" is done...). */
function stateOf(status: string): EventState {
  if (status === "Error" || status.startsWith("Error ")) return "error";
  // "Running" is compose's RunningEvent, a done state; "Recreate" its in-progress recreate.
  if (status === "Recreate" || (status.endsWith("ing") && status !== "Running")) return "working";
  return "done";
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const [BLUE, WHITE, RED, RESET, HIDE, SHOW] = ["\x1b[34m", "\x1b[37m", "\x1b[31m", "\x1b[0m", "\x1b[?25l", "\x1b[?25h"];
/** Go's len(): the line layout of compose counts bytes, so a mark (3 bytes in UTF-8) pads as 3. */
const byteLength = (s: string) => Buffer.byteLength(s);

/**
 * Progress as compose's terminal view draws it (pkg/progress/tty.go): a `[+] Running done/total` header and a
 * line per resource with a spinner (✔ when done, ✘ on error), its status and its time, redrawn in place as
 * events arrive and every 100 ms while one is working. A warning, line or relayed output freezes the view
 * drawn so far above it; the next event starts a new one below. `now` is a clock in milliseconds.
 */
export function ttyProgress(write: (data: string | Uint8Array) => void, opts: { columns?: number; now?: () => number } = {}): Progress {
  const now = opts.now ?? (() => performance.now());
  const width = Math.max(40, opts.columns || 80);
  const events = new Map<string, { status: string; state: EventState; start: number; end?: number }>();
  let drawn = 0; // lines of the view on screen, header excluded
  let ticker: ReturnType<typeof setInterval> | undefined;
  let scheduled = false;

  const line = (id: string, pad: number): string => {
    const e = events.get(id)!;
    const t = now();
    const mark = e.state === "done" ? "✔" : e.state === "error" ? "✘" : SPINNER[Math.floor((t - e.start) / 100) % SPINNER.length];
    const text = ` ${mark} ${id} ${" ".repeat(Math.max(0, pad - byteLength(`${id} `)))} ${e.status}`;
    const timer = `${(((e.end ?? t) - e.start) / 1000).toFixed(1)}s`;
    const body = `${text}${" ".repeat(Math.max(0, width - timer.length - 2 - byteLength(text)))} ${timer}\n`;
    return `${e.state === "done" ? BLUE : e.state === "error" ? RED : WHITE}${body}${RESET}`;
  };
  const draw = () => {
    scheduled = false;
    if (!events.size) return;
    // Back to the view's first line (its header) when one is on screen, then every line again over it.
    let out = `${drawn ? `\x1b[${drawn + 1}A` : ""}\x1b[0G${HIDE}`;
    const ids = [...events.keys()];
    const done = ids.filter((id) => events.get(id)!.state === "done").length;
    const header = `[+] Running ${done}/${ids.length}`;
    out += `${done === ids.length ? `${BLUE}${header}${RESET}` : header}\n`;
    const pad = Math.max(...ids.map((id) => byteLength(`${id} `)));
    for (const id of ids) out += line(id, pad);
    drawn = ids.length;
    write(`${out}${SHOW}`);
    const working = ids.some((id) => events.get(id)!.state === "working");
    if (working && !ticker) {
      ticker = setInterval(draw, 100);
      ticker.unref(); // the spinner never keeps the command alive
    } else if (!working && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => scheduled && draw()); // a freeze may have drawn it already

  };
  /** Draws what is pending and leaves the view where it is: what follows goes below it. */
  const freeze = () => {
    if (scheduled) draw();
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    events.clear();
    drawn = 0;
  };
  return {
    event(id, status) {
      const state = stateOf(status);
      const e = events.get(id);
      if (!e) events.set(id, { status, state, start: now(), ...(state !== "working" ? { end: now() } : {}) });
      else {
        if (state !== "working" && e.state === "working") e.end = now();
        if (state === "working") e.end = undefined; // its time runs on from its first event, as compose's does
        e.status = status;
        e.state = state;
      }
      schedule();
    },
    warn: (message) => (freeze(), write(`WARN[0000] ${message}\n`)),
    info: (message) => (freeze(), write(`${message}\n`)),
    raw: (data) => (freeze(), write(data)),
  };
}
