/**
 * Draws a build's BuildEvents as BuildKit's progress UI does (buildkit util/progress/progressui): `plain`
 * (one line per status, `#N name`, `#N 0.123 output`, `#N DONE 0.2s`, `#N CACHED`, `#N ERROR: …`, the shape
 * of tests/fixtures/buildkit-reference/progress-plain.txt), `tty` (the live `[+] Building 1.2s (3/5)` display:
 * one line per vertex with its time, CACHED and ERROR marks, the last lines of a running step's output,
 * redrawn in place) and `quiet` (nothing). After a failed build, BuildKit's error box: the failed step with
 * its last output lines between `------` rules.
 */
import type { BuildEvent, BuildVertex } from "../engine/build/types.ts";

/** Where progress goes (stderr, as BuildKit's). */
export interface ProgressOut {
  write(s: string): void;
  /** Terminal width (tty mode). */
  columns?: number;
  /** Terminal height (tty mode): a live frame keeps to it, so going back up over it stays on the screen. */
  rows?: number;
}

/** A progress display for one build. */
export interface BuildProgress {
  event(e: BuildEvent): void;
  /** The build ended: draws the final state and, after a failure, the error box. */
  end(failed?: boolean): void;
}

/** `--progress` values (buildx: auto picks tty on a terminal, else plain). */
export type ProgressMode = "plain" | "tty" | "quiet";

/** How many output lines of a running step the tty display and the error box show (BuildKit: 6 and 10). */
const TTY_LOG_LINES = 6;
const ERROR_LOG_LINES = 10;

interface VertexState {
  vertex: BuildVertex;
  started: number;
  /** Number in plain output (#N), given when first printed. */
  index?: number;
  done?: number;
  ms?: number;
  cached?: boolean;
  error?: string;
  /** Output lines with their time since the start of the vertex; the last may be partial. */
  lines: { t: number; text: string }[];
  partial: string;
  partialT: number;
  /** How many lines plain mode printed already. */
  printed: number;
  /** Status lines (BuildKit's vertex statuses), the last replaced while not done. */
  statuses: { text: string; done: boolean; t: number }[];
}

/** BuildKit's limitString: names longer than `n` end with "...". */
function limit(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}

/** The display for `mode`; `now` (ms) is injectable for tests. */
export function buildProgress(mode: ProgressMode, out: ProgressOut, now: () => number = () => performance.now()): BuildProgress {
  const vertices = new Map<number, VertexState>();
  const order: VertexState[] = [];
  const decoder = new TextDecoder();

  const stateOf = (id: number): VertexState | undefined => vertices.get(id);
  const addLog = (v: VertexState, data: Uint8Array) => {
    const t = (now() - v.started) / 1000;
    const text = v.partial + decoder.decode(data, { stream: true });
    const parts = text.split(/\r?\n/);
    const rest = parts.pop()!;
    // A line's time is when its first bytes came (BuildKit stamps each chunk of output).
    for (const p of parts) v.lines.push({ t: v.partial ? v.partialT : t, text: p }), (v.partial = "");
    if (rest && !v.partial) v.partialT = t;
    v.partial = rest;
  };
  const flushPartial = (v: VertexState) => {
    if (v.partial) v.lines.push({ t: v.partialT, text: v.partial });
    v.partial = "";
  };
  const errorBox = () => {
    const failed = order.filter((v) => v.error !== undefined);
    let s = "";
    for (const v of failed) {
      s += `------\n > ${v.vertex.name}:\n`;
      for (const l of v.lines.slice(-ERROR_LOG_LINES)) s += `${l.t.toFixed(3)} ${l.text}\n`;
      s += "------\n";
    }
    return s;
  };
  const track = (e: BuildEvent): VertexState | undefined => {
    if (e.type === "warning" || e.type === "instruction" || e.type === "instructionDone") return undefined; // the legacy stream's
    if (e.type === "start") {
      const v: VertexState = { vertex: e.vertex, started: now(), lines: [], partial: "", partialT: 0, printed: 0, statuses: [] };
      vertices.set(e.vertex.id, v);
      order.push(v);
      return v;
    }
    const v = stateOf(e.vertexId);
    if (!v) return undefined;
    if (e.type === "log") addLog(v, e.data);
    else if (e.type === "status") {
      const last = v.statuses.at(-1);
      const s = { text: e.text, done: !!e.done, t: now() };
      if (last && !last.done) v.statuses[v.statuses.length - 1] = s;
      else v.statuses.push(s);
    }
    else if (e.type === "cached") ((v.cached = true), (v.done = now()), (v.ms = 0));
    else if (e.type === "done") ((v.done = now()), (v.ms = e.ms), flushPartial(v));
    else if (e.type === "error") ((v.error = e.message), (v.done = now()), flushPartial(v));
    return v;
  };

  if (mode === "quiet") {
    return { event: (e) => void track(e), end: () => {} };
  }

  if (mode === "plain") {
    let nextIndex = 1;
    let current: VertexState | undefined;
    const header = (v: VertexState) => {
      if (current === v) return;
      if (current && current.done === undefined) out.write(`#${current.index} ...\n`);
      v.index ??= nextIndex++;
      out.write(`#${v.index} ${limit(v.vertex.name, 72)}\n`);
      current = v;
    };
    const printLines = (v: VertexState) => {
      for (; v.printed < v.lines.length; v.printed++) out.write(`#${v.index} ${v.lines[v.printed]!.t.toFixed(3)} ${v.lines[v.printed]!.text}\n`);
    };
    return {
      event(e) {
        if (e.type === "warning") return out.write(`WARNING: ${e.message}\n`);
        const v = track(e);
        if (!v) return;
        // A vertex shows up when something about it is printed (BuildKit prints a started vertex at once).
        header(v);
        printLines(v);
        if (e.type === "status") out.write(`#${v.index} ${e.text}${e.done ? " done" : ""}\n`);
        else if (e.type === "cached") out.write(`#${v.index} CACHED\n`);
        else if (e.type === "done") out.write(`#${v.index} DONE ${(e.ms / 1000).toFixed(1)}s\n`);
        else if (e.type === "error") out.write(`#${v.index} ERROR: ${e.message}\n`);
      },
      end(failed) {
        if (failed) out.write(errorBox());
      },
    };
  }

  // tty: the whole display is redrawn in place (cursor up over the lines drawn last time).
  const started = now();
  let drawn = 0;
  let finished = false;
  const warnings: string[] = [];
  const draw = () => {
    const width = Math.max(40, out.columns || 80);
    const t = now();
    const completed = order.filter((v) => v.done !== undefined).length;
    const lines = [`[+] Building ${((t - started) / 1000).toFixed(1)}s (${completed}/${order.length})${finished ? " FINISHED" : ""}`];
    for (const v of order) {
      const secs = v.cached ? 0 : ((v.ms ?? t - v.started) / 1000);
      const time = `${secs.toFixed(1)}s`;
      const mark = v.error !== undefined ? "ERROR " : v.cached ? "CACHED " : "";
      const left = limit(` => ${mark}${v.vertex.name}`, width - time.length - 2);
      lines.push(`${left.padEnd(width - time.length - 1)}${time}`);
      for (const st of v.statuses) {
        const stTime = `${(((st.done ? st.t : t) - v.started) / 1000).toFixed(1)}s`;
        lines.push(`${limit(` => => ${st.text}`, width - stTime.length - 2).padEnd(width - stTime.length - 1)}${stTime}`);
      }
      // The last output lines of a step still running (or the one that failed), as BuildKit shows them.
      if (v.done === undefined || v.error !== undefined) {
        const tail = [...v.lines.map((l) => l.text), ...(v.partial ? [v.partial] : [])].slice(-TTY_LOG_LINES);
        for (const l of tail) lines.push(limit(` => => # ${l}`, width - 1));
      }
    }
    // A live frame taller than the terminal shows its last lines (the running steps); the final one is whole.
    const height = (out.rows ?? 0) - 1;
    const shown = !finished && height > 2 && lines.length > height ? [lines[0]!, ...lines.slice(lines.length - height + 1)] : lines;
    let s = drawn > 0 ? `\x1b[${drawn}A\r` : "";
    for (const l of shown) s += `${l}\x1b[K\n`;
    // A shorter frame than the last leaves old lines below it: clear them.
    if (drawn > shown.length) s += "\x1b[J";
    out.write(s);
    drawn = shown.length;
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    event(e) {
      if (e.type === "warning") return void warnings.push(e.message);
      if (e.type === "instruction" || e.type === "instructionDone") return;
      track(e);
      timer ??= setInterval(draw, 100);
      draw();
    },
    end(failed) {
      if (timer) clearInterval(timer);
      finished = true;
      draw();
      for (const w of warnings) out.write(`WARNING: ${w}\n`);
      if (failed) out.write(errorBox());
    },
  };
}

/**
 * BuildKit's source snippet under a failed step (errdefs.Source.Print): the Dockerfile's name and line, then
 * the line marked `>>>` with up to two lines of context either side, between rules.
 */
export function sourceSnippet(text: string, filename: string, line: number): string {
  const lines = text.split("\n");
  if (line < 1 || line > lines.length) return "";
  let start = line;
  let end = line;
  for (let p = 0; p < 4; p++) {
    if (start > 1) start--, p++;
    if (end !== lines.length) end++, p++;
  }
  let s = `${filename}:${line}\n--------------------\n`;
  for (let i = start; i <= end; i++) s += ` ${String(i).padStart(3)} | ${i === line ? ">>>" : "   "} ${lines[i - 1]}\n`;
  return `${s}--------------------\n`;
}
