/** commit/import `--change`: Dockerfile instructions (the build front end and dispatcher) applied to a config as moby's BuildFromConfig does. */
import { describe, expect, test } from "bun:test";
import { applyChanges, type ChangeableConfig } from "../../src/engine/commit.ts";
import { EngineError } from "../../src/engine/errors.ts";

const base = (): ChangeableConfig => ({ Env: ["PATH=/usr/bin", "HOME=/root"], Cmd: ["sh"], Entrypoint: null, WorkingDir: "/srv", Labels: { a: "1" } });
const refused = (changes: string[]) => {
  try {
    applyChanges(base(), changes);
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).kind).toBe("invalidParameter");
    return (e as Error).message;
  }
  throw new Error(`accepted: ${changes.join(" / ")}`);
};

describe("applyChanges", () => {
  test("CMD and ENTRYPOINT in exec and shell form; ENTRYPOINT resets a CMD not given with it", () => {
    expect(applyChanges(base(), ['CMD ["nginx", "-g", "daemon off;"]']).Cmd).toEqual(["nginx", "-g", "daemon off;"]);
    expect(applyChanges(base(), ["CMD echo $HOME && ls"]).Cmd).toEqual(["/bin/sh", "-c", "echo $HOME && ls"]);
    const ep = applyChanges(base(), ['ENTRYPOINT ["/init"]']);
    expect([ep.Entrypoint, ep.Cmd]).toEqual([["/init"], null]);
    const both = applyChanges(base(), ["CMD x", 'ENTRYPOINT ["/init"]']);
    expect(both.Cmd).toEqual(["/bin/sh", "-c", "x"]);
    expect(applyChanges({ ...base(), Shell: ["/bin/bash", "-lc"] }, ["CMD run"]).Cmd).toEqual(["/bin/bash", "-lc", "run"]);
  });

  test("ENV and LABEL: key=value pairs with quotes and variables, the legacy 'ENV k v', replacement of a key", () => {
    const c = applyChanges(base(), ['ENV A=1 B="two words" C=$HOME/x D=${NOPE:-dflt}', "ENV PATH /opt/bin:$PATH", "LABEL x=y 'q r'=\"s t\""]);
    expect(c.Env).toEqual(["PATH=/opt/bin:/usr/bin", "HOME=/root", "A=1", "B=two words", "C=/root/x", "D=dflt"]);
    expect(c.Labels).toEqual({ a: "1", x: "y", "q r": "s t" });
    expect(refused(["LABEL"])).toBe("LABEL requires at least one argument");
  });

  test("EXPOSE, USER, WORKDIR (relative to the current one), VOLUME, STOPSIGNAL, ONBUILD, HEALTHCHECK", () => {
    const c = applyChanges(base(), ["EXPOSE 80 53/udp 8000-8001", "USER app:app", "WORKDIR sub", 'VOLUME ["/data", "/logs"]', "VOLUME /cache", "STOPSIGNAL SIGQUIT", "ONBUILD RUN make", "HEALTHCHECK --interval=1m30s --timeout=3s --start-period=500ms --retries=3 CMD curl -f http://localhost/"]);
    expect(c.ExposedPorts).toEqual({ "80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {} });
    expect(c.User).toBe("app:app");
    expect(c.WorkingDir).toBe("/srv/sub");
    expect(c.Volumes).toEqual({ "/data": {}, "/logs": {}, "/cache": {} });
    expect(c.StopSignal).toBe("SIGQUIT");
    expect(c.OnBuild).toEqual(["RUN make"]);
    expect(c.Healthcheck).toEqual({ Test: ["CMD-SHELL", "curl -f http://localhost/"], Interval: 90e9, Timeout: 3e9, StartPeriod: 5e8, Retries: 3 });
    expect(applyChanges(base(), ['HEALTHCHECK CMD ["true"]']).Healthcheck).toEqual({ Test: ["CMD", "true"] });
    expect(applyChanges(base(), ["HEALTHCHECK NONE"]).Healthcheck).toEqual({ Test: ["NONE"] });
    expect(refused(["EXPOSE 99999"])).toBe("Invalid containerPort: 99999");
    expect(refused(["HEALTHCHECK --interval=soon CMD x"])).toBe('time: invalid duration "soon"');
    expect(refused(["ONBUILD ONBUILD RUN x"])).toBe("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  });

  test("moby's refusal for any instruction commit does not take, named in lower case", () => {
    for (const i of ["RUN echo", "FROM alpine", "ADD a b", "COPY a b", "ARG x", "SHELL [\"sh\"]", "MAINTAINER me", "Bogus x"]) expect(refused([i])).toBe(`${i.split(" ")[0]!.toLowerCase()} is not a valid change command`);
  });

  test("Dockerfile lines: comments, blank lines and continuations; the input config is not modified", () => {
    const input = base();
    const c = applyChanges(input, ["# a comment", "", "ENV A=1 \\", "  B=2"]);
    expect(c.Env).toEqual(["PATH=/usr/bin", "HOME=/root", "A=1", "B=2"]);
    expect(input.Env).toEqual(["PATH=/usr/bin", "HOME=/root"]);
    expect(applyChanges(input, [])).toBe(input);
  });
});
