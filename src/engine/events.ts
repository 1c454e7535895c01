/**
 * The engine's event bus: what `GET /events` streams and `docker events` prints. Any part of the engine
 * publishes (images here and in the API; the container manager: create/start/die/destroy...); subscribers
 * get every event after they subscribed, and the last 1024 stay buffered for `since` queries, as moby's
 * daemon/events keeps a ring of recent events. Events are in the Docker API's shape (events.Message),
 * IDs in full (docker stats slices container IDs to 12 characters and panics on shorter ones).
 */
import { appendFileSync, closeSync, openSync, readSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "./engine.ts";
import { EngineError } from "./errors.ts";

/** Object types of Docker's events. */
export type EventType = "container" | "image" | "volume" | "network" | "daemon" | "plugin" | "builder";

/** One event (events.Message). `timeNano` is a bigint: nanoseconds since the epoch do not fit a double. */
export interface EngineEvent {
  Type: EventType;
  /** "pull", "tag", "untag", "delete", "create", "start", "die", "exec_start: sh -c ls"... */
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: bigint;
  /** Position in the bus, for de-duplicating the replay and the live feed. */
  seq: number;
}

const BUFFER = 1024;

/** The journal rotates past this size (one previous generation is kept, as `<journal>.1`). */
const JOURNAL_MAX = 1 << 20;

/** The bus of one engine. */
export class EventBus {
  private ring: EngineEvent[] = [];
  private writes = 0;

  /** `journal`: a file every event is appended to, so other processes on the data root see it (`bunker events` in-process). */
  constructor(private readonly journal?: string) {}

  private subs = new Set<(e: EngineEvent) => void>();
  private seq = 0;
  private lastNano = 0n;

  /** Publishes an event now; returns it. */
  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    // Strictly increasing timestamps keep since/until boundaries unambiguous between events of the same ms.
    let nano = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor((performance.now() % 1) * 1e6));
    if (nano <= this.lastNano) nano = this.lastNano + 1n;
    this.lastNano = nano;
    const e: EngineEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: "local", time: Number(nano / 1_000_000_000n), timeNano: nano, seq: ++this.seq };
    this.ring.push(e);
    if (this.journal) this.append(e);
    if (this.ring.length > BUFFER) this.ring.splice(0, this.ring.length - BUFFER);
    for (const s of this.subs) {
      try {
        s(e);
      } catch {}
    }
    return e;
  }

  private append(e: EngineEvent): void {
    try {
      // One write of one line with O_APPEND: lines of concurrent processes never interleave.
      appendFileSync(this.journal!, `${eventJson(e)}\n`);
      if (++this.writes % 64 === 0 && statSync(this.journal!).size > JOURNAL_MAX) renameSync(this.journal!, `${this.journal}.1`);
    } catch {}
  }

  /** Calls `fn` for every event published from now on; returns the unsubscribe function. */
  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /** Buffered events, oldest first. */
  recent(): EngineEvent[] {
    return this.ring.slice();
  }

  /** Number of live subscribers. */
  get subscribers(): number {
    return this.subs.size;
  }
}

const buses = new WeakMap<Engine, EventBus>();

/** The event bus of an engine (one per engine object, created on first use). */
export function eventsOf(engine: Engine): EventBus {
  let bus = buses.get(engine);
  if (!bus) buses.set(engine, (bus = new EventBus(journalOf(engine))));
  return bus;
}

/** The data root's event journal. */
export const journalOf = (engine: Engine) => join(engine.root.root, "events.log");

/** One journal or `GET /events` line as an event (timeNano kept exact: it does not fit a double). */
export function parseEventLine(line: string): EngineEvent {
  const m = JSON.parse(line) as EngineEvent;
  const nano = /"timeNano":(\d+)/.exec(line)?.[1];
  return { ...m, timeNano: nano ? BigInt(nano) : BigInt(m.time ?? 0) * 1_000_000_000n, seq: 0 };
}

/**
 * The events of a data root's journal as `GET /events` gives them: with `since`, the recorded ones from then
 * on; then new ones as they are appended (polled), until `until` or `signal`.
 */
export async function* journalEvents(path: string, opts: { since?: bigint; until?: bigint; filters?: EventFilters; signal?: AbortSignal }): AsyncGenerator<EngineEvent> {
  for (const k of Object.keys(opts.filters ?? {})) if (!(EVENT_FILTERS as readonly string[]).includes(k)) throw new EngineError("invalidParameter", `invalid filter '${k}'`);
  if (opts.since !== undefined && opts.until !== undefined && opts.since > opts.until) throw new EngineError("invalidParameter", "since time cannot be after until time");
  const inRange = (e: EngineEvent) => (opts.since === undefined || e.timeNano >= opts.since) && (opts.until === undefined || e.timeNano <= opts.until);
  const size = (p: string) => {
    try {
      const st = statSync(p);
      return { size: st.size, ino: st.ino };
    } catch {
      return { size: 0, ino: -1 };
    }
  };
  const readFrom = (p: string, from: number, to: number): string => {
    if (to <= from) return "";
    const fd = openSync(p, "r");
    try {
      const buf = Buffer.alloc(to - from);
      const n = readSync(fd, buf, 0, buf.length, from);
      return buf.subarray(0, n).toString("utf8");
    } finally {
      closeSync(fd);
    }
  };
  const linesOf = (text: string) => text.split("\n").filter(Boolean).flatMap((l) => {
    try {
      return [parseEventLine(l)];
    } catch {
      return [];
    }
  });
  let cur = size(path);
  if (opts.since !== undefined) {
    const old = size(`${path}.1`);
    for (const e of [...linesOf(readFrom(`${path}.1`, 0, old.size)), ...linesOf(readFrom(path, 0, cur.size))]) if (inRange(e) && matchesEvent(e, opts.filters ?? {})) yield e;
  }
  let offset = cur.size;
  let partial = "";
  const now = () => BigInt(Date.now()) * 1_000_000n;
  while (!opts.signal?.aborted && (opts.until === undefined || now() <= opts.until)) {
    await Bun.sleep(100);
    const st = size(path);
    if (st.ino !== cur.ino || st.size < offset) offset = 0; // rotated
    cur = st;
    const text = partial + readFrom(path, offset, st.size);
    offset = st.size;
    const cut = text.lastIndexOf("\n") + 1;
    partial = text.slice(cut);
    for (const e of linesOf(text.slice(0, cut))) {
      if (opts.until !== undefined && e.timeNano > opts.until) return;
      if (inRange(e) && matchesEvent(e, opts.filters ?? {})) yield e;
    }
  }
}

/**
 * The JSON moby writes for an event: the deprecated status/id/from fields for container and image events,
 * then Type, Action, Actor, scope, time, timeNano (as an integer, exactly).
 */
export function eventJson(e: EngineEvent): string {
  const legacy: Record<string, string> = {};
  if (e.Type === "container" || e.Type === "image") {
    legacy.status = e.Action;
    legacy.id = e.Actor.ID;
    if (e.Type === "container" && e.Actor.Attributes.image !== undefined) legacy.from = e.Actor.Attributes.image;
  }
  const head = JSON.stringify({ ...legacy, Type: e.Type, Action: e.Action, Actor: e.Actor, scope: e.scope, time: e.time });
  return `${head.slice(0, -1)},"timeNano":${e.timeNano}}`;
}

/** Filters of `GET /events`, in their normalised form. */
export type EventFilters = Record<string, string[]>;

/** The filter keys moby accepts for events. */
export const EVENT_FILTERS = ["config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"] as const;

/** moby's events filter: every given key must match (values of one key are alternatives). */
export function matchesEvent(e: EngineEvent, f: EventFilters): boolean {
  const attrs = e.Actor.Attributes;
  const any = (key: string, test: (v: string) => boolean) => !f[key]?.length || f[key]!.some(test);
  const action = e.Action.split(":")[0]!;
  return (
    any("type", (v) => v === e.Type) &&
    any("event", (v) => v === e.Action || v === action) &&
    any("scope", (v) => v === e.scope) &&
    any("container", (v) => e.Type === "container" && (e.Actor.ID === v || e.Actor.ID.startsWith(v) || attrs.name === v)) &&
    any("image", (v) => {
      if (e.Type === "image") return e.Actor.ID === v || attrs.name === v || stripTag(attrs.name) === v || e.Actor.ID === `sha256:${v}`;
      if (e.Type === "container") return attrs.image === v || stripTag(attrs.image) === v;
      return false;
    }) &&
    any("label", (v) => {
      const eq = v.indexOf("=");
      return eq < 0 ? v in attrs : attrs[v.slice(0, eq)] === v.slice(eq + 1);
    }) &&
    any("network", (v) => e.Type === "network" && (e.Actor.ID === v || attrs.name === v)) &&
    any("volume", (v) => e.Type === "volume" && (e.Actor.ID === v || attrs.name === v)) &&
    any("daemon", (v) => e.Type === "daemon" && (e.Actor.ID === v || attrs.name === v)) &&
    any("plugin", () => e.Type === "plugin") &&
    // Swarm objects never happen here.
    !f.node?.length &&
    !f.service?.length &&
    !f.secret?.length &&
    !f.config?.length
  );
}

function stripTag(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return colon > slash ? name.slice(0, colon) : name;
}
