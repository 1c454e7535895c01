/**
 * Reading what the shim records in <containerDir>/status.json (written with rename, so never torn) and
 * signalling the container. A recorded pid is trusted only while /proc/<pid>/stat's start time matches.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { conflict, invalidParameter } from "../errors.ts";

/** A container's runtime state. `restarting`: exited, and its supervisor will start it again. */
export interface ContainerStatus {
  running: boolean;
  restarting: boolean;
  pid?: number;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  restartCount: number;
  /** A start failure, or "supervisor died" when nothing is left to record the exit. */
  error?: string;
  /** Docker's State.OOMKilled: the last run lost a process to the OOM killer under its -m limit. */
  oomKilled?: boolean;
  supervisorPid?: number;
  /** HEALTHCHECK status the supervisor last recorded (starting, healthy, unhealthy); absent without a check. */
  health?: "starting" | "healthy" | "unhealthy";
}

interface Raw {
  running: boolean;
  restarting: boolean;
  pid: number;
  pidStart: number;
  supervisorPid: number;
  guardianPid: number;
  startedAt: string;
  finishedAt: string;
  exitCode: number | null;
  restartCount: number;
  error: string;
  /** The last run lost a process to the OOM killer under its memory limit (absent in older records). */
  oomKilled?: boolean;
  /** "" without a HEALTHCHECK (absent in older records). */
  health?: string;
}

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if the process is gone or, unless
 * `zombie`, a zombie (it has exited: an orphaned supervisor may stay one while the host's init is slow).
 */
export function processStartTime(pid: number, opts: { zombie?: boolean } = {}): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" && !opts.zombie ? undefined : Number(fields[19]);
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => pid > 0 && processStartTime(pid) !== undefined;

/**
 * status.json as last parsed, per directory. The shim replaces the file with a rename on every change, so
 * an unchanged inode + mtime + size is an unchanged record: one stat instead of open/read/close + JSON
 * (a daemon listing 50 containers does this 50 times per `docker ps`).
 */
const parsed = new Map<string, { ino: number; mtime: number; size: number; raw: Raw }>();

function readRaw(containerDir: string): Raw | undefined {
  const file = `${containerDir}/status.json`;
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) {
    parsed.delete(containerDir);
    return undefined;
  }
  const hit = parsed.get(containerDir);
  if (hit && hit.ino === st.ino && hit.mtime === st.mtimeMs && hit.size === st.size) return hit.raw;
  try {
    const raw = JSON.parse(readFileSync(file, "utf8")) as Raw;
    if (parsed.size >= 4096) parsed.clear();
    parsed.set(containerDir, { ino: st.ino, mtime: st.mtimeMs, size: st.size, raw });
    return raw;
  } catch {
    return undefined;
  }
}

/** The container's status from its directory. Never throws for a container that was never started. */
export function readContainerStatus(containerDir: string): ContainerStatus {
  let raw = readRaw(containerDir);
  if (!raw) return { running: false, restarting: false, restartCount: 0 };
  // A container that exited is left a zombie until its supervisor has recorded the exit (the shim's monitor):
  // until then it runs, as Docker's does until containerd's exit event, and no reader sees an exit without its code.
  const live = (r: Raw) => r.running && r.pid > 0 && processStartTime(r.pid, { zombie: true }) === r.pidStart;
  let running = live(raw);
  // Gone, after our read maybe: its record was rewritten before it was reaped, so a second read has how it ended.
  if (raw.running && !running) running = live((raw = readRaw(containerDir) ?? raw));
  // A running container's supervisors are alive (the guardian outlives it): a listing skips two /proc reads each.
  const supervised = running || alive(raw.supervisorPid) || alive(raw.guardianPid);
  const st: ContainerStatus = {
    running,
    restarting: false,
    pid: raw.pid || undefined,
    exitCode: raw.exitCode ?? undefined,
    startedAt: raw.startedAt || undefined,
    finishedAt: raw.finishedAt || undefined,
    restartCount: raw.restartCount,
    error: raw.error || undefined,
    oomKilled: raw.oomKilled || undefined,
    supervisorPid: supervised ? raw.supervisorPid : undefined,
    ...(raw.health ? { health: raw.health as ContainerStatus["health"] } : {}),
  };
  if (raw.running && !st.running && !supervised) {
    // Both supervisors were killed and the container is gone: nobody could record how it ended.
    return { ...st, exitCode: 255, error: "supervisor died", pid: undefined };
  }
  st.restarting = raw.restarting && supervised;
  if (!st.running) st.pid = undefined;
  return st;
}

/** "KILL", "SIGKILL", "9" or 9 -> 9. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === "number" || /^\d+$/.test(signal)) {
    const n = Number(signal);
    if (n < 1 || n > 64) throw invalidParameter(`Invalid signal: ${signal}`);
    return n;
  }
  const up = signal.toUpperCase();
  // node:os on demand: listings read statuses and never name a signal
  const { constants } = require("node:os") as typeof import("node:os");
  const n = (constants.signals as Record<string, number>)[up.startsWith("SIG") ? up : `SIG${up}`];
  if (n === undefined) throw invalidParameter(`Invalid signal: ${signal}`);
  return n;
}

/**
 * Sends a signal to the container's init (PID 1 inside: it ignores signals it has no handler for, except
 * SIGKILL/SIGSTOP from here). `stop: true` first records a manual stop, so no restart policy revives it.
 */
export function signalContainer(containerDir: string, signal: string | number, opts: { stop?: boolean } = {}): void {
  const sig = signalNumber(signal);
  const st = readContainerStatus(containerDir);
  if (opts.stop) writeFileSync(join(containerDir, "stop-requested"), "");
  if (!st.running || !st.pid) {
    if (opts.stop && st.restarting) return;
    throw conflict(`Container ${basename(containerDir)} is not running`);
  }
  try {
    process.kill(st.pid, sig);
  } catch (e) {
    // reaped since the read above: it exited, which is what a stop or kill wanted
    if ((e as { code?: string }).code !== "ESRCH") throw e;
  }
}

/** True if a status record exists (the container was started at least once). */
export function hasStatus(containerDir: string): boolean {
  return existsSync(join(containerDir, "status.json"));
}
