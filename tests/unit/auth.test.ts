/** WWW-Authenticate parsing, registry error bodies, and Docker's config.json credential store. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseChallenges, parseErrorResponse } from "../../src/engine/registry/auth.ts";
import { INDEX_SERVER, readCredentials, removeCredentials, saveCredentials } from "../../src/engine/registry/credentials.ts";

describe("WWW-Authenticate", () => {
  test("Docker Hub's bearer challenge", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"')).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/ubuntu:pull" } },
    ]);
  });
  test("quoted commas, escapes, spaces and case", () => {
    expect(parseChallenges('Bearer Realm = "https://a/t" , scope="repository:a:pull,push", error="insufficient_scope", x="a \\"q\\" b"')).toEqual([
      { scheme: "bearer", params: { realm: "https://a/t", scope: "repository:a:pull,push", error: "insufficient_scope", x: 'a "q" b' } },
    ]);
  });
  test("basic, and several challenges in one (joined) header", () => {
    expect(parseChallenges('Basic realm="basic-realm"')).toEqual([{ scheme: "basic", params: { realm: "basic-realm" } }]);
    expect(parseChallenges('Basic realm="r", Bearer realm="https://t",service=s')).toEqual([
      { scheme: "basic", params: { realm: "r" } },
      { scheme: "bearer", params: { realm: "https://t", service: "s" } },
    ]);
  });
  test("empty and scheme-only", () => {
    expect(parseChallenges("")).toEqual([]);
    expect(parseChallenges("Negotiate")).toEqual([{ scheme: "negotiate", params: {} }]);
  });
});

describe("registry error responses (HandleErrorResponse)", () => {
  const h = (wa?: string) => new Headers(wa ? { "www-authenticate": wa } : {});
  test("OCI error body", () => {
    const p = parseErrorResponse(404, h(), JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { Tag: "x" } }] }));
    expect(p.message).toBe("manifest unknown: manifest unknown");
    expect(p.errors.map((e) => e.code)).toEqual(["MANIFEST_UNKNOWN"]);
  });
  test("insufficient_scope challenge becomes DENIED first", () => {
    const p = parseErrorResponse(401, h('Bearer realm="x",error="insufficient_scope"'), JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
    expect(p.errors[0]).toEqual({ code: "DENIED", message: "requested access to the resource is denied" });
    expect(p.message).toBe("errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n");
  });
  test("legacy details, empty 401, 5xx, junk", () => {
    expect(parseErrorResponse(401, h(), '{"details":"incorrect username or password"}').message).toBe("unauthorized: incorrect username or password");
    expect(parseErrorResponse(401, h(), "").message).toBe("unauthorized: authentication required");
    expect(parseErrorResponse(503, h(), "oops").message).toBe("received unexpected HTTP status: 503 Service Unavailable");
    expect(parseErrorResponse(400, h(), "<html>").message).toBe(`error parsing HTTP 400 response body: invalid character '<' looking for beginning of value: "<html>"`);
  });
});

describe("credentials in config.json", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bunker-cfg-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("save, read, remove; Hub under the index URL; other keys kept; mode 0600", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ psFormat: "table {{.ID}}", auths: { "other.io": { auth: btoa("o:p") } } }));
    saveCredentials("docker.io", { username: "me", password: "pa:ss" }, dir);
    saveCredentials("127.0.0.1:5000", { username: "u", password: "p" }, dir);
    const file = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(file.psFormat).toBe("table {{.ID}}");
    expect(Object.keys(file.auths).sort()).toEqual(["127.0.0.1:5000", INDEX_SERVER, "other.io"].sort());
    expect(file.auths[INDEX_SERVER].auth).toBe(btoa("me:pa:ss"));
    expect(statSync(join(dir, "config.json")).mode & 0o777).toBe(0o600);
    expect(readCredentials("docker.io", dir)).toEqual({ username: "me", password: "pa:ss" });
    expect(readCredentials("index.docker.io", dir)).toEqual({ username: "me", password: "pa:ss" });
    expect(readCredentials("127.0.0.1:5000", dir)).toEqual({ username: "u", password: "p" });
    expect(readCredentials("other.io", dir)).toEqual({ username: "o", password: "p" });
    expect(readCredentials("nowhere.io", dir)).toBeUndefined();
    expect(removeCredentials("docker.io", dir)).toBe(true);
    expect(removeCredentials("docker.io", dir)).toBe(false);
    expect(readCredentials("docker.io", dir)).toBeUndefined();
    expect(readCredentials("127.0.0.1:5000", dir)).toEqual({ username: "u", password: "p" });
  });

  test("legacy keys with a scheme and path match by host", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { "https://reg.example.com/v1/": { auth: btoa("a:b") } } }));
    expect(readCredentials("reg.example.com", dir)).toEqual({ username: "a", password: "b" });
    expect(removeCredentials("reg.example.com", dir)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).auths).toEqual({});
  });

  test("no file: nothing stored, nothing removed", () => {
    expect(readCredentials("docker.io", dir)).toBeUndefined();
    expect(removeCredentials("docker.io", dir)).toBe(false);
  });
});
