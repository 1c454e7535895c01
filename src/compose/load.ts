/**
 * Loading a compose project as docker compose v2 does (compose-go's cli and loader packages): files found
 * (compose.yaml… from the working directory up, plus the override file) or given (`-f`, `-`, COMPOSE_FILE),
 * the environment (.env / --env-file under the process environment), each file parsed (YAML anchors and `<<`
 * merge keys by Bun.YAML), interpolated, validated against the spec, its includes imported and its extends
 * resolved, merged onto the files before it, then normalised (normalize.ts) into the Project of model.ts.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { canonicalResource, canonicalService } from "./canonical.ts";
import { parseDotenv, parseRawEnv } from "./dotenv.ts";
import { duplicateKeyError } from "./duplicates.ts";
import { ComposeError } from "./errors.ts";
import { interpolateTree } from "./interpolate.ts";
import { mergeModel, mergeService, uniqueService } from "./merge.ts";
import type { LoadedProject, LoadOptions, Project } from "./model.ts";
import { normalizeProject, withoutUnusedResources } from "./normalize.ts";
import { validateSchema } from "./schema.ts";

/** Re-exported: what a caller catches from the loader. */
export { ComposeError };

/** compose v2's file names, in order of preference. */
export const DEFAULT_FILES = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
const OVERRIDE_FILES = ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"];

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/** Load a project into the normalised form `docker compose config --format json` prints. */
export async function loadProject(opts: LoadOptions): Promise<Project> {
  return (await loadProjectDetails(opts)).project;
}

/** compose-go's NormalizeProjectName: lower case, only [a-z0-9_-], no leading `_`/`-`. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^-_a-z0-9]/g, "").replace(/^[-_]+/, "");
}

/** The compose files of a directory or its parents (the first found, plus its override), with compose's warnings. */
export function findComposeFiles(dir: string, warn: (m: string) => void): string[] {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const found = DEFAULT_FILES.map((n) => join(d, n)).filter((f) => existsSync(f));
    if (found.length) {
      if (found.length > 1) {
        warn(`Found multiple config files with supported names: ${found.join(", ")}`);
        warn(`Using ${found[0]}`);
      }
      const overrides = OVERRIDE_FILES.map((n) => join(d, n)).filter((f) => existsSync(f));
      if (overrides.length > 1) {
        warn(`Found multiple override files with supported names: ${overrides.join(", ")}`);
        warn(`Using ${overrides[0]}`);
      }
      return overrides.length ? [found[0]!, overrides[0]!] : [found[0]!];
    }
    if (dirname(d) === d) return [];
  }
}

/** Reads dotenv files in order (each seeing the environment and the files before it). */
function readEnvFiles(files: string[], env: Record<string, string>, format?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) {
    let text: string;
    try {
      if (statSync(f).isDirectory()) throw new ComposeError(`${f} is a directory`);
      text = readFileSync(f, "utf8");
    } catch (e) {
      if (e instanceof ComposeError) throw e;
      throw new ComposeError(`couldn't find env file: ${f}`);
    }
    try {
      Object.assign(out, (format === "raw" ? parseRawEnv : parseDotenv)(text, (k) => env[k] ?? out[k]));
    } catch (e) {
      throw new ComposeError(`failed to read ${f}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Parses one file's YAML documents. */
function parseYaml(text: string, file: string): unknown[] {
  let parsed: unknown;
  // go-yaml reads a plain 0440 as octal (strconv's base 0), Bun.YAML as decimal: file modes are written so.
  // (The regular expression only where a `mode:` is: compiling it costs more than a small file's parse.)
  const modes = text.includes("mode:") ? text.replace(/((?:^|[{,])[ \t]*(?:-[ \t]+)?mode:[ \t]+)0([0-7]+)(?=[ \t]*(?:[,}#]|$))/gm, (_, head: string, digits: string) => `${head}0o${digits}`) : text;
  try {
    parsed = Bun.YAML.parse(modes);
  } catch (e) {
    throw new ComposeError(`failed to parse ${file}: ${(e as Error).message.replace(/^YAML Parse error: /, "yaml: ")}`);
  }
  const duplicate = duplicateKeyError(text);
  if (duplicate) throw new ComposeError(`failed to parse ${file}: ${duplicate}`);
  // Bun.YAML returns an array for a multi-document stream: it is recognised by the `---` separator.
  if (Array.isArray(parsed) && /^---/m.test(text) && parsed.every((d) => isObj(d) || d === null)) return parsed.filter((d) => d !== null);
  return [parsed];
}

/** What one loading pass shares: the environment, warnings, the home directory and the include chain. */
interface Context {
  env: Record<string, string>;
  interpolate: boolean;
  warn: (m: string) => void;
  warned: Set<string>;
  home: string;
  stdin?: string;
  /** Files parsed already (the project name is read from them before they are loaded). */
  parsed: Map<string, unknown[]>;
}

/** A file's YAML documents, read (or stdin for "-") and parsed once. */
function parsedFile(file: string, ctx: Context): unknown[] {
  const cached = ctx.parsed.get(file);
  if (cached) return cached;
  let text: string;
  if (file === "-") text = ctx.stdin ?? "";
  else {
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new ComposeError(`open ${file}: no such file or directory`);
    }
  }
  const docs = parseYaml(text, file);
  ctx.parsed.set(file, docs);
  return docs;
}

/** One file, read (or stdin for "-"), parsed, interpolated and checked; its documents. */
function readComposeFile(file: string, ctx: Context): Obj[] {
  const docs: Obj[] = [];
  // Taken from the cache: a file read again (extends) is parsed again, as its objects were interpolated in place.
  const parsed = parsedFile(file, ctx);
  ctx.parsed.delete(file);
  for (const raw of parsed) {
    if (raw === null || raw === undefined) continue;
    if (!isObj(raw)) throw new ComposeError("top-level object must be a mapping");
    const doc = ctx.interpolate ? interpolateIn(raw, ctx) : raw;
    try {
      validateSchema(doc);
    } catch (e) {
      throw new ComposeError(`validating ${file}: ${(e as Error).message}`);
    }
    if ("version" in doc) {
      if (!ctx.warned.has(`version:${file}`)) ctx.warn(`${file}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
      ctx.warned.add(`version:${file}`);
      delete doc.version;
    }
    docs.push(doc);
  }
  return docs;
}

function interpolateIn(doc: Obj, ctx: Context): Obj {
  const unset = (name: string) => {
    if (ctx.warned.has(name)) return;
    ctx.warned.add(name);
    ctx.warn(`The ${JSON.stringify(name)} variable is not set. Defaulting to a blank string.`);
  };
  try {
    return interpolateTree(doc, (k) => ctx.env[k], unset, ctx.warn) as Obj;
  } catch (e) {
    throw new ComposeError((e as Error).message);
  }
}

/**
 * The canonical model of a set of files sharing one base directory: each file's documents with their includes
 * imported and extends resolved, merged in order.
 */
function loadModel(files: string[], baseDir: string, ctx: Context, included: string[]): Obj {
  let model: Obj = {};
  for (const file of files) {
    for (const doc of readComposeFile(file, ctx)) {
      let fileModel = canonicalDoc(doc, baseDir, ctx);
      if (Array.isArray(doc.include)) {
        const imported = loadIncludes(doc.include, baseDir, ctx, [...included, file]);
        // The including file wins over what it imports.
        fileModel = mergeModel(imported, fileModel);
      }
      resolveExtends(fileModel, file, baseDir, ctx, doc);
      model = mergeModel(model, fileModel);
    }
  }
  return model;
}

/** A document's services and resources in canonical form (x- keys kept only at the top level). */
function canonicalDoc(doc: Obj, baseDir: string, ctx: Context): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k === "include") continue;
    if (k === "services") {
      out.services = {};
      for (const [name, s] of Object.entries((v ?? {}) as Obj)) out.services[name] = uniqueService(canonicalService(s ?? {}, baseDir, ctx.home, !ctx.interpolate));
    } else if (k === "networks" || k === "volumes" || k === "secrets" || k === "configs") {
      out[k] = {};
      for (const [name, r] of Object.entries((v ?? {}) as Obj)) out[k][name] = canonicalResource(k, r, baseDir, ctx.home);
    } else out[k] = v;
  }
  return out;
}

/** include: each entry loaded as its own project (its directory, its env files) and imported. */
function loadIncludes(entries: unknown[], baseDir: string, ctx: Context, chain: string[]): Obj {
  let imported: Obj = {};
  for (const entry of entries) {
    const e: Obj = typeof entry === "string" ? { path: [entry] } : { ...(entry as Obj) };
    const paths = (typeof e.path === "string" ? [e.path] : ((e.path as string[] | undefined) ?? [])).map((p) => resolve(baseDir, p));
    if (!paths.length) throw new ComposeError("include: path is required");
    const projectDir = e.project_directory ? resolve(baseDir, e.project_directory) : dirname(paths[0]!);
    for (const p of paths) {
      if (chain.includes(p)) {
        const loop = [...chain, p];
        throw new ComposeError(`include cycle detected:\n${loop[0]}\n include ${loop.slice(1).join("\n include ")}`);
      }
    }
    let envFiles = (typeof e.env_file === "string" ? [e.env_file] : ((e.env_file as string[]) ?? [])).map((f) => resolve(baseDir, f));
    if (!envFiles.length && existsSync(join(projectDir, ".env"))) envFiles = [join(projectDir, ".env")];
    const env = { ...ctx.env, ...readEnvFiles(envFiles, ctx.env) };
    const sub = loadModel(paths, projectDir, { ...ctx, env }, chain);
    delete sub.name;
    imported = mergeModel(imported, sub);
  }
  return imported;
}

/** extends: each service built on its base (same file or another, recursively), cycles refused. */
function resolveExtends(model: Obj, file: string, baseDir: string, ctx: Context, doc: Obj): void {
  const services: Obj = model.services ?? {};
  const done = new Map<string, Obj>();
  const resolveOne = (name: string, own: Obj, ownFile: string, ownBase: string, chain: [string, string][], siblings: Obj): Obj => {
    const key = `${ownFile}\0${name}`;
    if (!isObj(own.extends)) return own;
    if (ownFile === file && done.has(key)) return done.get(key)!;
    if (chain.some(([f, s]) => f === ownFile && s === name)) {
      const all = [...chain, [ownFile, name] as [string, string]];
      throw new ComposeError(["Circular reference:", `  ${all[0]![1]} in ${all[0]![0]}`, ...all.slice(1).map(([f, s]) => `  extends ${s} in ${f}`)].join("\n"));
    }
    const { service: ref, file: refFile } = own.extends as { service: string; file?: string };
    let base: Obj | undefined;
    let baseFile = ownFile;
    let baseBase = ownBase;
    let baseSiblings = siblings;
    if (refFile) {
      baseFile = refFile;
      baseBase = dirname(refFile);
      const docs = readComposeFile(refFile, ctx);
      if (!docs.some((d) => isObj(d.services))) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${refFile}: no services section`);
      baseSiblings = {};
      for (const d of docs) baseSiblings = { ...baseSiblings, ...canonicalDoc(d, baseBase, ctx).services };
    }
    base = baseSiblings[ref];
    if (!base && refFile) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${ownFile}: service ${JSON.stringify(ref)} not found in ${refFile}`);
    if (!base) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${ownFile}: service ${JSON.stringify(ref)} not found`);
    const resolvedBase = resolveOne(ref, base, baseFile, baseBase, [...chain, [ownFile, name]], baseSiblings);
    const { extends: _, ...rest } = own;
    const merged = mergeService({ ...resolvedBase }, rest);
    delete merged.extends;
    if (ownFile === file) done.set(key, merged);
    return merged;
  };
  void doc;
  for (const [name, s] of Object.entries(services)) services[name] = resolveOne(name, s, file, baseDir, [], services);
}

/** Load a project and also say where it came from (working dir, files, environment, disabled services). */
export async function loadProjectDetails(opts: LoadOptions): Promise<LoadedProject> {
  const warn = opts.warn ?? ((m: string) => console.error(`WARN[0000] ${m}`));
  const workingDir = resolve(opts.workingDir);
  // node:os only when HOME is unset: loading it costs more than the rest of a small project's load.
  const home = opts.env.HOME || (await import("node:os")).homedir();
  // As compose-go's cli options: the .env of the working directory (--project-directory, else the first -f
  // file's directory, else the current directory) feeds the environment, which may name the files (COMPOSE_FILE).
  const given = opts.files?.length ? opts.files.map((f) => (f === "-" ? f : resolve(workingDir, f))) : [];
  const firstGiven = given.find((f) => f !== "-");
  const envDir = opts.projectDirectory ? resolve(workingDir, opts.projectDirectory) : firstGiven ? dirname(firstGiven) : workingDir;
  const dotenvDisabled = ["1", "t", "true"].includes((opts.env.COMPOSE_DISABLE_ENV_FILE ?? "").toLowerCase());
  const defaultDotenv = join(envDir, ".env");
  // --env-file, else COMPOSE_ENV_FILES (comma-separated), else the working directory's .env.
  const explicitEnvFiles = opts.envFiles?.length ? opts.envFiles : (opts.env.COMPOSE_ENV_FILES ?? "").split(",").filter(Boolean);
  const isFile = (f: string) => existsSync(f) && statSync(f).isFile();
  const envFiles = explicitEnvFiles.length ? explicitEnvFiles.map((f) => resolve(workingDir, f)) : !dotenvDisabled && isFile(defaultDotenv) ? [defaultDotenv] : [];
  const environment: Record<string, string> = { ...readEnvFiles(envFiles, opts.env), ...opts.env };
  if (environment.PWD === undefined) environment.PWD = workingDir;

  let files = given;
  if (!files.length && environment.COMPOSE_FILE) files = environment.COMPOSE_FILE.split(environment.COMPOSE_PATH_SEPARATOR || ":").map((f) => resolve(workingDir, f));
  if (!files.length) files = findComposeFiles(workingDir, warn);
  if (!files.length) throw new ComposeError("no configuration file provided: not found");
  const firstFile = files.find((f) => f !== "-");
  const projectDir = opts.projectDirectory ? resolve(workingDir, opts.projectDirectory) : firstFile ? dirname(firstFile) : workingDir;
  // As the docker compose CLI, the .env beside the files found is read too, for what is not set yet.
  const projectDotenv = join(projectDir, ".env");
  if (!explicitEnvFiles.length && !dotenvDisabled && projectDotenv !== defaultDotenv && isFile(projectDotenv)) {
    for (const [k, v] of Object.entries(readEnvFiles([projectDotenv], environment))) if (!(k in environment)) environment[k] = v;
  }

  // The project name: -p, then COMPOSE_PROJECT_NAME, then `name:`, then the project directory's name.
  let name = opts.projectName || environment.COMPOSE_PROJECT_NAME || "";
  if (name && normalizeProjectName(name) !== name) {
    throw new ComposeError(`invalid project name ${JSON.stringify(name)}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`);
  }
  const stdin = files.includes("-") ? (opts.stdin ? await new Response(opts.stdin).text() : await Bun.stdin.text()) : undefined;
  const ctx: Context = { env: environment, interpolate: opts.interpolate !== false, warn, warned: new Set(), home, stdin, parsed: new Map() };
  if (!name) {
    // As compose-go's projectName: the last `name:` of the files, interpolated and normalised, before the rest
    // is interpolated (which may use ${COMPOSE_PROJECT_NAME}); else the project directory's name.
    let fromFiles = "";
    for (const f of files) for (const d of parsedFile(f, ctx)) if (isObj(d) && typeof d.name === "string" && d.name) fromFiles = d.name;
    if (fromFiles && ctx.interpolate) fromFiles = String((interpolateIn({ name: fromFiles }, { ...ctx, warned: new Set(), warn: () => {} }) as Obj).name);
    name = opts.normalize === false ? fromFiles : normalizeProjectName(fromFiles);
  }
  if (!name) name = normalizeProjectName(basename(projectDir));
  if (!name) throw new ComposeError("project name must not be empty");
  environment.COMPOSE_PROJECT_NAME = name;
  const model = loadModel(files, projectDir, ctx, []);
  if (!Object.keys(model).length) throw new ComposeError("empty compose file");

  const profiles = opts.profiles?.length ? opts.profiles : environment.COMPOSE_PROFILES ? environment.COMPOSE_PROFILES.split(",").filter(Boolean) : [];
  const { project: loaded, disabled } = normalizeProject(model, {
    name,
    workingDir: projectDir,
    environment,
    profiles,
    services: opts.services ?? [],
    normalize: opts.normalize !== false,
    consistency: opts.interpolate !== false,
    discardEnvFiles: opts.discardEnvFiles === true,
    readEnvFile: (path, required, format) => {
      if (!existsSync(path)) {
        if (!required) return undefined;
        throw new ComposeError(`env file ${path} not found: stat ${path}: no such file or directory`);
      }
      if (format !== undefined && format !== "raw") throw new ComposeError(`unsupported env_file format ${JSON.stringify(format)}`);
      return readEnvFiles([path], environment, format);
    },
  });
  const project = opts.allResources ? loaded : withoutUnusedResources(loaded);
  return { project, meta: { workingDir: projectDir, composeFiles: files, environment, disabledServices: disabled, profiles } };
}
