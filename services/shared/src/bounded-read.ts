/**
 * Reading an answer from a peer (Consul, an MCP instance) whole, but never more of it than a
 * limit: timeouts do not bound an answer that keeps coming (undici's body timeout is an idle
 * one), and one such answer would otherwise fill the process's memory.
 */

/** An answer was longer than the reader's limit; no more of it was read. */
export class AnswerTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer exceeded ${limit} bytes`);
    this.name = "AnswerTooLargeError";
  }
}

/**
 * `body` as UTF-8 text, read to its end but at most `limit` bytes: past it the rest is abandoned
 * (the stream is cancelled, so its download stops) and the read rejects with
 * `AnswerTooLargeError`. Accepts an undici body or a `fetch` answer's stream; null reads as "".
 */
export async function readBoundedText(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<string> {
  if (body === null) return "";
  const chunks: Uint8Array[] = [];
  let read = 0;
  for await (const chunk of chunksOf(body)) {
    read += chunk.byteLength;
    // Leaving the loop cancels the body.
    if (read > limit) throw new AnswerTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The chunks of an undici body or a `fetch` answer's stream; leaving early cancels the stream. */
async function* chunksOf(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
): AsyncIterable<Uint8Array> {
  if (!("getReader" in body)) return yield* body;
  const reader = body.getReader();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
