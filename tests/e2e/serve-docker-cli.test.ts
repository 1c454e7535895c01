/**
 * `dist/bunker serve` driven by the real docker CLI 28 (/usr/local/bin/docker): version, info, pull from
 * the real registry (through --registry-mirror), images, history, image inspect, tag, rmi, system df,
 * system prune and events, with exit codes and messages as dockerd's; where both show the same data, the
 * output must equal what the in-process `dist/bunker` CLI prints for the same data root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, bunkerAt, freshDataRoot, waitForDaemon } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";
import { DOCKER, dockerCli } from "../helpers/docker-cli.ts";

const root = process.getuid?.() === 0;
const ready = root && existsSync(DOCKER);

let reg: Registry;
let dir: string;
let sock: string;
let cli: ReturnType<typeof dockerCli>;
let daemon: Subprocess<"ignore", "pipe", "pipe">;
let b: ReturnType<typeof bunkerAt>;
let t0: number;

/** Runs the docker CLI against the daemon, with a private (empty) Docker config. */



beforeAll(async () => {
  if (!ready) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-e2e-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  cli = dockerCli(sock, dir);
  const dataRoot = freshDataRoot();
  b = bunkerAt(dataRoot, ["--registry-mirror", reg.url]);
  t0 = Math.floor(Date.now() / 1000) - 1;
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, "--registry-mirror", reg.url, "--pidfile", join(dir, "bunker.pid")], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  await waitForDaemon(sock);
}, 900_000);

afterAll(async () => {
  if (!ready) return;
  daemon.kill("SIGTERM");
  await daemon.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("docker CLI against bunker serve", () => {
  test("version: server is Bunker Engine, API 1.50", async () => {
    const out = await cli.dockerOk(["version"]);
    expect(out).toContain("Server: Bunker Engine");
    expect(out).toMatch(/API version:\s+1\.50 \(minimum version 1\.24\)/);
    expect((await cli.dockerOk(["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"])).trim()).toBe("1.50 linux");
  });

  test("info: the daemon's data root and drivers", async () => {
    const out = await cli.dockerOk(["info", "--format", "{{.Driver}} {{.OSType}} {{.DockerRootDir}} {{.LoggingDriver}}"]);
    expect(out.trim()).toBe(`overlay2 linux ${b.dataRoot} json-file`);
  });

  test("pull: progress, digest and status as dockerd; the ref line from the CLI", async () => {
    const r = await cli.docker(["pull", "alpine"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("Using default tag: latest");
    expect(lines[1]).toBe("latest: Pulling from library/alpine");
    expect(lines).toContain("Status: Downloaded newer image for alpine:latest");
    expect(lines.find((l) => l.startsWith("Digest: "))).toMatch(/^Digest: sha256:[0-9a-f]{64}$/);
    expect(lines.at(-1)).toBe("docker.io/library/alpine:latest");
    const bb = await cli.docker(["pull", `${reg.host}/busybox`]);
    expect(bb.code).toBe(0);
    expect(bb.stdout).toContain(`Status: Downloaded newer image for ${reg.host}/busybox:latest`);
    expect((await cli.dockerOk(["pull", `${reg.host}/torture:latest`])).trimEnd().split("\n").at(-1)).toBe(`${reg.host}/torture:latest`);
  });

  test("pull again: the same lines as bunker's own pull", async () => {
    const viaDaemon = await cli.dockerOk(["pull", `${reg.host}/busybox`]);
    const inProcess = await b.ok(["pull", `${reg.host}/busybox`]);
    expect(viaDaemon).toContain("Status: Image is up to date for");
    expect(viaDaemon).toBe(inProcess);
  });

  test("pull errors: exit 1 with the registry's answer as dockerd words it", async () => {
    const r = await cli.docker(["pull", `${reg.host}/missing:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("Error response from daemon: ");
    const ours = await b.run(["pull", `${reg.host}/missing:1`]);
    expect(r.stderr).toBe(ours.stderr);
    const bad = await cli.docker(["pull", `${reg.host}/UPPER`]);
    expect(bad.code).toBe(1);
  });

  test("images: same table, -q and --format as bunker's", async () => {
    const viaDaemon = await cli.dockerOk(["images"]);
    expect(viaDaemon.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    // The CLI walks an image's repositories through a Go map: rows of one image come in any order.
    const rows = (t: string) => [t.split("\n")[0], ...t.trim().split("\n").slice(1).sort()];
    expect(rows(viaDaemon)).toEqual(rows(await b.ok(["images"])));
    // One ID per repository:tag row in both (the order of one image's rows is the Go map's).
    const ids = (s: string) => s.trim().split("\n").sort();
    expect(ids(await cli.dockerOk(["images", "-q"]))).toEqual(ids(await b.ok(["images", "-q"])));
    const fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{.Digest}}";
    const sorted = (t: string) => t.trim().split("\n").sort();
    expect(sorted(await cli.dockerOk(["images", "--format", fmt]))).toEqual(sorted(await b.ok(["images", "--format", fmt])));
    expect(rows(await cli.dockerOk(["images", "--digests", "--no-trunc"]))).toEqual(rows(await b.ok(["images", "--digests", "--no-trunc"])));
    expect((await cli.dockerOk(["images", "--filter", "reference=alp*", "--format", "{{.Repository}}"])).trim()).toBe("alpine");
  });

  test("history and image inspect: same as bunker's", async () => {
    // Byte for byte, tabwriter's padding before an empty last column included.
    expect(await cli.dockerOk(["history", "alpine"])).toBe(await b.ok(["history", "alpine"]));
    expect(await cli.dockerOk(["history", "--no-trunc", `${reg.host}/torture`])).toBe(await b.ok(["history", "--no-trunc", `${reg.host}/torture`]));
    const viaDaemon = JSON.parse(await cli.dockerOk(["image", "inspect", "alpine"]));
    expect(viaDaemon).toEqual(JSON.parse(await b.ok(["image", "inspect", "alpine"])));
    expect(viaDaemon[0].Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Greedy names: a registry host with a port, through the path.
    expect((await cli.dockerOk(["image", "inspect", "--format", "{{.RepoTags}}", `${reg.host}/torture:latest`])).trim()).toBe(`[${reg.host}/torture:latest]`);
    const missing = await cli.docker(["image", "inspect", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error response from daemon: No such image: nope:latest\n");
  });

  test("inspect templates: fields JSON omits or nulls, times and durations read as the docker CLI's typed structs do", async () => {
    // Same data root, same JSON: what differs is only how each CLI runs the template (docker: its Go structs first).
    await cli.dockerOk(["create", "--name", "typed-hc", "--network", "none", "--health-cmd", "true", "--health-interval", "90s", "--health-timeout", "1500ms", "alpine", "true"]);
    await cli.dockerOk(["create", "--name", "typed-plain", "--network", "none", "alpine", "true"]);
    const image = [
      "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", "{{.OsVersion}}", "{{.Descriptor}}", "{{.Manifests}}", "{{.Metadata.LastTagTime}}",
      "{{.Config.Volumes}}", "{{.Config.Shell}}", "{{.Config.Healthcheck}}", "{{.Config.StopSignal}}", "{{.Config.ExposedPorts}}", "{{.Config.Entrypoint}}", "{{.Config.OnBuild}}",
      "{{.Config.Healthcheck.Test}}", "{{json .Config}}",
    ];
    const container = [
      "{{.State.Health}}", "{{.State.Health.Status}}", "{{.SizeRw}}", "{{.ImageManifestDescriptor}}", "{{.ExecIDs}}", "{{.Node}}",
      "{{.Config.Healthcheck}}", "{{.Config.Shell}}", "{{.Config.StopTimeout}}", "{{.Config.Volumes}}", "{{.Config.MacAddress}}", "{{.Config.ArgsEscaped}}",
      "{{.HostConfig.Annotations}}", "{{.HostConfig.Links}}", "{{.HostConfig.Dns}}", "{{range .Config.Env}}{{.}};{{end}}", "{{json .State}}", "{{json .Config.Shell}} {{json .Config.Volumes}} {{len .Config.Shell}}",
    ];
    const same = async (args: string[]) => {
      const viaDocker = await cli.docker(args);
      const viaBunker = await b.run(args);
      expect({ args, code: viaBunker.code, out: viaBunker.stdout + viaBunker.stderr }).toEqual({ args, code: viaDocker.code, out: viaDocker.stdout + viaDocker.stderr });
    };
    for (const t of image) await same(["image", "inspect", "-f", t, "alpine"]);
    for (const t of container) await same(["inspect", "-f", t, "typed-plain"]);
    for (const t of ["{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} {{.Config.Healthcheck.StartPeriod}} {{.Config.Healthcheck.Retries}} {{.Config.Healthcheck.Test}}", "{{.State.Health.Status}}"]) {
      await same(["container", "inspect", "-f", t, "typed-hc"]);
    }
    expect((await b.ok(["inspect", "-f", "{{.Config.Healthcheck.Interval}}", "typed-hc"])).trim()).toBe("1m30s");
    // Several elements: a failing one prints nothing and its error comes after the output; nothing printed is one empty line.
    await same(["inspect", "-f", "{{.Name}} {{.State.Health.Status}}", "typed-hc", "typed-plain", "nope"]);
    await same(["inspect", "-f", "{{.Id}}", "nope"]);
    await cli.dockerOk(["rm", "typed-hc", "typed-plain"]);
  });

  test("tag and rmi, with dockerd's errors and exit codes", async () => {
    expect((await cli.docker(["tag", "alpine", `${reg.host}/team/alpine:v1`])).code).toBe(0);
    expect(await cli.dockerOk(["images", "--format", "{{.Repository}}:{{.Tag}}", `${reg.host}/team/alpine`])).toBe(`${reg.host}/team/alpine:v1\n`);
    const tagMissing = await cli.docker(["tag", "nope", "x:y"]);
    expect(tagMissing.code).toBe(1);
    expect(tagMissing.stderr).toBe("Error response from daemon: No such image: nope:latest\n");
    expect(await cli.dockerOk(["rmi", `${reg.host}/team/alpine:v1`])).toBe(`Untagged: ${reg.host}/team/alpine:v1\n`);
    const rmiMissing = await cli.docker(["rmi", "nope"]);
    expect(rmiMissing.code).toBe(1);
    expect(rmiMissing.stderr).toBe("Error response from daemon: No such image: nope:latest\n");
    expect(rmiMissing.stderr).toBe((await b.run(["rmi", "nope"])).stderr);
    const out = await cli.dockerOk(["rmi", `${reg.host}/torture`]);
    expect(out).toMatch(new RegExp(`^Untagged: ${reg.host}/torture:latest\\nUntagged: ${reg.host}/torture@sha256:[0-9a-f]{64}\\nDeleted: sha256:[0-9a-f]{64}\\n`));
  });

  test("system df: same as bunker's; system prune -f succeeds", async () => {
    expect(await cli.dockerOk(["system", "df"])).toBe(await b.ok(["system", "df"]));
    const p = await cli.docker(["system", "prune", "-f"]);
    expect(p.stderr).toBe("");
    expect(p.code).toBe(0);
    expect(p.stdout).toContain("Total reclaimed space:");
    expect((await cli.docker(["image", "prune", "-f"])).code).toBe(0);
  });

  test("events --since/--until: pull, tag, untag and delete with full IDs", async () => {
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const out = await cli.dockerOk(["events", "--since", String(t0), "--until", until, "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"name\"}}"]);
    const lines = out.trim().split("\n");
    expect(lines).toContain("image pull alpine:latest alpine");
    expect(lines).toContain(`image pull ${reg.host}/busybox:latest ${reg.host}/busybox`);
    expect(lines.find((l) => l.startsWith("image tag "))).toMatch(new RegExp(`^image tag sha256:[0-9a-f]{64} ${reg.host}/team/alpine:v1$`));
    expect(lines.filter((l) => l.startsWith("image untag ")).length).toBeGreaterThanOrEqual(3);
    expect(lines.find((l) => l.startsWith("image delete "))).toMatch(/^image delete sha256:[0-9a-f]{64} sha256:[0-9a-f]{64}$/);
    const tagsOnly = await cli.dockerOk(["events", "--since", String(t0), "--until", until, "--filter", "event=tag", "--format", "{{.Action}}"]);
    expect(tagsOnly.trim().split("\n")).toEqual(["tag"]);
    // The default format, as dockerd's.
    const plain = await cli.dockerOk(["events", "--since", String(t0), "--until", until, "--filter", "event=pull"]);
    expect(plain.split("\n")[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z image pull alpine:latest \(.*name=alpine.*\)$/);
  });

  test("login (POST /auth) and pull with X-Registry-Auth from a token-auth registry", async () => {
    const priv = await startRegistry({ auth: "token", anonymous: false });
    try {
      const denied = await cli.docker(["pull", `${priv.host}/busybox`]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toStartWith("Error response from daemon: ");
      const wrong = await cli.docker(["login", "-u", priv.username!, "--password-stdin", priv.host], { stdin: "wrong\n" });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toBe(`Error response from daemon: Get "http://${priv.host}/v2/": unauthorized: incorrect username or password\n`);
      const login = await cli.docker(["login", "-u", priv.username!, "--password-stdin", priv.host], { stdin: `${priv.password}\n` });
      expect(login.stdout).toContain("Login Succeeded");
      expect(login.code).toBe(0);
      // The CLI now sends the stored credentials as X-Registry-Auth; the daemon has none of its own.
      const pulled = await cli.docker(["pull", `${priv.host}/busybox`]);
      expect(pulled.stderr).toBe("");
      expect(pulled.code).toBe(0);
      expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${priv.host}/busybox:latest`);
    } finally {
      await priv.stop();
    }
  }, 60_000);

  test("unsupported endpoints: the CLI shows which one", async () => {
    const r = await cli.docker(["plugin", "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("GET /plugins (docker plugin) is not supported by bunker yet");
  });
});
