/**
 * Reading a peer's answer whole but never past a limit, from an undici body or a fetch stream.
 */
import { readBoundedText } from "@mcp-platform/shared";

describe("readBoundedText", () => {
  /** An endless source of 1 KiB chunks (a count of those taken, and whether it was closed). */
  function endless() {
    const seen = { taken: 0, closed: false };
    const chunk = new Uint8Array(1024).fill(0x20);
    const iterable: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            seen.taken++;
            yield chunk;
          }
        } finally {
          seen.closed = true;
        }
      },
    };
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        pulled++;
        controller.enqueue(chunk);
      },
      cancel: () => void (seen.closed = true),
    });
    return { seen, iterable, stream, pulled: () => pulled };
  }

  it("reads an answer within the limit whole, as UTF-8, from either kind of body", async () => {
    const text = '{"mcp-files":["é"]}';
    const bytes = new TextEncoder().encode(text);
    const halves = [bytes.subarray(0, 15), bytes.subarray(15)];
    const iterable = (async function* () {
      yield* halves;
    })();
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        for (const half of halves) controller.enqueue(half);
        controller.close();
      },
    });
    expect([
      await readBoundedText(iterable, bytes.length),
      await readBoundedText(stream, bytes.length),
      await readBoundedText(null, 1),
    ]).toStrictEqual([text, text, ""]);
  });

  it("fails an answer past the limit and stops reading it, from either kind of body", async () => {
    const fromIterable = endless();
    const fromStream = endless();
    const errors = await Promise.all([
      readBoundedText(fromIterable.iterable, 10 * 1024).catch((error: unknown) => error),
      readBoundedText(fromStream.stream, 10 * 1024).catch((error: unknown) => error),
    ]);
    expect(errors.map((e) => (e as Error).message)).toStrictEqual([
      "the answer exceeded 10240 bytes",
      "the answer exceeded 10240 bytes",
    ]);
    expect([fromIterable.seen, fromStream.seen.closed]).toStrictEqual([{ taken: 11, closed: true }, true]);
    expect(fromStream.pulled()).toBeLessThan(20);
  });
});
