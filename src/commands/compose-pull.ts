/** `bunker compose pull`: pulls the image of each service (services with `build:` and no image are skipped). */
import { composeFlags } from "./_compose.ts";
import { defineCommand } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { selectServices } from "../compose/up.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "pull", description: "Pull service images", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    "ignore-buildable": { type: "boolean", description: "Ignore images that can be built" },
    "ignore-pull-failures": { type: "boolean", description: "Pull what it can and ignores images with pull failures" },
    "include-deps": { type: "boolean", description: "Also pull services declared as dependencies" },
    policy: { type: "string", description: 'Apply pull policy ("missing"|"always")', valueHint: "string" },
    quiet: { type: "boolean", alias: "q", description: "Pull without printing progress information" },
  },
  async run(inv) {
    const { flags, args } = inv;
    if (flags.policy && !["missing", "always"].includes(flags.policy)) throw new ComposeError(`invalid pull policy "${flags.policy}"`);
    const ctx = await openProject(inv, { services: args });
    const services = selectServices(ctx, args, !flags["include-deps"]);
    const say = (s: string, status: string) => !flags.quiet && ctx.progress.event(s, status);
    let failed: unknown;
    await Promise.all(services.map(async (s) => {
      const svc = ctx.project.services[s]!;
      if (!svc.image || (svc.build && flags["ignore-buildable"])) return say(s, "Skipped - No image to be pulled");
      if (svc.pull_policy === "never" || (svc.build && svc.pull_policy === "build")) return say(s, "Skipped");
      if (flags.policy === "missing" && (await ctx.backend.inspectImage(svc.image).catch(() => undefined))) return say(s, "Skipped - Image is already present locally");
      say(s, "Pulling");
      try {
        await ctx.backend.pull(svc.image, { platform: svc.platform }, () => {});
        say(s, "Pulled");
      } catch (e) {
        say(s, "Error");
        if (flags["ignore-pull-failures"]) ctx.progress.warn((e as Error).message);
        else failed ??= e;
      }
    }));
    if (failed) throw failed;
    return 0;
  },
});
