/**
 * Checks for what a registry, a manifest or an image config says, made before the value is used anywhere
 * (a digest becomes a URL and a directory name, a media type a database field): only go-digest's
 * `algorithm:hex` forms of the right length, RFC 6838 media types and sane sizes get through.
 */
import { EngineError } from "../errors.ts";
import type { Descriptor, Platform } from "./types.ts";

/** Docker's limit of layers per image (moby's layer.maxLayerDepth). */
export const MAX_LAYERS = 125;

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** A value from outside, quoted for an error: escaped and cut short so it cannot steer a terminal or flood a log. */
export function quoteForeign(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function bad(what: string, v: unknown, why: string): EngineError {
  return new EngineError("invalidParameter", `${what} ${quoteForeign(v)}: ${why}`);
}

/** A digest as go-digest validates it (sha256, sha384 or sha512 with lower-case hex of the right length); returns it. */
export function checkDigest(v: unknown, what: string): string {
  if (typeof v !== "string") throw bad(what, v, "invalid checksum digest format");
  const i = v.indexOf(":");
  const size = HEX_LENGTH[v.slice(0, i)];
  if (i < 0 || size === undefined) throw bad(what, v, "unsupported digest algorithm");
  if (v.length - i - 1 !== size) throw bad(what, v, "invalid checksum digest length");
  if (!/^[a-f0-9]+$/.test(v.slice(i + 1))) throw bad(what, v, "invalid checksum digest format");
  return v;
}

/** A sha256 digest (image IDs, diff IDs and chain IDs are always sha256); returns it. */
export function checkSha256(v: unknown, what: string): string {
  if (typeof v !== "string" || !/^sha256:[a-f0-9]{64}$/.test(v)) {
    throw bad(what, v, typeof v === "string" && v.startsWith("sha256:") ? "invalid checksum digest format" : "unsupported digest algorithm");
  }
  return v;
}

/** An RFC 6838 media type ("type/subtype", restricted characters, at most 127 each); returns it. */
export function checkMediaType(v: unknown, what: string): string {
  if (typeof v !== "string" || !MEDIA_TYPE.test(v)) throw bad(what, v, "invalid media type");
  return v;
}

/** A descriptor size: a whole number of bytes, at most `max`; returns it. */
export function checkSize(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(what, v, "invalid size");
  if (v > max) throw new EngineError("invalidParameter", `${what} of ${v} bytes exceeds the limit of ${max} bytes`);
  return v;
}

/**
 * A manifest list's entries, typed at the boundary (a registry's, or the store's copy of one): a `null`
 * entry is skipped (Go decodes it as an empty descriptor, which matches no platform), and one whose platform
 * or annotations are not what the spec says is refused with its position, rather than a TypeError from deep
 * inside pickPlatform. Digest, media type and size are checked where an entry is used.
 */
export function indexEntries(list: unknown[]): Descriptor[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const out: Descriptor[] = [];
  list.forEach((e, i) => {
    if (e === null) return;
    const bad = (what: string) => new EngineError("invalidParameter", `invalid manifest list: entry ${i}: ${what}`);
    if (!isObject(e)) throw bad("not an object");
    const p = e.platform;
    if (p !== undefined && p !== null && (!isObject(p) || typeof p.os !== "string" || typeof p.architecture !== "string" || (p.variant !== undefined && typeof p.variant !== "string"))) throw bad("platform is not {os, architecture, variant} strings");
    const a = e.annotations;
    if (a !== undefined && a !== null && (!isObject(a) || Object.values(a).some((v) => typeof v !== "string"))) throw bad("annotations are not strings");
    out.push({ ...(e as unknown as Descriptor), platform: (p ?? undefined) as Platform | undefined, annotations: (a ?? undefined) as Record<string, string> | undefined });
  });
  return out;
}
