/**
 * Byte streams of framed records with an 8-byte header (kind, 0, 0, 0, big-endian length): Docker's stdcopy
 * layout for attach and logs, which the shim's attach protocol reuses with its own kinds.
 */

/** Returns a feeder: give it chunks as they arrive, and `onFrame` gets each complete frame once. */
export function frameReader(onFrame: (kind: number, payload: Uint8Array) => void): (chunk: Uint8Array) => void {
  let buf = new Uint8Array(0);
  return (chunk) => {
    const merged = new Uint8Array(buf.length + chunk.length);
    merged.set(buf);
    merged.set(chunk, buf.length);
    buf = merged;
    while (buf.length >= 8) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(4);
      if (buf.length < 8 + len) break;
      const kind = buf[0]!;
      const payload = buf.slice(8, 8 + len);
      buf = buf.subarray(8 + len);
      onFrame(kind, payload);
    }
  };
}

/** One frame: the header, then the payload. */
export function frame(kind: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

/** The shim's resize frame (kind 2): rows and columns as big-endian u16s. */
export function resizeFrame(rows: number, cols: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint16(0, rows);
  new DataView(p.buffer).setUint16(2, cols);
  return frame(2, p);
}
