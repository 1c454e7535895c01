/** Looking at the start of a stream without losing it: archive detection (tar, gzip) before the stream is read. */

/** The first `n` bytes of `input` (fewer if it is shorter) and a stream of all of it, those bytes included. */
export async function peekStream(input: ReadableStream<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = input.getReader();
  const parts: Uint8Array[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    parts.push(r.value);
    len += r.value.length;
  }
  const head = Buffer.concat(parts);
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      if (head.length) c.enqueue(head);
      if (done) c.close();
    },
    async pull(c) {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { head, stream };
}
