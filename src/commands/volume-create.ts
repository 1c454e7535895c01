/** `bunker volume create`: create a local volume (a random name when none is given); prints its name. */
import { CliError, defineCommand, flagError } from "./_cli.ts";
import { openBackend } from "./_backend.ts";

/** `--label` entries as a map (a bare KEY maps to ""), with the docker CLI's label checks. */
function labelMap(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const i = l.indexOf("=");
    const key = i < 0 ? l : l.slice(0, i);
    if (!key.trimStart()) throw flagError("label", l, `invalid label '${l}': empty name`);
    if (/\s/.test(key.trimStart())) throw flagError("label", l, `label '${key.trimStart()}' contains whitespaces`);
    out[key] = i < 0 ? "" : l.slice(i + 1);
  }
  return out;
}

export default defineCommand({
  meta: { name: "volume create", description: "Create a volume", usage: "[OPTIONS] [VOLUME]", aliases: ["bunker volume create"] },
  flags: {
    driver: { type: "string", alias: "d", description: "Specify volume driver name", default: "local", valueHint: "string" },
    label: { type: "string", multiple: true, description: "Set metadata for a volume", valueHint: "list" },
    name: { type: "string", description: "Specify volume name", hidden: true },
    opt: { type: "map", alias: "o", description: "Set driver specific options", valueHint: "map" },
  },
  args: { max: 1 },
  async run({ flags, args, global }) {
    if (args[0] !== undefined && flags.name) throw new CliError("conflicting options: cannot specify a volume-name through both --name and as a positional arg", 1);
    const backend = await openBackend(global);
    // Empty maps are left out, as the docker CLI's request omits them (the volume then shows null).
    const opts: Record<string, string> = flags.opt ?? {};
    const labels = labelMap(flags.label);
    const v = await backend.createVolume({ Name: args[0] ?? flags.name ?? "", Driver: flags.driver, ...(Object.keys(opts).length ? { DriverOpts: opts } : {}), ...(Object.keys(labels).length ? { Labels: labels } : {}) });
    console.log(v.Name);
    return 0;
  },
});
