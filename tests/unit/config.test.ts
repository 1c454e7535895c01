import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/engine/config.ts";

describe("engine configuration (dockerd's names)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunker-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test("daemon.json keys, flags override and lists merge", () => {
    const file = join(dir, "daemon.json");
    writeFileSync(file, JSON.stringify({ "data-root": "/from/file", "registry-mirrors": ["https://m.example:5000/"], "insecure-registries": ["reg:5000"], debug: true }));
    const c = loadConfig({ "config-file": file, "registry-mirror": ["http://127.0.0.1:5001"] }, {});
    expect(c.dataRoot).toBe("/from/file");
    expect(c.registryMirrors).toEqual(["http://127.0.0.1:5001", "https://m.example:5000"]);
    expect(c.insecureRegistries).toEqual(["reg:5000"]);
    expect(c.debug).toBe(true);
    expect(loadConfig({ "config-file": file, "data-root": "/flag" }, {}).dataRoot).toBe("/flag");
  });
  test("networking keys: --iptables and --userland-proxy from the flags or daemon.json, the flag winning", () => {
    const file = join(dir, "net.json");
    writeFileSync(file, JSON.stringify({ iptables: false, "userland-proxy": false }));
    const c = loadConfig({ "config-file": file }, {});
    expect([c.iptables, c.userlandProxy]).toEqual([false, false]);
    expect(loadConfig({ "config-file": file, "userland-proxy": true }, {}).userlandProxy).toBe(true);
    expect(loadConfig({}, { BUNKER_CONFIG_FILE: join(dir, "absent.json") }).userlandProxy).toBeUndefined(); // default: on
  });
  test("defaults", () => {
    const c = loadConfig({}, { BUNKER_CONFIG_FILE: join(dir, "absent.json") });
    expect(c.dataRoot).toBe("/var/lib/bunker");
    expect(c.registryMirrors).toEqual([]);
  });
  test("bad input is refused with dockerd's wording", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{nope");
    expect(() => loadConfig({ "config-file": bad }, {})).toThrow(`unable to configure the Docker daemon with file ${bad}`);
    expect(() => loadConfig({ "config-file": join(dir, "missing.json") }, {})).toThrow("no such file or directory");
    expect(() => loadConfig({ "registry-mirror": ["ftp://x"] }, { BUNKER_CONFIG_FILE: join(dir, "absent.json") })).toThrow('invalid mirror: unsupported scheme "ftp"');
    expect(() => loadConfig({ "registry-mirror": ["http://x/path"] }, { BUNKER_CONFIG_FILE: join(dir, "absent.json") })).toThrow("invalid mirror: path");
  });
});
