import { describe, expect, test } from "bun:test";
import { createDaemonLogger, logLine } from "../../src/server/log.ts";

const LINE = /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" level=(\w+) msg=("(?:[^"\\]|\\.)*")(.*)$/;

describe("daemon log (consola with a logrus reporter)", () => {
  test("writes dockerd's logrus text lines, warn as level=warning, fields after msg", () => {
    const lines: string[] = [];
    const log = createDaemonLogger((l) => lines.push(l));
    log.info("API listen on /run/bunker.sock");
    log.warn("Binding to IP address without --tlsverify is insecure", { host: "tcp://127.0.0.1:2375" });
    log.debug('Calling GET /v1.50/containers/json "quoted"');
    log.error("boom");
    expect(lines.map((l) => LINE.exec(l)?.slice(1))).toEqual([
      ["info", '"API listen on /run/bunker.sock"', ""],
      ["warning", '"Binding to IP address without --tlsverify is insecure"', ' host="tcp://127.0.0.1:2375"'],
      ["debug", '"Calling GET /v1.50/containers/json \\"quoted\\""', ""],
      ["error", '"boom"', ""],
    ]);
  });

  test("repeated lines are all written (no consola throttling)", () => {
    const lines: string[] = [];
    const log = createDaemonLogger((l) => lines.push(l));
    for (let i = 0; i < 20; i++) log.debug("Calling HEAD /_ping");
    expect(lines).toHaveLength(20);
    expect(lines.every((l) => l.endsWith('level=debug msg="Calling HEAD /_ping"'))).toBe(true);
  });

  test("logLine is the same text for a given time", () => {
    const d = new Date("2026-01-02T03:04:05.678Z");
    expect(logLine("info", "x", { a: "b" }, d)).toBe('time="2026-01-02T03:04:05.678Z" level=info msg="x" a="b"');
  });
});
