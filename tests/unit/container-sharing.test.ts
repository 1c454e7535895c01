/** What a container takes from others, checked before anything runs (src/engine/containers/sharing.ts): moby's modes and messages. */
import { describe, expect, test } from "bun:test";
import { checkNamespaceModes, linkEnv, parseLink, parseVolumesFrom } from "../../src/engine/containers/sharing.ts";

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

describe("legacy link variables", () => {
  test("as moby's links package: TCP first, a range summed up, the child's env but HOME and PATH", () => {
    const env = linkEnv("/web/db-1", "172.17.0.3", ["PATH=/bin", "HOME=/root", "PASSWORD=gordon"], ["6379/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]);
    expect(env).toEqual([
      "DB_1_PORT=tcp://172.17.0.3:6379",
      "DB_1_PORT_6379_TCP=tcp://172.17.0.3:6379", "DB_1_PORT_6379_TCP_ADDR=172.17.0.3", "DB_1_PORT_6379_TCP_PORT=6379", "DB_1_PORT_6379_TCP_PROTO=tcp",
      "DB_1_PORT_8000_TCP=tcp://172.17.0.3:8000", "DB_1_PORT_8000_TCP_ADDR=172.17.0.3", "DB_1_PORT_8000_TCP_PORT=8000", "DB_1_PORT_8000_TCP_PROTO=tcp",
      "DB_1_PORT_8001_TCP=tcp://172.17.0.3:8001", "DB_1_PORT_8001_TCP_ADDR=172.17.0.3", "DB_1_PORT_8001_TCP_PORT=8001", "DB_1_PORT_8001_TCP_PROTO=tcp",
      "DB_1_PORT_8002_TCP=tcp://172.17.0.3:8002", "DB_1_PORT_8002_TCP_ADDR=172.17.0.3", "DB_1_PORT_8002_TCP_PORT=8002", "DB_1_PORT_8002_TCP_PROTO=tcp",
      // a range is written when it ends: at the next port that does not continue it
      "DB_1_PORT_53_UDP=udp://172.17.0.3:53", "DB_1_PORT_53_UDP_ADDR=172.17.0.3", "DB_1_PORT_53_UDP_PORT=53", "DB_1_PORT_53_UDP_PROTO=udp",
      "DB_1_PORT_8000_TCP_START=tcp://172.17.0.3:8000", "DB_1_PORT_8000_TCP_PORT_START=8000", "DB_1_PORT_8000_TCP_END=tcp://172.17.0.3:8002", "DB_1_PORT_8000_TCP_PORT_END=8002",
      "DB_1_NAME=/web/db-1",
      "DB_1_ENV_PASSWORD=gordon",
    ]);
  });
});
