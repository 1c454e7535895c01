/** `bunker compose build`: builds the services' images through the Backend's builder (refused where there is none). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { buildService } from "../compose/build.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "build", description: "Build or rebuild services", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    "no-cache": { type: "boolean", description: "Do not use cache when building the image" },
    pull: { type: "boolean", description: "Always attempt to pull a newer version of the image" },
    quiet: { type: "boolean", alias: "q", description: "Don't print anything to STDOUT" },
  },
  async run(inv) {
    const ctx = await openProject(inv, { services: inv.args });
    for (const s of inv.args) if (!(s in ctx.project.services)) throw new ComposeError(`no such service: ${s}`);
    const buildable = Object.keys(ctx.project.services).filter((n) => ctx.project.services[n]!.build && (!inv.args.length || inv.args.includes(n)));
    for (const s of buildable) await buildService(ctx, s, { noCache: inv.flags["no-cache"], pull: inv.flags.pull, quiet: inv.flags.quiet });
    return 0;
  },
});
