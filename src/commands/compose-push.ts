/** `bunker compose push`: pushes the image of each service that has one. */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { selectServices } from "../compose/up.ts";

export default defineCommand({
  meta: { name: "push", description: "Push service images", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    "ignore-push-failures": { type: "boolean", description: "Push what it can and ignores images with push failures" },
    "include-deps": { type: "boolean", description: "Also push images of services declared as dependencies" },
    quiet: { type: "boolean", alias: "q", description: "Push without printing progress information" },
  },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { services: args });
    for (const s of selectServices(ctx, args, !flags["include-deps"])) {
      const image = ctx.project.services[s]!.image;
      if (!image) continue;
      if (!flags.quiet) ctx.progress.event(s, "Pushing");
      try {
        await ctx.backend.push(image, {}, () => {});
        if (!flags.quiet) ctx.progress.event(s, "Pushed");
      } catch (e) {
        if (!flags["ignore-push-failures"]) throw e;
        ctx.progress.warn((e as Error).message);
      }
    }
    return 0;
  },
});
