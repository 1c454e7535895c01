/** `bunker compose exec`: a command in a running service container (by --index), through `bunker exec`. */
import { isTerminal } from "./_terminal.ts";
import { composeFlags } from "./_compose.ts";
import { defineCommand, parseFlags } from "./_cli.ts";
import { openProject } from "./_compose-project.ts";
import { projectContainers } from "../compose/state.ts";
import * as L from "../compose/labels.ts";
import { ComposeError } from "../compose/errors.ts";

export default defineCommand({
  meta: { name: "exec", description: "Execute a command in a running container", usage: "[OPTIONS] SERVICE COMMAND [ARGS...]" },
  flags: {
    ...composeFlags,
    detach: { type: "boolean", alias: "d", description: "Detached mode: Run command in the background" },
    env: { type: "string", alias: "e", multiple: true, description: "Set environment variables", valueHint: "stringArray" },
    index: { type: "int", description: "Index of the container if service has multiple replicas", valueHint: "int", default: "1" },
    "no-TTY": { type: "boolean", alias: "T", description: "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY." },
    privileged: { type: "boolean", description: "Give extended privileges to the process" },
    user: { type: "string", alias: "u", description: "Run the command as this user", valueHint: "string" },
    workdir: { type: "string", alias: "w", description: "Path to workdir directory for this command", valueHint: "string" },
  },
  interspersed: false,
  args: { min: 2 },
  async run(inv) {
    const { flags, args } = inv;
    const ctx = await openProject(inv, { labelsOnly: true });
    const [service, ...command] = args;
    if (Object.keys(ctx.project.services).length && !(service! in ctx.project.services)) throw new ComposeError(`no such service: ${service}`);
    const found = (await projectContainers(ctx.backend, ctx.project.name, { services: [service!], running: true })).find((c) => L.numberOf(c.Labels) === flags.index);
    if (!found) throw new ComposeError(`service "${service}" is not running`);
    // A TTY unless -T, as compose v2 (and only when there is a terminal to give it); stdin always.
    const tty = !flags["no-TTY"] && !flags.detach && isTerminal(0);
    const argv = [
      ...(flags.detach ? ["-d"] : ["-i"]),
      ...(tty ? ["-t"] : []),
      ...(flags.env ?? []).flatMap((e: string) => ["-e", e]),
      ...(flags.user ? ["-u", flags.user] : []),
      ...(flags.workdir ? ["-w", flags.workdir] : []),
      ...(flags.privileged ? ["--privileged"] : []),
      found.Id,
      ...command,
    ];
    const exec = (await import("./exec.ts")).default;
    const sub = parseFlags(argv, exec, "bunker exec");
    sub.global = inv.global;
    return (await exec.run(sub)) ?? 0;
  },
});
