/**
 * `run`'s one-off container (docker compose v2's run.go): the service's configuration with the command
 * line's overrides, named `<project>-<service>-run-<slug>` and labelled oneoff=True, its dependencies
 * converged and started first (unless --no-deps).
 */
import { containerPlan, commandOf, type ContainerPlan, type CreateOptions } from "./convert.ts";
import { serviceHash } from "./output.ts";
import { dependenciesOf } from "./graph.ts";
import { named, up } from "./up.ts";
import { type ComposeContext, projectContainers, waitFor } from "./state.ts";
import { ComposeError } from "./errors.ts";
import * as L from "./labels.ts";

/** What `run` overrides. */
export interface RunOptions {
  command?: string[];
  entrypoint?: string;
  env?: string[];
  user?: string;
  workdir?: string;
  name?: string;
  labels?: Record<string, string>;
  /** -v: binds/volumes added as `-v` would. */
  volumes?: string[];
  /** -p: port bindings added; --service-ports keeps the service's own. */
  publish?: Record<string, { HostIp: string; HostPort: string }[]>;
  servicePorts?: boolean;
  useAliases?: boolean;
  tty?: boolean;
  interactive?: boolean;
  rm?: boolean;
  noDeps?: boolean;
  capAdd?: string[];
  capDrop?: string[];
}

/** Starts the service's dependencies as `up` would and waits for their conditions (compose v2's startDependencies). */
export async function startDependencies(ctx: ComposeContext, service: string): Promise<void> {
  const deps = dependenciesOf(ctx.project, service);
  if (!deps.length) return;
  await up(ctx, { services: deps });
  for (const [d, cfg] of Object.entries(ctx.project.services[service]!.depends_on ?? {})) {
    const condition = cfg.condition ?? "service_started";
    if (condition === "service_started" || !(d in ctx.project.services)) continue;
    const list = await projectContainers(ctx.backend, ctx.project.name, { services: [d] });
    await waitFor(ctx, list.map((c) => ({ id: c.Id, name: L.canonicalName(c.Names), service: d })), condition);
  }
}

/** The one-off container's plan. */
export async function oneOffPlan(ctx: ComposeContext, service: string, opts: RunOptions): Promise<ContainerPlan> {
  if (!(service in ctx.project.services)) throw new ComposeError(`no such service: ${service}`);
  const svc = named(ctx, service);
  if (!opts.servicePorts) delete svc.ports;
  // A one-off container restarts never and keeps no container_name (compose v2 clears both).
  delete svc.restart;
  delete svc.container_name;
  if (svc.deploy?.restart_policy) svc.deploy = { ...svc.deploy, restart_policy: undefined };
  const first = async (s: string) => {
    const c = (await projectContainers(ctx.backend, ctx.project.name, { services: [s] }))[0];
    if (!c) throw new ComposeError(`service ${s} has no container to share with`);
    return c.Id;
  };
  const shared = new Map<string, string>();
  for (const mode of [svc.network_mode, svc.pid, svc.ipc, ...(svc.volumes_from ?? [])]) if (mode?.startsWith("service:")) shared.set(mode.slice(8), await first(mode.slice(8)));
  for (const v of svc.volumes_from ?? []) if (!v.startsWith("container:")) shared.set(v.split(":")[0]!, await first(v.split(":")[0]!));
  const slug = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
  const image = await ctx.backend.inspectImage(svc.image || `${ctx.project.name}-${service}`).catch(() => undefined);
  const plan = containerPlan(svc, {
    project: ctx.project,
    origin: ctx.origin,
    number: 1,
    hash: serviceHash(ctx.project.services[service]!),
    imageId: image?.Id,
    oneoff: true,
    name: opts.name || `${ctx.project.name}-${service}-run-${slug.slice(0, 12)}`,
    serviceContainer: (s) => shared.get(s) ?? "",
    useAliases: !!opts.useAliases,
    environment: ctx.environment,
  });
  const o: CreateOptions = plan.options;
  o.labels = { ...o.labels, ...(opts.labels ?? {}), [L.SLUG]: slug };
  if (opts.command?.length) o.cmd = opts.command;
  if (opts.entrypoint !== undefined) {
    o.entrypoint = commandOf(opts.entrypoint) ?? [];
    if (!opts.command?.length) delete o.cmd;
  }
  if (opts.env?.length) o.env = [...(o.env ?? []), ...opts.env];
  if (opts.user) o.user = opts.user;
  if (opts.workdir) o.workdir = opts.workdir;
  if (opts.volumes?.length) o.binds = [...(o.binds ?? []), ...opts.volumes];
  if (opts.publish) o.portBindings = { ...(o.portBindings ?? {}), ...opts.publish };
  if (opts.capAdd?.length) o.capAdd = [...(o.capAdd ?? []), ...opts.capAdd];
  if (opts.capDrop?.length) o.capDrop = [...(o.capDrop ?? []), ...opts.capDrop];
  o.tty = !!opts.tty;
  o.openStdin = !!opts.interactive;
  o.attach = { stdin: !!opts.interactive, stdout: true, stderr: true };
  if (opts.rm) o.autoRemove = true;
  return plan;
}
