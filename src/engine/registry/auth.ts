/**
 * Registry authentication as distribution's client does it (registry/client/auth): parse the
 * WWW-Authenticate challenge from the /v2/ ping, then either send Basic credentials or trade them (or
 * nothing, for anonymous pulls) for a bearer token per scope. Also the registry error model
 * (errcode.Error, HandleErrorResponse) since token endpoints answer with the same error bodies.
 */
import { EngineError, type ErrorKind } from "../errors.ts";
import type { Credentials } from "./credentials.ts";

/** One authentication challenge: lower-cased scheme and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a WWW-Authenticate header value into challenges. Accepts several challenges in one value, since
 * fetch joins repeated headers with ", " (`Bearer realm="a",scope="x,y", Basic realm="b"`).
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TCHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    while (i < n && (header[i] === " " || header[i] === "\t" || header[i] === ",")) i++;
    const scheme = token();
    if (!scheme) break;
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      const save = i;
      skipWs();
      const name = token();
      skipWs();
      if (!name || header[i] !== "=") {
        // Not "name=": either the end, or the next challenge's scheme.
        i = save;
        break;
      }
      i++;
      skipWs();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i++];
        }
        i++;
      } else {
        value = token();
      }
      ch.params[name.toLowerCase()] = value;
      skipWs();
      if (header[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    if (i < n && header[i] !== "," && header[i] !== " ") i++; // garbage: skip a char rather than loop forever
  }
  return out;
}

/** An error from (or on the way to) a registry, with moby's error kind and message. */
export class RegistryError extends EngineError {
  constructor(
    kind: ErrorKind,
    message: string,
    /** The registry's HTTP status; 0 when no response was received. */
    readonly httpStatus: number,
    /** OCI error codes from the body, e.g. MANIFEST_UNKNOWN. */
    readonly codes: string[] = [],
    /** Worth retrying: 5xx, 429 or a failed/dropped connection. */
    readonly temporary = false,
    options?: { cause?: unknown },
  ) {
    super(kind, message, options);
    this.name = "RegistryError";
  }
}

/** One entry of a registry error body. */
export interface ErrCode {
  code: string;
  message: string;
}

/** errcode.ErrorCode.Error(): "MANIFEST_UNKNOWN" → "manifest unknown". */
export function codeText(code: string): string {
  return code.replace(/_/g, " ").toLowerCase();
}

/** Default messages of distribution's registered error codes (used when a body or challenge gives none). */
const DEFAULT_MESSAGES: Record<string, string> = {
  UNAUTHORIZED: "authentication required",
  DENIED: "requested access to the resource is denied",
  UNSUPPORTED: "The operation is unsupported.",
  TOOMANYREQUESTS: "too many requests",
  UNKNOWN: "unknown error",
  MANIFEST_UNKNOWN: "manifest unknown",
  NAME_UNKNOWN: "repository name not known to registry",
  BLOB_UNKNOWN: "blob unknown to registry",
};

/** Go's http.StatusText for the statuses a registry answers with. */
export function statusText(status: number): string {
  const t: Record<number, string> = {
    200: "OK", 206: "Partial Content", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 416: "Requested Range Not Satisfiable",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
  };
  return t[status] ?? "";
}

/** The parsed error of a failed registry response: message as distribution's HandleErrorResponse renders it. */
export interface ParsedError {
  errors: ErrCode[];
  message: string;
}

/**
 * HandleErrorResponse: bearer `error=` challenge parameters first (insufficient_scope → DENIED), then the
 * JSON body (`{"errors":[...]}` or the legacy `{"details":"..."}`), then "unexpected HTTP status".
 */
export function parseErrorResponse(status: number, headers: Headers, body: string): ParsedError {
  const errors: ErrCode[] = [];
  if (status >= 400 && status < 500) {
    for (const c of parseChallenges(headers.get("www-authenticate") ?? "")) {
      if (c.scheme !== "bearer") continue;
      const code = c.params.error === "invalid_token" ? "UNAUTHORIZED" : c.params.error === "insufficient_scope" ? "DENIED" : undefined;
      if (!code) continue;
      errors.push({ code, message: escapeControls(c.params.error_description || DEFAULT_MESSAGES[code]!) });
      break;
    }
  } else {
    return { errors, message: `received unexpected HTTP status: ${status} ${statusText(status)}` };
  }
  let parsed: unknown;
  let parseErr = "";
  try {
    parsed = JSON.parse(body);
  } catch {
    parseErr = body.trim() === "" ? "unexpected end of JSON input" : `invalid character '${escapeControls(body.trim()[0]!)}' looking for beginning of value`;
  }
  const details = (parsed as { details?: unknown } | undefined)?.details;
  if (typeof details === "string" && details) {
    errors.push({ code: status === 401 ? "UNAUTHORIZED" : status === 429 ? "TOOMANYREQUESTS" : "UNKNOWN", message: escapeControls(details) });
  } else if (Array.isArray((parsed as { errors?: unknown } | undefined)?.errors) && (parsed as { errors: unknown[] }).errors.length > 0) {
    for (const e of (parsed as { errors: { code?: string; message?: string }[] }).errors) {
      const code = escapeControls(String(e.code ?? "UNKNOWN").toUpperCase()).slice(0, 100);
      errors.push({ code, message: escapeControls(String(e.message ?? DEFAULT_MESSAGES[code] ?? "")) });
    }
  } else if (errors.length === 0) {
    if (status === 401) errors.push({ code: "UNAUTHORIZED", message: DEFAULT_MESSAGES.UNAUTHORIZED! });
    else {
      const why = parseErr || "no error details found in HTTP response body";
      return { errors, message: `error parsing HTTP ${status} response body: ${why}: ${escapeControls(JSON.stringify(body))}` };
    }
  }
  // errcode.Errors.Error(): one error prints alone, several as a list.
  const one = (e: ErrCode) => `${codeText(e.code)}: ${e.message}`;
  const message = errors.length === 1 ? one(errors[0]!) : `errors:\n${errors.map((e) => one(e) + "\n").join("")}`;
  return { errors, message };
}

/** A cached bearer token. */
interface Token {
  token: string;
  expires: number;
}

/** Minimum token lifetime distribution assumes when the server says less (or nothing). */
const MIN_TOKEN_LIFETIME_S = 60;

/**
 * Bearer tokens per (realm, service, scope, user), shared by all requests of one client, so concurrent
 * layer downloads ask the token server once.
 */
export class TokenCache {
  private tokens = new Map<string, Promise<Token>>();

  constructor(private readonly fetchImpl: typeof fetch) {}

  /** A token for `scope` (one, or several: a push asks for its repository and a mount source) from the challenge's realm; anonymous when `creds` is undefined. `what` is the "Get \"url\"" prefix for errors. */
  async get(challenge: Challenge, scope: string | string[], creds: Credentials | undefined, what: string): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError("system", `${what}: no realm specified for token auth challenge`, 0);
    const service = challenge.params.service ?? "";
    const key = JSON.stringify([realm, service, scope, creds?.username ?? ""]);
    const hit = this.tokens.get(key);
    if (hit) {
      try {
        const t = await hit;
        if (t.expires > Date.now()) return t.token;
      } catch {
        // A failed fetch is not cached: fall through and ask again.
      }
    }
    const p = this.fetchToken(realm, service, scope, creds, what);
    this.tokens.set(key, p);
    p.catch(() => this.tokens.get(key) === p && this.tokens.delete(key));
    return (await p).token;
  }

  /** Forgets a token the registry rejected (expired early or revoked). */
  invalidate(): void {
    this.tokens.clear();
  }

  private async fetchToken(realm: string, service: string, scope: string | string[], creds: Credentials | undefined, what: string): Promise<Token> {
    const url = httpUrl(realm, `${what}: token realm`);
    if (service) url.searchParams.set("service", service);
    for (const one of [scope].flat()) if (one) url.searchParams.append("scope", one);
    const headers: Record<string, string> = {};
    if (creds) {
      // As dockerd does with credentials: ask for an offline token for client "docker", naming the account.
      url.searchParams.set("account", creds.username);
      url.searchParams.set("client_id", "docker");
      url.searchParams.set("offline_token", "true");
      headers.authorization = basicAuth(creds);
    }
    const res = await fetchFollowing(this.fetchImpl, "GET", url, headers, what);
    const body = new TextDecoder().decode(await readCapped(res, res.status === 200 ? MAX_TOKEN_BYTES : MAX_ERROR_BYTES, "token response", what, res.status !== 200));
    if (res.status !== 200) {
      const p = parseErrorResponse(res.status, res.headers, body);
      const kind: ErrorKind = res.status === 401 ? "unauthorized" : "system";
      throw new RegistryError(kind, `${what}: ${p.message}`, res.status, p.errors.map((e) => e.code), res.status >= 500 || res.status === 429);
    }
    let j: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      j = JSON.parse(body);
    } catch (e) {
      throw new RegistryError("system", `${what}: unable to decode token response: ${escapeControls((e as Error).message)}`, res.status);
    }
    const token = j?.access_token || j?.token;
    if (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token)) throw new RegistryError("system", `${what}: authorization server did not include a token in the response`, res.status);
    const lifetime = Math.max(j.expires_in ?? 0, MIN_TOKEN_LIFETIME_S);
    const issued = j.issued_at ? Date.parse(j.issued_at) : NaN;
    // Renew a little early so a token never expires between our check and the registry's.
    const base = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
    return { token, expires: base + lifetime * 1000 - 5000 };
  }
}

/** "Basic base64(user:pass)". */
export function basicAuth(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/** `repository:<path>:pull`, the scope dockerd asks for when pulling. */
export function pullScope(path: string): string {
  return `repository:${path}:pull`;
}

/** `repository:<path>:push,pull`, the scope dockerd asks for when pushing. */
export function pushScope(path: string): string {
  return `repository:${path}:push,pull`;
}

/**
 * A failed request as Go's net/http reports it: `Get "url": dial tcp 127.0.0.1:5999: connect: connection refused`.
 * Always temporary (a retry may succeed), kind "system" as moby's errdefs.Unknown maps it.
 */
export function transportError(what: string, e: unknown): RegistryError {
  if (e instanceof RegistryError) return e;
  return new RegistryError("system", `${what}: ${describeTransport(what, e)}`, 0, [], true, { cause: e });
}

function describeTransport(what: string, e: unknown): string {
  const err = e as { code?: string; message?: string };
  const m = /"(https?:\/\/[^"]+)"/.exec(what);
  let hostport = "";
  if (m) {
    const u = new URL(m[1]!);
    hostport = `${u.hostname.replace(/^\[|\]$/g, "")}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
    if (u.hostname.startsWith("[")) hostport = `[${u.hostname.slice(1, -1)}]:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  }
  switch (err.code) {
    case "ConnectionRefused":
    case "ECONNREFUSED":
      return `dial tcp ${hostport}: connect: connection refused`;
    case "ECONNRESET":
    case "ConnectionClosed":
      return "read: connection reset by peer";
    case "ENOTFOUND":
    case "DNSException":
      return `dial tcp: lookup ${hostport.replace(/:\d+$/, "")}: no such host`;
    case "ETIMEDOUT":
    case "ConnectionTimeout":
      return `dial tcp ${hostport}: i/o timeout`;
    default:
      return err.message ?? String(e);
  }
}

/** Caps on bodies read whole, counted in decoded bytes (fetch undoes Content-Encoding, so a gzip bomb counts as what it expands to). */
export const MAX_MANIFEST_BYTES = 4 << 20; // containerd's limit for manifests and indexes
/** An image config is read whole and kept in the database. */
export const MAX_CONFIG_BYTES = 8 << 20;
/** A token server's answer: a JWT and a few fields. */
export const MAX_TOKEN_BYTES = 1 << 20;
/** An error body: only its message is used. */
export const MAX_ERROR_BYTES = 64 << 10;
/** One page of a tags list. */
export const MAX_TAGS_PAGE_BYTES = 4 << 20;

/**
 * Reads a body whole, at most `limit` bytes after decoding. Over the limit: an error naming it, or with
 * `truncate` (error bodies, whose first bytes are enough) the first `limit` bytes.
 */
export async function readCapped(res: Response, limit: number, label: string, what: string, truncate = false): Promise<Uint8Array> {
  const over = () => new RegistryError("system", `${what}: ${label} exceeds the limit of ${limit} bytes`, res.status);
  // Content-Length counts encoded bytes: a large one is refused at once, a small one proves nothing.
  if (!truncate && !res.headers.get("content-encoding") && Number(res.headers.get("content-length") ?? 0) > limit) {
    await res.body?.cancel().catch(() => {});
    throw over();
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > limit) {
        await reader.cancel().catch(() => {});
        if (!truncate) throw over();
        parts.push(value.subarray(0, limit - n));
        n = limit;
        break;
      }
      parts.push(value);
      n += value.length;
    }
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    throw transportError(what, e);
  }
  return parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts));
}

/** A URL from a registry (realm, redirect, Link), parsed; only http: and https: are ever fetched. */
export function httpUrl(s: string, what: string, base?: string | URL): URL {
  let u: URL;
  try {
    u = new URL(s, base);
  } catch {
    throw new RegistryError("system", `${what}: invalid URL ${escapeControls(JSON.stringify(s.slice(0, 200)))}`, 0);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new RegistryError("system", `${what}: unsupported protocol scheme ${escapeControls(JSON.stringify(u.protocol.slice(0, -1).slice(0, 40)))}`, 0);
  return u;
}

/**
 * fetch with redirects followed by hand: only to http(s) URLs, at most 10, and the Authorization header is
 * dropped as soon as the host changes (blob URLs redirect to CDNs, which must not see registry credentials).
 */
export async function fetchFollowing(fetchImpl: typeof fetch, method: string, url: string | URL, headers: Record<string, string>, what: string, body?: Uint8Array): Promise<Response> {
  let current = httpUrl(String(url), what);
  const h = { ...headers };
  for (let hops = 0; hops < 10; hops++) {
    let res: Response;
    try {
      res = await fetchImpl(current, { method, headers: h, redirect: "manual", ...(body ? { body } : {}) });
    } catch (e) {
      throw transportError(what, e);
    }
    const loc = res.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(res.status) || !loc) return res;
    await res.body?.cancel().catch(() => {});
    const next = httpUrl(loc, `${what}: redirect`, current);
    if (next.host !== current.host || next.protocol !== current.protocol) delete h.authorization;
    current = next;
  }
  throw new RegistryError("system", `${what}: stopped after 10 redirects`, 0);
}

/** Text from a registry made safe for a terminal: C0 and C1 control characters (newlines too) become \u escapes. */
export function escapeControls(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
