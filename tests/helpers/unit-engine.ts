/**
 * Engines for unit tests: each on its own data root under one temp dir, with iptables off and an in-process
 * registry (tests/helpers/hostile-registry.ts) marked insecure, serving images whose layers are plain files
 * owned by the running user, so that pulls unpack without root. stop() closes and removes everything.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Engine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/config.ts";
import { pullImage } from "../../src/engine/pull.ts";
import { HostileRegistry } from "./hostile-registry.ts";
import { tar } from "./tar-writer.ts";

const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

/** A gzipped layer of plain files owned by whoever runs the test, with its digests. */
export function ownLayer(files: Record<string, string>): { gz: Uint8Array; diffId: string; digest: string } {
  const t = tar(Object.entries(files).map(([name, data]) => ({ name, data, uid: process.getuid!(), gid: process.getgid!() })));
  const gz = new Uint8Array(gzipSync(t));
  return { gz, diffId: sha(t), digest: sha(gz) };
}

/** A temp dir of data roots and a registry to pull from. */
export class UnitBed {
  readonly dir = mkdtempSync(join(tmpdir(), "bunker-unit-"));
  readonly registry = new HostileRegistry();
  private engines: Engine[] = [];
  private n = 0;

  /** A new engine on a fresh data root. */
  engine(config: Partial<EngineConfig> = {}): Engine {
    const e = new Engine({ dataRoot: join(this.dir, `root-${this.n++}`), registryMirrors: [], insecureRegistries: [this.registry.host], debug: false, configFile: join(this.dir, "none.json"), iptables: false, ...config });
    this.engines.push(e);
    return e;
  }

  /** Stores `repo:tag` in the registry (its runtime config is `config`: Cmd, Env...) and pulls it into `engine`; returns the image ID. */
  async image(engine: Engine, repo: string, tag: string, files: Record<string, string>[], config: Record<string, unknown> = {}): Promise<string> {
    this.registry.image(repo, tag, files.map(ownLayer), { config: { config } });
    return (await pullImage(engine, `${this.registry.host}/${repo}:${tag}`)).id;
  }

  /** Closes the engines, stops the registry, removes the temp dir. */
  stop(): void {
    for (const e of this.engines) e.close();
    this.registry.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
