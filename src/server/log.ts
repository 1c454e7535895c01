/**
 * The daemon's log: a consola instance whose one reporter writes dockerd's logrus text lines,
 * `time="2026-01-02T03:04:05.678Z" level=info msg="API listen on /run/bunker.sock"`, one per call, with
 * extra fields after the message (`logger.warn(msg, { host })`). Only the daemon imports this module
 * (consola/core: the instance without consola's own reporters, so serve's start-up pays ~0 ms for it).
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";

/** logrus's name for each consola log type the daemon uses. */
const LEVELS: Record<string, string> = { debug: "debug", trace: "trace", info: "info", log: "info", warn: "warning", error: "error", fatal: "fatal" };

/** One logrus text line: time="..." level=... msg="..." key="value"... */
export function logLine(level: string, msg: string, fields: Record<string, string> = {}, date = new Date()): string {
  const extra = Object.entries(fields).map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join("");
  return `time="${date.toISOString()}" level=${level} msg=${JSON.stringify(msg)}${extra}`;
}

/** Formats a consola log object as a logrus line: the first argument is the message, a second object holds the fields. */
export function formatLogObject(o: LogObject): string {
  const [msg, fields] = o.args as [unknown, Record<string, string> | undefined];
  return logLine(LEVELS[o.type] ?? o.type, String(msg), fields, o.date);
}

/** The daemon's logger; every line goes to `out` (default stderr). Level gating is the caller's (--debug). */
export function createDaemonLogger(out: (line: string) => void = (line) => process.stderr.write(line + "\n")): ConsolaInstance {
  return createConsola({
    // All levels pass; throttle 0 keeps every line (consola would fold repeats into "(repeated N times)").
    level: 999,
    throttle: 0,
    reporters: [{ log: (o) => out(formatLogObject(o)) }],
  });
}
