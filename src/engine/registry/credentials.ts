/**
 * Registry credentials in Docker's own file, ~/.docker/config.json (or $DOCKER_CONFIG/config.json), so a
 * `docker login` and a `bunker login` are interchangeable. Only the plain "auths" store is supported:
 * credsStore/credHelpers (external helper programs) are left untouched and not consulted.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The key Docker's CLI stores Docker Hub credentials under (the v1 index URL, for history's sake). */
export const INDEX_SERVER = "https://index.docker.io/v1/";

/** A username and password (or identity token as password). */
export interface Credentials {
  username: string;
  password: string;
}

/** $DOCKER_CONFIG, else ~/.docker, as the docker CLI resolves it. */
export function configDir(env: Record<string, string | undefined> = process.env): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), ".docker");
}

/** Docker's config key for a registry: Docker Hub's aliases all map to the index URL, others to their host. */
export function credentialKey(server: string): string {
  const host = hostOf(server);
  if (host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" || server === INDEX_SERVER) return INDEX_SERVER;
  return host;
}

/** ConvertToHostname: strips a scheme and any path, as the CLI does when matching legacy keys. */
function hostOf(s: string): string {
  return s.replace(/^https?:\/\//, "").split("/")[0]!;
}

function readConfig(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const text = readFileSync(file, "utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`loading config file ${file}: ${(e as Error).message}`);
  }
}

/** Reads the stored credentials for a registry host ("docker.io", "127.0.0.1:5000") or URL. */
export function readCredentials(server: string, dir: string = configDir()): Credentials | undefined {
  const auths = (readConfig(join(dir, "config.json")).auths ?? {}) as Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  const key = credentialKey(server);
  // The exact key first, then legacy keys that carry a scheme or path ("https://host/v1/").
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => credentialKey(k) === key)?.[1];
  if (!entry) return undefined;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    // Go's decodeAuth trims NUL padding off the password.
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, "") };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

function writeConfig(dir: string, config: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, "config.json");
  // Write-then-rename so a concurrent reader never sees half a file, and the secret is never world-readable.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, "\t") + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Stores credentials under Docker's key for `server`; atomic write, mode 0600, other keys kept. */
export function saveCredentials(server: string, creds: Credentials, dir: string = configDir()): void {
  const config = readConfig(join(dir, "config.json"));
  const auths = (config.auths ?? {}) as Record<string, unknown>;
  const key = credentialKey(server);
  const prev = (auths[key] ?? {}) as Record<string, unknown>;
  auths[key] = { ...prev, auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
  config.auths = auths;
  writeConfig(dir, config);
}

/** Forgets the credentials for `server`; false when there were none. */
export function removeCredentials(server: string, dir: string = configDir()): boolean {
  const file = join(dir, "config.json");
  if (!existsSync(file)) return false;
  const config = readConfig(file);
  const auths = (config.auths ?? {}) as Record<string, unknown>;
  const key = credentialKey(server);
  const keys = Object.keys(auths).filter((k) => k === key || credentialKey(k) === key);
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  config.auths = auths;
  writeConfig(dir, config);
  return true;
}
