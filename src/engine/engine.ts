/**
 * The engine: one object over one data root that the CLI uses in-process and the daemon serves over the
 * Docker API. It owns the metadata database, the layer and image stores and the registry client; heavy
 * parts load lazily so that commands that do not need them start fast.
 */
import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import type { EngineConfig } from "./config.ts";
import { DataRoot } from "./paths.ts";
import { openDatabase } from "./store/db.ts";
import { LayerStore } from "./store/layers.ts";
import { ImageStore } from "./store/images.ts";
import type { RegistryClient } from "./registry/client.ts";
import { ContainerStore } from "./containers/store.ts";
import { reconcileGoneRoots } from "./network/roots.ts";
import { reconcileRemovals } from "./containers/removal.ts";

/** An event as Docker's /events reports it (Type, Action, Actor); the engine fills in time and IDs. */
export interface EngineEvent {
  Type: "container" | "image" | "network" | "volume" | "daemon";
  Action: string;
  id: string;
  from?: string;
  name?: string;
  attributes?: Record<string, string>;
  /** A container's labels, which moby puts in every container event's attributes (also destroy's, after the row is gone). */
  labels?: Record<string, string>;
}

/** A container's event as the engine reports it: its full ID, image as named, name and labels (moby's LogContainerEvent). */
export function containerEvent(c: { id: string; imageRef: string; name: string; config: { Labels?: Record<string, string> } }, Action: string, attributes?: Record<string, string>): EngineEvent {
  return { Type: "container", Action, id: c.id, from: c.imageRef, name: c.name, labels: c.config.Labels ?? {}, ...(attributes ? { attributes } : {}) };
}

/** Where the engine reports events: a no-op until a backend installs its sink (the daemon's bus, monitor.ts; the CLI's journal, api/local.ts). */
export interface EventSink {
  publish(e: EngineEvent): void;
}

/** An engine over one data root. */
export class Engine {
  readonly root: DataRoot;
  readonly db: Database;
  readonly layers: LayerStore;
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  events: EventSink = { publish() {} };
  private registryClient?: RegistryClient;

  constructor(readonly config: EngineConfig) {
    this.root = new DataRoot(config.dataRoot);
    // The data root holds other users' container files: root-only, as /var/lib/docker is (0710).
    mkdirSync(config.dataRoot, { recursive: true, mode: 0o710 });
    this.db = openDatabase(this.root.db);
    this.layers = new LayerStore(this.root, this.db);
    this.layers.removeStaleStaging();
    this.images = new ImageStore(this.db);
    this.containers = new ContainerStore(this.db, this.root);
    // Firewall rules, bridges and address claims of deleted data roots go at any engine start.
    reconcileGoneRoots({ iptables: config.iptables ?? true });
    reconcileRemovals(this); // container removals a killed process left half done
  }

  /** The registry client, configured with mirrors, insecure registries and the user's stored credentials. */
  registry(): RegistryClient {
    if (!this.registryClient) {
      const { RegistryClient } = require("./registry/client.ts") as typeof import("./registry/client.ts");
      const { readCredentials } = require("./registry/credentials.ts") as typeof import("./registry/credentials.ts");
      this.registryClient = new RegistryClient({
        mirrors: this.config.registryMirrors,
        insecure: this.config.insecureRegistries,
        credentials: (host) => readCredentials(host),
      });
    }
    return this.registryClient;
  }

  /** Closes the database. */
  close() {
    this.db.close();
  }
}
