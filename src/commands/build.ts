/**
 * `bunker build`: build an image from a Dockerfile, with `docker build`'s flags (buildx's where BuildKit and the
 * legacy builder differ: progress, `ERROR: …` texts, `-q` printing the full ID). Every value is parsed here into
 * BuildOptions' typed fields; the context is PATH, or `-` (a tar on stdin, or a Dockerfile on stdin when it is
 * not an archive, as docker's DetectArchiveReader decides). docker's other build flags are refused by name.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import type { BuildOptions, BuildUlimit, DockerfileSource, ExtraHost } from "../engine/build/types.ts";
import type { BuildRequest } from "../api/backend.ts";
import { CliError, defineCommand, flagValue, type Flag } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { buildProgress, sourceSnippet, type ProgressMode } from "./_build-progress.ts";
import { peekStream } from "../fs/peek.ts";

/** docker build / buildx flags bunker's builder does not apply: refused by name when given. */
const refused: Record<string, Flag> = Object.fromEntries(
  (
    [
      ["cgroup-parent", "string"], ["compress", "boolean"], ["cpu-period", "string"], ["cpu-quota", "string"], ["cpu-shares", "string", "c"],
      ["cpuset-cpus", "string"], ["cpuset-mems", "string"], ["isolation", "string"], ["memory", "string", "m"], ["memory-swap", "string"],
      ["security-opt", "string"], ["squash", "boolean"], ["ssh", "string"], ["output", "string", "o"], ["cache-to", "string"], ["allow", "string"],
      ["annotation", "string"], ["attest", "string"], ["build-context", "string"], ["builder", "string"], ["call", "string"], ["check", "boolean"],
      ["metadata-file", "string"], ["no-cache-filter", "string"], ["provenance", "string"], ["sbom", "string"], ["push", "boolean"], ["stream", "boolean"],
    ] as [string, "string" | "boolean", string?][]
  ).map(([name, type, alias]) => [name, { type, alias, multiple: type === "string", hidden: true, description: "not supported by bunker's builder" } as Flag]),
);

export default defineCommand({
  meta: { name: "build", description: "Build an image from a Dockerfile", usage: "[OPTIONS] PATH | URL | -", aliases: ["bunker image build", "bunker build", "bunker builder build"] },
  flags: {
    "add-host": { type: "string", multiple: true, description: "Add a custom host-to-IP mapping (format: \"host:ip\")", valueHint: "list" },
    "build-arg": { type: "string", multiple: true, description: "Set build-time variables", valueHint: "list" },
    "cache-from": { type: "string", multiple: true, description: "Images to consider as cache sources", valueHint: "strings" },
    "disable-content-trust": { type: "boolean", description: "Skip image verification", default: true, hidden: true },
    file: { type: "string", alias: "f", description: "Name of the Dockerfile (default: \"PATH/Dockerfile\")", valueHint: "string" },
    "force-rm": { type: "boolean", description: "Always remove intermediate containers (bunker keeps none)" },
    iidfile: { type: "string", description: "Write the image ID to the file", valueHint: "string" },
    label: { type: "string", multiple: true, description: "Set metadata for an image", valueHint: "list" },
    load: { type: "boolean", description: "Shorthand for \"--output=type=docker\" (what bunker always does)" },
    network: { type: "string", description: "Set the networking mode for the RUN instructions during build", default: "default", valueHint: "string" },
    "no-cache": { type: "boolean", description: "Do not use cache when building the image" },
    platform: { type: "string", description: "Set target platform for build (the host's only)", valueHint: "string" },
    progress: { type: "string", description: "Set type of progress output (\"auto\", \"plain\", \"tty\", \"quiet\")", default: "auto", valueHint: "string" },
    pull: { type: "boolean", description: "Always attempt to pull all referenced images" },
    quiet: { type: "boolean", alias: "q", description: "Suppress the build output and print image ID on success" },
    rm: { type: "boolean", description: "Remove intermediate containers after a successful build", default: true },
    secret: { type: "string", multiple: true, description: "Secret to expose to the build (format: \"id=mysecret[,src=/local/secret]\")", valueHint: "stringArray" },
    "shm-size": { type: "bytes", description: "Shared memory size for RUN instructions", valueHint: "bytes" },
    tag: { type: "string", alias: "t", multiple: true, description: "Name and optionally a tag (format: \"name:tag\")", valueHint: "list" },
    target: { type: "string", description: "Set the target build stage to build", valueHint: "string" },
    ulimit: { type: "string", multiple: true, description: "Ulimit options", valueHint: "ulimit" },
    ...refused,
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    for (const name of Object.keys(refused)) {
      if (flags[name] !== undefined && flags[name] !== false) throw new CliError(`ERROR: bunker build: --${name} is not supported by bunker's builder`, 1);
    }
    if (flags.rm === false) throw new CliError("ERROR: bunker build: --rm=false is not supported: bunker's builder keeps no intermediate containers", 1);
    const cleanups: (() => void)[] = [];
    try {
      const mode = progressMode(flags);
      const req = await buildRequest(flags, args[0]!, cleanups);
      // process.stderr's size only for the tty display: the Node stream behind it costs milliseconds to set up.
      const tty = mode === "tty";
      const progress = buildProgress(mode, { write: (s) => void process.stderr.write(s), columns: tty ? process.stderr.columns : undefined, rows: tty ? process.stderr.rows : undefined });
      const ac = new AbortController();
      const onSigint = () => ac.abort(new Error("context canceled"));
      process.on("SIGINT", onSigint);
      if (flags.iidfile) rmSync(flags.iidfile, { force: true }); // docker removes it first: a failed build leaves none
      const backend = await openBackend(global);
      let result;
      const lines = new Map<number, number | undefined>();
      let failedLine: number | undefined;
      try {
        result = await backend.build({ ...req, signal: ac.signal }, (e) => {
          if (e.type === "start") lines.set(e.vertex.id, e.vertex.step?.line);
          if (e.type === "error") failedLine ??= lines.get(e.vertexId);
          progress.event(e);
        });
      } catch (e) {
        progress.end(true);
        if (e instanceof CliError) throw e;
        // BuildKit's words: the solver's errors after "failed to solve: " (the frontend's carry their own prefix).
        const message = (e as Error).message;
        const snippet = failedLine === undefined ? "" : dockerfileSnippet(req, failedLine);
        throw new CliError(`${snippet}ERROR: ${message.startsWith("failed to solve") ? message : `failed to solve: ${message}`}`, 1);
      } finally {
        process.off("SIGINT", onSigint);
      }
      progress.end(false);
      if (flags.iidfile) writeFileSync(flags.iidfile, result.id);
      // A plain write to fd 1: process.stdout (and node:tty) would load Node's stream machinery for one line.
      if (flags.quiet) writeSync(1, `${result.id}\n`);
      return 0;
    } finally {
      for (const c of cleanups) c();
    }
  },
});

/** The failed step's lines of the Dockerfile, as BuildKit prints them before the error (none for a tar context). */
function dockerfileSnippet(req: BuildRequest, line: number): string {
  try {
    if ("text" in req.dockerfile) return sourceSnippet(req.dockerfile.text, basename(req.dockerfile.name), line);
    if (!("dir" in req.context)) return "";
    return sourceSnippet(readFileSync(join(req.context.dir, req.dockerfile.path), "utf8"), basename(req.dockerfile.path), line);
  } catch {
    return "";
  }
}

/** --progress (auto: tty when stderr is a terminal); -q is quiet. */
function progressMode(flags: Record<string, any>): ProgressMode {
  if (flags.quiet) return "quiet";
  const p = String(flags.progress);
  if (p === "auto") return process.stderr.isTTY ? "tty" : "plain";
  if (p === "plain" || p === "tty" || p === "quiet") return p;
  if (p === "rawjson") throw new CliError('ERROR: bunker build: --progress=rawjson is not supported', 1);
  throw new CliError(`ERROR: invalid progress mode ${JSON.stringify(p)}: auto, plain, tty or quiet`, 1);
}

/** docker's IsArchive: compressed (gzip, bzip2, xz, zstd) or a tar header whose checksum holds. */
export function isArchive(head: Uint8Array): boolean {
  const starts = (...b: number[]) => b.every((x, i) => head[i] === x);
  if (starts(0x1f, 0x8b) || starts(0x42, 0x5a, 0x68) || starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) || starts(0x28, 0xb5, 0x2f, 0xfd)) return true;
  if (head.length < 512) return false;
  const field = new TextDecoder().decode(head.subarray(148, 156)).replace(/[\0 ]+$/, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i]!;
  return sum === parseInt(field, 8);
}

/** The whole of stdin as text (`-f -`). */
async function readStdinText(): Promise<string> {
  return await new Response(Bun.stdin.stream()).text();
}

/** Parses the flags and the context argument into the Backend's build request. */
async function buildRequest(flags: Record<string, any>, context: string, cleanups: (() => void)[]): Promise<BuildRequest> {
  if (/^(https?:\/\/|git@|git:\/\/|github\.com\/)/.test(context)) {
    throw new CliError(`ERROR: unable to prepare context: remote contexts are not supported: bunker does not download build contexts (${context}); build a local directory or pipe a tar to 'bunker build -'`, 1);
  }
  const file = flags.file as string | undefined;
  if (context === "-" && file === "-") throw new CliError("ERROR: invalid argument: can't use stdin for both build context and dockerfile", 1);

  let ctx: BuildRequest["context"];
  let dockerfile: DockerfileSource;
  if (context === "-") {
    const { head, stream } = await peekStream(Bun.stdin.stream(), 512);
    if (isArchive(head)) {
      ctx = { tar: stream };
      // With a tar context, -f names a file inside it.
      dockerfile = { path: file ?? "Dockerfile" };
    } else {
      // A Dockerfile on stdin: the context is empty (docker writes it into an empty temporary directory).
      const text = await new Response(stream).text();
      const dir = mkdtempSync(join(tmpdir(), "bunker-build-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      ctx = { dir };
      dockerfile = { text, name: "Dockerfile" };
    }
  } else {
    const dir = resolve(context);
    const st = statSync(dir, { throwIfNoEntry: false });
    if (!st) throw new CliError(`ERROR: unable to prepare context: path ${JSON.stringify(context)} not found`, 1);
    if (!st.isDirectory()) throw new CliError(`ERROR: unable to prepare context: context must be a directory: ${dir}`, 1);
    ctx = { dir };
    if (file === "-") {
      dockerfile = { text: await readStdinText(), name: "Dockerfile" };
    } else if (file === undefined) {
      dockerfile = { path: "Dockerfile" };
    } else {
      // -f is relative to the working directory; inside the context it is sent by its path there, else read here.
      const abs = resolve(file);
      const rel = relative(dir, abs);
      if (!lstatSync(abs, { throwIfNoEntry: false })) throw new CliError(`ERROR: unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`, 1);
      if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) dockerfile = { path: rel };
      else dockerfile = { text: readFileSync(abs, "utf8"), name: file };
    }
  }
  const options = await parseOptions(flags, cleanups);
  return { ...options, context: ctx, dockerfile };
}

/** The typed options from the flags (everything but the context and the Dockerfile). */
async function parseOptions(flags: Record<string, any>, cleanups: (() => void)[]): Promise<Omit<BuildOptions, "contextDir" | "dockerfile">> {
  const { parseReference, withDefaultTag, canonicalString } = await import("../engine/registry/reference.ts");
  const { parseExtraHost, parseUlimit } = await import("../engine/runtime/spec.ts");
  const tags = ((flags.tag as string[] | undefined) ?? []).map((t) => {
    try {
      const ref = parseReference(t);
      if (ref.digest) throw new Error("build tag cannot contain a digest");
      return canonicalString(withDefaultTag(ref));
    } catch (e) {
      throw new CliError(`ERROR: invalid tag ${JSON.stringify(t)}: ${(e as Error).message}`, 1);
    }
  });
  // --build-arg K=V; a bare K takes this environment's value, and is left out when the environment has none.
  const buildArgs = new Map<string, string>();
  for (const a of (flags["build-arg"] as string[] | undefined) ?? []) {
    const eq = a.indexOf("=");
    if (eq === 0) throw new CliError(`ERROR: invalid build-arg ${JSON.stringify(a)}: key is empty`, 1);
    if (eq > 0) buildArgs.set(a.slice(0, eq), a.slice(eq + 1));
    else if (process.env[a] !== undefined) buildArgs.set(a, process.env[a]!);
  }
  const labels: Record<string, string> = {};
  for (const l of (flags.label as string[] | undefined) ?? []) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  const network = String(flags.network);
  if (network !== "default" && network !== "none" && network !== "host") throw new CliError(`ERROR: network mode ${JSON.stringify(network)} not supported by bunker's builder: default, none or host`, 1);
  const extraHosts: ExtraHost[] = ((flags["add-host"] as string[] | undefined) ?? []).map((h) => {
    const [name, address] = flagValue("add-host", h, parseExtraHost);
    return { name, address };
  });
  const ulimits: BuildUlimit[] = ((flags.ulimit as string[] | undefined) ?? []).map((u) => {
    const p = flagValue("ulimit", u, parseUlimit);
    return { name: p.Name, soft: p.Soft, hard: p.Hard };
  });
  let platform: string | undefined;
  if (flags.platform) {
    const { parsePlatform, formatPlatform, hostPlatform } = await import("../engine/image/types.ts");
    let p;
    try {
      p = parsePlatform(flags.platform);
    } catch (e) {
      throw new CliError(`ERROR: failed to parse platform ${flags.platform}: ${(e as Error).message}`, 1);
    }
    const host = hostPlatform();
    if (p.os !== host.os || p.architecture !== host.architecture) throw new CliError(`ERROR: bunker builds for this host's platform only (${formatPlatform(host)}), not ${formatPlatform(p)}`, 1);
    platform = formatPlatform(p);
  }
  return {
    tags,
    buildArgs,
    labels,
    target: flags.target || undefined,
    noCache: !!flags["no-cache"],
    pull: !!flags.pull,
    cacheFrom: ((flags["cache-from"] as string[] | undefined) ?? []).map(cacheSource),
    network,
    extraHosts,
    shmSize: (flags["shm-size"] as number | undefined) ?? 0,
    ulimits,
    secrets: parseSecrets((flags.secret as string[] | undefined) ?? [], cleanups),
    platform,
  };
}

/** A --cache-from value: an image name, or buildx's `type=registry,ref=NAME`; other cache types are refused. */
export function cacheSource(v: string): string {
  if (!v.includes("=")) return v;
  const fields = new Map(v.split(",").map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)] as [string, string]));
  const type = fields.get("type") ?? "registry";
  if (type !== "registry") throw new CliError(`ERROR: bunker build: --cache-from type=${type} is not supported: images only (NAME or type=registry,ref=NAME)`, 1);
  const ref = fields.get("ref");
  if (!ref) throw new CliError(`ERROR: invalid --cache-from ${JSON.stringify(v)}: ref= is missing`, 1);
  return ref;
}

/**
 * --secret as buildx parses it: `id=…,src=…` (or source=), `id=…,env=…`, `type=file|env`; without src or env
 * the ID names an environment variable. An env secret is written to a private temporary file for the build.
 */
export function parseSecrets(values: string[], cleanups: (() => void)[]): Map<string, { src: string }> {
  const out = new Map<string, { src: string }>();
  for (const value of values) {
    let id = "";
    let src = "";
    let env = "";
    let type = "";
    for (const field of value.split(",")) {
      const eq = field.indexOf("=");
      if (eq < 0) throw new CliError(`ERROR: invalid field '${field}' must be a key=value pair`, 1);
      const key = field.slice(0, eq).toLowerCase();
      const v = field.slice(eq + 1);
      if (key === "type") {
        if (v !== "file" && v !== "env") throw new CliError(`ERROR: unsupported secret type ${JSON.stringify(v)}`, 1);
        type = v;
      } else if (key === "id") id = v;
      else if (key === "src" || key === "source") src = v;
      else if (key === "env") env = v;
      else throw new CliError(`ERROR: unexpected key '${key}' in '${field}'`, 1);
    }
    if (type === "env" && !env) [env, src] = [src, ""];
    if (!id) id = env || (src ? src.split("/").pop()! : "");
    if (!id) throw new CliError(`ERROR: secret ID missing: ${value}`, 1);
    if (!src && !env) env = id;
    if (src) {
      const abs = resolve(src);
      if (!existsSync(abs)) throw new CliError(`ERROR: failed to stat ${src}: no such file or directory`, 1);
      out.set(id, { src: abs });
    } else {
      const v = process.env[env];
      if (v === undefined) throw new CliError(`ERROR: secret ${id}: environment variable ${env} is not set`, 1);
      const dir = mkdtempSync(join(tmpdir(), "bunker-secret-"));
      const path = join(dir, "secret");
      writeFileSync(path, v, { mode: 0o600 });
      cleanups.push(() => {
        unlinkSync(path);
        rmSync(dir, { recursive: true, force: true });
      });
      out.set(id, { src: path });
    }
  }
  return out;
}
