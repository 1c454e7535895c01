/**
 * SHA-256 of a stream computed on a helper thread, so that hashing overlaps the file work of the thread that
 * reads or writes the bytes: save's diff-ID check of each rebuilt layer and load's diff ID of each unpacked
 * one cost ~90 ms of a 121 MB debian layer, as much again as the whole of `tar -c` spends in user space, and
 * the machine has a second core. Bytes are copied into 1 MiB buffers that move to the thread and back
 * (transferred, not cloned); the copy costs a tenth of the hash. Measured on that layer (perf, per thread):
 * save's main thread 350 -> 315 ms, load's ~25 ms less, for ~100 ms more CPU in all (the thread's start, the
 * messages): a gain with an idle core, a small loss on a saturated machine.
 *
 * Bytes already in a file need no copy: `updateFromFile` has the thread read a range of an open fd itself
 * (save -o hashes each layer from the archive it wrote, whose bodies the kernel copied).
 *
 * One thread per process, started at the first full buffer and shared by every hash in flight (messages carry
 * a hash's number). It holds the process alive only while a hash is in flight. A stream shorter than one
 * buffer is hashed in place, without the thread.
 */

/** Bytes handed to the thread at once. */
const BATCH = 1 << 20;
/** Buffers of one hash queued for the thread before `backlog()` asks its caller to wait (memory bound). */
const MAX_QUEUED = 4;

/**
 * What the thread is told: bytes of hash `id`; bytes `from`..`to` of the open file `fd` (the thread reads
 * them itself, with pread: an fd is the process's, so valid on every thread); or the hash's end.
 */
type ToThread = { id: number; buf: ArrayBuffer; n: number } | { id: number; fd: number; from: number; to: number } | { id: number; end: true } | { id: number; drop: true };
/** What the thread answers: a buffer back, a hash's hex digest, or that it let go of a hash. */
type FromThread = { id: number; buf: ArrayBuffer } | { id: number; hex: string } | { id: number; dropped: true };

/**
 * The helper thread's whole program, run from its source text (a Blob URL): it must not refer to anything
 * outside itself. Bun.CryptoHasher uses the CPU's SHA extensions there as here.
 */
function hashThreadMain(): void {
  const scope = globalThis as unknown as Worker; // the thread's global scope: messages from and to its creator
  const hashes = new Map<number, Bun.CryptoHasher>();
  const post = (m: FromThread, transfer: ArrayBuffer[] = []) => scope.postMessage(m, transfer);
  const hasher = (id: number) => {
    let h = hashes.get(id);
    if (!h) hashes.set(id, (h = new Bun.CryptoHasher("sha256")));
    return h;
  };
  let fs: typeof import("node:fs") | undefined;
  let chunk: Uint8Array | undefined;
  const dropped = new Set<number>();
  scope.onmessage = (ev: MessageEvent<ToThread>) => {
    const m = ev.data;
    if ("buf" in m) {
      hasher(m.id).update(new Uint8Array(m.buf, 0, m.n));
      post({ id: m.id, buf: m.buf }, [m.buf]);
    } else if ("fd" in m) {
      if (dropped.has(m.id)) return; // given up on: its file may be closed already
      // process.getBuiltinModule, not require: the bundler would rewrite a require into a helper of the main
      // bundle, which this thread's source (this function's text) does not have.
      fs ??= process.getBuiltinModule("node:fs") as typeof import("node:fs");
      chunk ??= new Uint8Array(1 << 20);
      const h = hasher(m.id);
      for (let at = m.from; at < m.to; ) {
        const n = fs.readSync(m.fd, chunk, 0, Math.min(chunk.length, m.to - at), at);
        if (n === 0) throw new Error(`sha256 thread: fd ${m.fd} ends at ${at}, before ${m.to}`);
        h.update(chunk.subarray(0, n));
        at += n;
      }
    } else if ("end" in m) {
      const h = hashes.get(m.id);
      hashes.delete(m.id);
      post({ id: m.id, hex: (h ?? new Bun.CryptoHasher("sha256")).digest("hex") });
    } else {
      hashes.delete(m.id);
      dropped.add(m.id);
      post({ id: m.id, dropped: true });
    }
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
  #dropped: PromiseWithResolvers<void> | null = null;

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

  /**
   * Adds bytes `from`..`to` of the open file `fd` to the hash, in order with the bytes given before and
   * after: the thread reads them itself, so nothing is copied here. They must be in the file (written, not
   * buffered) now, and `fd` must stay open until `digest()` resolves (or the hasher is cancelled).
   */
  updateFromFile(fd: number, from: number, to: number): this {
    if (to <= from) return this;
    if (this.#fill) this.#handOver();
    this.#begin();
    hashThread().postMessage({ id: this.#id, fd, from, to } satisfies ToThread);
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

  /**
   * Gives up on the hash (the stream failed): the thread forgets it, and the process is no longer held for
   * it. Resolves once the thread has let go, so no longer reads a file given to `updateFromFile`.
   */
  cancel(): Promise<void> {
    if (this.#dropped) return this.#dropped.promise;
    if (!this.#started || !inFlight.has(this.#id) || !thread) return Promise.resolve();
    this.#dropped = Promise.withResolvers<void>();
    thread.postMessage({ id: this.#id, drop: true } satisfies ToThread);
    return this.#dropped.promise;
  }

  /** A message of the thread about this hash. */
  answer(m: FromThread): void {
    if ("dropped" in m) {
      this.#finish();
      this.#dropped?.resolve();
      return;
    }
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
    this.#dropped?.resolve();
  }

  /** The thread takes this hash on: it holds the process until the digest. */
  #begin(): void {
    if (this.#started) return;
    const t = hashThread();
    this.#started = true;
    if (inFlight.size === 0) t.ref();
    inFlight.set(this.#id, this);
  }

  #handOver(): void {
    const t = hashThread();
    this.#begin();
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
