/**
 * Image references, parsed and printed exactly as github.com/distribution/reference does (normalize.go,
 * reference.go, regexp.go): Docker's CLI and daemon agree on these rules, so any divergence shows up as a
 * different error text or a different repository name in `docker images`.
 */
import { EngineError } from "../errors.ts";

/** A parsed, normalized reference: `domain/path[:tag][@digest]`. */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

/** Docker Hub's canonical domain and its legacy alias (both normalize to docker.io). */
export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar, transcribed from regexp.go. JS backtracking finds the same leftmost-first matches as Go's RE2
// for these anchored patterns.
const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const optionalPort = "(?::[0-9]+)?";
const tagPat = "[\\w][\\w.-]{0,127}";
const digestPat = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
/** A valid tag (for `docker tag`, `pull --all-tags` results). */
export const TAG_REGEXP = new RegExp(`^${tagPat}$`);

const invalid = (msg: string) => new EngineError("invalidParameter", msg);

/** Parses as Docker does (docker.io default, library/ prefix, localhost, host:port, tag, digest); throws EngineError("invalidParameter") with Docker's message. */
export function parseReference(s: string): Reference {
  // ParseNormalizedNamed
  if (anchoredIdentifierRegexp.test(s)) throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(":");
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  return parse(`${domain}/${remainder}`);
}

/** reference.Parse: the strict grammar, no normalization. */
function parse(s: string): Reference {
  if (s === "") throw invalid("repository name must have at least one component");
  const m = referenceRegexp.exec(s);
  if (!m) {
    const lower = s.toLowerCase();
    if (lower !== s && referenceRegexp.test(lower)) throw invalid("repository name must be lowercase");
    throw invalid("invalid reference format");
  }
  const nm = anchoredNameRegexp.exec(m[1]!);
  const domain = nm?.[1] ?? "";
  const path = nm ? nm[2]! : m[1]!;
  if (path.length > NAME_TOTAL_LENGTH_MAX) throw invalid(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  const ref: Reference = { domain, path };
  if (m[2]) ref.tag = m[2];
  if (m[3]) ref.digest = validateDigest(m[3]);
  return ref;
}

/** go-digest's Parse/Validate: only the registered algorithms, with their exact lengths. */
function validateDigest(d: string): string {
  const i = d.indexOf(":");
  const alg = d.slice(0, i);
  const enc = d.slice(i + 1);
  const sizes: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  const size = sizes[alg];
  if (size === undefined) throw invalid("unsupported digest algorithm");
  if (enc.length !== size) throw invalid("invalid checksum digest length");
  if (!/^[a-f0-9]+$/.test(enc)) throw invalid("invalid checksum digest format");
  return d;
}

/** splitDockerDomain from normalize.go. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf("/");
  // A single element ("ubuntu", "ubuntu:latest") is always a Docker Hub official image, never "host:port".
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain = maybeDomain;
  let remote = maybeRemote;
  if (maybeDomain === "localhost") {
    // localhost is a reserved namespace and always a domain.
  } else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) {
    domain = DEFAULT_DOMAIN;
  } else if (!/[.:]/.test(maybeDomain) && maybeDomain.toLowerCase() === maybeDomain) {
    // Neither a dotted name, an IP, a port nor uppercase (which no path may contain): a Hub namespace.
    [domain, remote] = [DEFAULT_DOMAIN, name];
  }
  if (domain === DEFAULT_DOMAIN && !remote.includes("/")) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/** Adds "latest" when the reference has neither tag nor digest (TagNameOnly). */
export function withDefaultTag(r: Reference): Reference {
  return r.tag === undefined && r.digest === undefined ? { ...r, tag: DEFAULT_TAG } : r;
}

/** "ubuntu", "user/app", "127.0.0.1:5000/a/b": the name as Docker's UI shows it. */
export function familiarName(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return r.domain ? `${r.domain}/${r.path}` : r.path;
  if (r.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = r.path.slice(OFFICIAL_REPO_PREFIX.length);
    // library/a/b stays as is: only single-component official names are shortened.
    if (!rest.includes("/")) return rest;
  }
  return r.path;
}

function suffix(r: Reference): string {
  return (r.tag !== undefined ? `:${r.tag}` : "") + (r.digest !== undefined ? `@${r.digest}` : "");
}

/** "ubuntu:latest", "ubuntu@sha256:...": familiar name plus tag and/or digest. */
export function familiarString(r: Reference): string {
  return familiarName(r) + suffix(r);
}

/** "docker.io/library/ubuntu:latest": the fully qualified reference (what moby's ref.String() prints). */
export function canonicalString(r: Reference): string {
  return repositoryName(r) + suffix(r);
}

/** "docker.io/library/ubuntu": domain and path without tag or digest. */
export function repositoryName(r: Reference): string {
  return r.domain ? `${r.domain}/${r.path}` : r.path;
}

/**
 * Docker's normalisation (domain, library/ prefix, default tag) by string operations alone, for a name that
 * already passed parseReference once (a container's image): listings then need not run the grammar's
 * regexes. Equal to parseReference + withDefaultTag for valid names (tests/unit/reference.test.ts).
 */
export function normalizeValidated(name: string): Reference {
  const at = name.indexOf("@");
  const digest = at < 0 ? undefined : name.slice(at + 1);
  let path = at < 0 ? name : name.slice(0, at);
  const colon = path.lastIndexOf(":");
  const tag = colon > path.lastIndexOf("/") ? path.slice(colon + 1) : undefined;
  if (tag !== undefined) path = path.slice(0, colon);
  const slash = path.indexOf("/");
  const first = slash < 0 ? "" : path.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  let domain = hasDomain ? first : DEFAULT_DOMAIN;
  let rest = hasDomain ? path.slice(slash + 1) : path;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes("/")) rest = `${OFFICIAL_REPO_PREFIX}${rest}`;
  return { domain, path: rest, ...(tag !== undefined || digest === undefined ? { tag: tag ?? "latest" } : {}), ...(digest !== undefined ? { digest } : {}) };
}
