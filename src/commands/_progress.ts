/**
 * Renders Docker's JSON progress messages as the docker CLI does (pkg/jsonmessage): on a terminal each
 * layer keeps its own line, redrawn in place; otherwise progress bars are dropped and the rest printed
 * as plain "id: status" lines.
 */
import type { JsonMessage } from "../engine/progress.ts";

/** A stateful renderer for one stream of messages. */
export function progressRenderer(out: { write(s: string): void }, isTerminal: boolean) {
  const lines = new Map<string, number>();
  let count = 0;
  return (m: JsonMessage) => {
    // aux (a push's digest, a build's image ID) is for programs; the docker CLI never prints it.
    if (m.errorDetail || m.error || m.aux !== undefined) return;
    const hasProgress = !!m.progressDetail && ((m.progressDetail.total ?? 0) > 0 || (m.progressDetail.current ?? 0) > 0);
    if (!isTerminal) {
      if (hasProgress) return;
      out.write(`${m.id ? `${m.id}: ` : ""}${m.stream ?? `${m.status ?? ""}\n`}`);
      return;
    }
    const text = `${m.id ? `${m.id}: ` : ""}${m.status ?? ""}${hasProgress && m.progress ? ` ${m.progress}` : ""}`;
    if (!m.id) {
      out.write(m.stream ?? `${text}\n`);
      count = 0;
      lines.clear();
      return;
    }
    const line = lines.get(m.id);
    if (line === undefined) {
      lines.set(m.id, count++);
      out.write(`${text}\n`);
      return;
    }
    // Move up to the layer's line, clear it, write, and come back down (ANSI, as jsonmessage does).
    const up = count - line;
    out.write(`\x1b[${up}A\x1b[2K\r${text}\x1b[${up}B\r`);
  };
}
