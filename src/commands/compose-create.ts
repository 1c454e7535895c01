/** `bunker compose create`: creates (or recreates) the project's containers without starting them. */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { up } from "../compose/up.ts";
import { parseScale } from "./compose-up.ts";

export default defineCommand({
  meta: { name: "create", description: "Creates containers for a service", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    build: { type: "boolean", description: "Build images before starting containers" },
    "force-recreate": { type: "boolean", description: "Recreate containers even if their configuration and image haven't changed" },
    "no-build": { type: "boolean", description: "Don't build an image, even if it's policy" },
    "no-recreate": { type: "boolean", description: "If containers already exist, don't recreate them. Incompatible with --force-recreate." },
    pull: { type: "string", description: 'Pull image before running ("always"|"missing"|"never"|"build")', valueHint: "string", default: "policy" },
    "quiet-pull": { type: "boolean", description: "Pull without printing progress information" },
    "remove-orphans": { type: "boolean", description: "Remove containers for services not defined in the Compose file" },
    scale: { type: "string", multiple: true, description: "Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file if present.", valueHint: "scale" },
  },
  async run(inv) {
    const { flags, args } = inv;
    if (flags["force-recreate"] && flags["no-recreate"]) throw new CliError(`--force-recreate and --no-recreate are incompatible`, 1);
    const ctx = await openProject(inv, { services: args });
    await up(ctx, { services: args, noStart: true, forceRecreate: flags["force-recreate"], noRecreate: flags["no-recreate"], build: flags.build, noBuild: flags["no-build"], pull: flags.pull === "policy" ? undefined : flags.pull, removeOrphans: flags["remove-orphans"], scale: parseScale(flags.scale) });
    return 0;
  },
});
