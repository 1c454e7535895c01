/**
 * Engine error codes (finer than a kind) survive the API: the daemon sends only a status and moby's text,
 * and the client's decoder (src/api/errors.ts) gives back the code a command acts on (e.g. run pulls on
 * a missing image, never on a missing network).
 */
import { describe, expect, test } from "bun:test";
import { fromErrorResponse } from "../../src/api/errors.ts";
import { toErrorResponse } from "../../src/server/errors.ts";
import { EngineError, invalidParameter, noSuchContainer, noSuchImage, noSuchNetwork } from "../../src/engine/errors.ts";

const overTheWire = async (e: EngineError) => fromErrorResponse(toErrorResponse(e));

describe("error codes", () => {
  test("each code the engine sets comes back from the daemon's response", async () => {
    const platform = new EngineError("notFound", "image with reference busybox:latest was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)", { code: "imagePlatformMismatch" });
    for (const e of [noSuchImage("busybox:latest"), noSuchContainer("web"), noSuchNetwork("appnet"), platform]) {
      const back = await overTheWire(e);
      expect([back.kind, back.code, back.message]).toEqual([e.kind, e.code, e.message]);
    }
  });

  test("a message that only looks like one keeps no code when its status is not a 404", async () => {
    expect((await overTheWire(invalidParameter("No such image: x"))).code).toBeUndefined();
    expect((await overTheWire(new EngineError("notFound", "plugin \"x\" not found"))).code).toBeUndefined();
  });
});
