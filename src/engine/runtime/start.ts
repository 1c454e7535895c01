/**
 * Starting a container: write the plan and the /etc files into the container dir, then spawn the shim,
 * which prints the container's pid once it runs (or, attached, once it waits at the start barrier).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { EngineError, noSuchContainer } from "../errors.ts";
import { attachContainer, type AttachHandlers, type Attachment } from "./attach.ts";
import { shimPath } from "./shim-binary.ts";
import { encodePlan, hostsFile, resolvConf, type ContainerPlan } from "./spec.ts";

/** A start failure; exitCode is the shim's status for it (125 runtime failure, 126 not executable, 127 not found). */
export class ContainerStartError extends EngineError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super("system", message, { code: "startFailed" });
    this.name = "ContainerStartError";
  }
}

/** The json-file log of a container, named as Docker names it. */
export function logPath(plan: Pick<ContainerPlan, "id" | "containerDir">): string {
  return join(plan.containerDir, `${plan.id}-json.log`);
}

/** Writes hostname, hosts and resolv.conf into the container dir unless the engine already did. */
export function writeEtcFiles(plan: Pick<ContainerPlan, "containerDir" | "hostname" | "network">): void {
  const put = (name: string, content: () => string) => {
    const p = join(plan.containerDir, name);
    if (!existsSync(p)) writeFileSync(p, content());
  };
  put("hostname", () => `${plan.hostname}\n`);
  put("hosts", () => (plan.network === "host" ? readFileSync("/etc/hosts", "utf8") : hostsFile(plan.hostname)));
  put("resolv.conf", () => {
    let host = "";
    try {
      host = readFileSync("/etc/resolv.conf", "utf8");
    } catch {}
    return resolvConf(plan.network, host);
  });
}

/** Options for startContainer. */
export interface StartOptions extends AttachHandlers {
  /** The data root the shim is installed under (<dataRoot>/bin). */
  dataRoot?: string;
  /** Attached: return after the exec (the shim's next status record), not at the start barrier. */
  untilRunning?: boolean;
}

/**
 * Starts a container under its own supervisor and returns once it runs. "detached": the call returns
 * after exec. "attached": the container waits until this call has attached, so no output is missed; use
 * `attach` to relay stdin/resizes and `attach.exited` for the exit code.
 */
export async function startContainer(
  plan: ContainerPlan,
  stdio: "detached" | "attached" = "detached",
  opts: StartOptions = {},
): Promise<{ pid: number; attach?: Attachment }> {
  const planBytes = encodePlan(plan, { waitAttach: stdio === "attached", logPath: plan.noLog ? "" : logPath(plan) });
  // The directories are the caller's (made at create): never made again here. A start that raced a removal
  // (rm -f or container prune in another request, once the start had read the row) would otherwise bring
  // back a directory no row names and run a container nothing lists; it is "No such container" instead.
  if (!statSync(plan.containerDir, { throwIfNoEntry: false })?.isDirectory()) throw noSuchContainer(basename(plan.containerDir));
  try {
    mkdirSync(plan.rootfs.mergedDir); // not recursive: its layer directory must still be there
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  writeEtcFiles(plan);
  const planFile = join(plan.containerDir, "plan");
  // The shim replaces status.json (rename: a new inode) after the exec or a failed start.
  const statusFile = join(plan.containerDir, "status.json");
  const before = statSync(statusFile, { throwIfNoEntry: false })?.ino;
  writeFileSync(planFile, planBytes, { mode: 0o600 });
  const shim = await shimPath(opts.dataRoot ?? join(plan.containerDir, "..", ".."));
  const proc = Bun.spawn([shim, "run", planFile], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new ContainerStartError(err.trim() || `shim exited with ${code}`, code === 2 ? 125 : code);
  const pid = Number(out.trim());
  if (stdio === "detached") return { pid };
  const attach = await attachContainer(plan.containerDir, opts, { start: true });
  for (let i = 0; opts.untilRunning && i < 5000 && statSync(statusFile, { throwIfNoEntry: false })?.ino === before; i++) await Bun.sleep(1);
  return { pid, attach };
}
