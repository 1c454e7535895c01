/** `bunker version`: client and engine versions, in `docker version`'s layout. */
import { defineCommand } from "./_cli.ts";
import { renderFormatted } from "./_output.ts";

export default defineCommand({
  meta: { name: "version", description: "Show the Bunker version information", usage: "[OPTIONS]" },
  flags: { format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" } },
  args: { max: 0 },
  async run({ flags, global }) {
    const { systemVersion } = await import("../engine/system.ts");
    const { openBackend } = await import("./_backend.ts");
    const client = systemVersion();
    const v = await (await openBackend(global)).version();
    const clientInfo = { Version: client.Version, ApiVersion: client.ApiVersion, GoVersion: client.GoVersion, GitCommit: client.GitCommit, BuiltTime: client.BuildTime, Os: client.Os, Arch: client.Arch, Context: "default" };
    if (flags.format) {
      console.log(renderFormatted(flags.format, [{ Client: clientInfo, Server: v }]));
      return 0;
    }
    const e = v.Components[0]!.Details;
    console.log(
      [
        "Client:",
        ` Version:           ${client.Version}`,
        ` API version:       ${client.ApiVersion}`,
        ` Runtime:           ${client.GoVersion}`,
        ` Git commit:        ${client.GitCommit}`,
        ` Built:             ${client.BuildTime}`,
        ` OS/Arch:           ${client.Os}/${client.Arch}`,
        " Context:           default",
        "",
        `Server: ${v.Platform.Name}`,
        " Engine:",
        `  Version:          ${v.Version}`,
        `  API version:      ${e.ApiVersion} (minimum version ${e.MinAPIVersion})`,
        `  Runtime:          ${e.GoVersion ?? v.GoVersion}`,
        `  Git commit:       ${v.GitCommit}`,
        `  Built:            ${v.BuildTime}`,
        `  OS/Arch:          ${v.Os}/${v.Arch}`,
        `  Experimental:     false`,
      ].join("\n"),
    );
    return 0;
  },
});
