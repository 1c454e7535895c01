/**
 * `bunker stats`: live resource usage of containers, computed from the daemon's samples as the docker CLI
 * computes it (CPU % over the previous sample, memory without inactive page cache, summed interfaces and
 * block devices). Without names: every running container (`-a`: every one), the list refreshed each second
 * so new containers appear and stopped ones go; on a terminal the table is redrawn in place.
 */
import { EngineError } from "../engine/errors.ts";
import type { ContainerStats } from "../engine/containers/stats.ts";
import type { Backend } from "../api/backend.ts";
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { binarySize, humanSize, renderFormatted, table } from "./_output.ts";
// The engine areas this command runs in-process (listing, then sampling), loaded with the command's own
// chunks rather than by two later import()s from src/api/local.ts, as ps does. Unused when a daemon answers.
import "../engine/containers/query.ts";
import "../engine/containers/stats.ts";

const DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const DEFAULT_HEADER = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];
const HEADERS = { ID: "CONTAINER ID", Container: "CONTAINER", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" };

/** The docker CLI's StatsEntry, from one sample. */
interface Entry {
  container: string;
  name: string;
  id: string;
  cpu: number;
  memory: number;
  memoryLimit: number;
  memoryPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
  /** The last sample failed (container gone): shown as "--". */
  invalid?: boolean;
}

/** The docker CLI's figures from one sample (calculateCPUPercentUnix, calculateMemUsageUnixNoCache, calculateBlockIO, calculateNetwork). */
export function entryOf(container: string, v: ContainerStats): Entry {
  const cpuDelta = v.cpu_stats.cpu_usage.total_usage - (v.precpu_stats.cpu_usage?.total_usage ?? 0);
  const systemDelta = (v.cpu_stats.system_cpu_usage ?? 0) - (v.precpu_stats.system_cpu_usage ?? 0);
  const online = v.cpu_stats.online_cpus || v.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
  const m = v.memory_stats;
  const usage = m.usage ?? 0;
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file;
  const memory = inactive !== undefined && inactive < usage ? usage - inactive : usage;
  const limit = m.limit ?? 0;
  let blockRead = 0;
  let blockWrite = 0;
  for (const e of v.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (/^r/i.test(e.op)) blockRead += e.value;
    else if (/^w/i.test(e.op)) blockWrite += e.value;
  }
  let netRx = 0;
  let netTx = 0;
  for (const n of Object.values(v.networks ?? {})) (netRx += n.rx_bytes), (netTx += n.tx_bytes);
  return { container, name: v.name, id: v.id, cpu, memory, memoryLimit: limit, memoryPercent: limit ? (memory / limit) * 100 : 0, netRx, netTx, blockRead, blockWrite, pids: v.pids_stats?.current ?? 0 };
}

/** The fields a --format template sees (the docker CLI's statsContext), as strings. */
function view(e: Entry, trunc: boolean) {
  const bad = e.invalid;
  const pct = (n: number) => `${n.toFixed(2)}%`;
  return {
    Container: e.container,
    Name: e.name.length > 1 ? e.name.slice(1) : "--",
    ID: trunc ? e.id.slice(0, 12) : e.id,
    CPUPerc: bad ? "--" : pct(e.cpu),
    MemUsage: bad ? "-- / --" : `${binarySize(e.memory)} / ${binarySize(e.memoryLimit)}`,
    MemPerc: bad ? "--" : pct(e.memoryPercent),
    NetIO: bad ? "--" : `${humanSize(e.netRx)} / ${humanSize(e.netTx)}`,
    BlockIO: bad ? "--" : `${humanSize(e.blockRead)} / ${humanSize(e.blockWrite)}`,
    PIDs: bad ? "--" : String(e.pids),
  };
}

/** One container's latest entry: from its stream of samples, or from the one sample (or error) already taken. */
class Watch {
  entry: Entry;
  error?: Error;
  readonly first: Promise<void>;
  private readonly ac = new AbortController();
  constructor(readonly ref: string, source: { backend: Backend; stream: boolean } | ContainerStats | Error) {
    this.entry = { container: ref, name: "", id: ref, cpu: 0, memory: 0, memoryLimit: 0, memoryPercent: 0, netRx: 0, netTx: 0, blockRead: 0, blockWrite: 0, pids: 0 };
    if (source instanceof Error) {
      this.fail(source);
      this.first = Promise.resolve();
      return;
    }
    if (!("backend" in source)) {
      this.entry = entryOf(ref, source);
      this.first = Promise.resolve();
      return;
    }
    let seen!: () => void;
    this.first = new Promise((r) => (seen = r));
    void (async () => {
      try {
        for await (const v of source.backend.stats(ref, { stream: source.stream }, this.ac.signal)) {
          this.entry = entryOf(ref, v);
          seen();
        }
      } catch (e) {
        if (!this.ac.signal.aborted) this.fail(e as Error);
      }
      seen();
    })();
  }
  private fail(e: Error) {
    this.error = e;
    this.entry = { ...this.entry, invalid: true };
  }
  stop() {
    this.ac.abort();
  }
}

export default defineCommand({
  meta: { name: "stats", description: "Display a live stream of container(s) resource usage statistics", usage: "[OPTIONS] [CONTAINER...]", aliases: ["bunker container stats", "bunker stats"] },
  flags: {
    all: { type: "boolean", alias: "a", description: "Show all containers (default shows just running)" },
    format: { type: "string", description: "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)", valueHint: "string" },
    "no-stream": { type: "boolean", description: "Disable streaming stats and only pull the first result" },
    "no-trunc": { type: "boolean", description: "Do not truncate output" },
  },
  async run({ flags, args, global }) {
    const backend = await openBackend(global);
    const stream = !flags["no-stream"];
    const watches = new Map<string, Watch>();
    const showAll = args.length === 0;
    const add = (ref: string) => {
      if (!watches.has(ref)) watches.set(ref, new Watch(ref, { backend, stream }));
    };
    /** Without names: the containers listed now (running, or all with -a); gone ones leave, as the docker CLI drops them on `die`. */
    const refresh = async () => {
      const listed = await backend.listContainers({ all: !!flags.all });
      const ids = new Set(listed.map((c) => c.Id));
      for (const c of listed) add(c.Id);
      for (const [id, w] of watches) if (!ids.has(id)) (w.stop(), watches.delete(id));
    };
    if (!stream && showAll) {
      // One look at every container: the in-process engine reads each status once, not for a listing and again per sample.
      for (const { id, sample } of await backend.statsSnapshot({ all: !!flags.all })) watches.set(id, new Watch(id, sample));
    } else if (showAll) await refresh();
    else for (const a of args) add(a);
    await Promise.all([...watches.values()].map((w) => w.first));
    if (!showAll) {
      const errors = [...watches.values()].filter((w) => w.error).map((w) => w.error!);
      if (errors.length) {
        for (const w of watches.values()) w.stop();
        for (const e of errors) console.error(e instanceof EngineError ? `Error response from daemon: ${e.message}` : e.message);
        return 1;
      }
    }
    const format = !flags.format || flags.format === "table" ? DEFAULT_FORMAT : flags.format;
    const render = () => {
      const rows = [...watches.values()].map((w) => view(w.entry, !flags["no-trunc"]));
      // The default table needs no template engine (its load is most of a short `--no-stream`).
      if (format === DEFAULT_FORMAT) return table([DEFAULT_HEADER, ...rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs])]);
      return rows.length || format.startsWith("table") ? renderFormatted(format, rows, HEADERS) : "";
    };
    if (!stream) {
      const out = render();
      if (out) console.log(out);
      return 0;
    }
    const tty = process.stdout.isTTY === true;
    if (tty) process.stdout.write("\x1b[2J");
    try {
      // until interrupted (Ctrl-C ends the process, as the docker CLI's), or every named container failed
      for (;;) {
        const out = render();
        // On a terminal: home, each line cleared to its end, then whatever an earlier longer table left below.
        if (tty) process.stdout.write(`\x1b[H${out.split("\n").map((l) => `${l}\x1b[K`).join("\n")}\n\x1b[J`);
        else if (out) process.stdout.write(`${out}\n`);
        if (!showAll && ![...watches.values()].some((w) => !w.error)) break;
        await Bun.sleep(1000);
        if (showAll) await refresh();
      }
    } finally {
      for (const w of watches.values()) w.stop();
    }
    return 0;
  },
});
