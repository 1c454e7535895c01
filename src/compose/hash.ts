/**
 * The configuration hash of a service (docker compose v2's ServiceHash): the service as loaded, less what
 * does not change a container (build, pull_policy, scale, deploy.replicas, depends_on, profiles), as
 * canonical JSON, SHA-256. `up` recreates exactly the containers whose hash label differs from this.
 */
import type { ServiceConfig } from "./model.ts";

/** The JSON of a value with object keys sorted, so the hash does not depend on the order of the file. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The hex SHA-256 of the service's container-relevant configuration. */
export function serviceHash(service: ServiceConfig): string {
  const { build: _b, pull_policy: _p, scale: _s, depends_on: _d, profiles: _pr, ...rest } = service as unknown as Record<string, unknown>;
  const deploy = rest.deploy as Record<string, unknown> | undefined;
  if (deploy) {
    const { replicas: _r, ...d } = deploy;
    rest.deploy = d;
  }
  // Bun's hasher, not node:crypto: importing that loads Node's stream machinery (see src/engine/random.ts).
  return new Bun.CryptoHasher("sha256").update(canonical(rest)).digest("hex");
}
