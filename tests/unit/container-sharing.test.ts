/** What a container takes from others, checked before anything runs (src/engine/containers/sharing.ts): moby's modes and messages. */
import { describe, expect, test } from "bun:test";
import { checkNamespaceModes, parseLink, parseVolumesFrom } from "../../src/engine/containers/sharing.ts";

describe("namespace modes", () => {
  test("recorded as moby records them: IpcMode defaults to private, PidMode and UTSMode to empty", () => {
    expect(checkNamespaceModes({})).toEqual({ PidMode: "", IpcMode: "private", UTSMode: "" });
    expect(checkNamespaceModes({ pidMode: "container:db", ipcMode: "container:db", utsMode: "host" })).toEqual({ PidMode: "container:db", IpcMode: "container:db", UTSMode: "host" });
    for (const ipc of ["host", "private", "shareable", "none"]) expect(checkNamespaceModes({ ipcMode: ipc }).IpcMode).toBe(ipc);
  });

  test("anything else is refused with moby's message; --uts host conflicts with a hostname", () => {
    expect(() => checkNamespaceModes({ pidMode: "private" })).toThrow("invalid PID mode: private");
    expect(() => checkNamespaceModes({ pidMode: "container:" })).toThrow("invalid PID mode: container:");
    expect(() => checkNamespaceModes({ ipcMode: "container:" })).toThrow("invalid IPC mode: container:");
    expect(() => checkNamespaceModes({ utsMode: "container:x" })).toThrow("invalid UTS mode: container:x");
    expect(() => checkNamespaceModes({ utsMode: "host", hostname: "h" })).toThrow("conflicting options: hostname and the UTS mode");
  });
});

describe("--volumes-from and --link values", () => {
  test("CONTAINER[:ro|:rw], as moby's ParseVolumesFrom", () => {
    expect(parseVolumesFrom("db")).toEqual({ ref: "db", readWrite: true });
    expect(parseVolumesFrom("db:ro")).toEqual({ ref: "db", readWrite: false });
    expect(() => parseVolumesFrom("db:rx")).toThrow("invalid mode for volumes-from: rx");
    expect(() => parseVolumesFrom("a:b:c")).toThrow("malformed volumes-from specification: a:b:c");
  });

  test("NAME[:ALIAS], and the recorded /child:/parent/alias form", () => {
    expect(parseLink("db")).toEqual({ name: "db", alias: "db" });
    expect(parseLink("db:data")).toEqual({ name: "db", alias: "data" });
    expect(parseLink("/db:/web/data")).toEqual({ name: "db", alias: "data" });
    expect(() => parseLink("a:b:c")).toThrow("bad format for links: a:b:c");
    expect(() => parseLink("")).toThrow("empty string specified for links");
  });
});
