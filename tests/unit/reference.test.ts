/** Reference parsing against distribution/reference's normalize and parse tests (and docker CLI texts). */
import { describe, expect, test } from "bun:test";
import { canonicalString, familiarName, familiarString, parseReference, repositoryName, withDefaultTag, normalizeValidated } from "../../src/engine/registry/reference.ts";
import { EngineError } from "../../src/engine/errors.ts";

const D = "sha256:" + "a".repeat(64);

describe("valid references", () => {
  const cases: [input: string, domain: string, path: string, tag?: string, digest?: string, familiar?: string][] = [
    ["ubuntu", "docker.io", "library/ubuntu", undefined, undefined, "ubuntu"],
    ["ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", undefined, "ubuntu:22.04"],
    ["library/ubuntu", "docker.io", "library/ubuntu", undefined, undefined, "ubuntu"],
    ["docker.io/ubuntu", "docker.io", "library/ubuntu", undefined, undefined, "ubuntu"],
    ["docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", "latest", undefined, "ubuntu:latest"],
    ["index.docker.io/ubuntu", "docker.io", "library/ubuntu", undefined, undefined, "ubuntu"],
    ["index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", undefined, undefined, "ubuntu"],
    ["dmcgowan/myapp", "docker.io", "dmcgowan/myapp", undefined, undefined, "dmcgowan/myapp"],
    ["docker.io/dmcgowan/myapp", "docker.io", "dmcgowan/myapp", undefined, undefined, "dmcgowan/myapp"],
    ["library/a/b", "docker.io", "library/a/b", undefined, undefined, "library/a/b"],
    ["localhost/x", "localhost", "x", undefined, undefined, "localhost/x"],
    ["localhost:5000/x:tag", "localhost:5000", "x", "tag", undefined, "localhost:5000/x:tag"],
    [`127.0.0.1:5000/a/b@${D}`, "127.0.0.1:5000", "a/b", undefined, D, `127.0.0.1:5000/a/b@${D}`],
    [`ubuntu:latest@${D}`, "docker.io", "library/ubuntu", "latest", D, `ubuntu:latest@${D}`],
    [`ubuntu@${D}`, "docker.io", "library/ubuntu", undefined, D, `ubuntu@${D}`],
    ["[::1]:5000/x", "[::1]:5000", "x", undefined, undefined, "[::1]:5000/x"],
    ["[2001:db8::1]/x:v", "[2001:db8::1]", "x", "v", undefined, "[2001:db8::1]/x:v"],
    ["Example.com/x", "Example.com", "x", undefined, undefined, "Example.com/x"],
    ["EXAMPLE/x", "EXAMPLE", "x", undefined, undefined, "EXAMPLE/x"],
    ["example.com:8080/foo/bar:Some_Tag-1.0", "example.com:8080", "foo/bar", "Some_Tag-1.0", undefined, "example.com:8080/foo/bar:Some_Tag-1.0"],
    ["a__b/c-d.e_f---g", "docker.io", "a__b/c-d.e_f---g", undefined, undefined, "a__b/c-d.e_f---g"],
    // A bare "host:port" is a Hub image with a tag, exactly as Docker reads it.
    ["localhost:5000", "docker.io", "library/localhost", "5000", undefined, "localhost:5000"],
    ["xn--n3h.com/myimage", "xn--n3h.com", "myimage", undefined, undefined, "xn--n3h.com/myimage"],
    ["a/" + "b".repeat(253), "docker.io", "a/" + "b".repeat(253), undefined, undefined, "a/" + "b".repeat(253)],
    ["ubuntu:" + "t".repeat(128), "docker.io", "library/ubuntu", "t".repeat(128), undefined, "ubuntu:" + "t".repeat(128)],
  ];
  for (const [input, domain, path, tag, digest, familiar] of cases) {
    test(input.length > 60 ? input.slice(0, 60) + "…" : input, () => {
      const r = parseReference(input);
      expect(r).toEqual({ domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) });
      expect(familiarString(r)).toBe(familiar!);
    });
  }
});

describe("invalid references: Docker's messages", () => {
  const cases: [string, string][] = [
    ["", "invalid reference format"],
    [":tag", "invalid reference format"],
    ["ubuntu:", "invalid reference format"],
    ["ubuntu$", "invalid reference format"],
    ["-ubuntu", "invalid reference format"],
    ["a___b/c", "invalid reference format"],
    ["a/b/", "invalid reference format"],
    ["foo_bar.com:8080/x", "invalid reference format"],
    ["ubuntu:" + "t".repeat(129), "invalid reference format"],
    ["ubuntu@sha256:abc", "invalid reference format"],
    ["Ubuntu", "invalid reference format: repository name (library/Ubuntu) must be lowercase"],
    ["docker.io/User/app", "invalid reference format: repository name (User/app) must be lowercase"],
    ["example.com/Foo:v1", "invalid reference format: repository name (Foo) must be lowercase"],
    ["a/" + "b".repeat(254), "repository name must not be more than 255 characters"],
    ["a".repeat(64), `invalid repository name (${"a".repeat(64)}), cannot specify 64-byte hexadecimal strings`],
    ["ubuntu@sha256:" + "a".repeat(32), "invalid checksum digest length"],
    ["ubuntu@sha256:" + "A".repeat(64), "invalid checksum digest format"],
    ["ubuntu@md5:" + "a".repeat(32), "unsupported digest algorithm"],
  ];
  for (const [input, message] of cases) {
    test(JSON.stringify(input.length > 60 ? input.slice(0, 60) + "…" : input), () => {
      let err: unknown;
      try {
        parseReference(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).message).toBe(message);
      expect((err as EngineError).kind).toBe("invalidParameter");
    });
  }
});

describe("printing", () => {
  test("familiar, canonical, repository", () => {
    const r = withDefaultTag(parseReference("ubuntu"));
    expect(familiarName(r)).toBe("ubuntu");
    expect(familiarString(r)).toBe("ubuntu:latest");
    expect(canonicalString(r)).toBe("docker.io/library/ubuntu:latest");
    expect(repositoryName(r)).toBe("docker.io/library/ubuntu");
    const d = parseReference(`127.0.0.1:5000/a/b@${D}`);
    expect(withDefaultTag(d)).toEqual(d);
    expect(familiarName(d)).toBe("127.0.0.1:5000/a/b");
    expect(canonicalString(d)).toBe(`127.0.0.1:5000/a/b@${D}`);
    expect(canonicalString(parseReference("user/app:v1"))).toBe("docker.io/user/app:v1");
  });
});

describe("normalizeValidated (the listing fast path) equals the full parser", () => {
  const names = [
    "ubuntu", "ubuntu:22.04", "library/ubuntu", "docker.io/ubuntu", "docker.io/library/ubuntu:latest", "index.docker.io/ubuntu",
    "user/app", "user/app:v1", "docker.io/user/app", "localhost/x", "localhost:5000/x:tag", "127.0.0.1:5000/a/b",
    "127.0.0.1:5000/a/b@sha256:" + "a".repeat(64), "ubuntu@sha256:" + "b".repeat(64), "ubuntu:22.04@sha256:" + "c".repeat(64),
    "registry.example.com/team/tool", "host.tld:443/x/y/z:tag-1.2",
  ];
  for (const name of names) {
    test(name, () => {
      expect(normalizeValidated(name)).toEqual(withDefaultTag(parseReference(name)));
    });
  }
});
