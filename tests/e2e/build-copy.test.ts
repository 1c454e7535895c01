/**
 * COPY and ADD through the real executor (issue 14): a build on the test bed's busybox whose last RUN prints
 * what the copies made (owners, modes, link targets, contents), so the image's layers are checked as a
 * container sees them: --chown names from a passwd file a RUN wrote, --chmod, heredocs, --link, --from,
 * ADD of a local tar.gz and of a URL served on 127.0.0.1, and a hostile symlink in the base layer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildEvent, BuildOptions } from "../../src/engine/build/types.ts";
import { Engine } from "../../src/engine/engine.ts";
import { build as buildArea } from "../../src/engine/lazy.ts";
import { pullImage } from "../../src/engine/pull.ts";
import { freshDataRoot, tempDir } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { tar } from "../helpers/tar-writer.ts";

let reg: Registry;
let engine: Engine;
const body = "served over http\n";
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(body, { headers: { "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" } }) });

beforeAll(async () => {
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  engine = new Engine({ dataRoot: freshDataRoot(), registryMirrors: [reg.url], insecureRegistries: [], debug: false, configFile: "/nonexistent/daemon.json", iptables: false } as never);
  await pullImage(engine, "busybox:latest");
}, 900_000);
afterAll(async () => {
  server.stop(true);
  await engine?.close();
  await reg?.stop();
});

async function build(dir: string) {
  const events: BuildEvent[] = [];
  const opts: BuildOptions = { contextDir: dir, dockerfile: { path: "Dockerfile" }, tags: [], buildArgs: new Map(), labels: {}, noCache: false, pull: false, cacheFrom: [], network: "none", extraHosts: [], shmSize: 0, ulimits: [], secrets: new Map() };
  let error: Error | undefined;
  try {
    await buildArea().build(engine, opts, (e) => events.push(e));
  } catch (e) {
    error = e as Error;
  }
  const log = events.filter((e) => e.type === "log").map((e) => new TextDecoder().decode((e as { data: Uint8Array }).data)).join("");
  return { error, log };
}

describe("build: COPY and ADD", () => {
  // A directory the copy makes is filled in the step's upper dir, not through the overlay (copy.ts target):
  // the view must be what overlayfs gives, a whited-out lower directory's old content hidden included.
  test("into a directory the copy makes: over a removed one, through a symlink, hardlinks, two sources", async () => {
    const dir = tempDir("bunker-build-copy-new-");
    mkdirSync(join(dir, "files/sub"), { recursive: true });
    writeFileSync(join(dir, "files/a.txt"), "a\n");
    linkSync(join(dir, "files/a.txt"), join(dir, "files/sub/a-link"));
    mkdirSync(join(dir, "more"));
    writeFileSync(join(dir, "more/b.txt"), "b\n");
    writeFileSync(
      join(dir, "Dockerfile"),
      [
        "FROM busybox",
        "RUN mkdir -p /app/files && echo old > /app/files/old && ln -s /app /lnk",
        "RUN rm -rf /app/files",
        "COPY files more /lnk/files/",
        "RUN ls -a /app/files /app/files/sub && cat /app/files/a.txt /app/files/b.txt && stat -c '%n %h %u:%g %a' /app/files/sub/a-link /app/files /app/files/sub && test -L /lnk && echo lnk-kept",
        "",
      ].join("\n"),
    );
    const r = await build(dir);
    expect(r.error).toBeUndefined();
    expect(r.log).not.toContain("old");
    expect(r.log).toContain("a.txt\nb.txt\nsub\n");
    expect(r.log).toContain("a\nb\n");
    expect(r.log).toContain("/app/files/sub/a-link 2 0:0 644");
    expect(r.log).toContain("/app/files 3 0:0 755");
    expect(r.log).toContain("lnk-kept");
  }, 300_000);

  test("owners, modes, links, heredocs, archives and URLs as the container sees them", async () => {
    const dir = tempDir("bunker-build-copy-");
    mkdirSync(join(dir, "app/sub"), { recursive: true });
    writeFileSync(join(dir, "app/run.sh"), "#!/bin/sh\n");
    writeFileSync(join(dir, "app/sub/data"), "data\n");
    symlinkSync("/etc", join(dir, "app/etc-link"));
    writeFileSync(join(dir, "app/secret.key"), "never copied");
    writeFileSync(join(dir, ".dockerignore"), "**/*.key\n");
    writeFileSync(join(dir, "pkg.tar.gz"), Bun.gzipSync(new Uint8Array(tar([{ name: "pkg/", type: "5", mode: 0o750 }, { name: "pkg/tool", data: "tool", mode: 0o755, uid: 7, gid: 8 }]))));
    writeFileSync(
      join(dir, "Dockerfile"),
      [
        "FROM busybox AS base",
        "RUN echo 'app:x:1500:1600::/:/bin/sh' >> /etc/passwd && echo 'app:x:1600:' >> /etc/group && ln -s / /escape",
        "COPY --chown=app app /opt/app",
        "COPY --chmod=a+x,go-w app/run.sh /usr/local/bin/run",
        "COPY <<EOF /etc/motd",
        "hello $HOSTNAME_UNSET",
        "EOF",
        "ADD pkg.tar.gz /opt/",
        `ADD ${`http://127.0.0.1:${server.port}/files/page.txt`} /dl/`,
        "COPY app/sub/data /escape/tmp/through-link",
        "RUN stat -c '%n %u:%g %a' /opt/app /opt/app/sub/data /opt/pkg /opt/pkg/tool /dl/page.txt /tmp/through-link && date -u -r /dl/page.txt +%Y%m%d && cat /opt/pkg/tool && echo",
        "FROM busybox",
        "COPY --link --from=base /opt/app /linked",
        "COPY --from=base /etc/motd /usr/local/bin/run /dl/page.txt /from/",
        "RUN stat -c '%n %u:%g %a' /linked/run.sh /from/run /from/motd /from/page.txt && readlink /linked/etc-link && cat /from/motd && ls /linked",
      ].join("\n"),
    );
    const r = await build(dir);
    expect(r.error).toBeUndefined();
    // The --link stage: owners from the other stage kept, the link copied as a link, .dockerignore applied.
    expect(r.log).toContain("/linked/run.sh 1500:1600 644");
    expect(r.log).toContain("/from/run 0:0 755");
    expect(r.log).toContain("/from/motd 0:0 644");
    expect(r.log).toContain("/from/page.txt 0:0 600");
    expect(r.log).toContain("hello \n");
    expect(r.log).toMatch(/^\/etc$/m);
    expect(r.log).not.toContain("secret.key");
    // The base stage: --chown by name, the archive's own owners and modes, the URL's mtime, and a copy through
    // the base's `/escape -> /` link that landed in the image's /tmp.
    expect(r.log).toContain("/opt/app 1500:1600 755");
    expect(r.log).toContain("/opt/app/sub/data 1500:1600 644");
    expect(r.log).toContain("/opt/pkg 0:0 750");
    expect(r.log).toContain("/opt/pkg/tool 7:8 755");
    expect(r.log).toContain("/dl/page.txt 0:0 600");
    expect(r.log).toContain("/tmp/through-link 0:0 644");
    expect(existsSync("/tmp/through-link")).toBe(false);
    expect(r.log).toContain("20151021");
    expect(r.log).toContain("tool\n");
  }, 300_000);
});
