/**
 * The HTTP side of attach, exec and logs streams: moby's stream content types, stdcopy frames, and one
 * hijacked attach connection (AttachSession) as the engine's attach sessions (engine/containers/attachments.ts)
 * drive it.
 */
import type { Attacher } from "../../engine/containers/attachments.ts";
import type { StoredContainer } from "../../engine/containers/types.ts";
import type { Attachment } from "../../engine/runtime/attach.ts";
import type { RawConn } from "../hijack.ts";
import { compareVersions } from "../router.ts";
import { DetachScanner } from "../../engine/containers/detachkeys.ts";

const MUX = "application/vnd.docker.multiplexed-stream";
const RAW = "application/vnd.docker.raw-stream";

/** moby's content type of an attach/exec/logs stream: multiplexed without a TTY from API 1.42 on. */
export function streamType(tty: boolean, version: string): string {
  return !tty && compareVersions(version, "1.42") >= 0 ? MUX : RAW;
}

/** One stdcopy frame: [stream, 0, 0, 0, len u32 BE] + data. */
export function frame(stream: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

/** One hijacked attach connection: output in, stdin out, until the container exits or the client leaves. */
export class AttachSession implements Attacher {
  conn?: RawConn;
  private queue: Uint8Array[] = [];
  att?: Attachment;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => (this.done = r));
  private ended = false;

  constructor(
    readonly c: StoredContainer,
    readonly want: { stdin: boolean; stdout: boolean; stderr: boolean },
    readonly onEnd: (s: AttachSession) => void,
    /** With a TTY, the sequence that detaches (moby copyEscapable: the client leaves, the container runs on). */
    readonly detachKeys?: Uint8Array,
    readonly onDetach?: () => void,
  ) {}

  /** Output from the container (1 stdout, 2 stderr; everything is 1 with a TTY). */
  output(stream: 1 | 2, data: Uint8Array) {
    if (this.ended || (stream === 1 ? !this.want.stdout : !this.want.stderr)) return;
    this.send(this.c.config.Tty ? data : frame(stream, data));
  }

  send(bytes: Uint8Array) {
    if (this.conn) this.conn.write(bytes).catch(() => {});
    else this.queue.push(bytes);
  }

  /** The connection is ready (after the 101 or 200 head). */
  connected(conn: RawConn) {
    this.conn = conn;
    for (const b of this.queue.splice(0)) conn.write(b).catch(() => {});
    void conn.closed.then(() => this.end());
    if (this.att) this.startStdin();
  }

  /** The container's stdio is reachable: relay stdin, end with the container's output. */
  bind(att: Attachment) {
    this.att = att;
    void att.exited.then(() => this.end());
    if (this.conn) this.startStdin();
  }

  private pumping = false;
  private startStdin() {
    if (this.pumping || !this.want.stdin || !this.c.config.OpenStdin || !this.conn || !this.att) return;
    this.pumping = true;
    void this.pumpStdin(this.conn, this.att);
  }

  private async pumpStdin(conn: RawConn, att: Attachment) {
    const reader = conn.readable.getReader();
    const scanner = this.c.config.Tty && this.detachKeys ? new DetachScanner(this.detachKeys) : undefined;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (this.ended) return;
        const { pass, detached } = scanner ? scanner.scan(value) : { pass: value, detached: false };
        if (pass.length) att.write(pass);
        if (detached) {
          this.onDetach?.();
          this.end();
          conn.close();
          return;
        }
      }
    } catch {
      return;
    }
    if (this.ended) return;
    // moby's stream copier: StdinOnce without a TTY closes the container's stdin and keeps the output;
    // otherwise the end of the client's stdin ends the attach (the container keeps running).
    if (this.c.config.StdinOnce && !this.c.config.Tty) att.closeStdin();
    else this.end();
  }

  /** A failure after the head: written in-band, then the connection closes. */
  fail(message: string) {
    this.send(new TextEncoder().encode(`${message}\r\n`));
    this.end();
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this);
    this.done();
  }
}
