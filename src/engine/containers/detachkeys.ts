/**
 * Detach keys: the key sequence that leaves an attached container running (`--detach-keys`, the API's
 * `detachKeys`, config.json `detachKeys`; ctrl-p,ctrl-q by default), parsed as moby/term's ToBytes and
 * watched for as its escapeProxy does: bytes that may start the sequence are held back, let through if the
 * sequence breaks, and swallowed when it completes.
 */

/** ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = Uint8Array.of(0x10, 0x11);

/** moby/term's names of the control characters, by code. */
const CONTROL_NAMES = ["ctrl-@", ..."abcdefghijklmnopqrstuvwxyz".split("").map((c) => `ctrl-${c}`), "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"];

/** term.ToBytes: "ctrl-p,q" → [0x10, 0x71]; a key that is neither one character nor a ctrl- name is an error. */
export function parseDetachKeys(keys: string): Uint8Array {
  const out: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0) & 0xff);
      continue;
    }
    const code = CONTROL_NAMES.indexOf(key.toLowerCase());
    if (code < 0) throw new Error(`Unknown character: '${key}'`);
    out.push(code);
  }
  return Uint8Array.from(out);
}

/** Watches a byte stream for the detach sequence (term.NewEscapeProxy). */
export class DetachScanner {
  private held = 0;
  constructor(private readonly keys: Uint8Array = DEFAULT_DETACH_KEYS) {}

  /** The bytes to pass on from `chunk`, and whether the sequence completed (then nothing after it counts). */
  scan(chunk: Uint8Array): { pass: Uint8Array; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.keys.length && b === this.keys[this.held]) {
        if (++this.held === this.keys.length) return { pass: Uint8Array.from(out), detached: true };
        continue;
      }
      // The sequence broke: what was held back goes through, then this byte (which may start it again).
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (!this.keys.length || b !== this.keys[0]) out.push(b);
      else if (++this.held === this.keys.length) return { pass: Uint8Array.from(out), detached: true };
    }
    return { pass: Uint8Array.from(out), detached: false };
  }
}
