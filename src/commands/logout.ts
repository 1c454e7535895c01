/** `bunker logout`: forget the stored credentials for a registry. */
import { defineCommand } from "./_cli.ts";

export default defineCommand({
  meta: { name: "logout", description: "Log out from a registry", usage: "[SERVER]", aliases: ["bunker logout"] },
  flags: {},
  args: { max: 1 },
  async run({ args }) {
    const { INDEX_SERVER, credentialKey, removeCredentials } = await import("../engine/registry/credentials.ts");
    const server = args[0] ?? INDEX_SERVER;
    // The docker CLI names Docker Hub by its index URL and other registries by host.
    const name = credentialKey(server);
    // docker 28 prints this whether or not anything was stored.
    console.log(`Removing login credentials for ${name}`);
    removeCredentials(server);
    return 0;
  },
});
