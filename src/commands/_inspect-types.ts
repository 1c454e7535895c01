/**
 * The Go structs the docker CLI 28 decodes `inspect` JSON into (moby v28.2 api/types: image.InspectResponse
 * with dockerspec.DockerOCIImageConfig, container.InspectResponse with container.Config, State, HostConfig),
 * as far as a template can tell them from the JSON: the fields JSON omits or gives as null (there the struct
 * has its zero: "", false, [] for a nil slice, map[] for a nil map, <nil> for a nil pointer) and the values
 * Go prints its own way (time.Time, time.Duration). typedView marks an inspected object with them (GO_TYPED)
 * for renderInspect's typed pass (_output.ts); JSON output never sees the marks. Loaded only for a --format template.
 */
import { GO_TYPED, type TypedField } from "../go/template/index.ts";

/** A struct: its fields, and the nested structs among them. */
interface Shape {
  fields: Record<string, TypedField>;
  nested?: Record<string, Shape>;
}

const str: TypedField = { zero: "" };
const bool: TypedField = { zero: false };
const num: TypedField = { zero: 0 };
/** A nil slice or map: printed as [] or map[] (it is empty), marshalled by json as null (it is nil). */
const nil = <T extends object>(empty: T): T => Object.freeze(Object.defineProperty(empty, "toJSON", { value: () => null, enumerable: false }));
const slice: TypedField = { zero: nil([]) };
const map: TypedField = { zero: nil({}) };
const pointer: TypedField = { zero: null };

/** time.Time's String(): "2006-01-02 15:04:05.999999999 +0000 UTC" (the JSON's RFC 3339, in UTC). */
export function goTime(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(v);
  if (!m) return v;
  const frac = (m[3] ?? "").replace(/\.?0+$/, "");
  return `${m[1]} ${m[2]}${frac} +0000 UTC`;
}

/** time.Duration's String() of a count of nanoseconds: "1m30s", "500ms", "0s". */
export function goDuration(v: unknown): unknown {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) return v;
  if (v === 0) return "0s";
  const sign = v < 0 ? "-" : "";
  let ns = Math.abs(v);
  if (ns < 1e9) {
    // Below a second: the largest unit that keeps an integer part, with Go's trimmed fraction.
    const [unit, size] = ns < 1e3 ? ["ns", 1] : ns < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    return `${sign}${trimmed(ns / size)}${unit}`;
  }
  const h = Math.floor(ns / 3.6e12);
  ns -= h * 3.6e12;
  const m = Math.floor(ns / 6e10);
  ns -= m * 6e10;
  const s = `${trimmed(ns / 1e9)}s`;
  return `${sign}${h ? `${h}h${m}m` : m ? `${m}m` : ""}${s}`;
}

/** A number with up to 9 decimals, trailing zeros dropped (Go's fmtFrac). */
const trimmed = (x: number) => x.toFixed(9).replace(/\.?0+$/, "");

const time: TypedField = { convert: goTime };
/** A time.Duration: an omitted one is 0s (printed as Go does; Go's `if` would read it as false). */
const duration: TypedField = { zero: "0s", convert: goDuration };

/** container.HealthConfig / dockerspec.HealthcheckConfig. */
const healthcheck: Shape = { fields: { Test: slice, Interval: duration, Timeout: duration, StartPeriod: duration, StartInterval: duration, Retries: num } };

/** dockerspec.DockerOCIImageConfig: the OCI image config (every field omitempty) and Docker's extensions. */
const imageConfig: Shape = {
  fields: { User: str, ExposedPorts: map, Env: slice, Entrypoint: slice, Cmd: slice, Volumes: map, WorkingDir: str, Labels: map, StopSignal: str, ArgsEscaped: bool, Healthcheck: pointer, OnBuild: slice, Shell: slice },
  nested: { Healthcheck: healthcheck },
};

/** container.Config. */
const containerConfig: Shape = {
  fields: {
    ExposedPorts: map, Env: slice, Cmd: slice, Healthcheck: pointer, ArgsEscaped: bool, Volumes: map, Entrypoint: slice,
    NetworkDisabled: bool, MacAddress: str, OnBuild: slice, Labels: map, StopSignal: str, StopTimeout: pointer, Shell: slice,
  },
  nested: { Healthcheck: healthcheck },
};

/** container.HostConfig: its slices and maps (a nil one prints [] or map[]). */
const hostConfig: Shape = {
  fields: Object.fromEntries([
    ...["Binds", "Links", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "CapAdd", "CapDrop", "GroupAdd", "SecurityOpt", "VolumesFrom", "Devices", "DeviceCgroupRules", "DeviceRequests", "Ulimits", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "Mounts", "MaskedPaths", "ReadonlyPaths"].map((k) => [k, slice]),
    ...["Annotations", "PortBindings", "Tmpfs", "Sysctls", "StorageOpt"].map((k) => [k, map]),
  ]),
};

/** container.State and its Health. */
const state: Shape = {
  fields: { Health: pointer },
  nested: { Health: { fields: { Status: str, FailingStreak: num, Log: slice } } },
};

const shapes = {
  image: {
    fields: { Comment: str, Created: str, Container: str, ContainerConfig: pointer, Variant: str, OsVersion: str, Descriptor: pointer, Manifests: slice, RepoTags: slice, RepoDigests: slice },
    nested: { Config: imageConfig, ContainerConfig: containerConfig, Metadata: { fields: { LastTagTime: time } } },
  },
  container: {
    fields: { Args: slice, ExecIDs: slice, SizeRw: pointer, SizeRootFs: pointer, Mounts: slice, ImageManifestDescriptor: pointer },
    nested: { State: state, Config: containerConfig, HostConfig: hostConfig },
  },
} satisfies Record<string, Shape>;

/** Marks `value` (an inspect result) and its nested structs with their Go types; returns it. */
export function typedView<T>(kind: keyof typeof shapes, value: T): T {
  mark(value, shapes[kind]);
  return value;
}

function mark(v: unknown, shape: Shape): void {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return;
  Object.defineProperty(v, GO_TYPED, { value: shape.fields, enumerable: false, configurable: true });
  for (const [k, inner] of Object.entries(shape.nested ?? {})) mark((v as Record<string, unknown>)[k], inner);
}
