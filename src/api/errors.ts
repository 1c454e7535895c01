/**
 * The client side of the API's errors: an error response back into an EngineError of the kind its
 * HTTP status stands for (moby's api/server/httpstatus, read backwards).
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

/** An error response back into an EngineError of the same kind and message. */
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
