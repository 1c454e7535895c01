/**
 * The daemon: the API of one engine on dockerd's listeners. `-H unix://PATH` (socket 0660 root:root, so
 * only root reaches the API, which is root on the host), `-H tcp://HOST:PORT` only with mutual TLS
 * (--tlsverify with a CA, a certificate and a key) unless the user states --tls=false / --tlsverify=false,
 * a pidfile that refuses a second daemon, and a clean stop on SIGTERM/SIGINT: stop accepting, let
 * in-flight requests finish briefly, remove the socket and the pidfile. Containers run under their own
 * shims and are not touched; a daemon killed with -9 finds them on its next start (monitor.ts reconcile).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Engine } from "../engine/engine.ts";
import { EngineError, type ErrorKind } from "../engine/errors.ts";
import type { HttpServer, ListenAddress, ServerLimits } from "./server.ts";
import { createDaemonLogger } from "./log.ts";

/** Where bunker listens by default, as dockerd's /var/run/docker.sock. */
export const DEFAULT_SOCKET = "/run/bunker.sock";
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET}`;

/** A start-up failure of the daemon, in dockerd's words (a bad flag by default). */
const startError = (msg: string, kind: ErrorKind = "invalidParameter") => new EngineError(kind, msg, { code: "daemonStart" });

/** A parsed -H value. */
export type HostSpec = { proto: "unix"; path: string } | { proto: "tcp"; hostname: string; port: number };

/** Parses -H as dockerd's opts.ParseHost does: unix://PATH, tcp://HOST:PORT, tcp://:PORT, HOST:PORT, "" (the default). */
export function parseHost(raw: string, tls = false): HostSpec {
  const h = raw.trim();
  if (h === "" || h === "unix://") return { proto: "unix", path: DEFAULT_SOCKET };
  if (h.startsWith("unix://")) return { proto: "unix", path: h.slice(7) };
  if (/^(fd|npipe|ssh):\/\//.test(h)) throw startError(`Invalid bind address format: ${h}: ${h.split(":")[0]} listeners are not supported`);
  const rest = h.startsWith("tcp://") ? h.slice(6) : /^[a-z]+:\/\//.test(h) ? null : h;
  if (rest === null) throw startError(`Invalid bind address format: ${h}`);
  if (rest.includes("/")) throw startError(`Invalid bind address format: ${h}: paths are not allowed`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*))(?::([0-9]*))?$/.exec(rest);
  if (!m) throw startError(`Invalid bind address format: ${h}`);
  const hostname = m[1] ?? (m[2] || "0.0.0.0");
  const port = m[3] ? Number(m[3]) : tls ? 2376 : 2375;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw startError(`Invalid bind address format: ${h}: invalid port`);
  return { proto: "tcp", hostname, port };
}

/** TLS options of the daemon (paths to PEM files), dockerd's flag names. */
export interface DaemonTls {
  /** --tlsverify: require client certificates signed by `ca`. */
  verify?: boolean;
  /** --tls given: true, --tls=false given: false, absent: undefined. */
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Options of startDaemon. */
export interface DaemonOptions {
  /** -H values; default [DEFAULT_HOST]. */
  hosts?: string[];
  pidfile?: string;
  tls?: DaemonTls;
  limits?: Partial<ServerLimits>;
  /** Handle SIGTERM/SIGINT (the serve command; not in-process tests). */
  handleSignals?: boolean;
  /** Grace period for in-flight requests at shutdown, ms (default 5000). */
  shutdownGraceMs?: number;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
}

/** A running daemon. */
export interface Daemon {
  addresses: string[];
  server: HttpServer;
  /** Stops serving and removes the sockets and the pidfile; idempotent. */
  stop(): Promise<void>;
  /** Settles once the daemon stopped (by stop() or a signal). */
  done: Promise<void>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes the pidfile, refusing (as dockerd) when it names a live process. */
function writePidfile(path: string): void {
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw startError(`pid file found, ensure bunker is not running or delete ${path}`, "conflict");
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${process.pid}`);
}

/** True when something accepts connections on the unix socket `path`. */
async function socketAnswers(path: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: path, socket: { data() {}, open() {}, close() {}, error() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

/** Starts the API of `engine` on every host. Throws a daemonStart EngineError (nothing left behind) when a listener cannot start. */
export async function startDaemon(engine: Engine, opts: DaemonOptions = {}): Promise<Daemon> {
  const log = createDaemonLogger(opts.log);
  const tlsOpts = opts.tls ?? {};
  const useTls = tlsOpts.verify === true || tlsOpts.tls === true;
  const specs = (opts.hosts?.length ? opts.hosts : [DEFAULT_HOST]).map((h) => parseHost(h, useTls));

  // TLS material is checked before anything is bound.
  let tls: import("bun").TLSOptions | undefined;
  if (specs.some((s) => s.proto === "tcp")) {
    const plainAllowed = tlsOpts.tls === false || tlsOpts.verify === false;
    if (tlsOpts.verify) {
      if (!tlsOpts.ca || !tlsOpts.cert || !tlsOpts.key) throw startError("--tlsverify needs --tlscacert, --tlscert and --tlskey");
      const read = (p: string, what: string) => {
        try {
          return readFileSync(p, "utf8");
        } catch (e) {
          throw startError(`could not read ${what} "${p}": ${(e as Error).message}`, "system");
        }
      };
      tls = { ca: read(tlsOpts.ca, "CA certificate"), cert: read(tlsOpts.cert, "X509 certificate"), key: read(tlsOpts.key, "X509 key"), requestCert: true, rejectUnauthorized: true };
    } else if (!plainAllowed) {
      const tcp = specs.find((s) => s.proto === "tcp") as { hostname: string; port: number };
      throw startError(`failed to load listeners: refusing to listen on tcp://${tcp.hostname}:${tcp.port} without --tlsverify: binding to an IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network. Use --tlsverify --tlscacert --tlscert --tlskey, or explicitly specify '--tls=false' or '--tlsverify=false' to run without authentication`);
    }
  }

  if (opts.pidfile) writePidfile(opts.pidfile);
  const created: string[] = [];
  const cleanup = () => {
    for (const p of created) {
      try {
        unlinkSync(p);
      } catch {}
    }
    if (opts.pidfile) {
      try {
        if (readFileSync(opts.pidfile, "utf8").trim() === String(process.pid)) unlinkSync(opts.pidfile);
      } catch {}
    }
  };

  const addresses: ListenAddress[] = [];
  try {
    for (const s of specs) {
      if (s.proto === "unix") {
        if (existsSync(s.path)) {
          if (!lstatSync(s.path).isSocket()) throw startError(`failed to load listeners: ${s.path} exists and is not a socket`, "conflict");
          if (await socketAnswers(s.path)) throw startError(`failed to load listeners: another daemon is listening on ${s.path}`, "conflict");
          unlinkSync(s.path);
        }
        mkdirSync(dirname(s.path), { recursive: true });
        addresses.push({ unix: s.path });
      } else {
        if (!tls) log.warn("Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.", { host: `tcp://${s.hostname}:${s.port}` });
        addresses.push({ hostname: s.hostname, port: s.port, tls });
      }
    }
  } catch (e) {
    cleanup();
    throw e;
  }

  // Container events reach the bus; exits are noticed by polling the shims' records (monitor.ts), and
  // what happened while no daemon ran is taken as the shims recorded it (--rm containers that exited go).
  const { installEventSink } = await import("../engine/monitor.ts");
  await installEventSink(engine)
    .reconcile()
    .catch((e) => log.warn(`reconciling containers: ${(e as Error).message}`));
  const { createApi } = await import("./app.ts");
  const { serve } = await import("./server.ts");
  const api = createApi(engine, { debug: engine.config.debug ? (m) => log.debug(m) : undefined });
  const app = engine.config.debug
    ? {
        ...api,
        fetch: (req: Request) => {
          log.debug(`Calling ${req.method} ${new URL(req.url).pathname}`);
          return api.fetch(req);
        },
      }
    : api;

  let server: HttpServer;
  // The socket is created 0600 (umask) and only then opened to the group: no window where others can connect.
  const oldMask = process.umask(0o177);
  try {
    server = serve(app, addresses, { limits: opts.limits, log: (level, msg) => log[level](msg) });
  } catch (e) {
    cleanup();
    throw startError(`failed to load listeners: ${(e as Error).message}`, "system");
  } finally {
    process.umask(oldMask);
  }
  for (const a of addresses) {
    if (!("unix" in a)) continue;
    created.push(a.unix);
    chmodSync(a.unix, 0o660);
    try {
      chownSync(a.unix, 0, 0);
    } catch {}
  }
  for (const a of server.addresses) log.info(`API listen on ${a.replace(/^unix:\/\//, "")}`);
  log.info("Daemon has completed initialization");

  // After a burst of requests, a full collection once things are quiet returns the garbage's pages
  // (measured: ~15 MiB after 16k requests), keeping the long-running daemon near its idle footprint.
  let collectedAt = 0;
  const gcTimer = setInterval(() => {
    if (server.requests !== collectedAt && server.inflight === 0) {
      collectedAt = server.requests;
      Bun.gc(true);
    }
  }, 30_000);
  gcTimer.unref();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const onSignal = (sig: string) => {
    if (stopping) {
      log.info(`Received ${sig} again, stopping now`);
      server.close(0);
      return;
    }
    log.info(`Processing signal '${sig === "SIGINT" ? "interrupt" : "terminated"}'`);
    void stop();
  };
  const sigterm = () => onSignal("SIGTERM");
  const sigint = () => onSignal("SIGINT");
  if (opts.handleSignals) {
    process.on("SIGTERM", sigterm);
    process.on("SIGINT", sigint);
  }
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(gcTimer);
      await server.close(opts.shutdownGraceMs ?? 5000);
      cleanup();
      if (opts.handleSignals) {
        process.off("SIGTERM", sigterm);
        process.off("SIGINT", sigint);
      }
      log.info("Daemon shutdown complete");
      resolveDone();
    })());
  return { addresses: server.addresses, server, stop, done };
}
