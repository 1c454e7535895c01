/** `bunker compose up`: creates and starts the project's containers, attached to their output unless -d. */
import { composeFlags } from "./_compose.ts";
import { CliError, defineCommand } from "./_cli.ts";
import { openProject, useColour, writeOut, writeErr } from "./_compose-project.ts";
import { up, type UpContainer } from "../compose/up.ts";
import { LogPrinter, shortName } from "../compose/logs.ts";

/** --scale SERVICE=NUM values as a map. */
export function parseScale(values: string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const [name, n] = v.split("=");
    if (!name || n === undefined || !/^\d+$/.test(n)) throw new CliError(`invalid --scale value: ${v}`, 1);
    out[name] = Number(n);
  }
  return out;
}

export default defineCommand({
  meta: { name: "up", description: "Create and start containers", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    "abort-on-container-exit": { type: "boolean", description: "Stops all containers if any container was stopped. Incompatible with -d" },
    build: { type: "boolean", description: "Build images before starting containers" },
    detach: { type: "boolean", alias: "d", description: "Detached mode: Run containers in the background" },
    "exit-code-from": { type: "string", description: "Return the exit code of the selected service container. Implies --abort-on-container-exit", valueHint: "string" },
    "force-recreate": { type: "boolean", description: "Recreate containers even if their configuration and image haven't changed" },
    "no-build": { type: "boolean", description: "Don't build an image, even if it's policy" },
    "no-color": { type: "boolean", description: "Produce monochrome output" },
    "no-deps": { type: "boolean", description: "Don't start linked services" },
    "no-log-prefix": { type: "boolean", description: "Don't print prefix in logs" },
    "no-recreate": { type: "boolean", description: "If containers already exist, don't recreate them. Incompatible with --force-recreate." },
    "no-start": { type: "boolean", description: "Don't start the services after creating them" },
    pull: { type: "string", description: 'Pull image before running ("always"|"missing"|"never")', valueHint: "string", default: "policy" },
    "quiet-pull": { type: "boolean", description: "Pull without printing progress information" },
    "remove-orphans": { type: "boolean", description: "Remove containers for services not defined in the Compose file" },
    "renew-anon-volumes": { type: "boolean", alias: "V", description: "Recreate anonymous volumes instead of retrieving data from the previous containers" },
    scale: { type: "string", multiple: true, description: "Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file if present.", valueHint: "scale" },
    timeout: { type: "int", alias: "t", description: "Use this timeout in seconds for container shutdown when attached or when containers are already running", valueHint: "int" },
    timestamps: { type: "boolean", description: "Show timestamps" },
    wait: { type: "boolean", description: "Wait for services to be running|healthy. Implies detached mode." },
    "wait-timeout": { type: "int", description: "Maximum duration in seconds to wait for the project to be running|healthy", valueHint: "int" },
  },
  async run(inv) {
    const { flags, args } = inv;
    const detach = flags.detach || flags.wait;
    const abort = flags["abort-on-container-exit"] || !!flags["exit-code-from"];
    if (detach && abort) throw new CliError(`--abort-on-container-exit and --detach are incompatible`, 1);
    if (flags["force-recreate"] && flags["no-recreate"]) throw new CliError(`--force-recreate and --no-recreate are incompatible`, 1);
    if (flags.build && flags["no-build"]) throw new CliError(`--build and --no-build are incompatible`, 1);
    if (!["policy", "always", "missing", "never", "build"].includes(flags.pull)) throw new CliError(`invalid --pull option "${flags.pull}"`, 1);
    const ctx = await openProject(inv, { services: args });
    if (flags["exit-code-from"] && !(flags["exit-code-from"] in ctx.project.services)) throw new CliError(`no such service: ${flags["exit-code-from"]}`, 1);
    const printer = detach ? undefined : new LogPrinter({ out: writeOut, err: writeErr, colour: !flags["no-color"] && useColour(inv), prefix: !flags["no-log-prefix"], timestamps: flags.timestamps });
    const short = (n: string) => shortName(ctx.project.name, n);
    let containers: UpContainer[] = [];
    const opts = {
      services: args,
      noDeps: flags["no-deps"],
      forceRecreate: flags["force-recreate"],
      noRecreate: flags["no-recreate"],
      scale: parseScale(flags.scale),
      removeOrphans: flags["remove-orphans"],
      renewAnonVolumes: flags["renew-anon-volumes"],
      build: flags.build,
      noBuild: flags["no-build"],
      pull: flags.pull === "policy" ? undefined : flags.pull,
      noStart: flags["no-start"],
      wait: flags.wait,
      waitTimeoutMs: flags["wait-timeout"] ? flags["wait-timeout"] * 1000 : undefined,
      timeout: flags.timeout,
      beforeStart: printer
        ? (list: UpContainer[]) => {
            containers = list; // what Ctrl-C stops from now on
            writeOut(`Attaching to ${list.map((c) => short(c.name)).join(", ")}\n`);
          }
        : undefined,
      attach: printer
        ? (c: { name: string; service: string }) => {
            if (ctx.project.services[c.service]?.attach === false) return undefined; // attach: false, as compose v2
            printer.register(short(c.name));
            return { onStdout: (b: Uint8Array) => printer.write(short(c.name), "stdout", b), onStderr: (b: Uint8Array) => printer.write(short(c.name), "stderr", b) };
          }
        : undefined,
    };
    if (!printer || flags["no-start"]) {
      await up(ctx, opts);
      return 0;
    }
    // Attached: until every container exits, or the first one with --abort-on-container-exit; Ctrl-C stops them all.
    let stopping: Promise<void> | undefined;
    let upDone: Promise<unknown> = Promise.resolve();
    const stopEach = (list: UpContainer[]) =>
      Promise.all(list.map(async (c) => {
        ctx.progress.event(`Container ${c.name}`, "Stopping");
        await ctx.backend.stopContainer(c.id, { timeout: flags.timeout }).catch(() => {});
        ctx.progress.event(`Container ${c.name}`, "Stopped");
      }));
    // Messages to stderr, as compose v2's stdinfo. What `up` was still starting is stopped once it has started.
    const stopAll = (message: string) =>
      (stopping ??= (async () => {
        writeErr(`${message}\n`);
        await stopEach([...containers]);
        await upDone;
        // A container whose start was under way when stopped runs now: stopped again.
        const running = await Promise.all(containers.map(async (c) => ((await ctx.backend.inspectContainer(c.id).catch(() => undefined))?.State as { Running?: boolean } | undefined)?.Running));
        await stopEach(containers.filter((_, i) => running[i]));
      })());
    /** When the container started again after an exit (its restart policy), waiting out the restart delay; undefined if it does not. */
    const restarted = async (id: string): Promise<string | undefined> => {
      for (;;) {
        const st = (await ctx.backend.inspectContainer(id)).State as { Running: boolean; Restarting: boolean; StartedAt: string };
        if (stopping || (!st.Running && !st.Restarting)) return undefined;
        if (st.Running && !st.Restarting) return st.StartedAt;
        await Bun.sleep(100);
      }
    };
    let interrupts = 0;
    // The first signal stops gracefully, the second kills (compose v2's up).
    const onSignal = () => {
      if (++interrupts === 1) return void stopAll("Gracefully stopping... (press Ctrl+C again to force)");
      for (const c of containers) void ctx.backend.killContainer(c.id).catch(() => {});
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const starting = up(ctx, opts);
      upDone = starting.catch(() => {});
      containers = await starting;
      let first: { service: string; code: number } | undefined;
      const codes = new Map<string, number>();
      await Promise.all(containers.map(async (c) => {
        for (let exited = c.exited; ; ) {
          const code = (await exited) ?? (await ctx.backend.waitContainer(c.id));
          printer.flush(short(c.name));
          printer.status(short(c.name), `exited with code ${code}`);
          codes.set(c.service, code);
          if (abort && !first) {
            first = { service: c.service, code };
            await stopAll("Aborting on container exit...");
          }
          // A restart policy brings it back: followed again (its log since that start, so no line is missed),
          // as compose v2 re-attaches on restart.
          const startedAt = !stopping && !abort && opts.attach?.(c) ? await restarted(c.id) : undefined;
          if (!startedAt) break;
          const since = BigInt(Date.parse(startedAt)) * 1_000_000n;
          exited = (async () => {
            for await (const batch of ctx.backend.logs(c.id, { follow: true, since })) for (const chunk of batch) printer.write(short(c.name), chunk.stream, chunk.data);
            return ((await ctx.backend.inspectContainer(c.id)).State as { ExitCode: number }).ExitCode;
          })();
        }
      }));
      await stopping;
      if (flags["exit-code-from"]) return codes.get(flags["exit-code-from"]) ?? 0;
      return abort && first ? first.code : 0;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
});
