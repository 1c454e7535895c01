/**
 * SHA-256 digests in the OCI form "sha256:<hex>". Bun.CryptoHasher uses the CPU's SHA extensions (~1 GB/s),
 * so hashing while streaming costs far less than the gunzip in front of it.
 */

/** sha256 of bytes (a string is hashed as UTF-8) as "sha256:<hex>". */
export function sha256Hex(data: Uint8Array | string): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(data).digest("hex")}`;
}

/**
 * A TransformStream that passes bytes through unchanged and hashes them on the way:
 * `src.pipeThrough(h)`, consume the output, then `h.digest()` ("sha256:<hex>").
 * `digest()` throws until the stream has ended, so a half-read blob is never mistaken for a whole one.
 */
export class HashingStream extends TransformStream<Uint8Array, Uint8Array> {
  readonly #hasher = new Bun.CryptoHasher("sha256");
  #digest: string | null = null;
  /** Bytes seen so far. */
  bytes = 0;

  constructor() {
    super({
      transform: (chunk, controller) => {
        this.#hasher.update(chunk);
        this.bytes += chunk.length;
        controller.enqueue(chunk);
      },
      flush: () => {
        this.#digest = `sha256:${this.#hasher.digest("hex")}`;
      },
    });
  }

  /** The digest of everything that passed through; only valid once the stream has ended. */
  digest(): string {
    if (this.#digest === null) throw new Error("HashingStream.digest() called before the stream ended");
    return this.#digest;
  }
}

/** `stream` passed through, erroring at its end with `what`'s mismatch unless the bytes hash to `digest`. */
export function verified(stream: ReadableStream<Uint8Array>, digest: string, what: string): ReadableStream<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        hasher.update(chunk);
        c.enqueue(chunk);
      },
      flush() {
        const got = `sha256:${hasher.digest("hex")}`;
        if (got !== digest) throw new Error(`${what}: content has digest ${got}, expected ${digest}`);
      },
    }),
  );
}
