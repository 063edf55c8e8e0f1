/**
 * Faults under traffic, through the real gateway (HAProxy round-robin → 3 routers → 2 instances
 * each of server-everything and server-memory): a router killed, a router stopped, an MCP
 * instance killed. Each test runs on its own platform, with bounded call loops; whether a call
 * started before or after the fault is recorded by event order, never by time.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Platform, RunningProcess } from "../../scripts/local/launcher";
import { launchPlatform } from "../../scripts/local/launcher";
import type { ExitStatus } from "../../scripts/local/log-lines";
import type { CallRecord } from "../helpers/e2e-clients";
import {
  callLoop,
  E2E_PLATFORM,
  metricSum,
  sseClient,
  sseOwner,
  streamableClient,
  textOf,
} from "../helpers/e2e-clients";

jest.setTimeout(120_000);

let platform: Platform | undefined;
const clients: Client[] = [];

async function launch(): Promise<Platform> {
  platform = await launchPlatform(E2E_PLATFORM);
  return platform;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await platform?.stop();
  platform = undefined;
});

/** An echo call whose answer is checked. */
async function echo(client: Client, i: number): Promise<void> {
  const result = await client.callTool({ name: "everything__echo", arguments: { message: `c${i}` } });
  if (textOf(result) !== `Echo: c${i}`) throw new Error(`wrong answer: ${JSON.stringify(result)}`);
}

/** `value`, which the platform must have: a missing process fails the test instead of skipping the fault. */
function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the platform has no ${what}`);
  return value;
}

/** Tool calls a router ran (forwarded upstream) so far, from its `/metrics`. */
const toolCalls = (router: RunningProcess) =>
  metricSum(router, "router_upstream_requests_total", { method: "tools/call" });

/** How a process ends when SIGKILLed. */
const SIGKILLED: ExitStatus = { code: null, signal: "SIGKILL" };

const failed = (records: readonly CallRecord[]) => records.filter((r) => !r.ok);
const inPhase = (records: readonly CallRecord[], phase: CallRecord["phase"]) =>
  records.filter((r) => r.phase === phase);

describe("a router killed during a call loop", () => {
  it("costs a Streamable HTTP client at most the calls in flight on it, and no re-initialization", async () => {
    // GIVEN one SDK client (one session) making 4 calls at a time through the gateway
    const { routers } = await launch();
    const client = await streamableClient(`${platform?.gatewayUrl}/mcp`);
    clients.push(client);
    const victim = present(routers[1], "second router");
    let ranBefore = 0;
    let status: ExitStatus | undefined;

    // WHEN a router is SIGKILLed after 20 of 120 calls (its count of calls read just before; the
    // loop goes on meanwhile, so a slow kill leaves fewer calls for after it)
    const records = await callLoop({
      total: 120,
      concurrency: 4,
      call: (i) => echo(client, i),
      faultAt: 20,
      fault: async () => {
        ranBefore = await toolCalls(victim);
        status = await victim.kill("SIGKILL");
      },
    });

    // THEN the router had run some of the calls (round-robin) and died of the SIGKILL
    expect(ranBefore).toBeGreaterThan(0);
    expect(status).toStrictEqual(SIGKILLED);
    // AND every call that started once it was dead succeeded on the same session; only calls
    // already in flight on it (4 at a time) or sent while it was dying could fail
    expect(failed(inPhase(records, "after"))).toStrictEqual([]);
    expect(failed(records).length).toBeLessThanOrEqual(4 + inPhase(records, "during").length);
    expect(inPhase(records, "after").length).toBeGreaterThan(40);
  });

  it("makes an SSE client re-initialize only when its own stream's replica died", async () => {
    // GIVEN an SSE client whose stream lives on one replica (named in its sealed endpoint); of
    // the two other replicas, one (the bystander) is to die first and one is to survive
    const live = await launch();
    let client = await sseClient(`${live.gatewayUrl}/sse`);
    clients.push(client);
    const endpointOf = (c: Client): string => {
      const endpoint = (c.transport as unknown as { _endpoint?: URL })._endpoint;
      if (endpoint === undefined) throw new Error("the SSE transport has no endpoint");
      return endpoint.href;
    };
    const ownerOf = (c: Client): RunningProcess => {
      const url = sseOwner(live.sessionKey, new URL(endpointOf(c)));
      return present(
        live.routers.find((r) => r.url === url),
        `router owning the stream (${url})`,
      );
    };
    const owner = ownerOf(client);
    const [bystander, survivor] = live.routers.filter((r) => r !== owner);
    if (bystander === undefined || survivor === undefined) throw new Error("fewer than 3 routers");
    const sseSessions = (r: RunningProcess) => metricSum(r, "router_sessions_total", { endpoint: "sse" });
    const openedBefore = await Promise.all([owner, bystander, survivor].map(sseSessions));

    // The client's policy: a new session when, and only when, a POST is answered that its session
    // is gone (404). `sessions` lists every session (endpoint) its calls used, in order: a new
    // one appears by that re-initialization or by the SDK's own reconnect of a broken stream.
    const sessions = [endpointOf(client)];
    let reinitialized = 0;
    let ownerDeath: Promise<ExitStatus> | undefined;
    const call = async (i: number) => {
      // No call is sent while the owner is being killed: an answer it had already accepted dies
      // with its stream and would only end in the SDK's 60 s request timeout. Losing calls in
      // flight is the other tests' subject; this one is about the session.
      await ownerDeath;
      if (!sessions.includes(endpointOf(client))) sessions.push(endpointOf(client));
      try {
        await echo(client, i);
      } catch (error) {
        if (String(error).includes("(HTTP 404)")) {
          reinitialized++;
          const stale = client;
          client = await sseClient(`${live.gatewayUrl}/sse`);
          clients.push(client);
          sessions.push(endpointOf(client));
          // Closing it also cancels its stream's pending reconnect: one new session, not two.
          await stale.close();
        }
        throw error;
      }
    };

    // WHEN first the bystander is SIGKILLed (after 10 of 30 calls), then the stream's own
    // replica (after 10 of 30 more); each one's count of work is read just before its kill
    let bystanderForwarded = 0;
    let bystanderStatus: ExitStatus | undefined;
    const first = await callLoop({
      total: 30,
      concurrency: 1,
      call,
      faultAt: 10,
      fault: async () => {
        bystanderForwarded = await metricSum(bystander, "router_peer_forwards_total", {
          kind: "sse-message",
          outcome: "delivered",
        });
        bystanderStatus = await bystander.kill("SIGKILL");
      },
    });
    let beforeOwnerDeath: { reinitialized: number; sessions: number } | undefined;
    let ownerRan = 0;
    let ownerStatus: ExitStatus | undefined;
    const second = await callLoop({
      total: 30,
      concurrency: 1,
      call,
      faultAt: 10,
      fault: () => {
        beforeOwnerDeath = { reinitialized, sessions: sessions.length };
        // Set before the next call starts (the loop calls `fault` and then its next call).
        ownerDeath = toolCalls(owner).then((ran) => {
          ownerRan = ran;
          return owner.kill("SIGKILL");
        });
        return ownerDeath.then((status) => void (ownerStatus = status));
      },
    });

    // THEN the only SSE session was the owner's; the bystander had relayed some of the client's
    // posts to it and the owner had run every call that succeeded; both died of the SIGKILL
    expect(openedBefore).toStrictEqual([1, 0, 0]);
    expect(bystanderForwarded).toBeGreaterThan(0);
    const okBeforeOwnerDeath = [...first, ...inPhase(second, "before")].filter((r) => r.ok).length;
    expect(ownerRan).toBeGreaterThanOrEqual(okBeforeOwnerDeath);
    expect([bystanderStatus, ownerStatus]).toStrictEqual([SIGKILLED, SIGKILLED]);
    // AND losing the bystander cost at most the one call in flight on it, and no session: until
    // the owner died the client had neither re-initialized nor been moved to another session
    expect(failed(inPhase(first, "after"))).toStrictEqual([]);
    expect(failed(first).length).toBeLessThanOrEqual(1 + inPhase(first, "during").length);
    expect(beforeOwnerDeath).toStrictEqual({ reinitialized: 0, sessions: 1 });
    // AND losing the owner gave the client exactly one new session, on the surviving replica
    // (opened by the client on its first 404, or by the SDK's reconnect if that came first); the
    // only calls that failed were told their session was gone, and every later call succeeded
    expect(sessions).toHaveLength(2);
    expect(ownerOf(client).name).toBe(survivor.name);
    expect(await sseSessions(survivor)).toBe(1);
    expect(failed(second).length).toBe(reinitialized);
    for (const record of failed(second)) expect(record.error).toContain("(HTTP 404)");
    expect(inPhase(second, "during")).toHaveLength(1);
    expect(failed(inPhase(second, "after"))).toStrictEqual([]);
  });
});

describe("a router stopped (SIGTERM) under load", () => {
  it("drains: not a single call fails, and it exits 0", async () => {
    // GIVEN 3 clients making 2 calls at a time each, through the gateway
    const { routers, gatewayUrl } = await launch();
    const sessions = await Promise.all([0, 1, 2].map(() => streamableClient(`${gatewayUrl}/mcp`)));
    clients.push(...sessions);
    const stopped = present(routers[0], "first router");

    // WHEN one router gets SIGTERM after 30 of 150 calls (and drains while the calls go on)
    const records = await callLoop({
      total: 150,
      concurrency: 6,
      call: (i) => echo(sessions[i % 3] as Client, i),
      faultAt: 30,
      // Resolves once the signal is sent: every later call overlaps the drain.
      fault: async () => void stopped.kill("SIGTERM"),
    });
    const status = await stopped.exited;

    // THEN no call failed and the router drained (its drain step ran, then it waited for its
    // calls, then the close) and exited cleanly
    expect(failed(records)).toStrictEqual([]);
    expect(status).toStrictEqual({ code: 0, signal: null });
    expect(
      stopped.lines
        .filter((l) => l.msg === "shutdown step done" || l.msg === "stopped")
        .map((l) => [l.msg, l.step ?? l.drain]),
    ).toStrictEqual([
      ["shutdown step done", "drain"],
      ["shutdown step done", "calls"],
      ["stopped", "drained"],
    ]);
  });
});

describe("a router stopped (SIGTERM) while legacy SSE clients connect", () => {
  it("sends each new stream to another replica, so every session outlives it", async () => {
    // GIVEN a router told to stop, already draining (not ready, still in HAProxy's rotation until
    // its health checks fail)
    const { routers, gatewayUrl } = await launch();
    const stopped = present(routers[0], "first router");
    const exited = stopped.kill("SIGTERM");
    for (let i = 0; i < 100 && (await fetch(`${stopped.url}/health/ready`)).status !== 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const refusedStreams = () =>
      metricSum(stopped, "http_request_duration_seconds_count", { route: "/sse", status_code: "503" });

    // WHEN legacy SSE clients connect through the gateway until one's stream went to that router
    // first (at most 9; a request between two connects moves round-robin on by one replica)
    const sessions: Client[] = [];
    while (sessions.length < 9 && (await refusedStreams()) === 0) {
      const client = await sseClient(`${gatewayUrl}/sse`);
      sessions.push(client);
      clients.push(client);
      await fetch(`${gatewayUrl}/health/live`);
    }
    const refused = await refusedStreams();
    const status = await exited;

    // THEN that router refused at least one stream and then exited cleanly, and every session,
    // its stream on a replica still running, answers its call
    expect([refused > 0, status]).toStrictEqual([true, { code: 0, signal: null }]);
    await Promise.all(sessions.map((client, i) => echo(client, i)));
  });
});

describe("an MCP instance killed under load", () => {
  it("is ejected, and every call that started after the kill succeeds; none hangs", async () => {
    // GIVEN a client calling server-everything, which has 2 instances
    const { services, gatewayUrl, routers } = await launch();
    const client = await streamableClient(`${gatewayUrl}/mcp`);
    clients.push(client);
    const victim = present(services.everything?.[0], "server-everything instance");
    const ejected = Promise.race(routers.map((r) => r.waitForLog((l) => l.msg === "instance ejected")));

    // WHEN one instance is SIGKILLed after 10 of 60 calls, 3 at a time
    const records = await callLoop({
      total: 60,
      concurrency: 3,
      call: (i) => echo(client, i),
      faultAt: 10,
      fault: async () => void (await victim.kill("SIGKILL")),
    });

    // THEN calls in flight on it failed at once (no timeout: the router saw the stream end),
    // every call started once it was dead succeeded, and a router ejected the instance
    expect(failed(inPhase(records, "after"))).toStrictEqual([]);
    expect(inPhase(records, "after").length).toBeGreaterThan(30);
    expect(failed(records).length).toBeLessThanOrEqual(3 + inPhase(records, "during").length);
    for (const record of failed(records)) expect(record.error).toContain("failed during the request");
    expect((await ejected).instance).toBe(`${victim.url}/mcp`);
  });
});
