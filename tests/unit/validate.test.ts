/** What registries, manifests and configs say is checked before use (src/engine/image/validate.ts). */
import { expect, test } from "bun:test";
import { checkDigest, checkMediaType, checkSha256, checkSize, quoteForeign } from "../../src/engine/image/validate.ts";
import { escapeControls, httpUrl } from "../../src/engine/registry/auth.ts";

const hex = "a".repeat(64);

test("digests: go-digest's algorithms and lengths only", () => {
  expect(checkDigest(`sha256:${hex}`, "d")).toBe(`sha256:${hex}`);
  expect(checkDigest(`sha512:${"b".repeat(128)}`, "d")).toBe(`sha512:${"b".repeat(128)}`);
  for (const [bad, why] of [
    ["sha256:../../../../x", "invalid checksum digest length"],
    [`sha256:${"../".repeat(21)}a`, "invalid checksum digest format"],
    [`sha256:${"A".repeat(64)}`, "invalid checksum digest format"],
    [`sha256:${hex}\0`, "invalid checksum digest length"],
    [`md5:${hex}`, "unsupported digest algorithm"],
    [hex, "unsupported digest algorithm"],
    [42, "invalid checksum digest format"],
  ] as const) {
    expect(() => checkDigest(bad, "layer digest")).toThrow(why);
  }
  expect(() => checkSha256(`sha512:${"b".repeat(128)}`, "diff ID")).toThrow("unsupported digest algorithm");
  expect(() => checkSha256(`sha256:${hex}/..`, "diff ID")).toThrow("diff ID");
});

test("media types, sizes, and quoting of foreign values", () => {
  expect(checkMediaType("application/vnd.oci.image.layer.v1.tar+gzip", "m")).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
  for (const bad of ["a/../../b", "a/b\nc", "", "x", `a/${"b".repeat(200)}`]) expect(() => checkMediaType(bad, "m")).toThrow("invalid media type");
  expect(checkSize(10, "s", 10)).toBe(10);
  for (const bad of [-1, 1.5, "10", NaN, 2 ** 60]) expect(() => checkSize(bad, "s")).toThrow("invalid size");
  expect(() => checkSize(11, "config size", 10)).toThrow("config size of 11 bytes exceeds the limit of 10 bytes");
  expect(quoteForeign("a\u001b[2J\u009bb")).toBe('"a\\u001b[2J\\u009bb"');
  expect(quoteForeign("x".repeat(500)).length).toBeLessThan(100);
});

test("only http(s) URLs, and registry text escaped", () => {
  expect(httpUrl("/v2/x", "w", "http://127.0.0.1:5000/v2/").href).toBe("http://127.0.0.1:5000/v2/x");
  for (const bad of ["file:///etc/passwd", "ftp://x/", "data:,x", "javascript:alert(1)"]) expect(() => httpUrl(bad, "w")).toThrow("unsupported protocol scheme");
  expect(escapeControls("a\nb\u001b\u009b")).toBe("a\\u000ab\\u001b\\u009b");
});
