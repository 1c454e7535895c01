/**
 * `docker top CONTAINER [ps OPTIONS]` (moby's daemon/top_unix.go): run the host's `ps` with the user's
 * options (default `-ef`), find the PID column, keep the rows of the container's processes.
 *
 * Which processes are the container's: moby asks containerd for the pids of the container's cgroup, and
 * so does bunker: every process in the init's cgroup or below it (execs join it too). Not the pid
 * namespace: with --pid host or container:X that holds others' processes. Without a cgroup of its own
 * (an init in the root cgroup), every process whose pid namespace (/proc/<pid>/ns/pid) is the init's, plus
 * their descendants. Threads share their process's pid, so `-L`/`m` rows are kept as in moby.
 *
 * As moby: the args are split on single spaces; `ps <args> -q <pids>` first (cheap: ps reads only those
 * pids), then `ps <args>` alone when ps refuses the combination (e.g. with `f`); the first line of ps's
 * stderr is the error (`ps: <line>`, a 500); rows that are longer than the header have their overhanging
 * fields joined into the last column.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { EngineError } from "../errors.ts";
import { strconvError } from "../../go/strconv.ts";

export interface ContainerTopResult {
  Titles: string[];
  Processes: string[][];
}

/** A process's cgroup, as the engine sees it: v1's in the devices hierarchy (every container has one), or v2's path; "" if gone. */
function cgroupOf(pid: number): string {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
    // v1 (a hybrid host lists an empty v2 line too): the devices hierarchy's
    const line = lines.find((l) => /^\d+:([^:]*,)?devices(,[^:]*)?:/.test(l)) ?? lines.find((l) => l.startsWith("0::")) ?? "";
    return line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
  } catch {
    return "";
  }
}

/** The pids in the container of `initPid`: those of its cgroup and below, or else its pid namespace's and their descendants. */
export function containerPids(initPid: number): number[] {
  const cg = cgroupOf(initPid);
  if (cg.includes("/bunker/")) {
    const pids: number[] = [];
    for (const name of readdirSync("/proc")) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const own = cgroupOf(Number(name));
      if (own === cg || own.startsWith(`${cg}/`)) pids.push(Number(name));
    }
    return pids.includes(initPid) ? pids.sort((a, b) => a - b) : [];
  }
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  const inside = new Set<number>();
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      if (readlinkSync(`/proc/${pid}/ns/pid`) === ns) inside.add(pid);
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parens, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3)[1]);
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  if (!inside.has(initPid)) return [];
  const out = new Set<number>();
  const stack = [...inside];
  while (stack.length) {
    const p = stack.pop()!;
    if (out.has(p)) continue;
    out.add(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** moby's validatePSArgs: `-o pid=PID` style renames of the PID column are refused (400). */
function validatePsArgs(psArgs: string) {
  for (const m of psArgs.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== "pid") throw new EngineError("invalidParameter", `specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** strings.FieldsFunc on ASCII whitespace, as moby's fieldsASCII. */
const fields = (s: string) => s.split(/[\t\n\f\r ]+/).filter(Boolean);

/** moby's parsePSOutput. */
export function parsePsOutput(output: string, pids: number[]): ContainerTopResult {
  const lines = output.split("\n");
  const Titles = fields(lines[0] ?? "");
  const pidIndex = Titles.indexOf("PID");
  if (pidIndex === -1) throw new EngineError("system", "Couldn't find PID field in ps output");
  const want = new Set(pids);
  const Processes: string[][] = [];
  const add = (f: string[]) => Processes.push([...f.slice(0, Titles.length - 1), f.slice(Titles.length - 1).join(" ")]);
  let prevContained = false;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const f = fields(line);
    const field = f[pidIndex] ?? "";
    if (field === "-") {
      if (prevContained) add(f); // a thread row (ps m) under a kept process
      continue;
    }
    const p = /^[+-]?\d+$/.test(field) ? Number(field) : NaN;
    if (Number.isNaN(p)) throw new EngineError("system", `Unexpected pid '${field}': ${strconvError("Atoi", field)}`);
    prevContained = want.has(p);
    if (prevContained) add(f);
  }
  return { Titles, Processes };
}

/**
 * `docker top`: the container's processes as `ps <psArgs>` shows them. `id` names the container in the
 * "is not running" error (409) raised when initPid is gone.
 */
export function containerTop(initPid: number, psArgs = "", id: string = String(initPid)): ContainerTopResult {
  if (psArgs === "") psArgs = "-ef";
  validatePsArgs(psArgs);
  const pids = containerPids(initPid);
  if (!pids.length) throw new EngineError("conflict", `Container ${id} is not running`);
  const args = psArgs.split(" ");
  let r = Bun.spawnSync(["ps", ...args, `-q${pids.join(",")}`], { stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  if (r.exitCode !== 0) {
    // some options (such as f) can't be used together with q: retry without it
    r = Bun.spawnSync(["ps", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
    if (r.exitCode !== 0) {
      const first = r.stderr.toString().split("\n")[0];
      throw new EngineError("system", `ps: ${first || `exit status ${r.exitCode ?? r.signalCode}`}`);
    }
  }
  return parsePsOutput(r.stdout.toString(), pids);
}
