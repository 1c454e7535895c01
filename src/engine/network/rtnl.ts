/**
 * rtnetlink requests for a bridge, as bytes (linux/rtnetlink.h, if_link.h, if_addr.h): what `ip link add
 * type bridge`, `ip link set` and `ip addr add` send, without spawning `ip`. Pure encoders: the caller gives
 * checked values (host.ts createBridge) and sends each through sys().routeRequest.
 */

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_IFALIAS = 20;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFF_UP = 0x1;
const AF_INET = 2;

const align = (n: number) => (n + 3) & ~3;

/** One attribute (struct rtattr + data, padded to 4 bytes). */
function attr(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(align(4 + data.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + data.length, true);
  v.setUint16(2, type, true);
  out.set(data, 4);
  return out;
}

const text = (s: string) => new TextEncoder().encode(`${s}\0`);
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
};

/** struct nlmsghdr + the family header + attributes. */
function message(type: number, flags: number, header: Uint8Array, attrs: Uint8Array[]): Uint8Array {
  const body = concat([header, ...attrs]);
  const out = new Uint8Array(16 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | flags, true);
  v.setUint32(8, 1, true); // sequence number: one request per socket
  out.set(body, 16);
  return out;
}

/** struct ifinfomsg: AF_UNSPEC, the link's index (0: by name), flags and the mask of flags changed. */
function ifinfo(index: number, flags = 0, change = 0): Uint8Array {
  const h = new DataView(new ArrayBuffer(16));
  h.setInt32(4, index, true);
  h.setUint32(8, flags, true);
  h.setUint32(12, change, true);
  return new Uint8Array(h.buffer);
}

/** `ip link add name NAME type bridge` (fails if NAME exists). */
export function newBridge(name: string): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfo(0), [attr(IFLA_IFNAME, text(name)), attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, text("bridge")))]);
}

/** `ip link set dev INDEX address MAC [mtu N] alias ALIAS` (a MAC given here stays as ports join). */
export function setLink(index: number, mac: string, alias: string, mtu?: number): Uint8Array {
  const macBytes = new Uint8Array(mac.split(":").map((h) => parseInt(h, 16)));
  return message(RTM_NEWLINK, 0, ifinfo(index), [attr(IFLA_ADDRESS, macBytes), ...(mtu ? [attr(IFLA_MTU, u32(mtu))] : []), attr(IFLA_IFALIAS, text(alias))]);
}

/** `ip addr add IP/PREFIX dev INDEX`. */
export function addAddress(index: number, ip: string, prefix: number): Uint8Array {
  return address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, index, ip, prefix);
}

/** `ip addr del IP/PREFIX dev INDEX`. */
export function deleteAddress(index: number, ip: string, prefix: number): Uint8Array {
  return address(RTM_DELADDR, 0, index, ip, prefix);
}

/** struct ifaddrmsg (AF_INET, the prefix, the link) with the address as local and peer. */
function address(type: number, flags: number, index: number, ip: string, prefix: number): Uint8Array {
  const h = new DataView(new ArrayBuffer(8));
  h.setUint8(0, AF_INET);
  h.setUint8(1, prefix);
  h.setUint32(4, index, true);
  const addr = new Uint8Array(ip.split(".").map(Number));
  return message(type, flags, new Uint8Array(h.buffer), [attr(IFA_LOCAL, addr), attr(IFA_ADDRESS, addr)]);
}

/** `ip link set dev INDEX up`. */
export function linkUp(index: number): Uint8Array {
  return message(RTM_NEWLINK, 0, ifinfo(index, IFF_UP, IFF_UP), []);
}

/** `ip link set dev INDEX down`. */
export function linkDown(index: number): Uint8Array {
  return message(RTM_NEWLINK, 0, ifinfo(index, 0, IFF_UP), []);
}

/** `ip link set dev INDEX name NAME` (the kernel refuses it while the link is up). */
export function renameLink(index: number, name: string): Uint8Array {
  return message(RTM_NEWLINK, 0, ifinfo(index), [attr(IFLA_IFNAME, text(name))]);
}
