/**
 * The one place where errors become HTTP answers and back: EngineError.kind ↔ status (moby's
 * api/server/httpstatus), and the `{"message": ...}` body with Content-Type exactly `application/json`
 * (the docker CLI compares the header string; a charset suffix makes it print the raw JSON).
 */
import { EngineError, type ErrorKind } from "../engine/errors.ts";

const kindOfStatus: Record<number, ErrorKind> = {
  400: "invalidParameter",
  401: "unauthorized",
  403: "forbidden",
  404: "notFound",
  409: "conflict",
  304: "notModified",
  501: "notImplemented",
  503: "unavailable",
  500: "system",
};

/** The HTTP status for any thrown value. */
export function statusOf(e: unknown): number {
  if (e instanceof EngineError) return e.status;
  // Request bodies that are not JSON, or JSON of the wrong shape: the client's fault (moby: invalid parameter).
  if (e instanceof SyntaxError) return 400;
  if (e instanceof TypeError && /JSON|body/i.test(e.message)) return 400;
  return 500;
}

/** The message clients print after "Error response from daemon: ". */
export function messageOf(e: unknown): string {
  if (e instanceof SyntaxError) return `invalid JSON: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** A JSON error response, `{"message": ...}`; 304 has no body. */
export function errorResponse(status: number, message: string): Response {
  if (status === 304) return new Response(null, { status });
  const body = JSON.stringify({ message }) + "\n";
  return new Response(body, { status, headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } });
}

/** The response for a thrown value. */
export function toErrorResponse(e: unknown): Response {
  return errorResponse(statusOf(e), messageOf(e));
}

/** The client side: an error response back into an EngineError of the same kind and message. */
export async function fromErrorResponse(res: Response, route = ""): Promise<EngineError> {
  const text = await res.text().catch(() => "");
  let message = text.trim();
  if (res.headers.get("content-type") === "application/json") {
    try {
      const m = (JSON.parse(text) as { message?: unknown }).message;
      if (typeof m === "string") message = m;
    } catch {}
  }
  if (!message) message = `request returned ${res.statusText || res.status} for API route and version ${route}, check if the server supports the requested API version`;
  return new EngineError(kindOfStatus[res.status] ?? (res.status >= 500 ? "system" : "invalidParameter"), message);
}
