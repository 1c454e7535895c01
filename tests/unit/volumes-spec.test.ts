/**
 * Mount policy without a kernel: the docker CLI's parsers (-v, --mount, --tmpfs) and the daemon's
 * (HostConfig.Binds, Mounts, Tmpfs, image VOLUMEs), with Docker's texts.
 */
import { describe, expect, test } from "bun:test";
import { parseBind, parseMount, parseMountFlag, parseTmpfsFlag, parseVolumeFlag, resolveMounts, tmpfsFlags, tmpfsSpecData } from "../../src/engine/volumes/spec.ts";
import { MS } from "../../src/sys/index.ts";

const none = () => false;
const all = () => true;

describe("the docker CLI's -v", () => {
  test("a source makes a bind entry, none an anonymous volume; ./ paths become absolute", () => {
    expect(parseVolumeFlag("/h:/c:ro")).toEqual({ bind: "/h:/c:ro" });
    expect(parseVolumeFlag("name:/c")).toEqual({ bind: "name:/c" });
    expect(parseVolumeFlag("/data")).toEqual({ volume: "/data" });
    expect(parseVolumeFlag("./rel/dir:/c:rw", "/work")).toEqual({ bind: "/work/rel/dir:/c:rw" });
    expect(parseVolumeFlag("../up:/c", "/work/x")).toEqual({ bind: "/work/up:/c" });
    // Not a path to the CLI: sent as is, refused by the daemon as a volume name.
    expect(parseVolumeFlag("rel/dir:/c")).toEqual({ bind: "rel/dir:/c" });
  });
  test("the CLI's errors", () => {
    expect(() => parseVolumeFlag("")).toThrow("invalid empty volume spec");
    expect(() => parseVolumeFlag("/a::/b")).toThrow("invalid spec: /a::/b: empty section between colons");
    expect(() => parseVolumeFlag("/a:/b:ro:x")).toThrow("invalid spec: /a:/b:ro:x: too many colons");
  });
});

describe("the docker CLI's --mount and --tmpfs", () => {
  test("keys and aliases, volume by default, options by type", () => {
    expect(parseMountFlag("type=bind,src=/h,dst=/c,readonly,bind-propagation=rshared")).toEqual({ Type: "bind", Source: "/h", Target: "/c", ReadOnly: true, BindOptions: { Propagation: "rshared" } });
    expect(parseMountFlag("source=v,target=/c,volume-nocopy,volume-label=a=b")).toEqual({ Type: "volume", Source: "v", Target: "/c", VolumeOptions: { NoCopy: true, Labels: { a: "b" }, DriverConfig: {} } });
    expect(parseMountFlag("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770")).toEqual({ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 64 << 20, Mode: 0o1770 } });
    expect(parseMountFlag('"type=bind","source=/a,b",target=/c')).toEqual({ Type: "bind", Source: "/a,b", Target: "/c" });
    expect(parseMountFlag("type=bind,src=./x,dst=/c", "/w").Source).toBe("/w/x");
  });
  test("the CLI's errors", () => {
    expect(() => parseMountFlag("type=bind,src=/h")).toThrow("target is required");
    expect(() => parseMountFlag("type=bind,src=/h,dst=/c,bogus=1")).toThrow("unexpected key 'bogus' in 'bogus=1'");
    expect(() => parseMountFlag("type=bind,src=/h,dst=/c,nope")).toThrow("invalid field 'nope' must be a key=value pair");
    expect(() => parseMountFlag("type=bind,src=/h,dst=/c,volume-nocopy")).toThrow("cannot mix 'volume-*' options with mount type 'bind'");
    expect(() => parseMountFlag("type=bind,src=/h,dst=/c,readonly=maybe")).toThrow("invalid value for readonly: maybe");
    expect(() => parseMountFlag("type=tmpfs,dst=/c,tmpfs-mode=9")).toThrow("invalid value for tmpfs-mode: 9");
    expect(() => parseMountFlag("type=bind,src=/h,dst=/c,bind-recursive=writable")).toThrow("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  });
  test("--tmpfs DEST[:OPTIONS]", () => {
    expect(parseTmpfsFlag("/run")).toEqual(["/run", ""]);
    expect(parseTmpfsFlag("/run:rw,size=64m")).toEqual(["/run", "rw,size=64m"]);
  });
});

describe("the daemon's Binds", () => {
  test("bind, named volume, anonymous volume; modes; rprivate by default; z for volumes", () => {
    expect(parseBind("/h/:/c/:ro")).toMatchObject({ Type: "bind", Source: "/h", Destination: "/c", RW: false, Mode: "ro", Propagation: "rprivate", CreateSource: true });
    expect(parseBind("/h:/c:rshared,z")).toMatchObject({ Type: "bind", RW: true, Mode: "rshared,z", Propagation: "rshared" });
    expect(parseBind("data:/c")).toMatchObject({ Type: "volume", Name: "data", Driver: "local", Mode: "z", RW: true, CopyData: true, Propagation: "" });
    expect(parseBind("data:/c:nocopy")).toMatchObject({ CopyData: false, Mode: "nocopy" });
    expect(parseBind("/c")).toMatchObject({ Type: "volume", Name: "", Destination: "/c" });
  });
  test("moby's errors", () => {
    expect(() => parseBind("/c:rw")).toThrow("invalid volume specification: '/c:rw'");
    expect(() => parseBind("/h:/c:bad")).toThrow("invalid mode: bad");
    expect(() => parseBind("/h:/c:ro,rw")).toThrow("invalid mode: ro,rw");
    expect(() => parseBind("/h:rel")).toThrow(`invalid volume specification: '/h:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
    expect(() => parseBind("/h:/")).toThrow(`invalid volume specification: '/h:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`);
    expect(() => parseBind("a:b:c:d")).toThrow("invalid volume specification: 'a:b:c:d'");
  });
});

describe("the daemon's Mounts", () => {
  test("a bind source must exist (unless CreateMountpoint); volumes and tmpfs", () => {
    expect(() => parseMount({ Type: "bind", Source: "/x", Target: "/c" }, none)).toThrow(`invalid mount config for type "bind": bind source path does not exist: /x`);
    expect(parseMount({ Type: "bind", Source: "/x", Target: "/c", BindOptions: { CreateMountpoint: true } }, none)).toMatchObject({ CreateSource: true });
    expect(parseMount({ Type: "bind", Source: "/x", Target: "/c" }, all)).toMatchObject({ Type: "bind", Mode: "", CreateSource: false, Propagation: "rprivate" });
    expect(parseMount({ Type: "volume", Source: "v", Target: "/c", VolumeOptions: { NoCopy: true } }, none)).toMatchObject({ Name: "v", Mode: "z", CopyData: false });
    expect(parseMount({ Type: "tmpfs", Target: "/t" }, none)).toMatchObject({ Type: "tmpfs", Source: "" });
  });
  test("moby's errors", () => {
    expect(() => parseMount({ Type: "bind", Target: "/c" }, all)).toThrow(`invalid mount config for type "bind": field Source must not be empty`);
    expect(() => parseMount({ Type: "bind", Source: "rel", Target: "/c" }, all)).toThrow(`invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
    expect(() => parseMount({ Type: "bind", Source: "/h", Target: "/c", BindOptions: { Propagation: "weird" } }, all)).toThrow("invalid propagation mode: weird");
    expect(() => parseMount({ Type: "volume", Target: "/c", ReadOnly: true }, all)).toThrow(`invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`);
    expect(() => parseMount({ Type: "tmpfs", Source: "x", Target: "/c" }, all)).toThrow(`invalid mount config for type "tmpfs": field Source must not be specified`);
    expect(() => parseMount({ Type: "nfs", Target: "/c" }, all)).toThrow(`invalid mount config for type "nfs": mount type unknown`);
    expect(() => parseMount({ Type: "bind", Source: "/h" }, all)).toThrow(`invalid mount config for type "bind": field Target must not be empty`);
  });
});

describe("a container's mounts", () => {
  test("image VOLUMEs become anonymous volumes unless something else mounts there; sorted by depth", () => {
    const { mounts } = resolveMounts({ binds: ["/h:/data/sub", "v1:/data"], volumes: { "/data": {}, "/cache/": {} } }, all);
    expect(mounts.map((m) => [m.Destination, m.Type, m.Name])).toEqual([["/data", "volume", "v1"], ["/cache", "volume", ""], ["/data/sub", "bind", ""]]);
  });
  test("a destination at most once, across Binds, Mounts and Tmpfs", () => {
    expect(() => resolveMounts({ binds: ["/a:/c", "/b:/c/"] }, all)).toThrow("Duplicate mount point: /c");
    expect(() => resolveMounts({ binds: ["/a:/c"], mounts: [{ Type: "bind", Source: "/b", Target: "/c" }] }, all)).toThrow("Duplicate mount point: /c");
    expect(() => resolveMounts({ binds: ["/a:/c"], tmpfs: { "/c": "" } }, all)).toThrow("Duplicate mount point: /c");
  });
  test("volume names are the local driver's; other drivers are missing plugins", () => {
    expect(() => resolveMounts({ binds: ["rel/dir:/c"] }, all)).toThrow(`create rel/dir: "rel/dir" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    expect(() => resolveMounts({ binds: ["x:/c"] }, all)).toThrow("create x: volume name is too short, names should be at least two alphanumeric characters");
    expect(() => resolveMounts({ mounts: [{ Type: "volume", Source: "vv", Target: "/c", VolumeOptions: { DriverConfig: { Name: "nfs" } } }] }, all)).toThrow(`create vv: error looking up volume plugin nfs: plugin "nfs" not found`);
  });
});

describe("tmpfs options", () => {
  test("Docker's defaults, later options win, always nodev", () => {
    expect(tmpfsFlags("")).toEqual({ flags: MS.NOEXEC | MS.NOSUID | MS.NODEV, data: "" });
    expect(tmpfsFlags("exec,suid,dev,size=64m,mode=1777,ro")).toEqual({ flags: MS.NODEV | MS.RDONLY, data: "size=64m,mode=1777" });
    expect(tmpfsFlags("size=1m,size=2m,rprivate")).toEqual({ flags: MS.NOEXEC | MS.NOSUID | MS.NODEV, data: "size=2m" });
    expect(() => tmpfsFlags("bogus")).toThrow('invalid tmpfs option ["bogus"]');
    expect(() => tmpfsFlags("color=red")).toThrow('invalid tmpfs option ["color" "red"]');
  });
  test("an API mount's TmpfsOptions as moby converts them", () => {
    expect(tmpfsSpecData({ Type: "tmpfs", Target: "/t", ReadOnly: true, TmpfsOptions: { SizeBytes: 3 << 20, Mode: 0o700, Options: [["exec"]] } })).toBe("ro,mode=700,size=3m,exec");
    expect(tmpfsSpecData({ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1000 } })).toBe("size=1000");
  });
});

describe("/proc destinations (runc's checkProcMount)", () => {
  const msg = (d: string) => `check proc-safety of ${d} mount: "${d}" cannot be mounted because it is inside /proc`;
  test("on /proc or inside it: refused for binds, volumes and tmpfs; the lxcfs files and a procfs on /proc pass", () => {
    expect(() => resolveMounts({ binds: ["v1:/proc"] }, all)).toThrow(msg("/proc"));
    expect(() => resolveMounts({ binds: ["/h:/proc/sys/"] }, all)).toThrow(msg("/proc/sys"));
    expect(() => resolveMounts({ mounts: [{ Type: "tmpfs", Target: "/proc/./1" }] }, all)).toThrow(msg("/proc/1"));
    expect(() => resolveMounts({ tmpfs: { "/proc": "" } }, all)).toThrow(msg("/proc"));
    expect(() => resolveMounts({ volumes: { "/proc/x": {} } }, all)).toThrow(msg("/proc/x"));
    expect(() => resolveMounts({ binds: ["/proc:/proc"] }, all)).toThrow(msg("/proc"));
    expect(resolveMounts({ binds: ["/proc:/proc"] }, all, (p) => p === "/proc").mounts.map((m) => m.Destination)).toEqual(["/proc"]);
    expect(resolveMounts({ binds: ["/h/u:/proc/uptime:ro", "/h/m:/proc/meminfo"] }, all).mounts.length).toBe(2);
    expect(resolveMounts({ binds: ["/h:/procfs", "/h:/x/proc"] }, all).mounts.length).toBe(2);
  });

  test("ReadOnlyNonRecursive and ReadOnlyForceRecursive together: moby's conflict", () => {
    expect(() => parseMount({ Type: "bind", Source: "/h", Target: "/x", ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true, ReadOnlyForceRecursive: true } }, all)).toThrow("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive");
  });
});
