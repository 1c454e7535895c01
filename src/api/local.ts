/**
 * The in-process transport: the Backend operations as direct calls into this process's engine. This is
 * bunker's default mode (no daemon, no install); the daemon serves the same engine functions.
 */
import type { Platform } from "../engine/image/types.ts";
import type { Engine } from "../engine/engine.ts";
import type { Backend, EventMessage } from "./backend.ts";
import { eventsOf, journalEvents, journalOf } from "../engine/events.ts";

// Each engine area loads when a command first uses it: a command's start-up pays for its own part only
// (networking, the runtime and image pulling are large and most commands need one of them at most).
const images = () => import("../engine/images.ts");
const manager = () => import("../engine/containers/manager.ts");
const query = () => import("../engine/containers/query.ts");
const system = () => import("../engine/system.ts");
const volumes = () => import("../engine/volumes/index.ts");
const network = () => import("../engine/network/index.ts");
const archive = () => import("../engine/containers/archive.ts");
const snapshots = () => import("../engine/commit.ts");

/** A --platform ("linux/arm64") as the engine takes it. */
async function platformOf(value: string | undefined): Promise<Platform | undefined> {
  if (!value) return undefined;
  const { parsePlatform } = await import("../engine/image/types.ts");
  return parsePlatform(value);
}

/** A Backend over an engine in this process. */
export function localBackend(engine: Engine): Backend {
  // Events go to the data root's journal, where `bunker events` (in-process or not) finds them.
  engine.events = {
    publish(e) {
      const labels = e.labels ?? {};
      const attrs = { ...labels, ...(e.attributes ?? {}), ...(e.from !== undefined ? { image: e.from } : {}), ...(e.name !== undefined ? { name: e.name } : {}) };
      eventsOf(engine).publish(e.Type, e.Action, e.id, attrs);
    },
  };
  const reaped = async () => (await query()).reapExited(engine);
  return {
    where: "in-process",
    listImages: async (o) => (await images()).listImages(engine, o),
    inspectImage: async (name, o) => (await images()).inspectImage(engine, name, { platform: await platformOf(o?.platform) }),
    imageHistory: async (name, o) => (await images()).imageHistory(engine, name, { platform: await platformOf(o?.platform) }),
    tagImage: async (s, t) => (await images()).tagImage(engine, s, t),
    removeImage: async (name, o) => (await images()).removeImage(engine, name, o),
    // The daemon's checks of POST /images/prune (server/routes/images.ts), so no filter is dropped in-process either.
    async pruneImages(o) {
      const f = o.filters ?? {};
      const { EngineError, invalidParameter } = await import("../engine/errors.ts");
      for (const k of Object.keys(f)) if (!["dangling", "label", "label!", "until"].includes(k)) throw invalidParameter(`invalid filter '${k}'`);
      if (f.until?.length || f["label!"]?.length) throw new EngineError("notFound", "image prune filters until and label! is not supported by bunker yet (see docs/api.md)");
      const d = f.dangling?.[0]?.toLowerCase();
      if (d !== undefined && !["true", "false", "1", "0"].includes(d)) throw invalidParameter(`Invalid filter 'dangling=${f.dangling![0]}'`);
      return (await images()).pruneImages(engine, { all: o.all || d === "false" || d === "0", filters: f.label ? { label: f.label } : undefined });
    },
    async pull(ref, o, onMessage) {
      const { pullImage } = await import("../engine/pull.ts");
      const { parsePlatform } = await import("../engine/image/types.ts");
      await pullImage(engine, ref, { platform: o.platform ? parsePlatform(o.platform) : undefined, onMessage });
    },
    saveImages: async (names) => (await import("../engine/archive/save.ts")).saveImages(engine, names),
    saveImagesInto: async (names, fd, o) => (await import("../engine/archive/save.ts")).saveImagesInto(engine, names, fd, o),
    loadImages: async (input, o, onMessage) => void (await (await import("../engine/archive/load.ts")).loadImages(engine, input, { quiet: o.quiet, onMessage })),
    async push(ref, o, onMessage) {
      const { pushRepository } = await import("../engine/push.ts");
      await pushRepository(engine, ref, { onMessage, platform: await platformOf(o.platform) });
    },
    info: async () => (await system()).systemInfo(engine),
    version: async () => (await system()).systemVersion(),
    df: async () => (await system()).systemDf(engine),
    createContainer: async (o) => ({ Id: (await (await manager()).createContainer(engine, o)).id }),
    async startContainer(id, attach) {
      const m = await manager();
      const started = await m.startContainer(engine, id, attach ? { attach } : {});
      const attachment = "attach" in started ? started.attach : undefined;
      const c = engine.containers.resolve(id);
      // --rm: the container goes once it exited, as a daemon removes it (its own process does that there).
      if (attachment && c.hostConfig.AutoRemove) {
        const exited = attachment.exited.then(async (code) => {
          const status = code ?? (await m.waitContainer(engine, c.id));
          await m.removeContainer(engine, c.id, { force: true, volumes: true }).catch(() => {});
          return status;
        });
        return { attach: { ...attachment, exited } };
      }
      return { attach: attachment };
    },
    stopContainer: async (id, o) => void (await (await manager()).stopContainer(engine, id, o)),
    restartContainer: async (id, o) => (await manager()).restartContainer(engine, id, o),
    killContainer: async (id, s) => (await manager()).killContainer(engine, id, s),
    removeContainer: async (id, o) => (await manager()).removeContainer(engine, id, o),
    waitContainer: async (id, c) => (await manager()).waitContainer(engine, id, c),
    renameContainer: async (id, name) => (await manager()).renameContainer(engine, id, name),
    pruneContainers: async (o) => (await manager()).pruneContainers(engine, { filters: o.filters }),
    listContainers: async (o) => (await query()).listContainers(engine, o),
    inspectContainer: async (id, o) => (await query()).inspectContainer(engine, id, o),
    signalContainer: async (id, sig) => (await import("../engine/runtime/status.ts")).signalContainer(engine.containers.resolve(id).dir, sig),
    async *logs(id, o) {
      const { renderLogs, outputSplit } = await import("../engine/containers/logs.ts");
      const { readContainerStatus } = await import("../engine/runtime/status.ts");
      const c = engine.containers.resolve(id);
      if (c.hostConfig.LogConfig.Type === "none") throw (await import("../engine/containers/logs/drivers.ts")).noLogReading();
      yield* renderLogs(`${c.dir}/${c.id}-json.log`, { ...o, split: outputSplit(), isRunning: () => readContainerStatus(c.dir).running });
    },
    top: async (id, ps) => (await query()).containerTopOf(engine, id, ps),
    changes: async (id) => (await query()).containerDiff(engine, id),
    // Through the engine's exec store, as the daemon's exec routes: the same checks, records and events.
    async exec(id, req, out) {
      const { execsOf } = await import("../engine/execs.ts");
      const execs = execsOf(engine);
      const e = execs.create(id, { cmd: req.args, env: req.env, workdir: req.cwd, user: req.user ?? "", tty: !!req.tty, privileged: !!req.privileged, stdin: !!req.stdin, stdout: true, stderr: true, detachKeys: "" });
      const started = await execs.start(e, { detach: req.detach, ...out });
      return { attach: started.attach };
    },
    async attachContainer(id, io) {
      const { attachContainer } = await import("../engine/runtime/attach.ts");
      return attachContainer(engine.containers.resolve(id).dir, { onStdout: io.onStdout, onStderr: io.onStderr });
    },
    // The context directory is read in place; a tar context (`bunker build -`) is unpacked first, and removed after.
    async build(req, onEvent) {
      const { build } = (await import("../engine/lazy.ts")).build();
      const { context, ...options } = req;
      if ("dir" in context) return build(engine, { ...options, contextDir: context.dir }, onEvent);
      const { unpackContext } = await import("../engine/build/context-tar.ts");
      const unpacked = await unpackContext(engine, context.tar);
      try {
        return await build(engine, { ...options, contextDir: unpacked.dir }, onEvent);
      } finally {
        unpacked.remove();
      }
    },
    pruneBuildCache: async (o) => (await import("../engine/lazy.ts")).build().pruneBuildCache(engine, o),
    async *events(o) {
      yield* journalEvents(journalOf(engine), o) as AsyncGenerator<EventMessage>;
    },
    statPath: async (id, path) => (await archive()).containerStatPath(engine, id, path),
    getArchive: async (id, path) => {
      const { stat, stream } = await (await archive()).containerArchivePath(engine, id, path);
      return { stat, content: stream };
    },
    putArchive: async (id, path, content, o) => (await archive()).containerExtractToDir(engine, id, path, content, o),
    async *stats(id, o, signal) {
      yield* (await import("../engine/containers/stats.ts")).containerStats(engine, id, { ...o, signal });
    },
    statsSnapshot: async (o) => (await import("../engine/containers/stats.ts")).statsSnapshot(engine, o),
    pauseContainer: async (id) => (await manager()).pauseContainer(engine, id),
    unpauseContainer: async (id) => (await manager()).unpauseContainer(engine, id),
    updateContainer: async (id, u) => (await manager()).updateContainer(engine, id, u),
    // Whether a volume is in use depends on the containers: exited --rm ones go first, as a daemon removes them at exit.
    createVolume: async (req) => (await volumes()).createVolume(engine, req),
    listVolumes: async (f) => (await reaped(), (await volumes()).listVolumes(engine, f)),
    inspectVolume: async (name) => (await volumes()).inspectVolume(engine, name),
    removeVolume: async (name, o) => (await reaped(), (await volumes()).removeVolume(engine, name, o)),
    // The client's API version is the newest, so prune takes anonymous volumes only unless `all` is given.
    pruneVolumes: async (f) => (await reaped(), (await volumes()).pruneVolumes(engine, f)),
    listNetworks: async (o) => (await network()).listNetworks(engine, o),
    inspectNetwork: async (ref) => (await network()).inspectNetwork(engine, ref),
    createNetwork: async (req) => (await network()).createNetwork(engine, req),
    removeNetwork: async (ref) => (await network()).removeNetwork(engine, ref),
    connectNetwork: async (net, ctr, ep) => (await network()).connectNetwork(engine, net, ctr, ep),
    disconnectNetwork: async (net, ctr, force) => (await network()).disconnectNetwork(engine, net, ctr, force),
    pruneNetworks: async (o) => (await network()).pruneNetworks(engine, o),
    commit: async (id, o) => ({ Id: await (await snapshots()).commitContainer(engine, id, { ...o, config: o.config }) }),
    exportContainer: async (id) => (await snapshots()).exportContainer(engine, id),
    async importImage(source, o, onMessage) {
      const { importFrom } = await snapshots();
      const { parsePlatform } = await import("../engine/image/types.ts");
      await importFrom(engine, source, { repo: o.repo, message: o.message, changes: o.changes, platform: o.platform ? parsePlatform(o.platform) : undefined }, onMessage);
    },
  };
}
