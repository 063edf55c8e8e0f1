/**
 * The mcp-server with its built-in diagnostic tools, as a real process, driven by the official
 * SDK client over both transports.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { McpServerUnderTest, TransportName } from "../../helpers/mcp-server-process";
import { connect, startMcpServer, TRANSPORTS, stopMcpServers } from "../../helpers/mcp-server-process";

jest.setTimeout(30_000);

let server: McpServerUnderTest;
const clients: Client[] = [];

beforeAll(async () => {
  server = await startMcpServer();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stopMcpServers(server);
});

describe.each(TRANSPORTS)("built-in tools over %s", (transport: TransportName) => {
  test("initialize, tools/list and tools/call echo", async () => {
    // GIVEN a client connected over the transport
    const client = await connect(server, transport);
    clients.push(client);
    // WHEN it lists the tools and calls echo
    const tools = await client.listTools();
    const result = await client.callTool({ name: "echo", arguments: { message: `hello over ${transport}` } });
    // THEN the server introduced itself, lists the diagnostic set, and echoes exactly
    expect(client.getServerVersion()).toStrictEqual({ name: "mcp-platform-diagnostics", version: "0.1.0" });
    expect(tools.tools.map((t) => t.name)).toStrictEqual(["echo", "progress", "fail"]);
    expect(result).toStrictEqual({ content: [{ type: "text", text: `hello over ${transport}` }] });
  });

  test("the progress tool streams its progress notifications to the caller", async () => {
    // GIVEN a client that records progress
    const client = await connect(server, transport);
    clients.push(client);
    const progress: unknown[] = [];
    // WHEN it calls the progress tool with a progress handler, steps 250 ms apart. (The SDK's
    // SSE client handles a notification one microtask late; an answer read in the same chunk
    // has ended the call by then, and the step is dropped. So a client stalled for longer than
    // the interval, as on a loaded CI machine at 20 ms, loses the steps it reads with the answer.)
    const result = await client.callTool(
      { name: "progress", arguments: { steps: 4, intervalMs: 250 } },
      undefined,
      {
        onprogress: (p) => progress.push(p),
      },
    );
    // THEN every step's notification arrived, in order, before the result
    expect(progress).toStrictEqual(
      [0, 1, 2, 3].map((i) => ({ progress: i, total: 4, message: `step ${i + 1} of 4` })),
    );
    expect(result).toStrictEqual({ content: [{ type: "text", text: "done after 4 steps" }] });
  });

  test("a failing tool answers isError content, and the session keeps working", async () => {
    const client = await connect(server, transport);
    clients.push(client);
    expect(await client.callTool({ name: "fail", arguments: { reason: "on purpose" } })).toStrictEqual({
      isError: true,
      content: [{ type: "text", text: "on purpose" }],
    });
    expect(await client.callTool({ name: "echo", arguments: { message: "still here" } })).toStrictEqual({
      content: [{ type: "text", text: "still here" }],
    });
  });
});
