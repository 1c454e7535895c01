/**
 * Test preload: every test process gets its own data root and Docker config dir under a temp dir, so
 * tests never touch /var/lib/bunker or ~/.docker and can run in parallel.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";

const base = mkdtempSync(join(tmpdir(), "bunker-test-"));
process.env.BUNKER_DATA_ROOT ??= join(base, "root");
process.env.DOCKER_CONFIG ??= join(base, "docker-config");
process.env.BUNKER_CONFIG_FILE ??= join(base, "daemon.json");
afterAll(() => rmSync(base, { recursive: true, force: true }));
