/** `bunker compose build`: builds the services' images, through the Backend's builder. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
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
    const ctx = await openProject(inv as ComposeInvocation, { services: inv.args });
    const buildable = Object.entries(ctx.project.services).filter(([n, s]) => s.build && (!inv.args.length || inv.args.includes(n)));
    if (!buildable.length) return 0;
    // Refused, never skipped: the builder is not behind the Backend yet.
    throw new ComposeError(`service "${buildable[0]![0]}" has a build section, but the builder (Backend.build) is not part of this bunker yet`);
  },
});
