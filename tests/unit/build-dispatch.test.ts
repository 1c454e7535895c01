/** The stage dispatcher against what dockerd's BuildKit made of the same Dockerfile (tests/fixtures/buildkit-reference). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { planDockerfile } from "../../src/engine/build/dockerfile/instructions.ts";
import { exposedPorts, resolveMetaArgs, StageState, type Step } from "../../src/engine/build/dispatch.ts";
import type { ImageConfig } from "../../src/engine/image/types.ts";
import { ensureTestbed } from "../helpers/images.ts";

const ref = join(import.meta.dir, "../fixtures/buildkit-reference");
const expected = JSON.parse(readFileSync(join(ref, "config.json"), "utf8")) as ImageConfig & { author: string };

async function busybox(): Promise<ImageConfig> {
  const tb = await ensureTestbed();
  const digest = tb.image("library/busybox", "latest").configDigest!;
  return JSON.parse(readFileSync(join(tb.layoutDir, "blobs/sha256", digest.slice(7)), "utf8"));
}

/** Dispatches every instruction of the one stage of `dockerfile`; file-system steps get a made-up layer. */
function dispatchAll(dockerfile: string, base: ImageConfig | null, buildArgs: Record<string, string> = {}) {
  const plan = planDockerfile(dockerfile);
  const args = new Map(Object.entries(buildArgs));
  const globals = resolveMetaArgs(plan.metaArgs, args, new Map());
  const state = new StageState(base, args, globals, plan.escapeToken, () => "2026-01-01T00:00:00Z");
  const steps: Step[] = [];
  for (const ins of plan.stages.at(-1)!.instructions) {
    const step = state.dispatch(ins);
    if (step) {
      steps.push(step);
      state.addLayer(`sha256:${String(steps.length).padStart(64, "0")}`);
    }
  }
  return { state, steps, plan, globals };
}

describe("dispatching a stage as BuildKit does", () => {
  test("every instruction: the config, history (created_by, empty_layer, comment), author and layer count equal BuildKit's", async () => {
    const { state } = dispatchAll(readFileSync(join(ref, "Dockerfile"), "utf8"), await busybox(), { V: "2.5" });
    expect(state.config).toEqual(expected.config!);
    expect(state.history.map((h) => [h.created_by, h.empty_layer ?? false, h.comment ?? ""])).toEqual(expected.history!.map((h) => [h.created_by, h.empty_layer ?? false, h.comment ?? ""]));
    expect(state.author).toBe(expected.author);
    expect(state.diffIds.length).toBe(expected.rootfs.diff_ids.length);
  });

  test("RUN steps: argv with the SHELL, env with ENV then ARGs in scope, user and workdir; COPY paths under WORKDIR", async () => {
    const { steps } = dispatchAll(readFileSync(join(ref, "Dockerfile"), "utf8"), await busybox(), { V: "2.5", HTTP_PROXY: "http://127.0.0.1:3128" });
    const [workdir, run, runJson, copy, copyDir] = steps;
    expect(workdir).toMatchObject({ kind: "workdir", path: "/app/2.5", user: "" }); // WORKDIR comes before USER there
    expect(run).toMatchObject({ kind: "run", argv: ["/bin/sh", "-ec", 'echo "v=$V a=$A" > /built'], user: "root", workdir: "/app/2.5" });
    expect(run!.kind === "run" && run.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words", "OLD=value with spaces", "V=2.5", "HTTP_PROXY=http://127.0.0.1:3128"]);
    expect(runJson).toMatchObject({ argv: ["/bin/echo", "json form"] });
    expect(copy).toMatchObject({ kind: "copy", sources: ["a.txt"], dest: "/app/" });
    expect(copyDir).toMatchObject({ sources: ["dir"], dest: "/app/dir", chown: "1:2" });
  });

  test("ARG scoping: globals need redeclaring in a stage; build args win; ENV shadows ARG; one ENV sees the values before it", () => {
    const df = ["ARG G=global", "ARG UNUSED", "FROM scratch", "ARG G", "ARG L=$G-local", "ENV X=$G A=1 B=$A", "ENV G=env", "RUN true"].join("\n");
    const { state, steps } = dispatchAll(df, null, { L: "from-cli" });
    expect(state.config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=global", "A=1", "B=", "G=env"]);
    expect(steps[0]).toMatchObject({ kind: "run", createdBy: "RUN |2 G=global L=from-cli /bin/sh -c true # buildkit" });
    expect(state.expansionEnv().get("G")).toBe("env");
    const unscoped = dispatchAll("ARG G=global\nFROM scratch\nENV X=${G:-unset}", null);
    expect(unscoped.state.config.Env).toContain("X=unset");
  });

  test("ENTRYPOINT resets an inherited CMD; a CMD of the same stage stays; ONBUILD triggers of the base are handed over and cleared", () => {
    const base: ImageConfig = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: { Cmd: ["sh"], OnBuild: ["RUN echo hi"] } };
    const a = dispatchAll('FROM scratch\nENTRYPOINT ["/e"]', base);
    expect([a.state.config.Cmd, a.state.config.Entrypoint, a.state.triggers, a.state.config.OnBuild]).toEqual([null, ["/e"], ["RUN echo hi"], []]);
    const b = dispatchAll('FROM scratch\nCMD ["c"]\nENTRYPOINT ["/e"]', base);
    expect(b.state.config.Cmd).toEqual(["c"]);
  });

  test("HEALTHCHECK NONE and defaults; EXPOSE ranges and refusals; expansion errors carry the line", () => {
    const { state } = dispatchAll("FROM scratch\nHEALTHCHECK NONE", null);
    expect(state.config.Healthcheck).toEqual({ Test: ["NONE"] });
    expect(state.history.at(-1)!.created_by).toBe(`HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\\x00'}`);
    expect(exposedPorts("8000-8002/UDP")).toEqual(["8000/udp", "8001/udp", "8002/udp"]);
    expect(() => exposedPorts("80/http")).toThrow("Invalid containerPort: 80/http");
    expect(() => exposedPorts("90-80")).toThrow("Invalid range specified for container port: 90-80");
    expect(() => dispatchAll("FROM scratch\n\nWORKDIR ${X:?is required}", null)).toThrow("dockerfile parse error on line 3: failed to process \"${X:?is required}\": X: is required");
  });
});
