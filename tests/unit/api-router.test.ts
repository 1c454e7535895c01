/**
 * The API as a fetch handler (no socket): version prefixes and moby's version texts, common headers,
 * 404s, greedy image names, query booleans and filter encodings, the error ↔ status round trip,
 * X-Registry-Auth decoding, events, and the unsupported-endpoint table against docs/api.md.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createApi } from "../../src/server/app.ts";
import { fromErrorResponse } from "../../src/api/errors.ts";
import { toErrorResponse } from "../../src/server/errors.ts";
import { boolParam, parseFilters, timeParam } from "../../src/server/query.ts";
import { compareVersions, Router } from "../../src/server/router.ts";
import { decodeRegistryAuth } from "../../src/server/routes/images.ts";
import { UNSUPPORTED } from "../../src/server/routes/fallback.ts";
import { loadConfig } from "../../src/engine/config.ts";
import { Engine } from "../../src/engine/engine.ts";
import { EngineError, type ErrorKind } from "../../src/engine/errors.ts";
import { eventJson, eventsOf, matchesEvent } from "../../src/engine/events.ts";

const engine = new Engine(loadConfig({}));
const api = createApi(engine);
afterAll(() => engine.close());

const call = (path: string, init: RequestInit = {}) => api.fetch(new Request(`http://localhost${path}`, init));
const body = async (r: Response) => JSON.parse(await r.text());

describe("versions and headers", () => {
  test("every route unversioned and under /v1.24 … /v1.50", async () => {
    for (const p of ["/_ping", "/v1.24/_ping", "/v1.41/_ping", "/v1.50/_ping"]) expect((await call(p)).status).toBe(200);
  });
  test("moby's texts outside the range; numeric comparison", async () => {
    const old = await call("/v1.23/version");
    expect(old.status).toBe(400);
    expect(await body(old)).toEqual({ message: "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version" });
    const neu = await call("/v1.51/version");
    expect(await body(neu)).toEqual({ message: "client version 1.51 is too new. Maximum supported API version is 1.50" });
    expect((await call("/v1.5/version")).status).toBe(400);
    expect(compareVersions("1.9", "1.24")).toBe(-1);
    expect(compareVersions("1.50", "1.50.0")).toBe(0);
    expect((await call("/vx/_ping")).status).toBe(404);
  });
  test("common headers on successes, errors and 404s; error Content-Type exactly application/json", async () => {
    for (const r of [await call("/_ping"), await call("/nope"), await call("/images/nope/json"), await call("/v1.99/_ping")]) {
      expect(r.headers.get("api-version")).toBe("1.50");
      expect(r.headers.get("ostype")).toBe("linux");
      expect(r.headers.get("docker-experimental")).toBe("false");
      expect(r.headers.get("server")).toMatch(/^Bunker\/\S+ \(linux\)$/);
      if (r.status >= 400) expect(r.headers.get("content-type")).toBe("application/json");
    }
  });
  test("_ping: GET says OK, HEAD has no body and Content-Length 0, with the headers clients read", async () => {
    const g = await call("/_ping");
    expect(await g.text()).toBe("OK");
    const h = await call("/_ping", { method: "HEAD" });
    expect(h.headers.get("content-length")).toBe("0");
    expect(h.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(h.headers.get("swarm")).toBe("inactive");
    expect(h.headers.get("cache-control")).toBe("no-cache, no-store, must-revalidate");
    expect(h.body).toBeNull();
  });
  test("unknown routes and methods: 404 page not found; HEAD errors have no body; OPTIONS 200", async () => {
    expect(await body(await call("/foo/bar"))).toEqual({ message: "page not found" });
    expect(await body(await call("/_ping", { method: "DELETE" }))).toEqual({ message: "page not found" });
    const h = await call("/images/nope/json", { method: "HEAD" });
    expect(h.status).toBe(404);
    expect(h.body).toBeNull();
    expect((await call("/anything", { method: "OPTIONS" })).status).toBe(200);
  });
  test("known but unsupported endpoints name themselves; true-today empty answers", async () => {
    const r = await call("/v1.50/images/search");
    expect(r.status).toBe(404);
    expect((await body(r)).message).toMatch(/^GET \/images\/search \(docker search\) is not supported by bunker yet/);
    expect(await body(await call("/containers/prune", { method: "POST" }))).toEqual({ ContainersDeleted: null, SpaceReclaimed: 0 });
    expect(await body(await call("/networks/prune", { method: "POST" }))).toEqual({ NetworksDeleted: null });
    expect(await body(await call("/build/prune", { method: "POST" }))).toEqual({ CachesDeleted: null, SpaceReclaimed: 0 }); // an empty build cache
  });
  test("a real route declared later wins over the fallback", async () => {
    const api2 = createApi(engine, { modules: [(r) => r.post("/containers/prune", () => new Response("mine"))] });
    expect(await (await api2.fetch(new Request("http://x/containers/prune", { method: "POST" }))).text()).toBe("mine");
  });
  test("docs/api.md lists every unsupported endpoint", () => {
    const doc = readFileSync(join(import.meta.dir, "../../docs/api.md"), "utf8");
    const section = doc.slice(doc.indexOf("## API endpoints not supported yet"));
    for (const [method, path] of UNSUPPORTED) expect(section).toContain(`${method} ${path.replace("{name:.*}", "{name}")}`);
  });
});

describe("routing", () => {
  test("greedy image names with slashes and colons", async () => {
    const r = new Router();
    r.get("/images/json", () => new Response("list"));
    r.get("/images/{name:.*}/json", (_q, c) => new Response(c.params.name));
    r.delete("/images/{name:.*}", (_q, c) => new Response(c.params.name));
    r.get("/containers/{id}/json", (_q, c) => new Response(c.params.id));
    expect(r.match("GET", "/images/json")!.route.pattern).toBe("/images/json");
    expect(r.match("GET", "/images/docker.io/library/alpine:latest/json")!.params.name).toBe("docker.io/library/alpine:latest");
    expect(r.match("DELETE", "/images/myreg:5000/a/b@sha256:abc")!.params.name).toBe("myreg:5000/a/b@sha256:abc");
    expect(r.match("GET", "/containers/a/b/json")).toBeUndefined();
    expect(r.match("GET", "/containers/web/json")!.params.id).toBe("web");
  });
  test("No such image with the familiar name, through greedy paths", async () => {
    expect(await body(await call("/v1.50/images/docker.io/library/alpine:latest/json"))).toEqual({ message: "No such image: alpine:latest" });
    expect(await body(await call("/images/myreg:5000/a/b/history"))).toEqual({ message: "No such image: myreg:5000/a/b:latest" });
    const d = await call("/images/nope", { method: "DELETE" });
    expect(d.status).toBe(404);
    expect(await body(d)).toEqual({ message: "No such image: nope:latest" });
  });
  test("images/json with both filter encodings and every boolean spelling", async () => {
    for (const q of ["all=1", "all=true", "all=True", "all=0", "filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D", "filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D"]) {
      const r = await call(`/images/json?${q}`);
      expect(r.status).toBe(200);
      expect(await body(r)).toEqual([]);
    }
    const bad = await call("/images/json?filters=%7Bnope");
    expect(bad.status).toBe(400);
    expect((await body(await call(`/images/json?filters=${encodeURIComponent('{"bogus":{"x":true}}')}`))).message).toBe("invalid filter 'bogus'");
  });
  test("pull errors before streaming are plain JSON errors with moby's status", async () => {
    const r = await call("/images/create?fromImage=UPPER&tag=latest", { method: "POST" });
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toBe("application/json");
    const t = await call("/images/create?fromImage=alpine&tag=bad%20tag", { method: "POST" });
    expect(t.status).toBe(400);
    const p = await call("/images/create?fromImage=alpine&tag=latest&platform=nope", { method: "POST" });
    expect(p.status).toBe(400);
  });
  test("tag needs a source image; auth needs JSON", async () => {
    expect((await call("/images/nope/tag?repo=x&tag=y", { method: "POST" })).status).toBe(404);
    const a = await call("/auth", { method: "POST", body: "not json", headers: { "content-type": "application/json" } });
    expect(a.status).toBe(400);
  });
});

describe("query conventions", () => {
  test("booleans: false iff absent, '', 0, no, false, none (any case)", () => {
    const q = new URLSearchParams("a=1&b=true&c=True&d=0&e=false&f=False&g=&h=no&i=NONE&j=yes");
    expect(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "missing"].map((k) => boolParam(q, k))).toEqual([true, true, true, false, false, false, false, false, false, true, false]);
    expect(boolParam(q, "missing", true)).toBe(true);
  });
  test("filters: map of bool (CLI), map of arrays (dockerode), null and empty", () => {
    expect(parseFilters('{"label":{"a=b":true,"c":true},"dangling":{"false":true}}')).toEqual({ label: ["a=b", "c"], dangling: ["false"] });
    expect(parseFilters('{"label":["a=b","a=b"],"status":["exited"]}')).toEqual({ label: ["a=b"], status: ["exited"] });
    expect(parseFilters(null)).toEqual({});
    expect(parseFilters("")).toEqual({});
    expect(parseFilters("null")).toEqual({});
    expect(() => parseFilters("[1]")).toThrow(EngineError);
    expect(() => parseFilters('{"a":1}')).toThrow(EngineError);
  });
  test("time parameters: seconds with optional nanos", () => {
    expect(timeParam(new URLSearchParams("s=1700000000"), "s")).toBe(1_700_000_000_000_000_000n);
    expect(timeParam(new URLSearchParams("s=1700000000.5"), "s")).toBe(1_700_000_000_500_000_000n);
    expect(timeParam(new URLSearchParams(""), "s")).toBeUndefined();
    expect(() => timeParam(new URLSearchParams("s=10m"), "s")).toThrow(EngineError);
  });
});

describe("errors", () => {
  test("EngineError kind → status → kind round trip, message intact", async () => {
    const kinds: [ErrorKind, number][] = [["notFound", 404], ["invalidParameter", 400], ["conflict", 409], ["unauthorized", 401], ["forbidden", 403], ["notImplemented", 501], ["unavailable", 503], ["system", 500]];
    for (const [kind, status] of kinds) {
      const res = toErrorResponse(new EngineError(kind, `msg ${kind}`));
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/json");
      const back = await fromErrorResponse(res);
      expect(back.kind).toBe(kind);
      expect(back.message).toBe(`msg ${kind}`);
    }
    const nm = toErrorResponse(new EngineError("notModified", "x"));
    expect(nm.status).toBe(304);
    expect(nm.body).toBeNull();
  });
  test("bad JSON bodies are 400, anything unexpected is 500", async () => {
    expect(toErrorResponse(new SyntaxError("Unexpected token")).status).toBe(400);
    expect(toErrorResponse(new Error("boom")).status).toBe(500);
    expect((await fromErrorResponse(new Response("", { status: 404, statusText: "Not Found" }), "/v1.50/x")).message).toBe("request returned Not Found for API route and version /v1.50/x, check if the server supports the requested API version");
  });
});

describe("X-Registry-Auth", () => {
  const cfg = { username: "bob", password: "s3cr+t/?", serveraddress: "127.0.0.1:5000" };
  const std = Buffer.from(JSON.stringify(cfg)).toString("base64");
  test("base64url and standard base64, padded or not; {} is anonymous; garbage is ignored", () => {
    const url = std.replace(/\+/g, "-").replace(/\//g, "_");
    for (const h of [std, std.replace(/=+$/, ""), url, url.replace(/=+$/, "")]) expect(decodeRegistryAuth(h)).toEqual(cfg);
    expect(decodeRegistryAuth("e30=")).toEqual({});
    expect(decodeRegistryAuth("e30")).toEqual({});
    expect(decodeRegistryAuth("!!!")).toBeUndefined();
    expect(decodeRegistryAuth(null)).toBeUndefined();
    expect(decodeRegistryAuth(Buffer.from(JSON.stringify({ auth: Buffer.from("u:p").toString("base64") })).toString("base64"))).toMatchObject({ username: "u", password: "p" });
  });
});

describe("events", () => {
  test("replay since/until, filters, full IDs, timeNano exact", async () => {
    const bus = eventsOf(engine);
    const t0 = BigInt(Date.now() - 1000) / 1000n;
    const id = `sha256:${"a".repeat(64)}`;
    bus.publish("image", "tag", id, { name: "foo:v1" });
    bus.publish("container", "start", "c".repeat(64), { image: "alpine", name: "web" });
    bus.publish("container", "exec_start: sh -c ls", "c".repeat(64), { image: "alpine", name: "web" });
    const until = BigInt(Date.now()) / 1000n + 1n;
    const r = await call(`/events?since=${t0}&until=${until}`);
    expect(r.headers.get("content-type")).toBe("application/json");
    // (an earlier test's container prune published a "prune" event, as moby does)
    const lines = (await r.text()).trim().split("\n").filter((l) => !l.includes('"Action":"prune"'));
    expect(lines).toHaveLength(3);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ status: "tag", id, Type: "image", Action: "tag", Actor: { ID: id, Attributes: { name: "foo:v1" } }, scope: "local" });
    expect(lines[0]).toMatch(/"timeNano":\d{19}\}$/);
    expect(JSON.parse(lines[1]!).from).toBe("alpine");
    const only = async (filters: object) => (await (await call(`/events?since=${t0}&until=${until}&filters=${encodeURIComponent(JSON.stringify(filters))}`)).text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).Action).filter((a) => a !== "prune");
    expect(await only({ type: { container: true } })).toEqual(["start", "exec_start: sh -c ls"]);
    expect(await only({ event: ["exec_start"] })).toEqual(["exec_start: sh -c ls"]);
    expect(await only({ image: { foo: true } })).toEqual(["tag"]);
    expect(await only({ container: { web: true }, event: { start: true } })).toEqual(["start"]);
    expect((await call(`/events?filters=${encodeURIComponent('{"bogus":{"x":true}}')}`)).status).toBe(400);
  });
  test("live events reach a subscriber until `until`", async () => {
    const until = BigInt(Date.now() + 300) / 1000n + 1n;
    const res = call(`/events?until=${until}`);
    await Bun.sleep(20);
    eventsOf(engine).publish("image", "delete", `sha256:${"b".repeat(64)}`, {});
    const text = await (await res).text();
    expect(text).toContain('"Action":"delete"');
    expect(text).not.toContain('"Action":"tag"');
  });
  test("matchesEvent and eventJson", () => {
    const e = { Type: "image" as const, Action: "pull", Actor: { ID: "alpine:latest", Attributes: { name: "alpine" } }, scope: "local" as const, time: 1, timeNano: 1_000_000_001n, seq: 1 };
    expect(matchesEvent(e, { image: ["alpine"] })).toBe(true);
    expect(matchesEvent(e, { image: ["alpine:latest"] })).toBe(true);
    expect(matchesEvent(e, { type: ["container"] })).toBe(false);
    expect(eventJson(e)).toBe('{"status":"pull","id":"alpine:latest","Type":"image","Action":"pull","Actor":{"ID":"alpine:latest","Attributes":{"name":"alpine"}},"scope":"local","time":1,"timeNano":1000000001}');
  });
});
