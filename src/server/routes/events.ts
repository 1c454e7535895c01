/**
 * GET /events: buffered events since `since`, then live ones until `until` (or forever), filtered, one
 * JSON object per chunk. `until` in the past ends the stream after the replay, as in moby.
 */
import type { Engine } from "../../engine/engine.ts";
import { invalidParameter } from "../../engine/errors.ts";
import { EVENT_FILTERS, eventJson, eventsOf, matchesEvent, type EngineEvent } from "../../engine/events.ts";
import { checkFilterKeys, parseFilters, timeParam } from "../query.ts";
import { type Router, stream } from "../router.ts";

const nowNano = () => BigInt(Date.now()) * 1_000_000n;

/** Declares GET /events on `r`. */
export function eventRoutes(r: Router, engine: Engine): void {
  const bus = eventsOf(engine);
  r.get("/events", (req, { query }) => {
    const since = timeParam(query, "since");
    const until = timeParam(query, "until");
    const filters = parseFilters(query.get("filters"));
    checkFilterKeys(filters, EVENT_FILTERS);
    if (since !== undefined && until !== undefined && since > until) throw invalidParameter(`since time (${query.get("since")}) cannot be after until time (${query.get("until")})`);
    const wanted = (e: EngineEvent) => (since === undefined || e.timeNano >= since) && (until === undefined || e.timeNano <= until) && matchesEvent(e, filters);

    return stream(
      async (write, signal) => {
        const queue: EngineEvent[] = [];
        let wake: (() => void) | undefined;
        const unsubscribe = bus.subscribe((e) => {
          queue.push(e);
          wake?.();
        });
        let timer: ReturnType<typeof setTimeout> | undefined;
        let expired = false;
        const onAbort = () => wake?.();
        signal.addEventListener("abort", onAbort);
        try {
          // Subscribed first, replayed second: an event published in between is seen once (by seq).
          let lastSeq = 0;
          for (const e of bus.recent()) {
            lastSeq = e.seq;
            if (since !== undefined && wanted(e)) write(eventJson(e) + "\n");
          }
          if (until !== undefined) {
            const ms = Number((until - nowNano()) / 1_000_000n);
            if (ms < 0) return;
            timer = setTimeout(() => {
              expired = true;
              wake?.();
            }, ms + 1);
          }
          while (!signal.aborted && !expired) {
            if (!queue.length) await new Promise<void>((r) => (wake = r));
            wake = undefined;
            for (const e of queue.splice(0)) {
              if (e.seq <= lastSeq) continue;
              if (until !== undefined && e.timeNano > until) {
                expired = true;
                break;
              }
              if (wanted(e)) write(eventJson(e) + "\n");
            }
          }
        } finally {
          unsubscribe();
          if (timer) clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        }
      },
      { signal: req.signal },
    );
  });
}
