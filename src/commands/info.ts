/** `bunker info`: system-wide information, in `docker info`'s layout. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { renderFormatted, binarySize } from "./_output.ts";
import { version } from "../version.ts";

/** `info`'s PortForwarding values, explained (see src/engine/network/README.md). */
const PORT_FORWARDING: Record<string, string> = {
  iptables: "iptables (kernel DNAT; 127.0.0.1 through route_localnet)",
  "userland-proxy": "userland-proxy (each container's supervisor relays its published ports)",
  none: "none (iptables unavailable or disabled, and --userland-proxy=false: published ports do not work)",
};

export default defineCommand({
  meta: { name: "info", description: "Display system-wide information", usage: "[OPTIONS]", aliases: ["bunker system info", "bunker info"] },
  flags: { format: { type: "string", alias: "f", description: "Format output using a custom template", valueHint: "string" } },
  args: { max: 0 },
  async run({ flags, global }) {
    const info = await (await openBackend(global)).info();
    if (flags.format) {
      console.log(renderFormatted(flags.format, [info]));
      return 0;
    }
    const list = (title: string, xs: string[]) => (xs.length ? [` ${title}:`, ...xs.map((x) => `  ${x}`)] : []);
    console.log(
      [
        "Client:",
        ` Version:    ${version}`,
        " Context:    default",
        ` Debug Mode: ${info.Debug}`,
        "",
        "Server:",
        ` Containers: ${info.Containers}`,
        `  Running: ${info.ContainersRunning}`,
        `  Paused: ${info.ContainersPaused}`,
        `  Stopped: ${info.ContainersStopped}`,
        ` Images: ${info.Images}`,
        ` Server Version: ${info.ServerVersion}`,
        ` Storage Driver: ${info.Driver}`,
        ...info.DriverStatus.map(([k, v]) => `  ${k}: ${v}`),
        ` Logging Driver: ${info.LoggingDriver}`,
        ` Cgroup Driver: ${info.CgroupDriver}`,
        ` Cgroup Version: ${info.CgroupVersion}`,
        ` Plugins:`,
        `  Network: ${info.Plugins.Network.join(" ")}`,
        ` Swarm: ${info.Swarm.LocalNodeState}`,
        ` Port Forwarding: ${PORT_FORWARDING[info.PortForwarding] ?? info.PortForwarding}`,
        // "name=seccomp,profile=builtin" as the docker CLI prints it: the name, then only its profile.
        ...(info.SecurityOptions.length ? [" Security Options:"] : []),
        ...info.SecurityOptions.flatMap((o: string) => {
          const kv = Object.fromEntries(o.split(",").map((p) => p.split("=", 2) as [string, string]));
          return [`  ${kv.name}`, ...(kv.profile ? [`   Profile: ${kv.profile}`] : [])];
        }),
        ` Kernel Version: ${info.KernelVersion}`,
        ` Operating System: ${info.OperatingSystem}`,
        ` OSType: ${info.OSType}`,
        ` Architecture: ${info.Architecture}`,
        ` CPUs: ${info.NCPU}`,
        ` Total Memory: ${binarySize(info.MemTotal)}`,
        ` Name: ${info.Name}`,
        ` ID: ${info.ID}`,
        ` Docker Root Dir: ${info.DockerRootDir}`,
        ` Debug Mode: ${info.Debug}`,
        ` Experimental: false`,
        ...list("Insecure Registries", [...info.RegistryConfig.InsecureRegistries, ...info.RegistryConfig.InsecureRegistryCIDRs]),
        ...list("Registry Mirrors", info.RegistryConfig.Mirrors.map((m) => `${m}/`)),
        ` Live Restore Enabled: ${info.LiveRestoreEnabled}`,
      ].join("\n"),
    );
    return 0;
  },
});
