/**
 * The gateway end to end, as a client sees it: real HAProxy (round-robin) → 3 router replicas →
 * server-everything and server-memory, 2 mcp-server instances each, started by the same launcher
 * as `npm run local`. Official SDK clients on both transports; every request may land on any
 * replica.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Platform } from "../../scripts/local/launcher";
import { launchPlatform } from "../../scripts/local/launcher";
import { E2E_PLATFORM, metricSum, sseClient, streamableClient, textOf } from "../helpers/e2e-clients";

jest.setTimeout(120_000);

const TOKEN = "e2e-token-0123456789abcdef";
let platform: Platform;
const clients: Client[] = [];

beforeAll(async () => {
  platform = await launchPlatform({ ...E2E_PLATFORM, routerEnv: { ROUTER_AUTH_TOKENS: TOKEN } });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await platform?.stop();
});

/** Sum of a router metric over the three replicas, and how many replicas have any. */
async function acrossRouters(name: string, labels: Record<string, string>): Promise<number[]> {
  return Promise.all(platform.routers.map((router) => metricSum(router, name, labels)));
}

/** One of three deterministic calls, checked. */
async function checkedCall(client: Client, i: number): Promise<void> {
  if (i % 3 === 0) {
    const result = await client.callTool({ name: "everything__echo", arguments: { message: `m${i}` } });
    expect(textOf(result)).toBe(`Echo: m${i}`);
  } else if (i % 3 === 1) {
    const result = await client.callTool({ name: "everything__get-sum", arguments: { a: i, b: 1000 } });
    expect(textOf(result)).toBe(`The sum of ${i} and 1000 is ${i + 1000}.`);
  } else {
    const result = await client.callTool({ name: "memory__read_graph", arguments: {} });
    expect(result.isError).toBeFalsy();
  }
}

describe("the merged catalog through HAProxy and 3 routers", () => {
  it("serves an SDK Streamable HTTP client: initialize, tools/list and 50 calls, on several replicas", async () => {
    // GIVEN an SDK client through the gateway, and the calls each replica has served so far
    const before = await acrossRouters("router_upstream_requests_total", { method: "tools/call" });
    const client = await streamableClient(`${platform.gatewayUrl}/mcp`, TOKEN);
    clients.push(client);

    // WHEN it lists the tools and makes 50 calls
    const { tools } = await client.listTools();
    const failures: string[] = [];
    for (let i = 0; i < 50; i++) await checkedCall(client, i).catch((e: Error) => failures.push(e.message));

    // THEN every tool of both services is there, no call failed, and more than one replica served
    const after = await acrossRouters("router_upstream_requests_total", { method: "tools/call" });
    const served = after.map((n, i) => n - (before[i] ?? 0));
    expect(tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(["everything__echo", "memory__read_graph"]),
    );
    expect(tools.every((t) => /^(everything|memory)__/.test(t.name))).toBe(true);
    expect(failures).toStrictEqual([]);
    expect(served.reduce((a, b) => a + b, 0)).toBe(50);
    expect(served.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it("serves an SDK SSE client: initialize, tools/list and 50 calls, its POSTs landing on any replica", async () => {
    // GIVEN an SSE client through the gateway, and the SSE posts forwarded between replicas so far
    const before = await acrossRouters("router_peer_forwards_total", {
      kind: "sse-message",
      outcome: "delivered",
    });
    const client = await sseClient(`${platform.gatewayUrl}/sse`, TOKEN);
    clients.push(client);

    // WHEN it lists the tools and makes 50 calls
    const { tools } = await client.listTools();
    const failures: string[] = [];
    for (let i = 0; i < 50; i++) await checkedCall(client, i).catch((e: Error) => failures.push(e.message));

    // THEN nothing failed, and POSTs that reached another replica were forwarded to the stream's owner
    const after = await acrossRouters("router_peer_forwards_total", {
      kind: "sse-message",
      outcome: "delivered",
    });
    const forwarded = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
    expect(tools.length).toBeGreaterThan(10);
    expect(failures).toStrictEqual([]);
    expect(forwarded).toBeGreaterThan(0);
  });

  it("forwards progress notifications of a call to the client", async () => {
    // GIVEN a client
    const client = await streamableClient(`${platform.gatewayUrl}/mcp`, TOKEN);
    clients.push(client);
    const progress: number[] = [];

    // WHEN it calls a tool that reports progress in 3 steps
    const result = await client.callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );

    // THEN every step reached it, then the result
    expect(progress).toStrictEqual([1, 2, 3]);
    expect(textOf(result)).toContain("Long running operation completed");
  });

  it("forwards a cancellation to the replica running the call, wherever it lands", async () => {
    // GIVEN a client running a 30-step call
    const client = await streamableClient(`${platform.gatewayUrl}/mcp`, TOKEN);
    clients.push(client);
    const controller = new AbortController();
    const cancelled = Promise.race(
      platform.routers.map((r) => r.waitForLog((l) => l.msg === "request cancelled by the client")),
    );

    // WHEN it cancels after the first progress notification
    const call = client.callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 30, steps: 30 } },
      undefined,
      { signal: controller.signal, onprogress: () => controller.abort("user cancelled") },
    );

    // THEN the call is abandoned at once with the client's reason, and the router running it
    // aborts it upstream: it logs so either when the cancellation reached it directly or when
    // another replica handed it over (without that line the test runs into its timeout)
    await expect(call).rejects.toThrow("user cancelled");
    const line = await cancelled;
    expect([false, true]).toContain(line.peerForwarded);
  });
});

describe("the passthrough endpoint through HAProxy and 3 routers", () => {
  /** Everything a client sees of server-everything, through `client`. */
  async function view(client: Client): Promise<Record<string, unknown>> {
    const progress: unknown[] = [];
    return {
      server: client.getServerVersion(),
      capabilities: client.getServerCapabilities(),
      instructions: client.getInstructions(),
      tools: await client.listTools(),
      prompts: await client.listPrompts(),
      resources: await client.listResources(),
      templates: await client.listResourceTemplates(),
      echo: await client.callTool({ name: "echo", arguments: { message: "same" } }),
      sum: await client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } }),
      structured: await client.callTool({
        name: "get-structured-content",
        arguments: { location: "Chicago" },
      }),
      image: await client.callTool({ name: "get-tiny-image", arguments: {} }),
      unknownTool: await client
        .callTool({ name: "no-such-tool", arguments: {} })
        .catch((e: Error) => e.message),
      simplePrompt: await client.getPrompt({ name: "simple-prompt" }),
      argsPrompt: await client.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } }),
      document: await client.readResource({ uri: "demo://resource/static/document/architecture.md" }),
      longRun: await client.callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 0.2, steps: 2 } },
        undefined,
        { onprogress: (p) => progress.push(p) },
      ),
      progress,
    };
  }

  it("shows server-everything exactly as a client reaching an instance directly sees it", async () => {
    // GIVEN a client through /services/everything/mcp and one straight to an instance
    const through = await streamableClient(`${platform.gatewayUrl}/services/everything/mcp`, TOKEN);
    const direct = await streamableClient(`${platform.services.everything?.[0]?.url}/mcp`);
    clients.push(through, direct);

    // WHEN each looks at everything the server offers and calls it
    const [seenThrough, seenDirect] = [await view(through), await view(direct)];

    // THEN they see the same server, lists and results
    expect(seenThrough).toStrictEqual(seenDirect);
    expect((seenThrough.tools as { tools: unknown[] }).tools.length).toBeGreaterThan(10);
  });
});

describe("a service's direct port on HAProxy, over its two instances", () => {
  it("spreads new sessions over the instances and keeps each one's requests on its own, on both transports", async () => {
    // GIVEN the direct port of server-everything (2 instances; every client here comes from
    // 127.0.0.1, as every client does behind Docker's port proxy), and its sessions so far
    const url = platform.serviceUrls.everything;
    const instances = platform.services.everything ?? [];
    expect(instances).toHaveLength(2);
    const sessionsOn = (transport: string) =>
      Promise.all(instances.map((instance) => metricSum(instance, "mcp_sessions_active", { transport })));
    const before = [await sessionsOn("streamable-http"), await sessionsOn("sse")];

    // WHEN 4 Streamable HTTP clients and then 4 legacy SSE clients connect there, and each makes
    // 5 calls
    const direct: Client[] = [];
    for (const open of [() => streamableClient(`${url}/mcp`), () => sseClient(`${url}/sse`)]) {
      for (let i = 0; i < 4; i++) {
        const client = await open();
        clients.push(client);
        direct.push(client);
      }
    }
    const failures: string[] = [];
    for (const [i, client] of direct.entries()) {
      for (let j = 0; j < 5; j++) {
        const result = await client
          .callTool({ name: "echo", arguments: { message: `d${i}-${j}` } })
          .catch((error: Error) => ({ failed: error.message }));
        if (textOf(result) !== `Echo: d${i}-${j}`) failures.push(JSON.stringify(result));
      }
    }

    // THEN every call was answered, and each instance holds new sessions of both transports
    const after = [await sessionsOn("streamable-http"), await sessionsOn("sse")];
    expect(failures).toStrictEqual([]);
    const gained = after.map((counts, t) => counts.map((n, k) => n - (before[t]?.[k] ?? 0) > 0));
    expect(gained).toStrictEqual([
      [true, true],
      [true, true],
    ]);
  });
});
