/**
 * The one place where errors become HTTP answers: EngineError.kind → status (moby's
 * api/server/httpstatus), and the `{"message": ...}` body with Content-Type exactly `application/json`
 * (the docker CLI compares the header string; a charset suffix makes it print the raw JSON).
 */
import { EngineError } from "../engine/errors.ts";

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
