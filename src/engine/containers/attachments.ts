/**
 * The engine's attach sessions, per engine: clients attached to a container before it runs wait here, and
 * its start then stops the container at its start barrier until their output is connected, so no byte is
 * lost; live sessions are kept for resize. A session itself belongs to the transport (the server's
 * hijacked connection); the engine sees it as an Attacher.
 */
import type { Engine } from "../engine.ts";
import { monitorOf } from "../monitor.ts";
import type { Attachment } from "../runtime/attach.ts";
import type { StoredContainer } from "./types.ts";

/** One attached client as the engine drives it. */
export interface Attacher {
  readonly c: StoredContainer;
  /** The container's stdio, once bound. */
  readonly att?: Attachment;
  /** Resolves when the session ended (client gone, container exited). */
  readonly finished: Promise<void>;
  /** Output from the container (1 stdout, 2 stderr; everything is 1 with a TTY). */
  output(stream: 1 | 2, data: Uint8Array): void;
  /** The container's stdio is reachable: relay stdin, end with the container's output. */
  bind(att: Attachment): void;
  /** A failure after the session began: reported to the client, then the session ends. */
  fail(message: string): void;
  end(): void;
}

const hubs = new WeakMap<Engine, Attachments>();

/** The attach sessions of an engine. */
export function attachmentsOf(engine: Engine): Attachments {
  let h = hubs.get(engine);
  if (!h) hubs.set(engine, (h = new Attachments(engine)));
  return h;
}

function addTo(map: Map<string, Set<Attacher>>, id: string, s: Attacher) {
  let set = map.get(id);
  if (!set) map.set(id, (set = new Set()));
  set.add(s);
}

function removeFrom(map: Map<string, Set<Attacher>>, id: string, s: Attacher) {
  const set = map.get(id);
  if (!set) return;
  set.delete(s);
  if (!set.size) map.delete(id);
}

/** Sessions waiting for their container to start, and live ones. */
export class Attachments {
  private readonly pending = new Map<string, Set<Attacher>>();
  private readonly live = new Map<string, Set<Attacher>>();
  constructor(private readonly engine: Engine) {}

  /** A session that waits for its container's start (register it before the client may send the start). */
  wait(s: Attacher): void {
    addTo(this.pending, s.c.id, s);
  }

  /** Forgets a session that ended. */
  forget(s: Attacher): void {
    removeFrom(this.pending, s.c.id, s);
    removeFrom(this.live, s.c.id, s);
  }

  /**
   * Starts a container. Sessions attached before the start get its output from its first byte: the
   * container waits at its start barrier until the engine is attached. The last session gone detaches
   * (the container keeps running).
   */
  async start(c: StoredContainer): Promise<{ alreadyRunning: boolean }> {
    const { startContainer } = await import("./manager.ts");
    const waiting = this.pending.get(c.id);
    if (!waiting?.size) return { alreadyRunning: !!(await startContainer(this.engine, c.id)).alreadyRunning };
    const sessions = [...waiting];
    this.pending.delete(c.id);
    const fan = (stream: 1 | 2) => (b: Uint8Array) => {
      for (const s of sessions) s.output(stream, b);
    };
    let res;
    try {
      res = await startContainer(this.engine, c.id, { attach: { onStdout: fan(1), onStderr: fan(2) }, untilRunning: true });
    } catch (e) {
      for (const s of sessions) s.end();
      throw e;
    }
    if (res.alreadyRunning) {
      for (const s of sessions) void this.attachRunning(s);
      return { alreadyRunning: true };
    }
    const att = (res as { attach?: Attachment }).attach!;
    let left = sessions.length;
    for (const s of sessions) {
      addTo(this.live, c.id, s);
      s.bind(att);
      void s.finished.then(() => {
        if (--left === 0) att.close();
      });
    }
    void att.exited.then(() => monitorOf(this.engine).check(c.id));
    return { alreadyRunning: false };
  }

  /** Attaches a session to a running container through its own connection to the shim. */
  async attachRunning(s: Attacher): Promise<void> {
    const { attachContainer } = await import("../runtime/attach.ts");
    try {
      const att = await attachContainer(s.c.dir, { onStdout: (b) => s.output(1, b), onStderr: (b) => s.output(2, b) });
      addTo(this.live, s.c.id, s);
      s.bind(att);
      void s.finished.then(() => att.close());
      void att.exited.then(() => monitorOf(this.engine).check(s.c.id));
    } catch (e) {
      s.fail(`Error attaching: ${(e as Error).message}`);
    }
  }

  /** Resizes a running container's TTY: through a live session's attachment, else a short-lived one. */
  async resize(c: StoredContainer, height: number, width: number): Promise<void> {
    const live = this.live.get(c.id);
    const att = live && [...live].find((s) => s.att)?.att;
    if (att) return att.resize(height, width);
    const { attachContainer } = await import("../runtime/attach.ts");
    const a = await attachContainer(c.dir, {});
    a.resize(height, width);
    setTimeout(() => a.close(), 50);
  }
}
