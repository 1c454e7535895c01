/** The API client over both transports: in-process handler and a real unix socket; ping, JSON, errors, streams. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApi } from "../../src/server/app.ts";
import { ApiClient, resolveDaemon } from "../../src/api/client.ts";
import { serve } from "../../src/server/server.ts";
import { loadConfig } from "../../src/engine/config.ts";
import { Engine } from "../../src/engine/engine.ts";
import { EngineError } from "../../src/engine/errors.ts";
import { eventsOf } from "../../src/engine/events.ts";

const engine = new Engine(loadConfig({}));
const api = createApi(engine);
const dir = mkdtempSync(join(tmpdir(), "bunker-api-client-"));
const server = serve(api, [{ unix: join(dir, "d.sock") }]);
afterAll(async () => {
  await server.close(100);
  engine.close();
  rmSync(dir, { recursive: true, force: true });
});

for (const [name, make] of [
  ["in-process", () => new ApiClient({ fetch: api.fetch })],
  ["unix socket", () => new ApiClient({ host: `unix://${join(dir, "d.sock")}` })],
] as const) {
  describe(name, () => {
    test("ping reads the daemon's headers", async () => {
      expect(await make().ping()).toEqual({ apiVersion: "1.50", osType: "linux", experimental: false, builderVersion: "1" });
    });
    test("JSON answers and EngineErrors with the daemon's kind and message", async () => {
      const c = make();
      expect((await c.json<{ ApiVersion: string }>("GET", "/version")).ApiVersion).toBe("1.50");
      expect(await c.json("GET", "/images/json", { query: { all: true } })).toEqual([]);
      const e = (await c.json("GET", "/images/nope/json").catch((x) => x)) as EngineError;
      expect(e).toBeInstanceOf(EngineError);
      expect(e.kind).toBe("notFound");
      expect(e.message).toBe("No such image: nope:latest");
    });
    test("streams message by message", async () => {
      const c = make();
      // `until` is whole seconds: +2 leaves at least a second for the event published 20 ms from now (with +1
      // the second could end first, and the stream with it, when the test started late in a second).
      const until = Math.floor(Date.now() / 1000) + 2;
      const res = await c.request("GET", "/events", { query: { until } });
      setTimeout(() => eventsOf(engine).publish("image", "tag", `sha256:${"d".repeat(64)}`, { name: "x:y" }), 20);
      const got = [];
      for await (const m of c.messages<{ Action: string }>(res)) got.push(m.Action);
      expect(got).toContain("tag");
    });
  });
}

test("resolveDaemon: -H and BUNKER_HOST pick a daemon; nothing given and no default socket → in-process", async () => {
  const c = await resolveDaemon({ host: `unix://${join(dir, "d.sock")}`, env: {} });
  expect((await c!.ping()).apiVersion).toBe("1.50");
  expect(await resolveDaemon({ env: { BUNKER_HOST: `unix://${join(dir, "d.sock")}` } })).toBeInstanceOf(ApiClient);
});
