/**
 * HTTP/1.1 wire format for the daemon: request heads, chunked bodies and response heads. Pure functions
 * and small state machines over bytes, no sockets: server.ts drives them. Bun.serve cannot hand a
 * connection over for Docker's attach/exec hijack, so the daemon speaks HTTP/1.1 itself on Bun.listen.
 * Parsing is strict where leniency enables request smuggling (CL + TE, spaces before colons, folded
 * lines) and lenient where real clients differ (bare LF line ends, header case).
 */

/** A protocol error: the status to answer with before closing the connection. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A parsed request line and header block. */
export interface RequestHead {
  method: string;
  /** The request target as sent ("/v1.50/images/json?all=1"); absolute-form is reduced to path + query. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Header names lowercased, in order; repeated headers stay separate. */
  headers: [string, string][];
  /** Body length when Content-Length framed; null when chunked or absent. */
  contentLength: number | null;
  chunked: boolean;
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
  expectContinue: boolean;
  /** The Upgrade header ("tcp" from the docker CLI's attach/exec), or null. */
  upgrade: string | null;
}

/** RFC 9110 token characters: methods and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Header values: visible ASCII, obs-text, space and tab; no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Finds the end of the header block in `buf` starting the scan at `from`: returns [headEnd, bodyStart]
 * (headEnd excludes the blank line), or null when the block is not complete yet. Accepts CRLF and bare LF.
 */
export function findHeadEnd(buf: Uint8Array, from = 0): [number, number] | null {
  for (let i = Math.max(0, from); i < buf.length; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i + 1] === 10) return [i, i + 2];
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return [i, i + 3];
  }
  return null;
}

const latin1 = new TextDecoder("latin1");

/** Parses a request head (the bytes before the blank line). Throws HttpError 400/501/505. */
export function parseHead(bytes: Uint8Array): RequestHead {
  const text = latin1.decode(bytes);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
  while (lines.length && lines[0] === "") lines.shift();
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) throw new HttpError(400, "malformed HTTP request line");
  const [method, rawTarget, proto] = parts as [string, string, string];
  if (!TOKEN.test(method)) throw new HttpError(400, "malformed HTTP method");
  const pm = /^HTTP\/1\.([0-9])$/.exec(proto);
  if (!pm) {
    if (/^HTTP\/[0-9]/.test(proto)) throw new HttpError(505, "unsupported HTTP version");
    throw new HttpError(400, "malformed HTTP version");
  }
  const minor = pm[1] === "0" ? 0 : 1;
  const target = requestTarget(rawTarget, method);

  const headers: [string, string][] = [];
  for (const line of lines) {
    if (line === "") continue;
    if (line[0] === " " || line[0] === "\t") throw new HttpError(400, "obsolete line folding is not supported");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "malformed MIME header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, `invalid header name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, `invalid header value for ${name}`);
    headers.push([name.toLowerCase(), value]);
  }

  let contentLength: number | null = null;
  let chunked = false;
  let connection = "";
  let expectContinue = false;
  let upgrade: string | null = null;
  let sawTE = false;
  for (const [name, value] of headers) {
    switch (name) {
      case "content-length": {
        // Repeated identical values are tolerated (RFC 9110 §8.6); different ones are an attack or a bug.
        for (const v of value.split(",").map((s) => s.trim())) {
          if (!/^[0-9]{1,15}$/.test(v)) throw new HttpError(400, `bad Content-Length ${JSON.stringify(value)}`);
          const n = Number(v);
          if (contentLength !== null && contentLength !== n) throw new HttpError(400, "conflicting Content-Length headers");
          contentLength = n;
        }
        break;
      }
      case "transfer-encoding": {
        sawTE = true;
        const codings = value.toLowerCase().split(",").map((s) => s.trim()).filter(Boolean);
        if (codings.length !== 1 || codings[0] !== "chunked") throw new HttpError(501, `unsupported transfer encoding: ${JSON.stringify(value)}`);
        if (chunked) throw new HttpError(400, "repeated Transfer-Encoding header");
        chunked = true;
        break;
      }
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        if (value.toLowerCase() === "100-continue") expectContinue = true;
        break;
      case "upgrade":
        upgrade = value;
        break;
    }
  }
  if (sawTE && contentLength !== null) throw new HttpError(400, "both Transfer-Encoding and Content-Length");
  if (sawTE && minor === 0) throw new HttpError(400, "Transfer-Encoding with HTTP/1.0");
  const tokens = connection.split(",").map((s) => s.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return { method, target, minor, headers, contentLength: chunked ? null : contentLength, chunked, keepAlive, expectContinue, upgrade };
}

/** origin-form as is; absolute-form ("http://host/p?q") reduced to "/p?q"; "*" only for OPTIONS. */
function requestTarget(t: string, method: string): string {
  if (t.startsWith("/")) {
    if (/[\x00-\x20\x7f]/.test(t)) throw new HttpError(400, "malformed request target");
    return t;
  }
  if (t === "*" && method === "OPTIONS") return "*";
  if (/^https?:\/\//i.test(t)) {
    try {
      const u = new URL(t);
      return u.pathname + u.search;
    } catch {}
  }
  throw new HttpError(400, "malformed request target");
}

/**
 * Decodes a chunked body incrementally. push() consumes bytes and returns how many it used (it stops at
 * the end of the body, leaving the next pipelined request's bytes unread); data chunks go to `onData`.
 */
export class ChunkedDecoder {
  private state: "size" | "data" | "dataEnd" | "trailer" | "done" = "size";
  private remaining = 0;
  private line = "";
  /** Total decoded body bytes so far. */
  total = 0;

  constructor(
    private readonly onData: (chunk: Uint8Array) => void,
    private readonly maxLine = 8192,
  ) {}

  get done(): boolean {
    return this.state === "done";
  }

  push(buf: Uint8Array): number {
    let i = 0;
    while (i < buf.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.remaining, buf.length - i);
        this.onData(buf.subarray(i, i + n));
        this.total += n;
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = "dataEnd";
        continue;
      }
      // Line-oriented states: size line, CRLF after data, trailer lines.
      const nl = buf.indexOf(10, i);
      const end = nl < 0 ? buf.length : nl;
      this.line += latin1.decode(buf.subarray(i, end));
      if (this.line.length > this.maxLine) throw new HttpError(400, "chunk header line too long");
      if (nl < 0) return buf.length;
      i = nl + 1;
      const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
      this.line = "";
      if (this.state === "size") {
        const m = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw new HttpError(400, "malformed chunk size");
        this.remaining = parseInt(m[1]!, 16);
        this.state = this.remaining === 0 ? "trailer" : "data";
      } else if (this.state === "dataEnd") {
        if (line !== "") throw new HttpError(400, "malformed chunk: missing CRLF after data");
        this.state = "size";
      } else if (line === "") {
        this.state = "done";
      }
    }
    return i;
  }
}

/** Reason phrases for the statuses the daemon sends. */
export const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Request Entity Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n". */
export function responseHead(status: number, headers: Iterable<[string, string]>, reason = STATUS_TEXT[status] ?? "Unknown"): string {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

/** One chunk of a chunked response, as a single buffer (one write, one packet for small messages). */
export function encodeChunk(data: Uint8Array): Uint8Array {
  const head = `${data.length.toString(16)}\r\n`;
  const out = new Uint8Array(head.length + data.length + 2);
  for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
  out.set(data, head.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/** The terminating chunk of a chunked body. */
export const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

/** Statuses whose responses never carry a body (RFC 9110). */
export function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}
