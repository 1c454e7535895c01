/**
 * The in-process transport: the Backend operations as direct calls into this process's engine. This is
 * bunker's default mode (no daemon, no install); the daemon serves the same engine functions.
 */
import { randomBytes } from "node:crypto";
import type { Engine } from "../engine/engine.ts";
import { listImages, inspectImage, imageHistory, tagImage, removeImage, pruneImages } from "../engine/images.ts";
import {
  createContainer,
  startContainer,
  stopContainer,
  restartContainer,
  killContainer,
  removeContainer,
  waitContainer,
  renameContainer,
  pruneContainers,
} from "../engine/containers/manager.ts";
import { listContainers, inspectContainer, containerDiff, containerTopOf } from "../engine/containers/query.ts";
import { signalContainer } from "../engine/runtime/status.ts";
import type { Backend } from "./backend.ts";

/** A Backend over an engine in this process. */
export function localBackend(engine: Engine): Backend {
  return {
    where: "in-process",
    listImages: async (o) => listImages(engine, o),
    inspectImage: async (name) => inspectImage(engine, name),
    imageHistory: async (name) => imageHistory(engine, name),
    tagImage: async (s, t) => tagImage(engine, s, t),
    removeImage: async (name, o) => removeImage(engine, name, o),
    pruneImages: async (o) => pruneImages(engine, o),
    async pull(ref, o, onMessage) {
      const { pullImage } = await import("../engine/pull.ts");
      const { parsePlatform } = await import("../engine/image/types.ts");
      await pullImage(engine, ref, { platform: o.platform ? parsePlatform(o.platform) : undefined, onMessage });
    },
    hasImage: async (name) => engine.images.lookup(name) !== undefined,
    info: async () => (await import("../engine/system.ts")).systemInfo(engine),
    version: async () => (await import("../engine/system.ts")).systemVersion(),
    df: async () => (await import("../engine/system.ts")).systemDf(engine),
    createContainer: async (o) => ({ Id: (await createContainer(engine, o)).id }),
    async startContainer(id, attach) {
      const started = await startContainer(engine, id, attach ? { attach } : {});
      return { attach: "attach" in started ? started.attach : undefined };
    },
    stopContainer: async (id, o) => void (await stopContainer(engine, id, o)),
    restartContainer: (id, o) => restartContainer(engine, id, o),
    killContainer: (id, s) => killContainer(engine, id, s),
    removeContainer: (id, o) => removeContainer(engine, id, o),
    waitContainer: (id, c) => waitContainer(engine, id, c),
    renameContainer: async (id, name) => renameContainer(engine, id, name),
    pruneContainers: (o) => pruneContainers(engine, { labels: o.filters?.label }),
    listContainers: (o) => listContainers(engine, o),
    inspectContainer: (id, o) => inspectContainer(engine, id, o),
    signalContainer: async (id, sig) => signalContainer(engine.containers.resolve(id).dir, sig),
    async *logs(id, o) {
      const { renderLogs, outputSplit } = await import("../engine/containers/logs.ts");
      const { readContainerStatus } = await import("../engine/runtime/status.ts");
      const c = engine.containers.resolve(id);
      yield* renderLogs(`${c.dir}/${c.id}-json.log`, { ...o, split: outputSplit(), isRunning: () => readContainerStatus(c.dir).running });
    },
    top: (id, ps) => containerTopOf(engine, id, ps),
    changes: (id) => containerDiff(engine, id),
    async exec(id, req, out) {
      const c = engine.containers.resolve(id);
      const { execInContainer } = await import("../engine/runtime/exec.ts");
      const started = await execInContainer(c.dir, { execId: randomBytes(32).toString("hex"), ...req, dataRoot: engine.root.root, ...out });
      return { attach: started.attach };
    },
  };
}
