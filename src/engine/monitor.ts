/**
 * The daemon's view of container exits. Containers run under their own shims, which record each exit in
 * <dir>/status.json and tell nobody; dockerd learns of exits from containerd's event stream, bunker's
 * daemon polls instead: every 100 ms it stats the status file of each container it believes running
 * (one stat per container, the JSON is read only when the file changed, and fully re-read every 2 s in
 * case a shim died without writing). On a change it publishes moby's `die` (exitCode, execDuration) and,
 * for a restart-policy restart, `start`; an exited --rm container is removed (`destroy`), as dockerd does.
 * Around a start and an exit go moby's network `connect` and `disconnect` of each of the container's networks.
 * The poll runs only while some container is believed running. Containers started by another bunker
 * process (the in-process CLI on the same data root) are adopted by a rescan every 2 s while anyone
 * listens to events or waits, and at daemon start (`reconcile`: exits that happened while the daemon was
 * down are simply what the shims recorded; --rm containers that exited meanwhile are removed).
 *
 * `wait` subscribes to changes of one container (`onChange`) and reads `lastExit` for containers that are
 * gone (condition=removed).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "./engine.ts";
import { eventsOf, type EventBus } from "./events.ts";
import { readContainerStatus } from "./runtime/status.ts";
import { network } from "./lazy.ts";

interface Tracked {
  dir: string;
  /** <dir>/status.json, joined once: the poll stats it 10 times a second (a fresh path string each time doubled a stat's cost). */
  statusFile: string;
  running: boolean;
  startedAt?: string;
  mtime: number;
  /** The HEALTHCHECK status last seen: a change to healthy/unhealthy is moby's `health_status: <status>` event. */
  health?: string;
}

const TICK_MS = 100;
const FULL_EVERY = 20; // ticks: a full read every 2 s, for shims that died without a word
const RESCAN_MS = 2000;

export class ContainerMonitor {
  private tracked = new Map<string, Tracked>();
  private timer?: ReturnType<typeof setInterval>;
  private ticks = 0;
  private lastRescan = 0;
  private listeners = new Map<string, Set<() => void>>();
  private exits = new Map<string, number>();
  private dieCounts = new Map<string, number>();
  private waiters = 0;
  /** Attribute cache for events of containers whose row is gone (destroy). */
  readonly meta = new Map<string, { image: string; name: string; labels: Record<string, string> }>();
  /** The networks each container joined at its start, for its disconnect events once its rows are gone (rm -f). */
  private joined = new Map<string, { id: string; name: string; type: string }[]>();

  constructor(
    readonly engine: Engine,
    readonly bus: EventBus = eventsOf(engine),
  ) {}

  /** The last exit code seen for a container (kept after it is removed, for wait?condition=removed). */
  lastExit(id: string): number | undefined {
    return this.exits.get(id);
  }

  /** How many exits were seen for a container since the daemon started. */
  dies(id: string): number {
    return this.dieCounts.get(id) ?? 0;
  }

  /** Calls `fn` on any change of the container (die, start, destroy); returns the unsubscribe function. */
  onChange(id: string, fn: () => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(fn);
    this.waiters++;
    this.ensureTimer();
    return () => {
      this.waiters--;
      set!.delete(fn);
      if (!set!.size) this.listeners.delete(id);
    };
  }

  /** Notifies the listeners of one container. */
  changed(id: string): void {
    for (const fn of this.listeners.get(id) ?? []) {
      try {
        fn();
      } catch {}
    }
  }

  /** Starts watching a container believed running (after a start). */
  track(id: string, dir: string, startedAt?: string): void {
    this.tracked.set(id, { dir, statusFile: join(dir, "status.json"), running: true, startedAt, mtime: -1, health: readContainerStatus(dir).health });
    this.ensureTimer();
  }

  /** Forgets a container (removed). */
  forget(id: string): void {
    this.tracked.delete(id);
    this.meta.delete(id);
    this.joined.delete(id);
    this.changed(id);
  }

  /** moby's implicit network events: `connect` on each of a container's networks before its start, `disconnect` after its exit. */
  networkEvents(id: string, action: "connect" | "disconnect"): void {
    const nets = (action === "disconnect" && this.joined.get(id)) || this.networksOf(id);
    if (action === "connect") this.joined.set(id, nets);
    else this.joined.delete(id);
    for (const n of nets) this.bus.publish("network", action, n.id, { container: id, name: n.name, type: n.type });
  }

  private networksOf(id: string): { id: string; name: string; type: string }[] {
    const c = this.engine.containers.lookup(id);
    if (!c) return [];
    const net = network();
    const out: { id: string; name: string; type: string }[] = [];
    for (const [name, ep] of Object.entries(net.networkSettings(this.engine, c, false).Networks)) {
      const n = net.lookupNetwork(this.engine, (ep as { NetworkID?: string }).NetworkID || name);
      if (n) out.push({ id: n.id, name: n.name, type: n.driver });
    }
    return out;
  }

  /** Checks one container now (before publishing stop/destroy, so `die` comes first, as in moby). */
  check(id: string): void {
    const t = this.tracked.get(id);
    if (t) this.inspect(id, t, true);
  }

  /** At daemon start: adopt running containers, remove --rm containers that exited while nobody watched. */
  async reconcile(): Promise<void> {
    for (const c of this.engine.containers.all()) {
      const st = readContainerStatus(c.dir);
      if (st.running || st.restarting) this.track(c.id, c.dir, st.startedAt);
      else if (c.hostConfig.AutoRemove && (st.startedAt || st.finishedAt || st.exitCode !== undefined)) await this.autoRemove(c.id);
    }
    this.lastRescan = Date.now();
  }

  private ensureTimer() {
    if (this.timer || (!this.tracked.size && !this.waiters)) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref?.();
  }

  private tick() {
    this.ticks++;
    const full = this.ticks % FULL_EVERY === 0;
    for (const [id, t] of this.tracked) this.inspect(id, t, full);
    const now = Date.now();
    if ((this.bus.subscribers > 0 || this.waiters > 0) && now - this.lastRescan >= RESCAN_MS) {
      this.lastRescan = now;
      this.rescan();
    }
    if (!this.tracked.size && !this.waiters) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Adopts running containers this daemon did not start. */
  private rescan() {
    let all;
    try {
      all = this.engine.containers.all();
    } catch {
      return;
    }
    for (const c of all) {
      if (this.tracked.has(c.id)) continue;
      const st = readContainerStatus(c.dir);
      if (st.running) this.track(c.id, c.dir, st.startedAt);
    }
  }

  private inspect(id: string, t: Tracked, full: boolean) {
    let mtime: number;
    try {
      mtime = statSync(t.statusFile).mtimeMs;
    } catch {
      // Gone: removed by someone; destroy is (or was) published by whoever removed it.
      this.tracked.delete(id);
      this.changed(id);
      return;
    }
    if (!full && mtime === t.mtime) return;
    t.mtime = mtime;
    const st = readContainerStatus(t.dir);
    const restarted = st.running && t.startedAt !== undefined && st.startedAt !== undefined && st.startedAt !== t.startedAt;
    if (t.running && (!st.running || restarted)) {
      // An exit (a restart-policy restart shows only as a new start time if we polled too late).
      const code = st.exitCode ?? 0;
      this.exits.set(id, code);
      this.dieCounts.set(id, this.dies(id) + 1);
      const started = t.startedAt ? Date.parse(t.startedAt) : NaN;
      const duration = Number.isFinite(started) ? Math.max(0, Math.floor(((st.finishedAt ? Date.parse(st.finishedAt) : Date.now()) - started) / 1000)) : 0;
      if (st.oomKilled && !st.running) this.publish(id, "oom"); // moby sends it before the die
      this.publish(id, "die", { exitCode: String(code), execDuration: String(duration) });
      this.networkEvents(id, "disconnect");
      t.running = false;
      if (st.running) {
        this.networkEvents(id, "connect");
        this.publish(id, "start");
        t.running = true;
      } else if (st.restarting) {
        t.running = false;
      }
      this.changed(id);
    } else if (!t.running && st.running) {
      t.running = true;
      this.networkEvents(id, "connect");
      this.publish(id, "start");
      this.changed(id);
    }
    t.startedAt = st.startedAt ?? t.startedAt;
    // moby emits one on each change a check's result makes (starting comes from a start, unhealthy at a stop: no event)
    if (st.running && st.health !== t.health && (st.health === "healthy" || st.health === "unhealthy")) this.publish(id, `health_status: ${st.health}`);
    t.health = st.health;
    if (!st.running && !st.restarting) {
      this.tracked.delete(id);
      const c = this.engine.containers.lookup(id);
      if (c?.hostConfig.AutoRemove) void this.autoRemove(id);
    }
  }

  private publish(id: string, action: string, extra: Record<string, string> = {}) {
    const m = this.metaOf(id);
    this.bus.publish("container", action, id, { ...(m?.labels ?? {}), ...extra, image: m?.image ?? "", name: m?.name ?? "" });
  }

  /** Attributes of a container's events: from its row, else the cache. */
  metaOf(id: string) {
    let c;
    try {
      c = this.engine.containers.lookup(id);
    } catch {}
    if (c) {
      const m = { image: c.imageRef, name: c.name, labels: c.config.Labels ?? {} };
      this.meta.set(id, m);
      return m;
    }
    return this.meta.get(id);
  }

  private async autoRemove(id: string) {
    const { removeContainer } = await import("./containers/manager.ts");
    try {
      await removeContainer(this.engine, id, { force: true, volumes: true }); // --rm takes its anonymous volumes along
    } catch {}
    this.changed(id);
  }
}

/**
 * Connects the engine's event sink (what the container manager reports) to the event bus, in moby's
 * shape: attributes = labels + image + name (+ the event's own), full IDs; a `die` the monitor has not
 * published yet goes out before `stop` and `destroy`; `start` makes the monitor watch the container.
 * Idempotent.
 */
export function installEventSink(engine: Engine): ContainerMonitor {
  const mon = monitorOf(engine);
  if ((engine.events as { monitor?: unknown }).monitor === mon) return mon;
  const sink = {
    monitor: mon,
    publish(e: import("./engine.ts").EngineEvent) {
      if (e.Type !== "container") {
        mon.bus.publish(e.Type, e.Action, e.id, { ...(e.attributes ?? {}), ...(e.name !== undefined ? { name: e.name } : {}) });
        return;
      }
      if (e.Action === "stop" || e.Action === "destroy") mon.check(e.id);
      const m = mon.metaOf(e.id);
      if (e.Action === "start") mon.networkEvents(e.id, "connect");
      mon.bus.publish("container", e.Action, e.id, { ...(e.labels ?? m?.labels ?? {}), ...(e.attributes ?? {}), image: e.from ?? m?.image ?? "", name: e.name ?? m?.name ?? "" });
      if (e.Action === "start") {
        const c = engine.containers.lookup(e.id);
        if (c) mon.track(c.id, c.dir, readContainerStatus(c.dir).startedAt);
        mon.changed(e.id);
      } else if (e.Action === "destroy") mon.forget(e.id);
    },
  };
  engine.events = sink;
  return mon;
}

const monitors = new WeakMap<Engine, ContainerMonitor>();

/** The monitor of an engine (one per engine object). */
export function monitorOf(engine: Engine): ContainerMonitor {
  let m = monitors.get(engine);
  if (!m) monitors.set(engine, (m = new ContainerMonitor(engine)));
  return m;
}
