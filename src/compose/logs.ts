/**
 * docker compose v2's log consumer (cmd/formatter/logs.go): each container's lines behind a `name  | `
 * prefix padded to the longest name, coloured from compose's rainbow on a terminal, plain otherwise.
 */

/** compose v2's rainbow: cyan, yellow, green, magenta, blue, then the same intense. */
const RAINBOW = ["36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"];

/** Writes lines of many containers, prefixed. */
export class LogPrinter {
  private readonly colours = new Map<string, string>();
  private width = 0;
  private next = 0;
  private readonly partial = new Map<string, string>();
  private readonly decoders = new Map<string, TextDecoder>();

  constructor(
    private readonly opts: { colour: boolean; prefix: boolean; timestamps?: boolean; out: (s: string) => void; err: (s: string) => void },
  ) {}

  /** Makes a container known, so every prefix is as wide as the longest name. */
  register(name: string): void {
    if (this.colours.has(name)) return;
    this.colours.set(name, RAINBOW[this.next++ % RAINBOW.length]!);
    this.width = Math.max(this.width, name.length + 1);
  }

  private paint(name: string, s: string): string {
    return this.opts.colour ? `\x1b[${this.colours.get(name)}m${s}\x1b[0m` : s;
  }

  /** The prefix of a container's lines ("web-1  | "). */
  prefix(name: string): string {
    this.register(name);
    return this.opts.prefix ? this.paint(name, `${name.padEnd(this.width)} | `) : "";
  }

  /** Output of a container: complete lines are written now, a partial one when it completes (or at flush). */
  write(name: string, stream: "stdout" | "stderr", chunk: Uint8Array | string): void {
    const key = `${name}\0${stream}`;
    let decoder = this.decoders.get(key);
    if (!decoder) this.decoders.set(key, (decoder = new TextDecoder()));
    const text = (this.partial.get(key) ?? "") + (typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    const lines = text.split("\n");
    this.partial.set(key, lines.pop()!);
    if (lines.length) this.emit(name, stream, lines);
  }

  /** Writes what is left of a container's partial lines. */
  flush(name: string): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const key = `${name}\0${stream}`;
      const rest = this.partial.get(key);
      if (rest) this.emit(name, stream, [rest]);
      this.partial.delete(key);
    }
  }

  private emit(name: string, stream: "stdout" | "stderr", lines: string[]): void {
    const p = this.prefix(name);
    // --timestamps: the time the line arrived, as compose v2 writes it (RFC 3339 with nanoseconds, no space after).
    const t = this.opts.timestamps ? new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z") : "";
    const out = lines.map((l) => `${p}${t}${l}\n`).join("");
    (stream === "stderr" ? this.opts.err : this.opts.out)(out);
  }

  /** A status line in the container's colour ("web-1 exited with code 0"). */
  status(name: string, message: string): void {
    this.register(name);
    this.opts.out(`${this.paint(name, `${name} ${message}`)}\n`);
  }
}

/** The name compose prints for a container: without the project prefix ("web-1" of "app-web-1"). */
export function shortName(project: string, name: string): string {
  return name.startsWith(`${project}-`) ? name.slice(project.length + 1) : name;
}
