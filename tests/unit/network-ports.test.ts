/** -p parsing, ps's PORTS column, NetworkSettings.Ports, and the IPAM arithmetic (pure functions). */
import { describe, expect, test } from "bun:test";
import { checkExposedPorts, checkPortBindings, displayPorts, networkSettingsPorts, parsePublish, publishAll } from "../../src/engine/network/ports.ts";
import { applyBatch, networkRules, portRules } from "../../src/engine/network/host.ts";
import { addAddress, deleteAddress, linkDown, linkUp, newBridge, renameLink, setLink } from "../../src/engine/network/rtnl.ts";
import { cidrString, hostRoutes, ipToNum, macFor, numToIp, overlaps, parseBridgeName, parseCidr, parseIPv4, pickSubnet } from "../../src/engine/network/ipam.ts";

describe("parsePublish (the docker CLI's nat.ParsePortSpec)", () => {
  test("forms", () => {
    expect(parsePublish(["8080:80"])).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "8080" }] });
    expect(parsePublish(["80"])).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "" }] });
    expect(parsePublish(["127.0.0.1:8080:80/udp"])).toEqual({ "80/udp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] });
    expect(parsePublish(["127.0.0.1::80"])).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
    expect(parsePublish(["8000-8001:80-81"])).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "8000" }], "81/tcp": [{ HostIp: "", HostPort: "8001" }] });
    expect(parsePublish(["1:80", "2:80"])).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "1" }, { HostIp: "", HostPort: "2" }] });
  });
  test("errors", () => {
    expect(() => parsePublish(["x:80"])).toThrow("invalid hostPort: x");
    expect(() => parsePublish(["80/icmp"])).toThrow("invalid proto: icmp");
    expect(() => parsePublish(["99999"])).toThrow("invalid containerPort: 99999");
    expect(() => parsePublish(["1-3:80-81"])).toThrow("invalid ranges");
  });
  test("-P adds every exposed port without overriding -p", () => {
    expect(publishAll({ "80/tcp": {}, "53/udp": {} }, { "80/tcp": [{ HostIp: "", HostPort: "1" }] })).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "1" }], "53/udp": [{ HostIp: "", HostPort: "" }] });
  });
});

describe("ports as ps and inspect show them", () => {
  test("displayPorts merges ranges and keeps private ones", () => {
    expect(displayPorts([{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" }, { PrivatePort: 443, Type: "tcp" }])).toBe("0.0.0.0:8080->80/tcp, 443/tcp");
    expect(displayPorts([80, 81, 82].map((p) => ({ IP: "0.0.0.0", PrivatePort: p, PublicPort: p + 1000, Type: "tcp" })))).toBe("0.0.0.0:1080-1082->80-82/tcp");
    expect(displayPorts([])).toBe("");
  });
  test("NetworkSettings.Ports: exposed without mapping are null", () => {
    expect(networkSettingsPorts({ "80/tcp": {}, "443/tcp": {} }, [{ proto: "tcp", hostIp: parseIPv4("0.0.0.0"), hostPort: 8080, containerPort: 80 }])).toEqual({ "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }], "443/tcp": null });
  });
});

describe("IPAM arithmetic", () => {
  test("addresses and CIDRs", () => {
    expect(numToIp(ipToNum("10.199.0.1"))).toBe("10.199.0.1");
    expect(cidrString(parseCidr("10.199.3.1/16"))).toBe("10.199.0.0/16");
    expect(parseCidr("10.199.3.1/16").address).toBe(ipToNum("10.199.3.1"));
    expect(macFor("10.199.0.2")).toBe("02:42:0a:c7:00:02");
    expect(() => parseCidr("10.1.2.3")).toThrow();
  });
  test("subnets avoid what is taken, including host routes", () => {
    const taken = [parseCidr("10.200.0.0/24"), parseCidr("10.200.2.0/23")];
    expect(overlaps(parseCidr("10.200.0.0/16"), parseCidr("10.200.5.0/24"))).toBe(true);
    expect(cidrString(pickSubnet([{ base: "10.200.0.0/14", size: 24 }], taken)!)).toBe("10.200.1.0/24");
    expect(cidrString(pickSubnet([{ base: "10.200.0.0/14", size: 24 }], [...taken, parseCidr("10.200.1.0/24")])!)).toBe("10.200.4.0/24");
    expect(pickSubnet([{ base: "10.0.0.0/24", size: 24 }], [parseCidr("10.0.0.0/8")])).toBeUndefined();
    const route = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nbr0\t0000C80A\t00000000\t0001\t0\t0\t0\t0000FFFF\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n";
    expect(hostRoutes(route).map(cidrString)).toEqual(["10.200.0.0/16"]);
  });
});

describe("values that reach ip and iptables are parsed, never pasted", () => {
  test("addresses, CIDRs and bridge names are strict", () => {
    for (const bad of ["10.0.0.1 ", " 10.0.0.1", "10.0.0.1\n-A X", "0x0a.0.0.1", "1e1.0.0.1", "10.0.0.256", "10.0.0", "10.0.0.1/32"]) expect(() => parseIPv4(bad)).toThrow("invalid IP address");
    expect(parseIPv4("010.0.0.1") as string).toBe("10.0.0.1");
    for (const bad of ["10.0.0.0/24 -j ACCEPT", "10.0.0.0/33", "10.0.0.0 /24", "10.0.0.300/24"]) expect(() => parseCidr(bad)).toThrow("invalid CIDR address");
    for (const bad of ["a\nlink del lo", "a b", "a;b", "../x", "", "x".repeat(16)]) expect(() => parseBridgeName(bad)).toThrow();
    expect(parseBridgeName("bk-0123456789ab")).toBe("bk-0123456789ab" as any);
  });
  test("PortBindings and ExposedPorts as moby checks them", () => {
    expect(checkPortBindings({ "80": [{ HostIp: "127.0.0.1", HostPort: "0" }], "53/udp": null })).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }], "53/udp": [{ HostIp: "", HostPort: "" }] });
    expect(checkPortBindings({ "80/tcp": [{ HostPort: "8000-8010" }] })).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "8000-8010" }] });
    expect(() => checkPortBindings({ "80/tcp": [{ HostIp: "127.0.0.2/32 -j RETURN", HostPort: "1" }] })).toThrow("invalid IP address");
    expect(() => checkPortBindings({ "80/tcp": [{ HostPort: "47321 -s 1.2.3.4" }] })).toThrow('invalid port specification: "47321 -s 1.2.3.4"');
    expect(() => checkPortBindings({ "80/tcp": [{ HostPort: "99999" }] })).toThrow('invalid port specification: "99999"');
    expect(() => checkPortBindings({ "0/tcp": [] })).toThrow("invalid port specification");
    expect(() => checkPortBindings({ "80/icmp": [] })).toThrow("invalid port specification");
    expect(checkExposedPorts({ "80": {}, "53/udp": {}, "9/sctp": {} })).toEqual(["80/tcp", "53/udp", "9/sctp"]);
    expect(() => checkExposedPorts({ "abc/xyz": {} })).toThrow('invalid port specification: "abc"');
    expect(parsePublish(["127.0.0.1:0:80"])).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
  });
  test("rule generators refuse what did not come through the parsers", () => {
    const m = { proto: "tcp" as const, hostIp: parseIPv4("127.0.0.1"), hostPort: 8080, containerPort: 80 };
    expect(portRules("bunker:0123abcd:ctr:0123456789ab", parseBridgeName("bunker0"), parseIPv4("10.199.0.2"), m).nat[0]).toBe('-A BUNKER -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -m comment --comment "bunker:0123abcd:ctr:0123456789ab" -j DNAT --to-destination 10.199.0.2:80');
    expect(() => portRules("bunker:0123abcd:ctr:0123456789ab", "bunker0" as any, "10.199.0.2" as any, { ...m, hostIp: "127.0.0.2/32 -j X" as any })).toThrow();
    expect(() => portRules("bunker:0123abcd:ctr:0123456789ab", "bunker0" as any, "10.199.0.2" as any, { ...m, hostPort: 99999 })).toThrow("refusing");
    expect(() => networkRules("bunker:0123abcd:net:0123456789ab", "a b" as any, parseCidr("10.0.0.0/24"), { masquerade: true, internal: false })).toThrow();
    expect(networkRules("bunker:0123abcd:net:0123456789ab", parseBridgeName("bk-x"), parseCidr("10.0.0.0/24"), { masquerade: true, internal: false }).raw).toEqual(['-A PREROUTING -d 127.0.0.0/8 -i bk-x -m comment --comment "bunker:0123abcd:net:0123456789ab" -j DROP']);
  });
});

describe("the rules as last seen", () => {
  test("applyBatch: appends, inserts first, deletes, declares chains; refuses what it cannot follow", () => {
    const saved = { chains: { filter: new Set(["FORWARD"]) }, rules: { filter: ["-A FORWARD -j X"] } };
    const after = applyBatch(saved, {
      filter: { chains: ["BUNKER"], lines: ["-I FORWARD 1 -m comment --comment bunker -j BUNKER-FORWARD", "-A BUNKER -j ACCEPT", "-D FORWARD -j X", "-P FORWARD DROP"] },
      nat: { lines: ["-A BUNKER -p tcp -j DNAT --to-destination 10.0.0.2:80"] },
    })!;
    expect([...after.chains.filter!]).toEqual(["FORWARD", "BUNKER"]);
    expect(after.rules).toEqual({ filter: ["-A FORWARD -m comment --comment bunker -j BUNKER-FORWARD", "-A BUNKER -j ACCEPT"], nat: ["-A BUNKER -p tcp -j DNAT --to-destination 10.0.0.2:80"] });
    expect(saved.rules.filter).toEqual(["-A FORWARD -j X"]); // the input is left as it was
    // A deletion of a rule the copy lacks means the copy was wrong: no copy then.
    expect(applyBatch(saved, { filter: { lines: ["-D FORWARD -j Y"] } })).toBeUndefined();
    expect(applyBatch(saved, { filter: { lines: ["-F FORWARD"] } })).toBeUndefined();
  });
});

describe("rtnetlink requests for a bridge (what ip sends)", () => {
  /** The attributes of a message after its header of `headerLen` bytes: type -> data. */
  const attrs = (m: Uint8Array, headerLen: number) => {
    const v = new DataView(m.buffer, m.byteOffset);
    const out = new Map<number, Uint8Array>();
    for (let off = 16 + headerLen; off < m.length; off += (v.getUint16(off, true) + 3) & ~3) out.set(v.getUint16(off + 2, true), m.subarray(off + 4, off + v.getUint16(off, true)));
    return out;
  };
  const head = (m: Uint8Array) => {
    const v = new DataView(m.buffer, m.byteOffset);
    return { len: v.getUint32(0, true), type: v.getUint16(4, true), flags: v.getUint16(6, true) };
  };
  const str = (b?: Uint8Array) => new TextDecoder().decode(b).replace(/\0$/, "");

  test("link add NAME type bridge: RTM_NEWLINK, create-exclusive, name and kind", () => {
    const m = newBridge("bk-0123456789ab");
    expect(head(m)).toEqual({ len: m.length, type: 16, flags: 0x1 | 0x4 | 0x400 | 0x200 });
    const a = attrs(m, 16);
    expect(str(a.get(3))).toBe("bk-0123456789ab");
    expect(str(attrs(new Uint8Array([...new Uint8Array(16), ...new Uint8Array(16), ...a.get(18)!]), 16).get(1))).toBe("bridge");
  });

  test("link set: MAC, MTU and alias by index; addr add; up", () => {
    const set = setLink(7, "02:42:0a:c8:00:01", "bunker:0badc0de:net:0123456789ab", 1400);
    expect(head(set)).toMatchObject({ type: 16, flags: 0x1 | 0x4 });
    expect(new DataView(set.buffer).getInt32(16 + 4, true)).toBe(7);
    const a = attrs(set, 16);
    expect([...a.get(1)!]).toEqual([0x02, 0x42, 0x0a, 0xc8, 0x00, 0x01]);
    expect(new DataView(a.get(4)!.buffer, a.get(4)!.byteOffset).getUint32(0, true)).toBe(1400);
    expect(str(a.get(20))).toBe("bunker:0badc0de:net:0123456789ab");
    expect(attrs(setLink(7, "02:42:0a:c8:00:01", "x"), 16).has(4)).toBe(false);
    const addr = addAddress(7, "10.200.0.1", 24);
    expect(head(addr)).toMatchObject({ type: 20, flags: 0x1 | 0x4 | 0x400 | 0x200 });
    expect([...addr.subarray(16, 18)]).toEqual([2, 24]);
    expect(new DataView(addr.buffer).getUint32(16 + 4, true)).toBe(7);
    expect([...attrs(addr, 8).get(2)!]).toEqual([10, 200, 0, 1]);
    const up = linkUp(7);
    expect(new DataView(up.buffer).getUint32(16 + 8, true) & 1).toBe(1);
    expect(new DataView(up.buffer).getUint32(16 + 12, true) & 1).toBe(1);
  });

  test("a bridge retired: addr del, down, renamed, by index", () => {
    const del = deleteAddress(7, "10.200.0.1", 24);
    expect(head(del)).toEqual({ len: del.length, type: 21, flags: 0x1 | 0x4 });
    expect([...del.subarray(16, 18)]).toEqual([2, 24]);
    expect(new DataView(del.buffer).getUint32(16 + 4, true)).toBe(7);
    expect([...attrs(del, 8).get(2)!]).toEqual([10, 200, 0, 1]);
    const down = linkDown(7);
    expect(head(down)).toMatchObject({ type: 16, flags: 0x1 | 0x4 });
    expect(new DataView(down.buffer).getInt32(16 + 4, true)).toBe(7);
    expect(new DataView(down.buffer).getUint32(16 + 8, true) & 1).toBe(0);
    expect(new DataView(down.buffer).getUint32(16 + 12, true) & 1).toBe(1);
    const rename = renameLink(7, "bkr-0badc0de");
    expect(head(rename)).toMatchObject({ type: 16, flags: 0x1 | 0x4 });
    expect(new DataView(rename.buffer).getInt32(16 + 4, true)).toBe(7);
    expect(new DataView(rename.buffer).getUint32(16 + 12, true)).toBe(0); // no flag changed
    expect(str(attrs(rename, 16).get(3))).toBe("bkr-0badc0de");
  });
});
