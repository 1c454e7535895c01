/**
 * The container runtime: starts containers in their own namespaces under a small per-container C
 * supervisor (shim/), and reads back what it records. See README.md for the design and its numbers.
 */
export { attachContainer, type AttachHandlers, type Attachment } from "./attach.ts";
export { execEnv, execInContainer, ExecStartError, readExecStatus, type ExecOptions, type ExecStatus } from "./exec.ts";
export { ContainerStartError, logPath, startContainer, writeEtcFiles, type StartOptions } from "./start.ts";
export { readContainerStatus, signalContainer, signalNumber, type ContainerStatus } from "./status.ts";
export {
  buildMounts,
  capabilityMask,
  containerEnv,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  encodePlan,
  resolveCapabilities,
  type ContainerPlan,
  type MountOp,
} from "./spec.ts";
