/** `bunker version`: client and engine versions, in `docker version`'s layout. */
import { defineCommand } from "./_cli.ts";
import { renderFormatted } from "./_output.ts";

export default defineCommand({
  meta: { name: "version", description: "Show the Bunker version information", usage: "[OPTIONS]" },
  flags: { format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" } },
  args: { max: 0 },
  async run({ flags }) {
    const { systemVersion } = await import("../engine/system.ts");
    const v = systemVersion();
    const client = { Version: v.Version, ApiVersion: v.ApiVersion, GoVersion: v.GoVersion, GitCommit: v.GitCommit, BuiltTime: v.BuildTime, Os: v.Os, Arch: v.Arch, Context: "default" };
    if (flags.format) {
      console.log(renderFormatted(flags.format, [{ Client: client, Server: v }]));
      return 0;
    }
    const e = v.Components[0]!.Details;
    console.log(
      [
        "Client:",
        ` Version:           ${v.Version}`,
        ` API version:       ${v.ApiVersion}`,
        ` Runtime:           ${v.GoVersion}`,
        ` Git commit:        ${v.GitCommit}`,
        ` Built:             ${v.BuildTime}`,
        ` OS/Arch:           ${v.Os}/${v.Arch}`,
        " Context:           default",
        "",
        `Server: ${v.Platform.Name}`,
        " Engine:",
        `  Version:          ${v.Version}`,
        `  API version:      ${e.ApiVersion} (minimum version ${e.MinAPIVersion})`,
        `  Runtime:          ${v.GoVersion}`,
        `  Git commit:       ${v.GitCommit}`,
        `  Built:            ${v.BuildTime}`,
        `  OS/Arch:          ${v.Os}/${v.Arch}`,
        `  Experimental:     false`,
      ].join("\n"),
    );
    return 0;
  },
});
