/** `bunker serve` (alias `daemon`): the Docker Engine API of this engine, in the foreground, as dockerd. */
import { defineCommand } from "./_cli.ts";

export default defineCommand({
  meta: { name: "serve", description: "Serve the Docker Engine API (the daemon), in the foreground", usage: "[OPTIONS]", aliases: ["bunker serve", "bunker daemon"] },
  flags: {
    host: { type: "string", alias: "H", multiple: true, description: "Daemon socket(s) to connect to (default unix:///run/bunker.sock)", valueHint: "list" },
    pidfile: { type: "string", alias: "p", description: "Path to use for daemon PID file", valueHint: "string" },
    tls: { type: "boolean", description: "Use TLS; implied by --tlsverify (--tls=false allows plain TCP)" },
    tlsverify: { type: "boolean", description: "Use TLS and verify the remote (--tlsverify=false allows plain TCP)" },
    tlscacert: { type: "string", description: "Trust certs signed only by this CA", valueHint: "string" },
    tlscert: { type: "string", description: "Path to TLS certificate file", valueHint: "string" },
    tlskey: { type: "string", description: "Path to TLS key file", valueHint: "string" },
  },
  args: { max: 0 },
  async run({ flags, global }) {
    (await import("../jit.ts")).fullJit(); // a daemon is long-running code
    const { loadConfig } = await import("../engine/config.ts");
    const { Engine } = await import("../engine/engine.ts");
    const { startDaemon } = await import("../server/daemon.ts");
    const engine = new Engine(loadConfig(global));
    let daemon;
    try {
      daemon = await startDaemon(engine, {
        hosts: flags.host,
        pidfile: flags.pidfile,
        tls: { tls: flags.tls, verify: flags.tlsverify, ca: flags.tlscacert, cert: flags.tlscert, key: flags.tlskey },
        handleSignals: true,
      });
    } catch (e) {
      engine.close();
      throw e;
    }
    await daemon.done;
    engine.close();
    return 0;
  },
});
