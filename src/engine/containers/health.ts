/**
 * HEALTHCHECK, the policy side (the checks run in the shim: runtime/shim/health.c): the Config.Healthcheck a
 * container gets (the user's over the image's, moby's merge), moby's validation, the plan's fields, and
 * reading back what the shim records (<dir>/health.json) as inspect's State.Health.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { invalidParameter } from "../errors.ts";
import { goDurationString } from "../../go/time.ts";

/** moby's container.HealthConfig: durations in ns (0 = the default), Retries (0 = 3). */
export interface HealthConfig {
  /** ["NONE"], ["CMD", arg...], ["CMD-SHELL", command]; empty: inherit the image's. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** inspect's State.Health (moby's types.Health). */
export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy";
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

/** moby's defaults (daemon/health.go): 30s interval and timeout, no start period, 5s start interval, 3 retries. */
export const HEALTH_DEFAULTS = { Interval: 30e9, Timeout: 30e9, StartPeriod: 0, StartInterval: 5e9, Retries: 3 };

const MIN_DURATION = 1e6; // moby's container.MinimumDuration (1ms)

/** moby's validateHealthCheck, with its messages. */
export function checkHealthConfig(h: HealthConfig | undefined): void {
  if (!h) return;
  const short = (v: number | undefined) => v !== undefined && v !== 0 && v < MIN_DURATION;
  if (short(h.Interval)) throw invalidParameter("Interval in Healthcheck cannot be less than 1ms");
  if (short(h.Timeout)) throw invalidParameter("Timeout in Healthcheck cannot be less than 1ms");
  if ((h.Retries ?? 0) < 0) throw invalidParameter("Retries in Healthcheck cannot be negative");
  if (short(h.StartPeriod)) throw invalidParameter("StartPeriod in Healthcheck cannot be less than 1ms");
  if (short(h.StartInterval)) throw invalidParameter("StartInterval in Healthcheck cannot be less than 1ms");
}

/** moby's merge of the user's Healthcheck over the image's: unset fields (empty Test, zero values) inherit. */
export function mergeHealthConfig(user: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  if (!user && !image) return undefined;
  // zero values are left out, as moby's omitempty fields show them
  const out: HealthConfig = {};
  const test = user?.Test?.length ? user.Test : image?.Test;
  if (test?.length) out.Test = test;
  for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) {
    const v = user?.[k] || image?.[k];
    if (v) out[k] = v;
  }
  return out;
}

/** The check's command (moby's getProbe + cmdProbe), or undefined: no check runs (none, NONE, or an unknown type). */
export function healthCommand(h: HealthConfig | undefined): string[] | undefined {
  const t = h?.Test ?? [];
  if (t[0] === "CMD" && t.length > 1) return t.slice(1);
  if (t[0] === "CMD-SHELL" && t.length > 1) return ["/bin/sh", "-c", ...t.slice(1)];
  return undefined;
}

/** What the shim needs to run the checks (ms for its timers), or undefined. */
export function healthPlan(h: HealthConfig | undefined): { args: string[]; interval: number; timeout: number; startPeriod: number; startInterval: number; retries: number; timeoutText: string } | undefined {
  const args = healthCommand(h);
  if (!args || !h) return undefined;
  const ns = (k: "Interval" | "Timeout" | "StartPeriod" | "StartInterval") => h[k] || HEALTH_DEFAULTS[k];
  const ms = (v: number) => Math.max(v ? 1 : 0, Math.floor(v / 1e6));
  return {
    args,
    interval: ms(ns("Interval")),
    timeout: ms(ns("Timeout")),
    startPeriod: ms(ns("StartPeriod")),
    startInterval: ms(ns("StartInterval")),
    retries: h.Retries && h.Retries > 0 ? h.Retries : HEALTH_DEFAULTS.Retries,
    timeoutText: goDurationString(ns("Timeout")),
  };
}

/** State.Health as the shim last recorded it; undefined before the first start of a container with a check. */
export function readHealth(containerDir: string): HealthState | undefined {
  try {
    const h = JSON.parse(readFileSync(join(containerDir, "health.json"), "utf8")) as HealthState;
    return h.Status ? h : undefined;
  } catch {
    return undefined;
  }
}
