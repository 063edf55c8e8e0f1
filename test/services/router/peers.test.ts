/**
 * Peers: a request to another replica that fails tells "the peer is gone" (its legacy SSE
 * streams with it, so the client gets 404 and reconnects) from "the peer failed" (502), also
 * when the peer dies after the request was sent. The peers are raw TCP servers on 127.0.0.1.
 */
import type { Server, Socket } from "node:net";
import { createServer } from "node:net";
import { Registry } from "prom-client";
import {
  DEPARTED_PEER_MS,
  Peers,
  PeerUnreachableError,
  refusesConnections,
} from "../../../services/router/src/http/peers";
import { RouterMetrics } from "../../../services/router/src/metrics";
import { SessionSealer } from "../../../services/router/src/session-token";
import { silentLogger } from "../../helpers/log-capture";
import { refusedPort } from "../../helpers/refused-port";

const servers: Server[] = [];
const sockets: Socket[] = [];
let peers: Peers;

/** A replica's peers, on `now` as its clock. */
const newPeers = (now?: () => number) =>
  new Peers({
    sealer: new SessionSealer({
      secret: "0123456789abcdef0123456789abcdef-peers",
      acceptedSecrets: [],
      ttlSeconds: 60,
    }),
    logger: silentLogger(),
    metrics: new RouterMetrics(new Registry()),
    ...(now === undefined ? {} : { now }),
  });

beforeEach(() => {
  peers = newPeers();
});

afterEach(async () => {
  peers.close();
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/**
 * A peer that takes a request's first bytes, then drops the connection; with `dies`, it stops
 * listening first, as a replica killed mid-request does.
 */
async function droppingPeer(options: { dies: boolean }): Promise<string> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.once("data", () => {
      if (options.dies) server.close();
      socket.destroy();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A base URL nothing listens on. */
const closedPort = async (): Promise<string> => `http://127.0.0.1:${await refusedPort()}`;

const outcome = (answer: Promise<unknown>) =>
  answer.then(
    () => "answered",
    (error: unknown) => (error instanceof PeerUnreachableError ? "gone" : "failed"),
  );

describe("Peers.post", () => {
  it("calls a peer that died while holding the request gone, since it now refuses connections", async () => {
    // GIVEN a peer that stops listening and drops the connection once a request arrives
    const peer = await droppingPeer({ dies: true });
    // WHEN a message is posted to it
    const result = await outcome(peers.post(`${peer}/internal/v1/sse-message`, "{}"));
    // THEN the failure says the peer is gone
    expect(result).toBe("gone");
  });

  it("calls a failure at a peer that is still up a failure, not a death", async () => {
    // GIVEN a peer that drops the connection but keeps listening
    const peer = await droppingPeer({ dies: false });
    // WHEN a message is posted to it
    const result = await outcome(peers.post(`${peer}/internal/v1/sse-message`, "{}"));
    // THEN it failed, and the peer is not taken for dead
    expect(result).toBe("failed");
  });

  it("calls a peer that refuses the connection gone", async () => {
    const result = await outcome(peers.post(`${await closedPort()}/internal/v1/sse-message`, "{}"));
    expect(result).toBe("gone");
  });
});

describe("refusesConnections", () => {
  it("is true for a port nothing listens on and false for a listening one", async () => {
    const listening = await droppingPeer({ dies: false });
    expect([await refusesConnections(await closedPort()), await refusesConnections(listening)]).toStrictEqual(
      [true, false],
    );
  });
});

describe("Peers.others", () => {
  it("lists the peers discovery names and, for a while, those that left it, never this replica", () => {
    // GIVEN a replica that knows three, itself among them
    let now = 1_000_000;
    const known = newPeers(() => now);
    known.selfUrl = "http://a:1";
    known.update(["http://a:1", "http://b:1", "http://c:1"]);

    // WHEN c leaves discovery (deregistered: it is draining) / THEN it still counts for a while
    known.update(["http://a:1", "http://b:1"]);
    const justAfter = known.others();
    now += DEPARTED_PEER_MS;
    const atTheEnd = known.others();
    now += 1;
    const past = known.others();

    // AND one that comes back counts again
    known.update(["http://a:1", "http://b:1", "http://c:1"]);
    now += 10 * DEPARTED_PEER_MS;
    expect([justAfter, atTheEnd, past, known.others()]).toStrictEqual([
      ["http://b:1", "http://c:1"],
      ["http://b:1", "http://c:1"],
      ["http://b:1"],
      ["http://b:1", "http://c:1"],
    ]);
    known.close();
  });
});
