/**
 * SHA-256 of a stream computed on a helper thread, so that hashing overlaps the file work of the thread that
 * reads or writes the bytes: save's diff-ID check of each rebuilt layer and load's diff ID of each unpacked
 * one cost ~90 ms of a 121 MB debian layer, as much again as the whole of `tar -c` spends in user space, and
 * the machine has a second core. Bytes are copied into 1 MiB buffers that move to the thread and back
 * (transferred, not cloned); the copy costs a tenth of the hash. Measured on that layer (perf, per thread):
 * save's main thread 350 -> 315 ms, load's ~25 ms less, for ~100 ms more CPU in all (the thread's start, the
 * messages): a gain with an idle core, a small loss on a saturated machine.
 *
 * One thread per process, started at the first full buffer and shared by every hash in flight (messages carry
 * a hash's number). It holds the process alive only while a hash is in flight. A stream shorter than one
 * buffer is hashed in place, without the thread.
 */

/** Bytes handed to the thread at once. */
const BATCH = 1 << 20;
/** Buffers of one hash queued for the thread before `backlog()` asks its caller to wait (memory bound). */
const MAX_QUEUED = 4;

/** What the thread is told: bytes of hash `id`, or its end. */
type ToThread = { id: number; buf: ArrayBuffer; n: number } | { id: number; end: true } | { id: number; drop: true };
/** What the thread answers: a buffer back, or a hash's hex digest. */
type FromThread = { id: number; buf: ArrayBuffer } | { id: number; hex: string };

/**
 * The helper thread's whole program, run from its source text (a Blob URL): it must not refer to anything
 * outside itself. Bun.CryptoHasher uses the CPU's SHA extensions there as here.
 */
function hashThreadMain(): void {
  const scope = globalThis as unknown as Worker; // the thread's global scope: messages from and to its creator
  const hashes = new Map<number, Bun.CryptoHasher>();
  const post = (m: FromThread, transfer: ArrayBuffer[] = []) => scope.postMessage(m, transfer);
  scope.onmessage = (ev: MessageEvent<ToThread>) => {
    const m = ev.data;
    if ("buf" in m) {
      let h = hashes.get(m.id);
      if (!h) hashes.set(m.id, (h = new Bun.CryptoHasher("sha256")));
      h.update(new Uint8Array(m.buf, 0, m.n));
      post({ id: m.id, buf: m.buf }, [m.buf]);
    } else if ("end" in m) {
      const h = hashes.get(m.id);
      hashes.delete(m.id);
      post({ id: m.id, hex: (h ?? new Bun.CryptoHasher("sha256")).digest("hex") });
    } else hashes.delete(m.id);
  };
}

let thread: Worker | null = null;
const inFlight = new Map<number, ThreadHasher>();
let lastId = 0;

/** The shared thread, started on first use; referenced (keeps the process alive) while hashes are in flight. */
function hashThread(): Worker {
  if (!thread) {
    // smol: a small heap (the thread only hashes); its start costs ~20 ms of CPU, once per process.
    thread = new Worker(URL.createObjectURL(new Blob([`(${hashThreadMain})()`], { type: "application/javascript" })), { smol: true } as WorkerOptions);
    thread.onmessage = (ev: MessageEvent<FromThread>) => inFlight.get(ev.data.id)?.answer(ev.data);
    thread.onerror = (ev) => {
      const err = new Error(`sha256 thread failed: ${ev.message}`);
      thread = null;
      for (const h of [...inFlight.values()]) h.fail(err);
    };
  }
  return thread;
}

/**
 * An incremental SHA-256 like Bun.CryptoHasher, computed on the helper thread: `update()` copies the bytes
 * (the caller may reuse its buffer at once), `digest()` resolves once the thread hashed them all. A caller
 * feeding a long stream awaits `backlog()` when it returns a promise, so at most MAX_QUEUED buffers wait.
 */
export class ThreadHasher {
  readonly #id = ++lastId;
  #buf: Uint8Array = new Uint8Array(0); // filling, not yet handed over
  #fill = 0;
  #spare: ArrayBuffer[] = []; // buffers back from the thread
  #queued = 0; // buffers at the thread
  #started = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #done: { resolve(hex: string): void; reject(e: Error): void } | null = null;

  /** Adds bytes to the hash (copied: `bytes` may be reused once this returns). */
  update(bytes: Uint8Array): this {
    let off = 0;
    while (off < bytes.length) {
      if (this.#fill === this.#buf.length) {
        if (this.#fill) this.#handOver();
        this.#buf = new Uint8Array(this.#spare.pop() ?? new ArrayBuffer(BATCH));
      }
      const n = Math.min(bytes.length - off, this.#buf.length - this.#fill);
      this.#buf.set(bytes.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
    }
    return this;
  }

  /** A promise to await before the next update when too many buffers wait for the thread; else null. */
  backlog(): Promise<void> | null {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#queued < MAX_QUEUED) return null;
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** The hex digest of every byte given, once the thread hashed them. The hasher is spent afterwards. */
  digest(): Promise<string> {
    if (!this.#started) {
      // Shorter than one buffer: not worth the thread.
      const hex = new Bun.CryptoHasher("sha256").update(this.#buf.subarray(0, this.#fill)).digest("hex");
      return Promise.resolve(hex);
    }
    if (this.#fill) this.#handOver();
    if (this.#error) return Promise.reject(this.#error);
    const done = new Promise<string>((resolve, reject) => (this.#done = { resolve, reject }));
    hashThread().postMessage({ id: this.#id, end: true } satisfies ToThread);
    return done;
  }

  /** Gives up on the hash (the stream failed): the thread forgets it, the process is no longer held for it. */
  cancel(): void {
    if (!this.#started || !inFlight.has(this.#id)) return;
    thread?.postMessage({ id: this.#id, drop: true } satisfies ToThread);
    this.#finish();
  }

  /** A message of the thread about this hash. */
  answer(m: FromThread): void {
    if ("buf" in m) {
      this.#queued--;
      this.#spare.push(m.buf);
      this.#wake?.();
      this.#wake = null;
      return;
    }
    this.#finish();
    this.#done?.resolve(m.hex);
  }

  /** The thread died: every pending wait fails. */
  fail(err: Error): void {
    this.#error = err;
    this.#finish();
    this.#done?.reject(err);
    this.#wake?.();
  }

  #handOver(): void {
    const t = hashThread();
    if (!this.#started) {
      this.#started = true;
      if (inFlight.size === 0) t.ref();
      inFlight.set(this.#id, this);
    }
    const buf = this.#buf.buffer as ArrayBuffer;
    t.postMessage({ id: this.#id, buf, n: this.#fill } satisfies ToThread, [buf]);
    this.#queued++;
    this.#buf = new Uint8Array(0);
    this.#fill = 0;
  }

  #finish(): void {
    inFlight.delete(this.#id);
    this.#spare = [];
    if (inFlight.size === 0) thread?.unref();
  }
}
