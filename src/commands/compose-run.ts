/** `bunker compose run`: a one-off command in a new container of a service (attached through `bunker start -a`). */
import { isTerminal } from "./_terminal.ts";
import { composeFlags } from "./_compose.ts";
import { defineCommand, parseFlags } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { oneOffPlan, startDependencies } from "../compose/run.ts";
import { createFrom, ensureImages, ensureResources } from "../compose/up.ts";
import { parsePublish } from "../engine/network/ports.ts";

export default defineCommand({
  meta: { name: "run", description: "Run a one-off command on a service", usage: "[OPTIONS] SERVICE [COMMAND] [ARGS...]" },
  flags: {
    ...composeFlags,
    build: { type: "boolean", description: "Build image before starting container" },
    "cap-add": { type: "string", multiple: true, description: "Add Linux capabilities", valueHint: "list" },
    "cap-drop": { type: "string", multiple: true, description: "Drop Linux capabilities", valueHint: "list" },
    detach: { type: "boolean", alias: "d", description: "Run container in background and print container ID" },
    entrypoint: { type: "string", description: "Override the entrypoint of the image", valueHint: "string" },
    env: { type: "string", alias: "e", multiple: true, description: "Set environment variables", valueHint: "stringArray" },
    interactive: { type: "boolean", alias: "i", description: "Keep STDIN open even if not attached", default: true },
    label: { type: "string", alias: "l", multiple: true, description: "Add or override a label", valueHint: "stringArray" },
    name: { type: "string", description: "Assign a name to the container", valueHint: "string" },
    "no-TTY": { type: "boolean", alias: "T", description: "Disable pseudo-TTY allocation (default: auto-detected)" },
    "no-deps": { type: "boolean", description: "Don't start linked services" },
    publish: { type: "string", alias: "p", multiple: true, description: "Publish a container's port(s) to the host", valueHint: "stringArray" },
    pull: { type: "string", description: 'Pull image before running ("always"|"missing"|"never")', valueHint: "string", default: "policy" },
    "quiet-pull": { type: "boolean", description: "Pull without printing progress information" },
    "remove-orphans": { type: "boolean", description: "Remove containers for services not defined in the Compose file" },
    rm: { type: "boolean", description: "Automatically remove the container when it exits" },
    "service-ports": { type: "boolean", alias: "P", description: "Run command with all service's ports enabled and mapped to the host" },
    "use-aliases": { type: "boolean", description: "Use the service's network useAliases in the network(s) the container connects to" },
    user: { type: "string", alias: "u", description: "Run as specified username or uid", valueHint: "string" },
    volume: { type: "string", alias: "v", multiple: true, description: "Bind mount a volume", valueHint: "stringArray" },
    workdir: { type: "string", alias: "w", description: "Working directory inside the container", valueHint: "string" },
  },
  interspersed: false,
  args: { min: 1 },
  async run(inv) {
    const { flags, args } = inv;
    const [service, ...command] = args;
    const ctx = await openProject(inv, { services: [service!] });
    if (!flags["no-deps"]) await startDependencies(ctx, service!);
    await ensureResources(ctx, [service!]);
    await ensureImages(ctx, [service!], { build: flags.build, pull: flags.pull === "policy" ? undefined : flags.pull });
    const tty = !flags["no-TTY"] && !flags.detach && isTerminal(0);
    const interactive = !flags.detach && flags.interactive !== false;
    const labels = Object.fromEntries(((flags.label ?? []) as string[]).map((l) => [l.split("=")[0], l.split("=").slice(1).join("=")]));
    const plan = await oneOffPlan(ctx, service!, {
      command,
      entrypoint: flags.entrypoint,
      env: flags.env,
      user: flags.user,
      workdir: flags.workdir,
      name: flags.name,
      labels,
      volumes: flags.volume,
      publish: flags.publish?.length ? parsePublish(flags.publish) : undefined,
      servicePorts: flags["service-ports"],
      useAliases: flags["use-aliases"],
      tty,
      interactive,
      rm: flags.rm,
      capAdd: flags["cap-add"],
      capDrop: flags["cap-drop"],
    });
    const Id = await createFrom(ctx, plan, false);
    if (flags.detach) {
      await ctx.backend.startContainer(Id);
      console.log(plan.options.name);
      return 0;
    }
    const start = (await import("./start.ts")).default;
    const sub = parseFlags(["-a", ...(interactive ? ["-i"] : []), Id], start, "bunker start");
    sub.global = inv.global;
    return (await start.run(sub)) ?? 0;
  },
});
