/**
 * The build executor: a Dockerfile (planned by the front end, dockerfile/) run as a graph of stages on the
 * engine's own parts. Only the stages the target needs are built, independent ones concurrently; each RUN,
 * COPY/ADD and WORKDIR step works on its parent's layers under a fresh upper dir (rootfs.ts, run.ts) that the
 * layer store then registers as the step's layer (commit.ts registerUpperDir), and the stage's config and
 * history are kept by StageState exactly as BuildKit writes them. Steps are reused from the build cache
 * (cache.ts) when their parent, instruction, environment and the content they read are unchanged.
 *
 * Progress is reported as BuildKit's vertices ("[internal] load build definition from Dockerfile",
 * "[stage 2/5] RUN …"). Everything a build makes on the way lives in a private scratch directory under the
 * data root, removed when it ends, failed or aborted; nothing is tagged unless every step succeeded.
 */
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, posix } from "node:path";
import type { Engine } from "../engine.ts";
import { EngineError, invalidParameter } from "../errors.ts";
import { eventsOf } from "../events.ts";
import { randomHex } from "../random.ts";
import { registerFinishedDir } from "../layer-write.ts";
import { fullJit } from "../../jit.ts";
import { formatPlatform, hostPlatform, parsePlatform, type ImageConfig } from "../image/types.ts";
import type { ImageRecord } from "../store/images.ts";
import { chainIds as chainIdsOf } from "../store/layers.ts";
import { lock, tryLock, type Lock } from "../store/locks.ts";
import { canonicalString, familiarString, parseReference, repositoryName, withDefaultTag } from "../registry/reference.ts";
import { sha256Hex } from "../../fs/digest.ts";
import { O_CLOEXEC, sys } from "../../sys/index.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";
import { planDockerfile, type BuildPlan, type Instruction, type Stage } from "./dockerfile/instructions.ts";
import { ShellLex } from "./dockerfile/shell.ts";
import { readDockerignore, Dockerignore } from "./dockerignore.ts";
import { BuildContext } from "./context.ts";
import { resolveMetaArgs, StageState, type Step } from "./dispatch.ts";
import { BuildCache, cacheKey, cacheMountsDir, cacheMountsLock, ChecksumMemo, FileDigests, treeFingerprint } from "./cache.ts";
import { mkdirInRoot, mountRoot, removeMountStubs, resolveUser, type MountedRoot } from "./rootfs.ts";
import { cacheMountDir, killLeftover, parseRunMount, runInContainer, secretCopy, tmpfsOf, type RunMount } from "./run.ts";
import { copyChecksum, copyInto } from "./copy.ts";
import type { BuildEvent, BuildOptions, BuildResult, BuildVertex } from "./types.ts";

/** Bumped when what a cache key covers changes, so older records are not reused wrongly. */
const CACHE_VERSION = "bunker-build-1";

/** The platform ARGs BuildKit predefines for the host (TARGETPLATFORM, BUILDPLATFORM, …). */
export function platformArgs(): Map<string, string> {
  const p = hostPlatform();
  const out = new Map<string, string>();
  for (const prefix of ["TARGET", "BUILD"]) {
    out.set(`${prefix}PLATFORM`, formatPlatform(p));
    out.set(`${prefix}OS`, p.os);
    out.set(`${prefix}ARCH`, p.architecture);
    out.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return out;
}

/** A stage's result: its state, layers and cache key, for the stages and the export that use it. */
interface StageResult {
  state: StageState;
  top: string | null;
  chains: string[];
  size: number;
  key: string;
  platform: { architecture: string; os: string; variant?: string };
  /** The image its last instruction yields (legacy ` ---> id`); undefined for a bare `FROM scratch`. */
  imageId?: string;
}

/** The image config a stage's state makes, as the export writes it (labels added in the order given). */
function imageOf(state: StageState, platform: StageResult["platform"], started: number, labels: [string, string][] = []): { id: string; rawConfig: Uint8Array } {
  const config = structuredClone(state.config);
  if (labels.length) config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(labels) };
  const history = state.history;
  const image = {
    architecture: platform.architecture,
    ...(state.author ? { author: state.author } : {}),
    config,
    created: history.at(-1)?.created ?? new Date(started).toISOString(),
    history,
    os: platform.os,
    rootfs: { type: "layers", diff_ids: state.diffIds },
    ...(platform.variant ? { variant: platform.variant } : {}),
  };
  const rawConfig = new TextEncoder().encode(JSON.stringify(image));
  return { id: sha256Hex(rawConfig), rawConfig };
}

/** What a stage's FROM names, once expanded. */
type Base = { kind: "scratch" } | { kind: "stage"; index: number } | { kind: "image"; ref: string };

/** Errors already reported as a vertex's `error` event (a stage's failure surfaces again where it is awaited). */
const reported = new WeakSet<object>();

/** Build failures: an EngineError carrying BuildKit's text. */
const failed = (message: string) => new EngineError("system", message);
const cancelled = () => new EngineError("system", "context canceled");

/**
 * Marks the scratch area as a top of directory hierarchies (FS_TOPDIR_FL) so ext4 puts each step's directory,
 * and the files a COPY writes there, in a block group of its own. Why: without a journal, ext4 skips every
 * inode freed in the last ~30 s when it allocates (recently_deleted), so a group where a build or a layer
 * was just removed costs a scan per new file; a COPY of 2,000 files took 0.6 s there against 0.05 s in a
 * fresh group. Best effort: other file systems have no such flag, and nothing depends on it.
 */
function spreadSteps(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | O_CLOEXEC);
  try {
    sys().markTopDir(fd);
  } catch {
    // no flags on this file system
  } finally {
    closeSync(fd);
  }
}

/** Removes scratch areas of builds whose process died (their lock is free), ending RUN steps they left running. */
async function removeStaleScratch(dir: string, engine: Engine): Promise<void> {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (!/^[a-f0-9]{16}$/.test(name)) continue;
    const held = tryLock(engine.root.lock(`build-${name}`));
    if (!held) continue; // a live build
    try {
      for (const step of readdirSync(join(dir, name))) if (/^s\d+$/.test(step)) await killLeftover(join(dir, name, step, "ctr"));
      rmSync(join(dir, name), { recursive: true, force: true });
    } finally {
      held.release();
      rmSync(engine.root.lock(`build-${name}`), { force: true });
    }
  }
}

/**
 * Builds an image from a Dockerfile. Progress goes to `onEvent`; resolves with the image ID and the tags
 * written, rejects with an EngineError (after an `error` event for a failed step) and tags nothing.
 */
export async function build(engine: Engine, opts: BuildOptions, onEvent: (e: BuildEvent) => void): Promise<BuildResult> {
  if (opts.platform) {
    const want = formatPlatform(parsePlatform(opts.platform));
    const host = formatPlatform(hostPlatform());
    if (want !== host && want !== `${host}/`) throw invalidParameter(`--platform ${opts.platform}: only the host's platform (${host}) can be built; bunker does not emulate other architectures`);
  }
  const id = randomHex(8);
  const scratchRoot = join(engine.root.root, "build", "tmp");
  await removeStaleScratch(scratchRoot, engine);
  const held = await lock(engine.root.lock(`build-${id}`));
  const scratch = join(scratchRoot, id);
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  spreadSteps(scratch);
  const gcHold = await engine.layers.holdAgainstGc();
  const mountsHold = await lock(cacheMountsLock(engine), true);
  const b = new Builder(engine, opts, onEvent, scratch);
  try {
    return await b.run();
  } finally {
    b.digests.flush();
    rmSync(scratch, { recursive: true, force: true });
    mountsHold.release();
    gcHold.release();
    held.release();
    rmSync(engine.root.lock(`build-${id}`), { force: true });
  }
}

class Builder {
  readonly cache: BuildCache;
  readonly digests: FileDigests;
  private readonly sums: ChecksumMemo;
  private vertexIds = 0;
  private steps = 0;
  /** Legacy numbering (BuildInstruction): the `n` of each built stage's FROM, and the count of all. */
  private readonly firstOf = new Map<number, number>();
  private instructionCount = 0;
  private target = 0;
  private context!: BuildContext;
  private plan!: BuildPlan;
  private meta!: Map<string, string | undefined>;
  private bases: Base[] = [];
  private readonly stageRuns = new Map<number, Promise<StageResult>>();
  private readonly images = new Map<string, Promise<ImageRecord>>();
  /** Aborted on the first failure (or the caller's abort): running steps of other stages stop. */
  private readonly abort = new AbortController();
  private readonly started = Date.now();
  private firstError: unknown;

  constructor(
    private readonly engine: Engine,
    private readonly opts: BuildOptions,
    private readonly onEvent: (e: BuildEvent) => void,
    private readonly scratch: string,
  ) {
    this.cache = new BuildCache(engine);
    this.digests = new FileDigests(engine);
    this.sums = new ChecksumMemo(engine);
    if (opts.signal) {
      if (opts.signal.aborted) this.abort.abort();
      else opts.signal.addEventListener("abort", () => this.abort.abort(), { once: true });
    }
  }

  private get signal() {
    return this.abort.signal;
  }

  /**
   * Runs `fn` as one progress vertex: start, then done (with `imageId` when `fn` returns one) or error.
   * With `endsItself`, `fn` reports its own end (done or cached).
   */
  private async vertex<T>(name: string, fn: (id: number) => Promise<T> | T, step?: BuildVertex["step"], endsItself = false): Promise<T> {
    const id = ++this.vertexIds;
    const t0 = performance.now();
    this.onEvent({ type: "start", vertex: { id, name, ...(step ? { step } : {}) } });
    try {
      const out = await fn(id);
      if (!endsItself) this.onEvent({ type: "done", vertexId: id, ms: Math.round(performance.now() - t0) });
      return out;
    } catch (e) {
      if (!reported.has(e as object)) {
        this.onEvent({ type: "error", vertexId: id, message: (e as Error).message });
        reported.add(e as object);
      }
      throw e;
    }
  }

  async run(): Promise<BuildResult> {
    const { engine, opts } = this;
    const text = await this.vertex(`[internal] load build definition from ${"path" in opts.dockerfile ? basename(opts.dockerfile.path) : opts.dockerfile.name}`, () => this.readDockerfile());
    const ignore = await this.vertex("[internal] load .dockerignore", () => this.readIgnore());
    this.context = new BuildContext(opts.contextDir, new Dockerignore(ignore));
    this.context.digestFile = (path, st) => this.digests.digest(path, st);
    try {
      this.plan = planDockerfile(text);
    } catch (e) {
      if (e instanceof DockerfileParseError) throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: ${e.message}`);
      throw e;
    }
    for (const w of this.plan.warnings) this.onEvent({ type: "warning", message: w });
    try {
      this.meta = resolveMetaArgs(this.plan.metaArgs, opts.buildArgs, platformArgs(), this.plan.escapeToken);
    } catch (e) {
      throw invalidParameter((e as Error).message);
    }
    const stages = this.plan.stages;
    if (!stages.length) throw invalidParameter("failed to solve with frontend dockerfile.v0: failed to create LLB definition: the Dockerfile has no FROM instruction");
    this.bases = stages.map((s) => this.baseOf(s));
    let target = stages.length - 1;
    if (opts.target !== undefined) {
      target = stages.findIndex((s) => s.name === opts.target!.toLowerCase());
      if (target < 0) throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: target stage ${opts.target} could not be found`);
    }
    const needed = this.needed(target);
    this.target = target;
    this.numberInstructions(needed);
    // Base images first, each once ("load metadata"), then the context if a needed step reads it.
    const refs = [...new Set([...needed].map((i) => this.bases[i]!).filter((b): b is Extract<Base, { kind: "image" }> => b.kind === "image").map((b) => b.ref))];
    await Promise.all(refs.map((r) => this.image(r)));
    if ([...needed].some((i) => this.readsContext(stages[i]!))) await this.vertex("[internal] load build context", () => undefined);

    const all = [...needed].map((i) => this.stage(i));
    let result: StageResult;
    try {
      result = await this.stage(target);
    } catch (e) {
      this.abort.abort();
      await Promise.allSettled(all); // nothing of another stage keeps running once this rejects
      // The failure that stopped the build, not the cancellations it caused (unless the caller cancelled).
      throw this.opts.signal?.aborted ? e : (this.firstError ?? e);
    }
    return this.vertex("exporting to image", (vid) => this.export(result, vid));
  }

  private async readDockerfile(): Promise<string> {
    const df = this.opts.dockerfile;
    if ("text" in df) return df.text;
    const ctx = new BuildContext(this.opts.contextDir);
    const real = ctx.resolve(df.path, true);
    const path = real === null ? null : join(this.opts.contextDir, real);
    if (path === null || !lstatSync(path).isFile()) throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to read dockerfile: open ${df.path}: no such file or directory`);
    return readFileSync(path, "utf8");
  }

  /** `<Dockerfile>.dockerignore` beside a Dockerfile in the context, else the context's `.dockerignore`. */
  private readIgnore(): string[] {
    const ctx = new BuildContext(this.opts.contextDir);
    const df = this.opts.dockerfile;
    for (const name of ["path" in df ? `${df.path}.dockerignore` : null, ".dockerignore"]) {
      if (name === null) continue;
      const real = ctx.resolve(name, true);
      if (real === null) continue;
      const p = join(this.opts.contextDir, real);
      if (lstatSync(p).isFile()) return readDockerignore(readFileSync(p, "utf8"));
    }
    return [];
  }

  /** The meta ARGs with values, for FROM and dependency names. */
  private metaEnv(): Map<string, string> {
    return new Map([...this.meta].filter((e): e is [string, string] => e[1] !== undefined));
  }

  private baseOf(s: Stage): Base {
    let name: string;
    try {
      name = new ShellLex(this.plan.escapeToken).processWord(s.base, this.metaEnv());
    } catch (e) {
      throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: ${(e as Error).message}`);
    }
    if (s.platform !== undefined) {
      const p = new ShellLex(this.plan.escapeToken).processWord(s.platform, this.metaEnv());
      const host = formatPlatform(hostPlatform());
      if (formatPlatform(parsePlatform(p)) !== host) throw invalidParameter(`FROM --platform=${p} (line ${s.line}): only the host's platform (${host}) can be built; bunker does not emulate other architectures`);
    }
    if (name.toLowerCase() === "scratch") return { kind: "scratch" };
    const earlier = this.plan.stages.findIndex((t) => t.index < s.index && t.name !== "" && t.name === name.toLowerCase());
    if (earlier >= 0) return { kind: "stage", index: earlier };
    if (!name) throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: base name (${s.base}) should not be blank`);
    return { kind: "image", ref: name };
  }

  /** What a `--from` names from stage `at`: an earlier stage (name or index) or an image. */
  private fromOf(from: string, at: number): Base {
    if (/^\d+$/.test(from)) {
      const i = Number(from);
      if (i >= at) throw invalidParameter(`invalid from flag value ${from}: refers to current or later stage`);
      return { kind: "stage", index: i };
    }
    const i = this.plan.stages.findIndex((t) => t.name !== "" && t.name === from.toLowerCase());
    if (i >= 0) {
      if (i >= at) throw invalidParameter(`circular dependency detected on stage: ${from}`);
      return { kind: "stage", index: i };
    }
    if (from.toLowerCase() === "scratch") return { kind: "scratch" };
    return { kind: "image", ref: from };
  }

  /** `--from` values of a stage's COPY and RUN --mount, expanded with the meta ARGs (best effort, for the graph). */
  private fromsOf(s: Stage): string[] {
    const lex = new ShellLex(this.plan.escapeToken, { skipUnsetEnv: true });
    const env = this.metaEnv();
    const out: string[] = [];
    for (const ins of s.instructions) {
      if ((ins.kind === "copy" || ins.kind === "add") && ins.from !== undefined) out.push(lex.processWord(ins.from, env));
      if (ins.kind === "run") {
        for (const m of ins.mounts) {
          const from = /(?:^|,)from=([^,]*)/.exec(m)?.[1];
          if (from !== undefined && !/(?:^|,)type=cache(?:,|$)/.test(m)) out.push(lex.processWord(from, env));
        }
      }
    }
    return out;
  }

  /** `--label`s as the legacy builder adds them: `LABEL k=v` steps at the end of the target stage, keys sorted. */
  private labelSteps(): [string, string][] {
    return Object.entries(this.opts.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Numbers the instructions as dockerd's legacy builder does (meta ARGs, then each built stage's FROM and
   * instructions, the `--label` steps last), and reports the meta ARGs, which do nothing more.
   */
  private numberInstructions(needed: Set<number>): void {
    let n = this.plan.metaArgLines.length;
    for (const i of [...needed].sort((a, b) => a - b)) {
      this.firstOf.set(i, n + 1);
      n += 1 + this.plan.stages[i]!.instructions.length + (i === this.target ? this.labelSteps().length : 0);
    }
    this.instructionCount = n;
    this.plan.metaArgLines.forEach((text, k) => {
      this.onEvent({ type: "instruction", instruction: { n: k + 1, of: n, text, stage: -1, endsStage: false, container: false } });
      this.onEvent({ type: "instructionDone", n: k + 1, cached: false });
    });
  }

  /**
   * The image a stage's state makes after an instruction: its ID, and with opts.intermediateImages the image
   * itself, kept untagged as the child of `parent` (its layers are the stage's own: nothing is copied).
   * `cached`: it was stored already (the legacy builder's cache hit of a config-only instruction).
   */
  private stepImage(state: StageState, platform: StageResult["platform"], chains: string[], size: number, parent: string | undefined, labels: [string, string][] = []): { id: string; cached: boolean } {
    const { id, rawConfig } = imageOf(state, platform, this.started, labels);
    if (!this.opts.intermediateImages) return { id, cached: false };
    const stored = this.engine.images.has(id);
    // A warm build finds every image stored with its parent: no write transaction then.
    if (!stored || (parent && this.engine.images.parent(id) === undefined)) this.engine.images.commit({ id, rawConfig, chainIds: chains, size, ...(parent ? { parent } : {}) });
    return { id, cached: stored && !this.opts.noCache };
  }

  /** Stages `target` depends on (itself included). */
  private needed(target: number): Set<number> {
    const out = new Set<number>();
    const visit = (i: number) => {
      if (out.has(i)) return;
      out.add(i);
      const base = this.bases[i]!;
      if (base.kind === "stage") visit(base.index);
      for (const f of this.fromsOf(this.plan.stages[i]!)) {
        const d = this.fromOf(f, i);
        if (d.kind === "stage") visit(d.index);
      }
    };
    visit(target);
    return out;
  }

  private readsContext(s: Stage): boolean {
    return s.instructions.some((ins) => ((ins.kind === "copy" || ins.kind === "add") && ins.from === undefined && ins.sources.length > 0) || (ins.kind === "run" && ins.mounts.some((m) => /(?:^|,)type=bind(?:,|$)/.test(m) || !/type=/.test(m))));
  }

  /** An image from the store, pulled when missing or with --pull (each reference once per build). */
  private image(ref: string): Promise<ImageRecord> {
    let p = this.images.get(ref);
    if (!p) {
      let shown = ref;
      try {
        const r = withDefaultTag(parseReference(ref));
        shown = `${repositoryName(r)}${r.digest ? `@${r.digest}` : `:${r.tag}`}`;
      } catch {}
      p = this.vertex(`[internal] load metadata for ${shown}`, async () => {
        const local = this.engine.images.lookup(ref);
        if (local && !this.opts.pull) return local;
        try {
          const { pullImage } = await import("../pull.ts"); // only when a base is missing or --pull
          const pulled = await pullImage(this.engine, ref, { signal: this.signal, platform: hostPlatform(), registry: registryWithAuth(this.engine, this.opts.registryAuth) });
          return this.engine.images.get(pulled.id)!;
        } catch (e) {
          if (local && !(e instanceof EngineError && e.kind === "notFound")) throw e;
          if (e instanceof EngineError) throw new EngineError(e.kind, `failed to solve with frontend dockerfile.v0: failed to create LLB definition: ${ref}: ${e.message}`);
          throw e;
        }
      });
      this.images.set(ref, p);
    }
    return p;
  }

  /** A stage's run, started once. */
  private stage(i: number): Promise<StageResult> {
    let p = this.stageRuns.get(i);
    if (!p) {
      p = this.runStage(i);
      // The first failure of any stage stops the others at once (their running steps are killed).
      p.catch((e) => {
        this.firstError ??= e;
        this.abort.abort();
      });
      this.stageRuns.set(i, p);
    }
    return p;
  }

  /** Instructions of the base's ONBUILD triggers, parsed as the Dockerfile's own. */
  private triggers(triggers: string[], line: number): Instruction[] {
    if (!triggers.length) return [];
    try {
      return planDockerfile(`FROM scratch\n${triggers.join("\n")}\n`).stages[0]!.instructions.map((ins) => ({ ...ins, line }));
    } catch (e) {
      throw invalidParameter(`failed to process ONBUILD triggers: ${(e as Error).message}`);
    }
  }

  private async runStage(i: number): Promise<StageResult> {
    const s = this.plan.stages[i]!;
    const base = this.bases[i]!;
    const multi = this.plan.stages.length > 1;
    const label = multi ? `${s.name || `stage-${i}`} ` : "";
    let created = new Date(this.started).toISOString();
    const now = () => created;
    let state: StageState;
    let top: string | null = null;
    let chains: string[] = [];
    let size = 0;
    let key: string;
    let platform: StageResult["platform"] = { architecture: hostPlatform().architecture, os: "linux", ...(hostPlatform().variant ? { variant: hostPlatform().variant } : {}) };
    let imageId: string | undefined;
    const fsSteps = (list: Instruction[]) => list.filter((x) => x.kind === "run" || x.kind === "copy" || x.kind === "add" || x.kind === "workdir").length;
    if (base.kind === "stage") {
      const r = await this.stage(base.index);
      const cfg = { ...r.platform, config: r.state.config, rootfs: { type: "layers", diff_ids: r.state.diffIds }, history: r.state.history } as ImageConfig;
      created = r.state.history.at(-1)?.created ?? created;
      state = new StageState(cfg, this.opts.buildArgs, this.meta, this.plan.escapeToken, now);
      ({ top, size, key, platform, imageId } = r);
      chains = [...r.chains];
    } else if (base.kind === "image") {
      const img = await this.image(base.ref);
      if (img.config.os && img.config.os !== "linux") throw invalidParameter(`${base.ref}: image operating system "${img.config.os}" cannot be used on this platform`);
      created = img.config.created ?? created;
      state = new StageState(img.config, this.opts.buildArgs, this.meta, this.plan.escapeToken, now);
      top = img.topLayer;
      chains = this.engine.images.chainIds(img.id);
      size = img.size;
      key = img.id;
      imageId = img.id;
      platform = { architecture: img.config.architecture || platform.architecture, os: img.config.os || "linux", ...(img.config.variant ? { variant: img.config.variant } : {}) };
    } else {
      state = new StageState(null, this.opts.buildArgs, this.meta, this.plan.escapeToken, now);
      key = "scratch";
    }
    const triggers = this.triggers(state.triggers, s.line);
    const instructions = [...triggers, ...s.instructions];
    // BuildKit counts the FROM as step 1 of every stage; only an image's FROM is a vertex of its own.
    const total = fsSteps(instructions) + 1;
    let n = 1;
    // The legacy builder's numbering: the FROM, then each instruction (its ONBUILD triggers run inside the FROM).
    // A stage the graph did not foresee (a `--from` only a stage ARG names) has no legacy number: no such events.
    const first = this.firstOf.get(i) ?? 0;
    const legacy = (e: BuildEvent) => void (first && this.onEvent(e));
    const of = this.instructionCount;
    const labels = i === this.target ? this.labelSteps() : [];
    const last = first + s.instructions.length + labels.length;
    legacy({ type: "instruction", instruction: { n: first, of, text: s.original, stage: i, endsStage: first === last, container: false } });
    if (base.kind === "image") {
      const r = withDefaultTag(parseReference(base.ref));
      const asWritten = parseReference(base.ref);
      const shown = `${repositoryName(r)}${asWritten.digest ? `@${asWritten.digest}` : asWritten.tag ? `:${asWritten.tag}` : ""}`;
      await this.vertex(`[${label}${n}/${total}] FROM ${shown}`, () => undefined, { n, of: total, instruction: `FROM ${s.base}`, line: s.line, ...(first ? { legacy: { n: first } } : {}) });
    }
    const fromDone = () => legacy({ type: "instructionDone", n: first, imageId, cached: false });
    if (!triggers.length) fromDone();
    const lex = new ShellLex(this.plan.escapeToken, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
    for (const [k, ins] of instructions.entries()) {
      if (this.signal.aborted) throw cancelled();
      const trigger = k < triggers.length ? k : undefined;
      const legacyN = trigger !== undefined ? first : first + k - triggers.length + 1;
      legacy({
        type: "instruction",
        instruction: { n: legacyN, of, text: ins.original, stage: i, endsStage: trigger === undefined && legacyN === last, container: ins.kind !== "copy" && ins.kind !== "add", ...(trigger !== undefined ? { trigger: { index: trigger, of: triggers.length } } : {}) },
      });
      const shown = this.shownText(ins, lex, state);
      let step: Step | null;
      try {
        step = state.dispatch(ins);
      } catch (e) {
        if (e instanceof DockerfileParseError) throw invalidParameter(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: ${e.message}`);
        throw e;
      }
      if (!step) {
        const made = this.stepImage(state, platform, chains, size, imageId);
        imageId = made.id;
        legacy({ type: "instructionDone", n: legacyN, ...(trigger !== undefined ? { trigger } : {}), imageId, cached: made.cached });
        if (trigger === triggers.length - 1) fromDone();
        continue;
      }
      n++;
      // A step's vertex starts once the stages it reads are built (BuildKit's order).
      await this.inputsOf(step, i);
      const vertexName = `[${label}${n}/${total}] ${shown}`;
      const entry = state.history.at(-1)!;
      const res = await this.vertex(vertexName, (vid) => this.runStep(vid, i, step!, key, top), { n, of: total, instruction: shown, line: ins.line, ...(first ? { legacy: { n: legacyN, ...(trigger !== undefined ? { trigger } : {}) } } : {}) }, true);
      key = res.key;
      created = res.created;
      entry.created = created;
      state.addLayer(res.diffId);
      chains.push(res.chainId);
      top = res.chainId;
      size += res.size;
      const made = this.stepImage(state, platform, chains, size, imageId);
      imageId = made.id;
      if (res.cached) this.onEvent({ type: "cached", vertexId: res.vertexId, imageId });
      else this.onEvent({ type: "done", vertexId: res.vertexId, ms: res.ms, imageId });
      legacy({ type: "instructionDone", n: legacyN, ...(trigger !== undefined ? { trigger } : {}), imageId, cached: res.cached });
      if (trigger === triggers.length - 1) fromDone();
    }
    // The target's `--label`s: one legacy step each, adding the label to the config (no history entry, as the export).
    for (const [k, [labelKey, value]] of labels.entries()) {
      const legacyN = first + s.instructions.length + 1 + k;
      legacy({ type: "instruction", instruction: { n: legacyN, of, text: `LABEL ${labelKey}=${value}`, stage: i, endsStage: legacyN === last, container: true } });
      const made = this.stepImage(state, platform, chains, size, imageId, labels.slice(0, k + 1));
      imageId = made.id;
      legacy({ type: "instructionDone", n: legacyN, imageId, cached: made.cached });
    }
    return { state, top, chains, size, key, platform, imageId };
  }

  /** Waits for the stages a step reads (COPY --from, RUN --mount from=). */
  private async inputsOf(step: Step, at: number): Promise<void> {
    const froms = step.kind === "copy" ? (step.from !== undefined ? [step.from] : []) : step.kind === "run" ? step.mounts.map(parseRunMount).flatMap((m) => (m.type === "bind" && m.from !== undefined ? [m.from] : [])) : [];
    for (const f of froms) {
      const base = this.fromOf(f, at);
      if (base.kind === "stage") await this.stage(base.index);
    }
  }

  /** The instruction as BuildKit's progress shows it: keyword upper-cased, variables expanded, quotes kept. */
  private shownText(ins: Instruction, lex: ShellLex, state: StageState): string {
    const text = ins.original.replace(/^\s*(\S+)/, (k) => k.toUpperCase());
    if (ins.kind !== "run" && ins.kind !== "copy" && ins.kind !== "add" && ins.kind !== "workdir") return text;
    try {
      return lex.processWord(text.split("\n")[0]!, state.expansionEnv());
    } catch {
      return text;
    }
  }

  /** One file-system step: from the cache, or run; returns its layer (the vertex's end is reported by the caller). */
  private async runStep(vertexId: number, stageIndex: number, step: Step, parentKey: string, top: string | null) {
    const t0 = performance.now();
    const dir = join(this.scratch, `s${++this.steps}`);
    const { key, prepare } = await this.keyOf(step, parentKey, stageIndex, dir);
    if (!this.opts.noCache) {
      const hit = this.cache.get(key) ?? this.fromCacheImages(key, step, top);
      const rec = hit && this.engine.layers.get(hit.chainId);
      // Only a layer on this step's parent: a --no-cache build that redid the parent and stopped before this
      // step left this record on the parent's old layer (the parent's key now names the new one).
      if (hit && rec && rec.parent === top) {
        return { vertexId, key, chainId: hit.chainId, diffId: hit.diffId, created: hit.created, size: rec.size, cached: true, ms: 0 };
      }
    }
    // A step that runs copies, packs and hashes every file it writes: hot loops, worth the normal JIT (an
    // all-cached build never gets here and stays interpreted, as a short command should).
    fullJit();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      const upper = join(dir, "upper");
      mkdirSync(upper, { mode: 0o755 });
      const lowers = this.engine.layers.diffDirs(top);
      await prepare(upper, lowers, vertexId);
      const created = new Date().toISOString();
      const { record } = await registerFinishedDir(this.engine, top, upper);
      this.cache.put({ key, chainId: record.chainId, diffId: record.diffId, created }, step.createdBy);
      return { vertexId, key, chainId: record.chainId, diffId: record.diffId, created, size: record.size, cached: false, ms: Math.round(performance.now() - t0) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** --cache-from: a step is satisfied by an image whose history has the same step at the same place on the same parent. */
  private fromCacheImages(_key: string, step: Step, top: string | null): { chainId: string; diffId: string; created: string } | undefined {
    for (const ref of this.opts.cacheFrom) {
      const img = this.engine.images.lookup(ref);
      if (!img) continue;
      const chains = this.engine.images.chainIds(img.id);
      const at = top === null ? 0 : chains.indexOf(top) + 1;
      if (at === 0 && top !== null) continue;
      if (at >= chains.length) continue;
      // The history entry of layer `at` (entries without empty_layer, in order).
      const layered = (img.config.history ?? []).filter((h) => !h.empty_layer);
      const h = layered[at];
      if (!h || h.created_by !== step.createdBy) continue;
      // Only RUN and WORKDIR: a COPY's text does not say what it copied.
      if (step.kind === "copy") continue;
      const chainId = chains[at]!;
      const rec = this.engine.layers.get(chainId);
      if (!rec) continue;
      return { chainId, diffId: rec.diffId, created: h.created ?? new Date().toISOString() };
    }
    return undefined;
  }

  /** The step's cache key, and the work that produces its upper dir on a miss. */
  private async keyOf(step: Step, parentKey: string, stageIndex: number, dir: string): Promise<{ key: string; prepare: (upper: string, lowers: string[], vertexId: number) => Promise<void> }> {
    if (step.kind === "workdir") {
      return {
        key: cacheKey([CACHE_VERSION, parentKey, "workdir", step.path, step.user]),
        prepare: async (upper, lowers) => {
          const m = mountRoot(dir, lowers, upper);
          try {
            mkdirInRoot(m.fd, step.path, resolveUser(m.fd, step.user));
          } catch (e) {
            throw failed(`failed to create the working directory ${step.path}: ${(e as Error).message}`);
          } finally {
            m.close();
          }
        },
      };
    }
    if (step.kind === "copy") return this.copyStep(step, parentKey, stageIndex, dir);
    return this.runStepPlan(step, parentKey, stageIndex, dir);
  }

  /** A stage's or image's root, mounted read-only for a COPY --from or a bind mount's source. */
  private async sourceRoot(base: Base): Promise<{ key: string; lowers: () => string[] }> {
    if (base.kind === "stage") {
      const r = await this.stage(base.index);
      return { key: `stage:${r.key}`, lowers: () => this.engine.layers.diffDirs(r.top) };
    }
    if (base.kind === "scratch") return { key: "scratch", lowers: () => [] };
    const img = await this.image(base.ref);
    return { key: `image:${img.id}`, lowers: () => this.engine.layers.diffDirs(img.topLayer) };
  }

  private async copyStep(step: Extract<Step, { kind: "copy" }>, parentKey: string, stageIndex: number, dir: string) {
    const { ins } = step;
    const what = { kind: ins.kind, sources: step.sources, dest: step.dest, from: step.from, chown: step.chown, chmod: step.chmod, exclude: step.exclude, link: ins.link, parents: ins.parents, checksum: ins.checksum, keepGitDir: ins.keepGitDir, unpack: ins.unpack, heredocs: ins.heredocs };
    let source: { key: string; lowers: () => string[] } | undefined;
    let contentSum: string;
    if (step.from !== undefined) {
      source = await this.sourceRoot(this.fromOf(step.from, stageIndex));
      contentSum = source.key;
    } else {
      try {
        // The fingerprint's lstats serve the checksum when the memo misses (the first build after an edit):
        // one lstat per file, not two. Dropped right after: the copy itself looks again.
        this.context.recentStats = new Map();
        contentSum = await this.sums.get(this.copyFingerprint(step, what), () => copyChecksum(step, { context: this.context }));
      } catch (e) {
        throw failed(`failed to compute cache key: ${(e as Error).message}`);
      } finally {
        this.context.recentStats = undefined;
      }
    }
    return {
      key: cacheKey([CACHE_VERSION, parentKey, "copy", what, contentSum]),
      prepare: async (upper: string, lowers: string[]) => {
        let root: MountedRoot | undefined;
        let src: MountedRoot | undefined;
        try {
          // --link: the files land in an empty directory, independent of the parent's content.
          if (!ins.link) root = mountRoot(join(dir, "root"), lowers, upper);
          if (source) src = mountRoot(join(dir, "src"), source.lowers());
          await copyInto(root ? root.path : upper, step, src ? { root: src.path } : { context: this.context }, { signal: this.signal, upper: root && upper });
        } catch (e) {
          if (e instanceof EngineError) throw e;
          throw failed(`failed to copy files: ${(e as Error).message}`);
        } finally {
          src?.close();
          root?.close();
        }
      },
    };
  }

  /** What a context COPY reads, fingerprinted by lstat (cache.ts treeFingerprint); null when it cannot be. */
  private copyFingerprint(step: Extract<Step, { kind: "copy" }>, what: unknown): string | null {
    if (!step.sources.length) return null;
    const root = this.opts.contextDir;
    const ignore = this.context.ignore;
    let paths: string[];
    try {
      paths = step.sources.flatMap((s) => this.context.sources(s).map((x) => join(root, x.real)));
    } catch {
      return null; // a source not found: copyChecksum says so
    }
    const skip = ignore.isEmpty ? () => false : (abs: string) => {
      const rel = abs.slice(root.length + 1);
      return ignore.excludes(rel) && ignore.skipsDirectory(rel);
    };
    const stats = this.context.recentStats;
    return treeFingerprint(paths, [CACHE_VERSION, root, what, ignore], skip, stats && ((p, st) => stats.set(p, st)));
  }

  /**
   * The argv of a RUN, and a script file it runs: a lone heredoc is the shell's script, or with a shebang a
   * file of its own bound at /dev/pipes/<name> and executed (BuildKit's); other heredocs go to the shell as
   * written (sh reads them itself).
   */
  private runArgv(step: Extract<Step, { kind: "run" }>): { argv: string[]; script?: { name: string; content: string } } {
    const { ins } = step;
    if (!ins.heredocs.length || ins.json) return { argv: step.argv };
    const shell = step.argv.slice(0, -1);
    const cmd = (ins.cmd[0] ?? "").trim();
    if (ins.heredocs.length === 1 && /^\d*<<-?["']?\w+["']?$/.test(cmd)) {
      const h = ins.heredocs[0]!;
      const body = h.chomp ? h.content.replace(/^\t+/gm, "") : h.content;
      if (body.startsWith("#!")) return { argv: [`/dev/pipes/${h.name}`], script: { name: h.name, content: body } };
      return { argv: [...shell, body] };
    }
    return { argv: [...shell, `${cmd}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join("")}`] };
  }

  private async runStepPlan(step: Extract<Step, { kind: "run" }>, parentKey: string, stageIndex: number, dir: string) {
    const { ins } = step;
    if (ins.security !== undefined && ins.security !== "sandbox") throw invalidParameter(`RUN --security=${ins.security} is not supported: bunker runs build steps sandboxed`);
    const network = step.network ?? this.opts.network;
    if (network !== "default" && network !== "none" && network !== "host") throw invalidParameter(`unsupported network mode ${network}`);
    const mounts: RunMount[] = step.mounts.map(parseRunMount);
    const { argv, script } = this.runArgv(step);
    // What bind mounts read is part of the key (content or the source stage's key); secrets and caches are not (BuildKit's).
    const bindSums: string[] = [];
    const bindSources: { lowers?: () => string[]; real?: string }[] = [];
    for (const m of mounts) {
      if (m.type !== "bind") continue;
      if (m.from !== undefined) {
        const src = await this.sourceRoot(this.fromOf(m.from, stageIndex));
        bindSums.push(`${src.key}:${m.source}`);
        bindSources.push({ lowers: src.lowers });
      } else {
        if (!m.readonly) throw invalidParameter(`RUN --mount=type=bind,rw from the build context is not supported: its writes would land in the context directory`);
        const real = this.context.resolve(m.source, true);
        if (real === null || (real !== "" && this.context.ignore.excludes(real))) throw failed(`failed to compute cache key: "${posix.normalize(`/${m.source}`)}": not found`);
        bindSums.push(this.context.checksum([real]));
        bindSources.push({ real });
      }
    }
    return {
      key: cacheKey([CACHE_VERSION, parentKey, "run", argv, script ?? null, step.env, step.user, step.workdir, network, step.mounts, bindSums]),
      prepare: async (upper: string, lowers: string[], vertexId: number) => {
        const binds: Parameters<typeof runInContainer>[4]["binds"] = [];
        const tmpfs: Parameters<typeof runInContainer>[4]["tmpfs"] = [];
        const locks: Lock[] = [];
        try {
          if (script) {
            const file = join(dir, "script");
            writeFileSync(file, script.content, { mode: 0o755 });
            binds.push({ source: file, target: `/dev/pipes/${script.name}`, readonly: true });
          }
          let bi = 0;
          for (const [k, m] of mounts.entries()) {
            if (m.type === "bind") {
              const src = bindSources[bi++]!;
              if (src.real !== undefined) binds.push({ source: join(this.opts.contextDir, src.real), target: m.target, readonly: true });
              else {
                // A stage's root, as a copy the container can bind (a mount of ours lives in a namespace it cannot see).
                const copy = join(dir, `bind-${k}`);
                await materialize(src.lowers!(), copy);
                const sub = new BuildContext(copy).resolve(m.source, true);
                if (sub === null) throw failed(`failed to compute cache key: "${posix.normalize(`/${m.source}`)}": not found`);
                binds.push({ source: join(copy, sub), target: m.target, readonly: m.readonly });
              }
            } else if (m.type === "tmpfs") tmpfs.push(tmpfsOf(m));
            else if (m.type === "secret") {
              const s = this.opts.secrets.get(m.id);
              if (!s) {
                if (m.required) throw failed(`secret ${m.id}: not found`);
                continue;
              }
              mkdirSync(join(dir, "secrets"), { recursive: true, mode: 0o700 });
              binds.push({ source: secretCopy(s.src, join(dir, "secrets", String(k)), m), target: m.target, readonly: true });
            } else {
              const name = sha256Hex(m.id).slice(7, 39);
              let at = cacheMountDir(cacheMountsDir(this.engine), name, m);
              if (m.sharing !== "shared") {
                const l = m.sharing === "locked" ? await lock(this.engine.root.lock(`build-cache-${name}`)) : tryLock(this.engine.root.lock(`build-cache-${name}`));
                if (l) locks.push(l);
                else at = cacheMountDir(join(dir, "private-caches"), String(k), m); // private and busy: an instance of its own
              }
              binds.push({ source: at, target: m.target, readonly: m.readonly });
            }
          }
          const code = await runInContainer(this.engine, join(dir, "ctr"), lowers, upper, {
            argv,
            env: step.env,
            user: step.user,
            cwd: step.workdir,
            network,
            extraHosts: this.opts.extraHosts,
            shmSize: this.opts.shmSize,
            ulimits: this.opts.ulimits,
            binds,
            tmpfs,
            signal: this.signal,
            scratch: this.scratch,
            onOutput: (stream, data) => this.onEvent({ type: "log", vertexId, stream, data }),
          }).catch((e) => {
            if (this.signal.aborted) throw cancelled();
            throw e;
          });
          if (code !== 0) throw failed(`process "${argv.join(" ")}" did not complete successfully: exit code: ${code}`);
          removeMountStubs(upper, lowers, ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname", ...mounts.map((m) => m.target)]);
        } finally {
          for (const l of locks) l.release();
        }
      },
    };
  }

  /** Writes the final stage as an image (config and history as BuildKit's), and tags it. */
  private export(r: StageResult, vertexId: number): BuildResult {
    const { engine, opts } = this;
    const { rawConfig, id: exported } = imageOf(r.state, r.platform, this.started, this.labelSteps());
    // With intermediate images the result is the last instruction's image, as the legacy builder's (for a
    // stage of a bare FROM, its base itself); otherwise the export's.
    const id = opts.intermediateImages && r.imageId ? r.imageId : exported;
    if (r.chains.length !== r.state.diffIds.length || chainIdsOf(r.state.diffIds).at(-1) !== r.chains.at(-1)) throw failed("internal error: the image's layers do not match its diff IDs");
    const refs = opts.tags.map((t) => {
      try {
        return withDefaultTag(parseReference(t));
      } catch (e) {
        throw invalidParameter(`invalid tag "${t}": ${(e as Error).message}`);
      }
    });
    // BuildKit's statuses under the vertex (progress-plain.txt): the layers are in the store already.
    this.onEvent({ type: "status", vertexId, text: "exporting layers" });
    this.onEvent({ type: "status", vertexId, text: "exporting layers", done: true });
    if (id === exported) engine.images.commit({ id, rawConfig, chainIds: r.chains, size: r.size });
    this.onEvent({ type: "status", vertexId, text: `writing image ${id}`, done: true });
    const bus = eventsOf(engine);
    const tags: string[] = [];
    for (const ref of refs) {
      engine.images.setTag(repositoryName(ref), ref.tag!, id);
      tags.push(familiarString(ref));
      bus.publish("image", "tag", id, { name: familiarString(ref) });
      this.onEvent({ type: "status", vertexId, text: `naming to ${canonicalString(ref)}`, done: true });
    }
    return { id, tags };
  }
}

/** A merged copy of layers (top first) in `dir`: what a bind mount from another stage shows. */
async function materialize(lowers: string[], dir: string): Promise<void> {
  const { packDir } = await import("../../fs/pack.ts");
  const { extractTar } = await import("../../fs/extract.ts");
  const { openSync, closeSync, constants } = await import("node:fs");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const empty = `${dir}.empty`;
  mkdirSync(empty, { recursive: true });
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await extractTar(packDir(empty, { lower: lowers }), fd, "/", { owner: "header", devices: false });
  } finally {
    closeSync(fd);
  }
}

/** The registry client of base image pulls: with the build's own credentials (X-Registry-Config) first, else the engine's. */
function registryWithAuth(engine: Engine, auth: BuildOptions["registryAuth"]) {
  if (!auth?.size) return undefined;
  const { RegistryClient } = require("../registry/client.ts") as typeof import("../registry/client.ts");
  const { credentialKey } = require("../registry/credentials.ts") as typeof import("../registry/credentials.ts");
  const own = engine.registry().opts.credentials;
  return new RegistryClient({ mirrors: engine.config.registryMirrors, insecure: engine.config.insecureRegistries, credentials: (host) => auth.get(credentialKey(host)) ?? own?.(host) });
}
