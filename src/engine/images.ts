/**
 * Image operations in the Docker Engine API's shapes (ImageSummary, ImageInspect, HistoryResponseItem,
 * ImageDeleteResponseItem), so the CLI renders the same JSON that `bunker serve` sends.
 */
import type { Engine } from "./engine.ts";
import { type ImageRecord, type StoredIndex, imageCreated } from "./store/images.ts";
import { conflict, EngineError, invalidParameter } from "./errors.ts";
import { configPlatform, formatPlatform, pickPlatform, type Platform } from "./image/types.ts";
import { readContainerStatus } from "./runtime/status.ts";
import { type Reference, parseReference, withDefaultTag, familiarName, familiarString, repositoryName } from "./registry/reference.ts";
import { eventsOf } from "./events.ts";

/** GET /images/json item. */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** DELETE /images/{name} item. */
export type ImageDeleteItem = { Untagged: string } | { Deleted: string };

/**
 * "docker.io/library/ubuntu" → "ubuntu"; "127.0.0.1:5000/x" stays. Stored names are canonical already,
 * so this splits strings instead of running the reference grammar (whose regexes cost start-up time).
 */
function familiarRepo(repository: string): string {
  const slash = repository.indexOf("/");
  return familiarName({ domain: repository.slice(0, slash), path: repository.slice(slash + 1) });
}

function repoTags(engine: Engine, img: ImageRecord): string[] {
  return engine.images.tags(img.id).map((t) => `${familiarRepo(t.repository)}:${t.tag}`);
}

function repoDigests(engine: Engine, img: ImageRecord): string[] {
  return engine.images.digests(img.id).map((d) => `${familiarRepo(d.repository)}@${d.digest}`);
}

/** Filters of `images --filter`, in the API's map form. */
export type Filters = Record<string, string[]>;

/** Glob match as Go's path.Match for reference filters ("ubuntu", "ub*", "library/re*"). */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return re.test(s);
}

/** GET /images/json: summaries, newest first. Accepted filters: dangling, reference, label, before, since. */
export function listImages(engine: Engine, opts: { all?: boolean; filters?: Filters } = {}): ImageSummary[] {
  const f = opts.filters ?? {};
  for (const k of Object.keys(f)) if (!["dangling", "reference", "label", "before", "since"].includes(k)) throw invalidParameter(`invalid filter '${k}'`);
  const dangling = f.dangling?.[0];
  if (dangling !== undefined && !["true", "false", "1", "0"].includes(dangling)) throw invalidParameter(`Invalid filter 'dangling=${dangling}'`);
  const boundary = (key: "before" | "since") => (f[key]?.[0] !== undefined ? imageCreated(engine.images.resolve(f[key]![0]!)) : undefined);
  const before = boundary("before");
  const sinceT = boundary("since");
  const out: ImageSummary[] = [];
  const names = engine.images.allNames();
  const parents = engine.images.allParents();
  const withChildren = new Set(parents.values());
  for (const img of engine.images.all()) {
    const named = names.get(img.id);
    const tags = (named?.tags ?? []).map((t) => `${familiarRepo(t.repository)}:${t.tag}`);
    const created = imageCreated(img);
    // An unnamed image with children is an intermediate one (a legacy build's step): shown with all only, as moby's.
    const intermediate = !named?.tags.length && !named?.digests.length && withChildren.has(img.id);
    if (intermediate && !opts.all) continue;
    // dangling: an untagged image no other image is built on (moby's Heads()).
    if (dangling !== undefined && (dangling === "true" || dangling === "1") !== (tags.length === 0 && !withChildren.has(img.id))) continue;
    if (before !== undefined && created >= before) continue;
    if (sinceT !== undefined && created <= sinceT) continue;
    const labels = img.config.config?.Labels ?? {};
    if (f.label && !f.label.every((l) => (l.includes("=") ? labels[l.slice(0, l.indexOf("="))] === l.slice(l.indexOf("=") + 1) : l in labels))) continue;
    let shownTags = tags;
    let digests = (named?.digests ?? []).map((d) => `${familiarRepo(d.repository)}@${d.digest}`);
    if (f.reference) {
      // moby narrows both lists to the matching references.
      const matches = (name: string, full: string) => f.reference!.some((p) => globMatch(p, full) || globMatch(p, name));
      shownTags = tags.filter((t) => matches(t.slice(0, t.lastIndexOf(":")), t));
      digests = digests.filter((d) => matches(d.slice(0, d.indexOf("@")), d));
      if (!shownTags.length && !digests.length) continue;
    }
    out.push({
      Id: img.id,
      ParentId: parents.get(img.id) ?? "",
      RepoTags: shownTags,
      RepoDigests: digests,
      Created: Math.floor(created / 1000),
      Size: img.size,
      SharedSize: -1,
      Labels: labels,
      Containers: -1,
    });
  }
  return out;
}

/**
 * The image `name` is for `platform` (`image inspect --platform`): a tag pulled through a multi-platform index
 * names each platform of it pulled here (`pull --platform`); any other image is its own config's platform.
 * moby's errPlatformNotFound when the platform is not here.
 */
export function resolveForPlatform(engine: Engine, name: string, platform: Platform): ImageRecord {
  const img = engine.images.resolve(name);
  const candidates: { id: string; platform?: Platform; annotations?: Record<string, string> }[] = [{ id: img.id, platform: configPlatform(img.config) }];
  const { ref, index } = tagIndexOf(engine, name, img.id);
  if (index) {
    candidates.unshift(...index.entries.filter((e) => index.manifests.has(e.digest)).map((e) => ({ ...e, id: index.manifests.get(e.digest)!.imageId })));
  }
  const picked = pickPlatform(candidates, platform);
  if (!picked) throw new EngineError("notFound", `image with reference ${ref ? familiarString(ref) : name} was found but does not provide the specified platform (${formatPlatform(platform)})`);
  return picked.id === img.id ? img : engine.images.get(picked.id)!;
}

/**
 * GET /images/{name}/json; `containerConfig` adds Container and ContainerConfig, as moby did before API 1.45;
 * `legacyConfig` gives Config as a container's (every key, the runtime ones empty), as before API 1.50;
 * `platform` picks that platform of a multi-platform image (resolveForPlatform).
 */
export function inspectImage(engine: Engine, name: string, opts: { containerConfig?: boolean; legacyConfig?: boolean; platform?: Platform } = {}) {
  const img = opts.platform ? resolveForPlatform(engine, name, opts.platform) : engine.images.resolve(name);
  const c = img.config;
  const dirs = engine.layers.diffDirs(img.topLayer);
  const top = dirs[0];
  const graphData: Record<string, string> = {};
  if (top) {
    const base = top.replace(/\/diff$/, "");
    if (dirs.length > 1) graphData.LowerDir = dirs.slice(1).join(":");
    graphData.MergedDir = `${base}/merged`;
    graphData.UpperDir = top;
    graphData.WorkDir = `${base}/work`;
  }
  return {
    Id: img.id,
    RepoTags: repoTags(engine, img),
    RepoDigests: repoDigests(engine, img),
    Parent: engine.images.parent(img.id) ?? "",
    Comment: c.comment ?? "",
    Created: c.created ?? "",
    ...(opts.containerConfig ? legacyContainerFields(c) : {}),
    DockerVersion: c.docker_version ?? "",
    Author: c.author ?? "",
    Config: opts.legacyConfig ? containerConfig(c.config ?? {}) : imageConfig(c.config ?? {}),
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    ...(c["os.version"] ? { OsVersion: c["os.version"] } : {}),
    Size: img.size,
    GraphDriver: { Data: graphData, Name: "overlay2" },
    RootFS: { Type: "layers", Layers: c.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: img.taggedAt ? new Date(img.taggedAt).toISOString() : "0001-01-01T00:00:00Z" },
  };
}

/**
 * `Container` and `ContainerConfig` (API < 1.45): the committing container's ID and Config for a committed
 * image, else moby's zero values (an empty ID, a Config with every key empty).
 */
function legacyContainerFields(c: ImageRecord["config"]) {
  const raw = c as { container?: string; container_config?: Record<string, unknown> };
  const cc = raw.container_config ?? {};
  return { Container: raw.container ?? "", ContainerConfig: { ...containerConfig({}), Env: null, ...cc } };
}

/**
 * The image config's runtime section as moby's API 1.50 image inspect returns it: dockerspec.DockerOCIImageConfig,
 * the OCI image config and Docker's extensions in their struct order, every empty field omitted.
 */
function imageConfig(cfg: NonNullable<ImageRecord["config"]["config"]>) {
  const out: Record<string, unknown> = {};
  const keep = (k: string, v: unknown) => {
    const empty = v === undefined || v === null || v === "" || v === false || (Array.isArray(v) && !v.length) || (typeof v === "object" && !Array.isArray(v) && !Object.keys(v as object).length);
    if (!empty) out[k] = v;
  };
  for (const k of ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell"] as const) keep(k, cfg[k]);
  return out;
}

/** The image config's runtime section as Docker's inspect showed it before API 1.50 (all keys present). */
function containerConfig(cfg: NonNullable<ImageRecord["config"]["config"]>) {
  return {
    Hostname: "",
    Domainname: "",
    User: cfg.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(cfg.ExposedPorts ? { ExposedPorts: cfg.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: cfg.Env ?? null,
    Cmd: cfg.Cmd ?? null,
    ...(cfg.Healthcheck ? { Healthcheck: cfg.Healthcheck } : {}),
    Image: "",
    Volumes: cfg.Volumes ?? null,
    WorkingDir: cfg.WorkingDir ?? "",
    Entrypoint: cfg.Entrypoint ?? null,
    OnBuild: cfg.OnBuild ?? null,
    Labels: cfg.Labels ?? null,
    ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
    ...(cfg.Shell ? { Shell: cfg.Shell } : {}),
  };
}

/** GET /images/{name}/history: newest first; only the top entry has the image ID, as in Docker's classic store. */
export function imageHistory(engine: Engine, name: string, opts: { platform?: Platform } = {}) {
  const img = opts.platform ? resolveForPlatform(engine, name, opts.platform) : engine.images.resolve(name);
  const sizes = engine.images.chainIds(img.id).map((c) => engine.layers.get(c)?.size ?? 0);
  const history = img.config.history?.length ? img.config.history : (img.config.rootfs?.diff_ids ?? []).map(() => ({}) as { empty_layer?: boolean; created?: string; created_by?: string; comment?: string });
  let layer = 0;
  const items = history.map((h) => {
    const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
    return { Id: "<missing>", Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0, CreatedBy: h.created_by ?? "", Tags: null as string[] | null, Size: size, Comment: h.comment ?? "" };
  });
  items.reverse();
  // Entries get the IDs of the image and its parents in turn (a legacy build's intermediate images), as moby's.
  let at: ImageRecord | undefined = img;
  for (const item of items) {
    if (!at) break;
    item.Id = at.id;
    item.Tags = repoTags(engine, at);
    const parent = engine.images.parent(at.id);
    at = parent ? engine.images.get(parent) : undefined;
  }
  return items;
}

/** POST /images/{name}/tag. */
export function tagImage(engine: Engine, source: string, target: string): void {
  const img = engine.images.resolve(source);
  const ref = withDefaultTag(parseReference(target));
  if (ref.digest) throw invalidParameter("refusing to create a tag with a digest reference");
  // A tag of a tag pulled through an index names that index too, as containerd's image store does.
  engine.images.setTag(repositoryName(ref), ref.tag!, img.id, undefined, tagIndexOf(engine, source, img.id).index?.digest);
  eventsOf(engine).publish("image", "tag", img.id, { ...labelsOf(img), name: familiarString(ref) });
}

/**
 * `name` as a reference, and the index it was pulled through when it is a tag of image `id` (an ID or a
 * digest reference names no index).
 */
function tagIndexOf(engine: Engine, name: string, id: string): { ref?: Reference; index?: StoredIndex } {
  let ref: Reference;
  try {
    ref = withDefaultTag(parseReference(name));
  } catch {
    return {}; // an ID, not a name
  }
  if (ref.digest || engine.images.byReference(ref)?.id !== id) return { ref };
  return { ref, index: engine.images.tagIndex(repositoryName(ref), ref.tag!) };
}

/** An image's labels, the attributes of its events. */
const labelsOf = (img: ImageRecord): Record<string, string> => ({ ...(img.config.config?.Labels ?? {}) });

/** The untag events (one per name removed, as moby's) then the delete event of one image's removal; layer deletions publish nothing. */
function publishRemoval(engine: Engine, img: ImageRecord, items: ImageDeleteItem[]): void {
  const bus = eventsOf(engine);
  const attrs = { ...labelsOf(img), name: img.id };
  for (const i of items) if ("Untagged" in i) bus.publish("image", "untag", img.id, attrs);
  if (items.some((i) => "Deleted" in i && i.Deleted === img.id)) bus.publish("image", "delete", img.id, attrs);
}

/**
 * DELETE /images/{name}: untags, and deletes the image when no name is left, then (unless noPrune) its
 * untagged parents no other image or container uses and the layers nothing references any more.
 * `layersLater`: the caller collects the layers (prune, after all its images).
 */
export function removeImage(engine: Engine, name: string, opts: { force?: boolean; noPrune?: boolean; layersLater?: boolean } = {}): ImageDeleteItem[] {
  const img = engine.images.resolve(name);
  const out: ImageDeleteItem[] = [];
  const tags = engine.images.tags(img.id);
  const digests = engine.images.digests(img.id);
  const byId = isIdReference(img.id, name);
  const short = img.id.slice(7, 19);
  // Images built on this one (a legacy build's steps) need it: a hard conflict by ID, only the name goes by name.
  const hasChildren = engine.images.hasChildren(img.id);
  if (byId && hasChildren) throw conflict(`conflict: unable to delete ${short} (cannot be forced) - image has dependent child images`);
  const parents: ImageRecord[] = [];

  // Containers hold their image: a running one always (a hard conflict), a stopped one unless forced.
  const users = engine.containers.usingImage(img.id).map((id) => ({ id, running: readContainerStatus(engine.root.containerDir(id)).running }));
  const running = users.find((u) => u.running);
  const lastName = !byId && tags.length <= 1 && digests.length <= 1;
  if (users.length && (byId || lastName)) {
    if (!opts.force) {
      if (!byId) throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`);
      throw conflict(`conflict: unable to delete ${short} (${running ? "cannot be forced" : "must be forced"}) - image is being used by ${running ? "running" : "stopped"} container ${(running ?? users[0]!).id.slice(0, 12)}`);
    }
    if (running && byId) throw conflict(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
  }

  engine.db
    .transaction(() => {
      if (!byId) {
        // A name: remove that name; the image goes only when it was the last tag.
        const ref = withDefaultTag(parseReference(name));
        const repo = repositoryName(ref);
        if (ref.digest) {
          engine.images.removeDigest(repo, ref.digest);
          out.push({ Untagged: `${familiarRepo(repo)}@${ref.digest}` });
        } else {
          engine.images.removeTag(repo, ref.tag!);
          out.push({ Untagged: `${familiarRepo(repo)}:${ref.tag}` });
        }
        const remainingTags = engine.images.tags(img.id);
        if (remainingTags.length) return;
        // -f on the last name of an image a running container uses: the name goes, the image stays.
        if (running) return;
        // Last tag gone: the repo digests of that repository go with it, as Docker does.
        for (const d of engine.images.digests(img.id)) {
          if (ref.digest || d.repository === repo || !remainingTags.length) {
            engine.images.removeDigest(d.repository, d.digest);
            if (!ref.digest || d.digest !== ref.digest) out.push({ Untagged: `${familiarRepo(d.repository)}@${d.digest}` });
          }
        }
        // Images built on it keep it, unnamed (moby's delete after an untag is quiet about that conflict).
        if (hasChildren) return;
      } else {
        const repos = new Set(tags.map((t) => t.repository));
        if (repos.size > 1 && !opts.force) throw conflict(`conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
        for (const t of tags) {
          engine.images.removeTag(t.repository, t.tag);
          out.push({ Untagged: `${familiarRepo(t.repository)}:${t.tag}` });
        }
        for (const d of digests) {
          engine.images.removeDigest(d.repository, d.digest);
          out.push({ Untagged: `${familiarRepo(d.repository)}@${d.digest}` });
        }
      }
      let parent = engine.images.parent(img.id);
      engine.images.delete(img.id);
      out.push({ Deleted: img.id });
      // Its untagged parents go with it (moby's prune of the parent chain), up to one that is named or still needed.
      for (let p = parent && engine.images.get(parent); p && !opts.noPrune; p = parent && engine.images.get(parent)) {
        if (engine.images.tags(p.id).length || engine.images.digests(p.id).length || engine.images.hasChildren(p.id) || engine.containers.usingImage(p.id).length) break;
        parent = engine.images.parent(p.id);
        engine.images.delete(p.id);
        out.push({ Deleted: p.id });
        parents.push(p);
      }
    })
    .immediate();
  publishRemoval(engine, img, out);
  for (const p of parents) publishRemoval(engine, p, [{ Deleted: p.id }]);
  if (out.some((o) => "Deleted" in o) && !opts.noPrune && !opts.layersLater) for (const l of engine.layers.collect().layers) out.push({ Deleted: l.chainId });
  return out;
}

/** True when `name` is the image's ID or a prefix of it rather than a name. */
function isIdReference(id: string, name: string): boolean {
  const n = name.replace(/^sha256:/, "");
  return n.length > 0 && /^[a-f0-9]+$/.test(n) && id.slice(7).startsWith(n) && !/[:/@]/.test(name.replace(/^sha256:/, ""));
}

/** POST /images/prune: dangling images, or with all every image no container uses. */
export function pruneImages(engine: Engine, opts: { all?: boolean; filters?: Filters } = {}) {
  const deleted: ImageDeleteItem[] = [];
  let reclaimed = 0;
  // Leaves only (an image with children goes with its last child, or in a later pass once it is a leaf).
  for (let removed = true; removed; ) {
    removed = false;
    for (const img of engine.images.all()) {
      if (!engine.images.has(img.id) || engine.images.hasChildren(img.id)) continue; // gone with a child, or still a parent
      const tagged = engine.images.tags(img.id).length > 0;
      if (tagged && !opts.all) continue;
      if (engine.containers.usingImage(img.id).length) continue;
      const labels = img.config.config?.Labels ?? {};
      const lf = opts.filters?.label;
      if (lf && !lf.every((l) => (l.includes("=") ? labels[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1) : l in labels))) continue;
      for (const item of removeImage(engine, img.id, { force: true, layersLater: true })) deleted.push(item);
      removed ||= !engine.images.has(img.id);
    }
  }
  // What went: the layers' sizes and the staging data of interrupted pulls.
  const { layers, stagingBytes } = engine.layers.collect();
  for (const l of layers) {
    deleted.push({ Deleted: l.chainId });
    reclaimed += l.size;
  }
  reclaimed += stagingBytes;
  eventsOf(engine).publish("image", "prune", "", { reclaimed: String(reclaimed) });
  return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
}
