/** Detach keys: moby/term's ToBytes and escape proxy, as the CLI's relay and the daemon's streams use them. */
import { describe, expect, test } from "bun:test";
import { DetachScanner, parseDetachKeys } from "../../src/engine/containers/detachkeys.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

describe("parseDetachKeys (term.ToBytes)", () => {
  test("ctrl- names (any case) and single characters", () => {
    expect(parseDetachKeys("ctrl-p,ctrl-q")).toEqual(bytes(0x10, 0x11));
    expect(parseDetachKeys("CTRL-A,x")).toEqual(bytes(0x01, 0x78));
    expect(parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")).toEqual(bytes(0, 27, 28, 29, 30, 31));
    expect(parseDetachKeys("a,b,c")).toEqual(bytes(0x61, 0x62, 0x63));
  });

  test("anything else is refused with moby's text", () => {
    expect(() => parseDetachKeys("ctrl-foo")).toThrow("Unknown character: 'ctrl-foo'");
    expect(() => parseDetachKeys("ab")).toThrow("Unknown character: 'ab'");
    expect(() => parseDetachKeys("ctrl-p,")).toThrow("Unknown character: ''");
  });
});

describe("DetachScanner (term escape proxy)", () => {
  test("the sequence is swallowed and detaches, even split across reads", () => {
    const s = new DetachScanner(bytes(0x10, 0x11));
    expect(s.scan(bytes(0x61, 0x10))).toEqual({ pass: bytes(0x61), detached: false });
    expect(s.scan(bytes(0x11, 0x62))).toEqual({ pass: bytes(), detached: true });
  });

  test("a broken sequence lets the held bytes through, and a new start is held again", () => {
    const s = new DetachScanner(bytes(0x10, 0x11));
    expect(s.scan(bytes(0x10, 0x61))).toEqual({ pass: bytes(0x10, 0x61), detached: false });
    expect(s.scan(bytes(0x10, 0x10))).toEqual({ pass: bytes(0x10), detached: false });
    expect(s.scan(bytes(0x11))).toEqual({ pass: bytes(), detached: true });
  });

  test("a one-key sequence detaches at once; plain input passes unchanged", () => {
    expect(new DetachScanner(bytes(0x01)).scan(bytes(0x61, 0x01, 0x62))).toEqual({ pass: bytes(0x61), detached: true });
    const plain = new TextEncoder().encode("echo hi\n");
    expect(new DetachScanner().scan(plain)).toEqual({ pass: plain, detached: false });
  });
});
