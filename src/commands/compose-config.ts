/**
 * `bunker compose config`: the project normalised, as `docker compose config` prints it (YAML or JSON), or one
 * of its lists (--services, --volumes, --profiles, --images); -q only validates.
 */
import { CliError, type Command } from "./_cli.ts";
import { composeFlags, loadComposeProject } from "./_compose.ts";

const config: Command = {
  meta: { name: "config", description: "Parse, resolve and render compose file in canonical format", usage: "[OPTIONS] [SERVICE...]" },
  flags: {
    ...composeFlags,
    format: { type: "string", description: 'Format the output. Values: [yaml | json] (default "yaml")', valueHint: "string" },
    services: { type: "boolean", description: "Print the service names, one per line" },
    volumes: { type: "boolean", description: "Print the volume names, one per line" },
    profiles: { type: "boolean", description: "Print the profile names, one per line" },
    images: { type: "boolean", description: "Print the image names, one per line" },
    environment: { type: "boolean", description: "Print environment used for interpolation" },
    hash: { type: "string", description: "Print the service config hash, one per line", valueHint: "string" },
    quiet: { type: "boolean", alias: "q", description: "Only validate the configuration, don't print anything" },
    "no-interpolate": { type: "boolean", description: "Don't interpolate environment variables" },
    "no-normalize": { type: "boolean", description: "Don't normalize compose model" },
    output: { type: "string", alias: "o", description: "Save to file (default to stdout)", valueHint: "string" },
  },
  async run({ flags, args }) {
    const format = (flags.format as string | undefined) ?? "yaml";
    if (format !== "yaml" && format !== "json") throw new CliError(`unsupported format ${JSON.stringify(format)}`, 1);
    const loaded = await loadComposeProject(flags, { services: args, interpolate: !flags["no-interpolate"], normalize: !flags["no-normalize"], discardEnvFiles: true });
    const meta = loaded.meta;
    let project = loaded.project;
    for (const s of args) if (!project.services[s]) throw new CliError(`no such service: ${s}`, 1);
    if (args.length) {
      // Only the named services (and what they depend on), as docker compose does.
      const keep = new Set<string>();
      const add = (n: string) => {
        if (keep.has(n) || !project.services[n]) return;
        keep.add(n);
        for (const d of Object.keys(project.services[n]!.depends_on ?? {})) add(d);
      };
      args.forEach(add);
      project.services = Object.fromEntries(Object.entries(project.services).filter(([n]) => keep.has(n)));
    }
    const { checkContainerNames, withoutUnusedResources } = await import("../compose/normalize.ts");
    // Resources are kept for the services printed, as docker compose selects, then prunes.
    if (args.length && !flags["all-resources"]) project = withoutUnusedResources(project);
    try {
      checkContainerNames(project);
    } catch (e) {
      throw new CliError((e as Error).message, 1);
    }
    let out: string;
    if (flags.hash !== undefined) {
      const { serviceHash } = await import("../compose/output.ts");
      const names = flags.hash === "*" ? Object.keys(project.services) : String(flags.hash).split(",");
      out = "";
      for (const n of [...names].sort()) {
        const s = project.services[n];
        if (!s) throw new CliError(`no such service: ${n}`, 1);
        out += `${n} ${serviceHash(s)}\n`;
      }
    } else if (flags.environment) out = Object.entries(meta.environment).map(([k, v]) => `${k}=${v}`).sort().map((l) => `${l}\n`).join("");
    else if (flags.services) out = Object.keys(project.services).map((s) => `${s}\n`).join("");
    else if (flags.volumes) out = Object.keys(project.volumes ?? {}).map((v) => `${v}\n`).join("");
    else if (flags.profiles) {
      const all = new Set<string>();
      for (const s of [...Object.values(project.services), ...Object.values(meta.disabledServices)]) for (const p of s.profiles ?? []) all.add(p);
      out = [...all].sort().map((p) => `${p}\n`).join("");
    } else if (flags.images) {
      out = Object.entries(project.services).map(([n, s]) => `${s.image ?? `${project.name}-${n}`}\n`).join("");
    } else {
      const { projectJson, projectYaml } = await import("../compose/output.ts");
      out = format === "json" ? projectJson(project) : projectYaml(project);
      // As docker compose: an interpolated model is printed with each `$` doubled, so it reads back the same.
      if (!flags["no-interpolate"] && out.includes("$")) out = out.replaceAll("$", "$$$$");
    }
    if (flags.quiet) return 0;
    // Bun.write, not process.stdout: Node's stream machinery costs more than the rest of `config`.
    await Bun.write(flags.output ? flags.output : Bun.stdout, out);
    return 0;
  },
};

export default config;
