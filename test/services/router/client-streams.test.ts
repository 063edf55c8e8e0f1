import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { ClientStreams } from "../../../services/router/src/http/client-streams";
import { RouterMetrics } from "../../../services/router/src/metrics";
import type { SseReader } from "../../helpers/router-app";
import { openSse } from "../../helpers/router-app";

const LIST_CHANGED = { jsonrpc: "2.0" as const, method: "notifications/tools/list_changed" };

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server whose every GET becomes a stream of `streams` for the session in `x-session`. */
async function serve(streams: ClientStreams): Promise<(session: string) => Promise<SseReader>> {
  let opened = 0;
  server = createServer((req, res) => {
    const session = String(req.headers["x-session"]);
    streams.open(session, `id-${session}`, res);
    opened++;
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`;
  return async (session) => {
    const before = opened;
    const reader = await openSse(url, { headers: { "x-session": session } });
    // The server has registered the stream once its headers reached the client.
    expect(opened).toBe(before + 1);
    return reader;
  };
}

describe("ClientStreams", () => {
  it("sends a notification once per session, on its latest stream", async () => {
    // GIVEN session a with two streams (an older and a newer one) and session b with one
    const streams = new ClientStreams({ keepAliveMs: 60_000, metrics: new RouterMetrics(new Registry()) });
    const open = await serve(streams);
    const older = await open("a");
    const newer = await open("a");
    const other = await open("b");

    // WHEN a catalog change is announced, then every stream ends (so each has all it was sent)
    streams.broadcast(LIST_CHANGED);
    streams.closeAll();
    await Promise.all([older.ended, newer.ended, other.ended]);

    // THEN each session heard it exactly once: a's newer stream and b's stream, never a's older one
    const heard = (reader: SseReader) => reader.events.map((e) => JSON.parse(e.data) as unknown);
    expect([heard(older), heard(newer), heard(other)]).toStrictEqual([[], [LIST_CHANGED], [LIST_CHANGED]]);
  });
});
