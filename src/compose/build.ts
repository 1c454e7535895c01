/**
 * `build:` sections through the Backend's builder (docker compose v2's build.go with the classic builder):
 * each service's BuildConfig as the builder's request, its image tagged `image:` or `<project>-<service>`.
 * Every build key the builder lacks is refused, naming it.
 */
import type { BuildRequest } from "../api/backend.ts";
import type { BuildConfig } from "./model.ts";
import { ComposeError } from "./errors.ts";
import type { ComposeContext } from "./state.ts";
import { imageOf } from "./convert.ts";

/** Build keys the builder does not take. */
const UNSUPPORTED: (keyof BuildConfig)[] = ["ssh", "cache_to", "additional_contexts", "isolation", "privileged", "secrets"];

/** The builder's request for one service's build section. */
export function buildRequest(ctx: ComposeContext, service: string, opts: { noCache?: boolean; pull?: boolean } = {}): BuildRequest {
  const svc = ctx.project.services[service]!;
  const b = svc.build!;
  for (const k of UNSUPPORTED) {
    const v = b[k];
    if (v !== undefined && v !== false && !(Array.isArray(v) && !v.length) && !(typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length)) throw new ComposeError(`service "${service}": build.${k} is not supported by bunker compose`);
  }
  if ((b.platforms?.length ?? 0) > 1) throw new ComposeError(`service "${service}": build.platforms with more than one platform is not supported by bunker compose`);
  if (!b.context || /^[a-z]+:\/\//.test(b.context) || b.context.startsWith("git@")) throw new ComposeError(`service "${service}": build.context must be a local directory for bunker compose (got ${b.context})`);
  const network = b.network ?? "default";
  if (!["default", "none", "host"].includes(network)) throw new ComposeError(`service "${service}": build.network ${network} is not supported by bunker compose (default, none or host)`);
  const args = new Map<string, string>();
  for (const [k, v] of Object.entries(b.args ?? {})) if (v !== null) args.set(k, v);
  return {
    context: { dir: b.context },
    dockerfile: b.dockerfile_inline !== undefined ? { text: b.dockerfile_inline, name: "Dockerfile" } : { path: b.dockerfile ?? "Dockerfile" },
    tags: [imageOf(ctx.project, { ...svc, name: service }), ...(b.tags ?? [])],
    buildArgs: args,
    labels: b.labels ?? {},
    ...(b.target ? { target: b.target } : {}),
    noCache: !!(opts.noCache || b.no_cache),
    pull: !!(opts.pull || b.pull),
    cacheFrom: b.cache_from ?? [],
    network: network as BuildRequest["network"],
    extraHosts: Object.entries(b.extra_hosts ?? {}).flatMap(([name, ips]) => ips.map((address) => ({ name, address }))),
    shmSize: b.shm_size ?? 0,
    ulimits: Object.entries(b.ulimits ?? {}).map(([name, u]) => ({ name, soft: u.single ?? u.soft ?? 0, hard: u.single ?? u.hard ?? 0 })),
    secrets: new Map(),
    ...(b.platforms?.[0] ? { platform: b.platforms[0] } : {}),
  };
}

/** Builds one service's image; resolves to its ID. Output of RUN steps goes to stderr. */
export async function buildService(ctx: ComposeContext, service: string, opts: { noCache?: boolean; pull?: boolean; quiet?: boolean } = {}): Promise<string> {
  const backend = ctx.backend;
  const req = buildRequest(ctx, service, opts);
  ctx.progress.event(`Service ${service}`, "Building");
  const result = await backend.build(req, (e) => {
    if (opts.quiet) return;
    if (e.type === "log" && e.data) ctx.progress.raw(e.data);
    else if (e.type === "warning" && e.message) ctx.progress.warn(e.message);
  });
  ctx.progress.event(`Service ${service}`, "Built");
  return result.id;
}
