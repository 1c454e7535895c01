/**
 * The legacy builder's JSON stream (POST /build, what dockerd writes without BuildKit) from BuildEvents, and
 * back. dockerd's builder/dockerfile writes, per step: `Step N/M : <instruction>` then "\n" (two messages),
 * ` ---> Using cache` for a cache hit, ` ---> Running in <container>` for a step it runs in a container (every
 * instruction but FROM, COPY and ADD), the step's output (stderr wrapped in red, as its stderr formatter does),
 * `Removing intermediate container <container>` (with rm or forcerm), ` ---> <image>`; at the end
 * `{"aux":{"ID":…}}`, `Successfully built <12 hex>` and `Successfully tagged <name>` per tag. A failed RUN
 * is `{"errorDetail":{"code":N,"message":"The command '…' returned a non-zero code: N"},"error":"…"}`.
 * With `q`, the output is held back: only the aux and the image ID are written (or, on failure, all of it).
 *
 * Bunker's builder keeps no intermediate containers, with or without rm: the container named in "Running in"
 * is the step's own, gone when the step ends; its ID is a fresh 12-hex name, as only these lines show it.
 */
import type { BuildEvent, BuildResult } from "./types.ts";

/** One message of the stream (jsonmessage.JSONMessage's fields a build uses). */
export interface LegacyMessage {
  stream?: string;
  aux?: { ID: string };
  errorDetail?: { code?: number; message: string };
  error?: string;
}

const RED = "\x1b[91m";
const RESET = "\x1b[0m";

/** stringid.TruncateID: the 12-hex short form of an image or container ID. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** The instruction keyword of a step's text ("RUN", "COPY"...). */
function keyword(instruction: string): string {
  return (/^\s*(\S+)/.exec(instruction)?.[1] ?? "").toUpperCase();
}

/** BuildKit's failed-RUN text, as the legacy builder words it: the JSONError with the exit code. */
export function legacyError(message: string): { code?: number; message: string } {
  const m = /^process "(.*)" did not complete successfully: exit code: (\d+)$/s.exec(message);
  if (!m) return { message };
  const code = Number(m[2]);
  return { code, message: `The command '${m[1]}' returned a non-zero code: ${code}` };
}

/** Writes a build's events as the legacy builder's messages. */
export class LegacyStreamWriter {
  private readonly steps = new Map<number, { keyword: string; instruction: string; container?: string }>();
  private held: LegacyMessage[] = [];
  /** Whether anything went to the client. */
  written = false;
  /** Whether a failure now goes into the stream: something was written, or (quiet) held back to be written with it; before that, dockerd answers with an HTTP status. */
  get started(): boolean {
    return this.written || this.held.length > 0;
  }

  constructor(
    private readonly emit: (m: LegacyMessage) => void,
    private readonly opts: {
      quiet: boolean;
      rm: boolean;
      forceRm: boolean;
      newId?: () => string;
      /** The ID of a FROM step's base image when its event carries none (dockerd prints ` ---> <base ID>`). */
      baseImageId?: (instruction: string) => string | undefined;
    },
  ) {}

  private out(m: LegacyMessage): void {
    if (this.opts.quiet && m.stream !== undefined) return void this.held.push(m);
    this.written = true;
    this.emit(m);
  }
  private say(text: string): void {
    this.out({ stream: text });
  }
  /** The step's container line, once, before its output (dockerd prints it when it creates the container). */
  private running(step: { keyword: string; container?: string }): void {
    if (step.container || ["FROM", "COPY", "ADD"].includes(step.keyword)) return;
    step.container = (this.opts.newId ?? (() => Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")))();
    this.say(` ---> Running in ${step.container}\n`);
  }
  private removed(step: { container?: string }): void {
    if (step.container && (this.opts.rm || this.opts.forceRm)) this.say(`Removing intermediate container ${step.container}\n`);
  }

  /** One build event. */
  event(e: BuildEvent): void {
    if (e.type === "warning") return this.say(`${RED}[Warning] ${e.message}\n${RESET}`);
    if (e.type === "start") {
      if (!e.vertex.step) return; // BuildKit's internal vertices have no legacy line
      const { n, of, instruction } = e.vertex.step;
      this.steps.set(e.vertex.id, { keyword: keyword(instruction), instruction });
      this.say(`Step ${n}/${of} : ${instruction}`);
      this.say("\n");
      return;
    }
    const step = this.steps.get(e.vertexId);
    if (!step) return;
    const imageId = e.type === "cached" || e.type === "done" ? (e.imageId ?? (step.keyword === "FROM" ? this.opts.baseImageId?.(step.instruction) : undefined)) : undefined;
    if (e.type === "cached") {
      if (step.keyword !== "FROM") this.say(" ---> Using cache\n");
      if (imageId) this.say(` ---> ${shortId(imageId)}\n`);
    } else if (e.type === "log") {
      this.running(step);
      const text = new TextDecoder().decode(e.data);
      this.say(e.stream === 2 ? `${RED}${text}${RESET}` : text);
    } else if (e.type === "done") {
      this.running(step);
      this.removed(step);
      if (imageId) this.say(` ---> ${shortId(imageId)}\n`);
    } else if (e.type === "error") {
      if (this.opts.forceRm) this.removed(step);
    }
  }

  /** The build succeeded: the image ID (aux), `Successfully built`, `Successfully tagged` per familiar tag. */
  result(r: BuildResult, familiarTags: string[]): void {
    this.out({ aux: { ID: r.id } });
    this.say(`Successfully built ${shortId(r.id)}\n`);
    for (const t of familiarTags) this.say(`Successfully tagged ${t}\n`);
    if (this.opts.quiet) {
      this.written = true;
      this.emit({ stream: `${r.id}\n` });
    }
  }

  /** The build failed: the held output (quiet) and the error message, as dockerd's errf writes them. */
  error(message: string): void {
    for (const m of this.held) this.emit(m);
    this.held = [];
    const detail = legacyError(message);
    this.written = true;
    this.emit({ errorDetail: detail, error: detail.message });
  }
}

/**
 * Reads the legacy stream back into BuildEvents (the remote Backend: `bunker build` through a daemon draws
 * the same progress as in-process). Steps become vertices `[N/M] instruction`; output lines are their logs;
 * ` ---> <id>` ends a step, ` ---> Using cache` marks it cached.
 */
export class LegacyStreamReader {
  private vertex = 0;
  private current?: { id: number; started: number; cached: boolean; ended: boolean };
  private pendingStep = "";
  /** The image ID from the aux message. */
  imageId?: string;
  /** Tags the daemon reported. */
  tags: string[] = [];

  constructor(
    private readonly onEvent: (e: BuildEvent) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private end(imageId?: string): void {
    const c = this.current;
    if (!c || c.ended) return;
    c.ended = true;
    if (c.cached) this.onEvent({ type: "cached", vertexId: c.id, imageId });
    else this.onEvent({ type: "done", vertexId: c.id, ms: Math.round(this.now() - c.started), imageId });
  }

  /** One message; throws the stream's error (errorDetail) as an Error with its code. */
  message(m: LegacyMessage): void {
    if (m.errorDetail || m.error) {
      const legacy = m.errorDetail?.message ?? m.error ?? "";
      // The legacy wording of a failed RUN, back in BuildKit's (what the CLI prints after "failed to solve").
      const run = /^The command '(.*)' returned a non-zero code: (\d+)$/s.exec(legacy);
      const message = run ? `process "${run[1]}" did not complete successfully: exit code: ${run[2]}` : legacy;
      this.fail(message);
      throw Object.assign(new Error(message), { code: m.errorDetail?.code });
    }
    if (m.aux?.ID) this.imageId = m.aux.ID;
    if (m.stream === undefined) return;
    let text = m.stream;
    // "Step N/M : X" and its "\n" come as two messages.
    if (this.pendingStep) {
      text = this.pendingStep + text;
      this.pendingStep = "";
    }
    const step = /^Step (\d+)\/(\d+) : (.*)$/s.exec(text);
    if (step && !text.endsWith("\n")) return void (this.pendingStep = text);
    if (step) {
      this.end();
      const instruction = step[3]!.replace(/\n$/, "");
      const id = ++this.vertex;
      this.current = { id, started: this.now(), cached: false, ended: false };
      this.onEvent({ type: "start", vertex: { id, name: `[${step[1]}/${step[2]}] ${instruction}`, step: { n: Number(step[1]), of: Number(step[2]), instruction } } });
      return;
    }
    if (/^ ---> Using cache\n$/.test(text)) return void (this.current && (this.current.cached = true));
    if (/^ ---> Running in [0-9a-f]+\n$/.test(text) || /^Removing intermediate container [0-9a-f]+\n$/.test(text)) return;
    const id = /^ ---> ([0-9a-f]{12})\n$/.exec(text);
    if (id) return this.end(id[1]);
    const built = /^Successfully built ([0-9a-f]+)\n$/.exec(text);
    if (built) return this.end();
    const tagged = /^Successfully tagged (.+)\n$/.exec(text);
    if (tagged) return void this.tags.push(tagged[1]!);
    const red = text.startsWith(RED) && text.endsWith(RESET);
    const body = red ? text.slice(RED.length, -RESET.length) : text;
    const warning = /^\[Warning\] (.*)\n$/s.exec(body);
    if (red && warning) return this.onEvent({ type: "warning", message: warning[1]! });
    if (this.current && !this.current.ended) this.onEvent({ type: "log", vertexId: this.current.id, stream: red ? 2 : 1, data: new TextEncoder().encode(body) });
  }

  /** The stream broke off (the client cancelled, the daemon went away): the running step failed with `message`. */
  fail(message: string): void {
    if (this.current && !this.current.ended) {
      this.current.ended = true;
      this.onEvent({ type: "error", vertexId: this.current.id, message });
    }
  }

  /** The stream ended: closes the last step. */
  close(): void {
    this.end();
  }
}
