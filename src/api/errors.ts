/**
 * The client side of the API's errors: an error response back into an EngineError of the kind its
 * HTTP status stands for (moby's api/server/httpstatus, read backwards), and of the code its message
 * stands for (the API carries only a status and moby's text, so this is the one place that reads it).
 */
import { EngineError, type ErrorCode, type ErrorKind } from "../engine/errors.ts";

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

/** moby's texts of the 404s a client acts on. */
const codeOfMessage: [RegExp, ErrorCode][] = [
  [/^No such image: /, "noSuchImage"],
  [/^image with reference .* was found but its platform /, "imagePlatformMismatch"],
  [/^No such container: /, "noSuchContainer"],
  [/^network .* not found$/, "noSuchNetwork"],
];

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
  const kind = kindOfStatus[res.status] ?? (res.status >= 500 ? "system" : "invalidParameter");
  const code = kind === "notFound" ? codeOfMessage.find(([re]) => re.test(message))?.[1] : undefined;
  return new EngineError(kind, message, code ? { code } : undefined);
}
