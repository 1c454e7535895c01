/** Log drivers: which driver and options a container gets (moby's mergeAndVerifyLogConfig), with bunker's rotation defaults. */
import { describe, expect, test } from "bun:test";
import { logRotation, resolveLogConfig } from "../../src/engine/containers/logs/drivers.ts";

describe("resolveLogConfig", () => {
  test("json-file rotates by default; daemon.json's log-opts sit over the defaults, the container's over both", () => {
    expect(resolveLogConfig(undefined, {})).toEqual({ Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } });
    expect(resolveLogConfig(undefined, { "max-file": "2" }, { opts: { "max-size": "1m", "max-file": "9" } })).toEqual({ Type: "json-file", Config: { "max-size": "1m", "max-file": "2" } });
    expect(resolveLogConfig("local", {})).toEqual({ Type: "local", Config: { "max-size": "20m", "max-file": "5" } });
  });

  test("the daemon's options apply only to the daemon's driver", () => {
    expect(resolveLogConfig("json-file", {}, { driver: "local", opts: { "max-size": "1m" } }).Config["max-size"]).toBe("10m");
    expect(resolveLogConfig(undefined, {}, { driver: "local", opts: { "max-size": "1m" } })).toEqual({ Type: "local", Config: { "max-size": "1m", "max-file": "5" } });
    expect(resolveLogConfig(undefined, {}, { driver: "none", opts: {} })).toEqual({ Type: "none", Config: {} });
  });

  test("refusals in moby's words", () => {
    expect(() => resolveLogConfig("syslog", {})).toThrow("logger: no log driver named 'syslog' is registered");
    expect(() => resolveLogConfig(undefined, {}, { driver: "gelf" })).toThrow("logger: no log driver named 'gelf' is registered");
    expect(() => resolveLogConfig("none", { "max-size": "1m" })).toThrow("unknown log opt 'max-size' for none log driver");
    expect(() => resolveLogConfig("local", { bogus: "1" })).toThrow("unknown log opt 'bogus' for local log driver");
    expect(() => resolveLogConfig(undefined, { compress: "true" })).toThrow("log opt 'compress' is not supported by bunker");
    expect(() => resolveLogConfig(undefined, { "max-size": "0" })).toThrow("max-size must be a positive number");
    expect(() => resolveLogConfig(undefined, { "max-file": "0" })).toThrow("max-file cannot be less than 1");
  });
});

describe("logRotation", () => {
  test("what the shim is told: size and files, nothing for max-size=-1 or none", () => {
    expect(logRotation({ Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } })).toEqual({ logMaxSize: 10 * 1024 * 1024, logMaxFile: 3 });
    expect(logRotation({ Type: "json-file", Config: { "max-size": "-1", "max-file": "3" } })).toEqual({});
    expect(logRotation({ Type: "none", Config: {} })).toEqual({});
  });
});
