/** `bunker pull`: download an image from a registry. */
import { CliError, defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { progressRenderer } from "./_progress.ts";

export default defineCommand({
  meta: { name: "pull", description: "Download an image from a registry", usage: "[OPTIONS] NAME[:TAG|@DIGEST]", aliases: ["bunker image pull", "bunker pull"] },
  flags: {
    "all-tags": { type: "boolean", alias: "a", description: "Download all tagged images in the repository" },
    "disable-content-trust": { type: "boolean", description: "Skip image verification", default: true, hidden: true },
    platform: { type: "string", description: "Set platform if server is multi-platform capable", valueHint: "string" },
    quiet: { type: "boolean", alias: "q", description: "Suppress verbose output" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    const { parseReference, withDefaultTag, canonicalString, familiarName } = await import("../engine/registry/reference.ts");
    const { parsePlatform } = await import("../engine/image/types.ts");
    if (flags.platform) parsePlatform(flags.platform); // refuse a malformed --platform before any request
    const name = args[0]!;
    const ref = parseReference(name);
    if (flags["all-tags"] && (ref.tag || ref.digest)) throw new CliError("tag can't be used with --all-tags/-a", 1);
    const backend = await openBackend(global);
    const render = flags.quiet ? () => {} : progressRenderer(process.stdout, process.stdout.isTTY === true);
    let names = [name];
    if (flags["all-tags"]) {
      if (!flags.quiet) console.log(`Pulling all tags of ${familiarName(ref)}`);
      // Tags are listed from here with this CLI's registry settings; each pull then goes through the backend.
      const { RegistryClient } = await import("../engine/registry/client.ts");
      const { readCredentials } = await import("../engine/registry/credentials.ts");
      const { loadConfig } = await import("../engine/config.ts");
      const cfg = loadConfig(global);
      const registry = new RegistryClient({ mirrors: cfg.registryMirrors, insecure: cfg.insecureRegistries, credentials: (h) => readCredentials(h) });
      names = (await registry.tags(ref)).map((t) => `${familiarName(ref)}:${t}`);
    } else if (!ref.tag && !ref.digest && !flags.quiet) {
      console.log("Using default tag: latest");
    }
    for (const n of names) {
      await backend.pull(n, { platform: flags.platform }, render);
    }
    console.log(flags["all-tags"] ? canonicalString({ ...ref, tag: undefined }) : canonicalString(withDefaultTag(ref)));
    return 0;
  },
});
