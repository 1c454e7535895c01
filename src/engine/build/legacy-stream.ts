/**
 * The legacy builder's JSON stream (POST /build, what dockerd writes without BuildKit) from BuildEvents, and
 * back. dockerd's builder/dockerfile numbers every instruction across the Dockerfile (the ARGs before the
 * first FROM, each stage's FROM and instructions, config-only ones too, `--label`s as LABEL steps last) and
 * writes, per instruction: `Step N/M : <as written>` then "\n" (two messages); for a FROM its ONBUILD
 * triggers under `# Executing N build trigger(s)`; ` ---> Using cache` for a cache hit; else
 * ` ---> Running in <container>` for one it runs in a container (all but FROM, COPY, ADD and a meta ARG), the
 * step's output (stderr wrapped in red, as its stderr formatter does), `Removing intermediate container
 * <container>` (with rm or forcerm); then ` ---> <image>`, the image the instruction yields (none for a meta
 * ARG, empty for `FROM scratch`); after a stage's last instruction `{"aux":{"ID":…}}` (API >= 1.30); at the
 * end `Successfully built <12 hex>` and `Successfully tagged <name>` per tag. A failed RUN is
 * `{"errorDetail":{"code":N,"message":"The command '…' returned a non-zero code: N"},"error":"…"}`. With `q`,
 * everything is held back: only the image ID is written (or, on failure, all of it and the error).
 *
 * Stages bunker builds concurrently report their instructions interleaved: the writer holds an instruction's
 * messages until every instruction numbered before it is done, so the stream reads as dockerd's sequential one.
 * Bunker's builder keeps no intermediate containers, with or without rm: the container named in "Running in"
 * is the step's own, gone when the step ends; its ID is a fresh 12-hex name, as only these lines show it.
 */
import type { BuildEvent, BuildInstruction, BuildResult } from "./types.ts";

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

/** BuildKit's failed-RUN text, as the legacy builder words it: the JSONError with the exit code. */
export function legacyError(message: string): { code?: number; message: string } {
  const m = /^process "(.*)" did not complete successfully: exit code: (\d+)$/s.exec(message);
  if (!m) return { message };
  const code = Number(m[2]);
  return { code, message: `The command '${m[1]}' returned a non-zero code: ${code}` };
}

/** An instruction (or ONBUILD trigger) being written, and the container named for it. */
interface Written {
  ins: BuildInstruction;
  container?: string;
}

/** The key of an instruction or of one of its ONBUILD triggers. */
const keyOf = (n: number, trigger?: number) => (trigger === undefined ? `${n}` : `${n}.${trigger}`);

/** Writes a build's events as the legacy builder's messages. */
export class LegacyStreamWriter {
  private readonly steps = new Map<string, Written>();
  /** Vertex → the instruction whose work it does (its logs and failure). */
  private readonly byVertex = new Map<number, string>();
  /** Messages of instructions waiting for earlier ones (concurrent stages), by number. */
  private readonly pending = new Map<number, LegacyMessage[]>();
  private readonly finished = new Set<number>();
  /** The lowest instruction not done yet: its messages go out at once. */
  private next = 1;
  private held: LegacyMessage[] = [];
  private lastAux?: string;
  /** Whether anything went to the client. */
  written = false;
  /** Whether a failure now goes into the stream: something was written, or (quiet) held back to be written with it; before that, dockerd answers with an HTTP status. */
  get started(): boolean {
    return this.written || this.held.length > 0 || this.pending.size > 0;
  }

  constructor(
    private readonly emit: (m: LegacyMessage) => void,
    private readonly opts: {
      quiet: boolean;
      rm: boolean;
      forceRm: boolean;
      /** Write the `aux` image IDs (API >= 1.30; default true). */
      aux?: boolean;
      newId?: () => string;
    },
  ) {}

  private out(m: LegacyMessage): void {
    if (this.opts.quiet) return void this.held.push(m);
    this.written = true;
    this.emit(m);
  }
  /** A message of instruction `n`: written now if every earlier instruction is done, else when they are. */
  private say(n: number, m: LegacyMessage): void {
    if (n <= this.next) return this.out(m);
    const list = this.pending.get(n);
    if (list) list.push(m);
    else this.pending.set(n, [m]);
  }
  private finish(n: number): void {
    this.finished.add(n);
    while (this.finished.has(this.next)) {
      this.next++;
      for (const m of this.pending.get(this.next) ?? []) this.out(m);
      this.pending.delete(this.next);
    }
  }
  /** The step's container line, once, before its output (dockerd prints it when it creates the container). */
  private running(step: Written): void {
    if (step.container || !step.ins.container) return;
    step.container = (this.opts.newId ?? (() => Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")))();
    this.say(step.ins.n, { stream: ` ---> Running in ${step.container}\n` });
  }
  private removed(step: Written): void {
    if (step.container && (this.opts.rm || this.opts.forceRm)) this.say(step.ins.n, { stream: `Removing intermediate container ${step.container}\n` });
  }

  /** One build event. */
  event(e: BuildEvent): void {
    if (e.type === "warning") return this.out({ stream: `${RED}[Warning] ${e.message}\n${RESET}` });
    if (e.type === "start") {
      const legacy = e.vertex.step?.legacy;
      if (legacy) this.byVertex.set(e.vertex.id, keyOf(legacy.n, legacy.trigger));
      return;
    }
    if (e.type === "instruction") {
      const ins = e.instruction;
      this.steps.set(keyOf(ins.n, ins.trigger?.index), { ins });
      if (!ins.trigger) {
        this.say(ins.n, { stream: `Step ${ins.n}/${ins.of} : ${ins.text}` });
        this.say(ins.n, { stream: "\n" });
      } else if (ins.trigger.index === 0) {
        // Three writes in dockerd (Fprintf, the plural's Fprint, Fprintln): three messages.
        this.say(ins.n, { stream: `# Executing ${ins.trigger.of} build trigger` });
        if (ins.trigger.of > 1) this.say(ins.n, { stream: "s" });
        this.say(ins.n, { stream: "\n" });
      }
      return;
    }
    if (e.type === "instructionDone") {
      const step = this.steps.get(keyOf(e.n, e.trigger));
      if (!step) return;
      const { ins } = step;
      if (ins.stage >= 0) {
        if (e.cached) this.say(ins.n, { stream: " ---> Using cache\n" });
        else {
          this.running(step);
          this.removed(step);
        }
        if (e.trigger === undefined) this.say(ins.n, { stream: ` ---> ${shortId(e.imageId ?? "")}\n` });
        if (e.trigger === undefined && ins.endsStage && e.imageId && this.opts.aux !== false) {
          this.lastAux = e.imageId;
          this.say(ins.n, { aux: { ID: e.imageId } });
        }
      }
      if (e.trigger === undefined) this.finish(ins.n);
      return;
    }
    if (e.type !== "log" && e.type !== "error") return;
    const key = this.byVertex.get(e.vertexId);
    const step = key === undefined ? undefined : this.steps.get(key);
    if (!step) return;
    this.running(step);
    if (e.type === "log") {
      const text = new TextDecoder().decode(e.data);
      this.say(step.ins.n, { stream: e.stream === 2 ? `${RED}${text}${RESET}` : text });
    } else if (this.opts.forceRm) this.removed(step);
  }

  /** The build succeeded: `Successfully built`, `Successfully tagged` per familiar tag (quiet: the image ID only). */
  result(r: BuildResult, familiarTags: string[]): void {
    if (this.lastAux !== r.id && this.opts.aux !== false) this.out({ aux: { ID: r.id } });
    this.out({ stream: `Successfully built ${shortId(r.id)}\n` });
    for (const t of familiarTags) this.out({ stream: `Successfully tagged ${t}\n` });
    if (this.opts.quiet) {
      this.held = [];
      this.written = true;
      this.emit({ stream: `${r.id}\n` });
    }
  }

  /** The build failed: what is held (later instructions', then quiet's), and the error message, as dockerd's errf writes them. */
  error(message: string): void {
    for (const n of [...this.pending.keys()].sort((a, b) => a - b)) for (const m of this.pending.get(n)!) this.out(m);
    this.pending.clear();
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
    const id = /^ ---> ([0-9a-f]{12})?\n$/.exec(text);
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
