/**
 * The wire contract both transports share (src/api/wire.ts): the create body the client sends for a set of
 * CreateOptions reads back, on the server, into the same CreateOptions.
 */
import { describe, expect, test } from "bun:test";
import { createBody, createOptionsOf } from "../../src/api/wire.ts";
import type { CreateOptions } from "../../src/engine/containers/manager.ts";

/** Every option that travels in the body, each set to a value other than its default. */
const full: CreateOptions = {
  image: "busybox:latest",
  name: "web",
  cmd: ["sh", "-c", "echo hi"],
  entrypoint: ["/bin/tini", "--"],
  env: ["A=1", "B=two words"],
  workdir: "/srv",
  user: "1000:1000",
  hostname: "box",
  tty: true,
  openStdin: true,
  stdinOnce: false,
  attach: { stdin: true, stdout: true, stderr: false },
  labels: { "com.example.a": "1" },
  restart: { Name: "on-failure", MaximumRetryCount: 3 },
  networkMode: "appnet",
  portBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] },
  exposedPorts: ["53/udp", "80/tcp"],
  publishAll: true,
  networkAliases: ["db", "cache"],
  ipv4Address: "10.9.0.5",
  capAdd: ["NET_ADMIN"],
  capDrop: ["MKNOD"],
  privileged: true,
  securityOpt: ["no-new-privileges"],
  autoRemove: true,
  logConfig: { "max-size": "1m", "max-file": "2" },
  stopSignal: "SIGINT",
  stopTimeout: 7,
  binds: ["/srv/data:/data:ro"],
  mounts: [{ Type: "bind", Source: "/etc/hosts", Target: "/h", ReadOnly: true }],
  tmpfs: { "/run": "size=1m" },
  volumes: ["/cache"],
  extraHosts: ["gw:10.9.0.1"],
  dns: ["10.9.0.1"],
  dnsSearch: ["example.test"],
  dnsOptions: ["ndots:2"],
  resources: { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 500_000_000, CpuShares: 512, PidsLimit: 100, CpuPeriod: 100_000, CpuQuota: 50_000, CpusetCpus: "0", CpusetMems: "0", BlkioWeight: 300, OomKillDisable: true },
  oomScoreAdj: 500,
  shmSize: 1 << 20,
  ulimits: [{ Name: "nofile", Soft: 1024, Hard: 2048 }],
  readonlyRootfs: true,
  init: true,
  sysctls: { "net.ipv4.ip_forward": "1" },
  devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/nul2", CgroupPermissions: "rwm" }],
  deviceCgroupRules: ["c 1:3 rwm"],
  cgroupnsMode: "private",
  pidMode: "container:db",
  ipcMode: "shareable",
  utsMode: "host",
  groupAdd: ["audio", "1234"],
  links: ["db:database"],
  volumesFrom: ["data:ro"],
  macAddress: "02:42:ac:11:00:09",
};

/** What the body carries: the whole options less the query parameters (name, platform). */
const roundTrip = (o: CreateOptions) => createOptionsOf(JSON.parse(JSON.stringify(createBody(o))), o.name).opts;

describe("create body", () => {
  test("createOptionsOf(createBody(x)) equals x for every option on the wire", () => {
    expect(roundTrip(full)).toEqual(full);
  });

  test("the defaults the docker CLI sends read back as the defaults", () => {
    expect(roundTrip({ image: "busybox" })).toEqual({
      image: "busybox",
      tty: false,
      openStdin: false,
      stdinOnce: false,
      attach: { stdin: false, stdout: false, stderr: false },
      labels: {},
      restart: { Name: "no", MaximumRetryCount: 0 },
      networkMode: "default",
      portBindings: {},
      publishAll: false,
      privileged: false,
      autoRemove: false,
      logConfig: {},
      env: [],
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      devices: [],
      resources: { Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, CpuPeriod: 0, CpuQuota: 0, BlkioWeight: 0, OomKillDisable: false },
      shmSize: 0,
      readonlyRootfs: false,
      init: false,
    });
  });

  test("links and the MAC address as other clients send them: per endpoint, or the deprecated Config.MacAddress", () => {
    const read = (body: object) => createOptionsOf({ Image: "busybox", ...body }, undefined).opts;
    expect(read({ MacAddress: "02:42:ac:11:00:0a" }).macAddress).toBe("02:42:ac:11:00:0a");
    const ep = read({ NetworkingConfig: { EndpointsConfig: { appnet: { Links: ["db:d"], MacAddress: "02:42:ac:11:00:0b" } } } });
    expect([ep.links, ep.macAddress]).toEqual([["db:d"], "02:42:ac:11:00:0b"]);
    expect(() => read({ MacAddress: "02:42:ac:11:00:0a", NetworkingConfig: { EndpointsConfig: { x: { MacAddress: "02:42:ac:11:00:0b" } } } })).toThrow("conflicting options: cannot specify both --mac-address and per-network MAC address");
    expect(() => read({ HostConfig: { PidMode: 1 } })).toThrow("HostConfig.PidMode");
  });

  test("a string entrypoint (the CLI's --entrypoint) travels as a one-element array", () => {
    expect(roundTrip({ image: "busybox", entrypoint: "" }).entrypoint).toEqual([""]);
    expect(roundTrip({ image: "busybox", entrypoint: "/bin/sh" }).entrypoint).toEqual(["/bin/sh"]);
  });
});
