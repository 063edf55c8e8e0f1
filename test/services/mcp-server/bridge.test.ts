/**
 * The stdio bridge against real npm MCP servers (devDependencies), as a real process, through
 * the official SDK client on both transports.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { McpServerUnderTest, TransportName } from "../../helpers/mcp-server-process";
import {
  connect,
  npmServer,
  startMcpServer,
  TRANSPORTS,
  stopMcpServers,
} from "../../helpers/mcp-server-process";

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "mcp-bridge-"));
const memoryFile = join(dir, "memory.jsonl");
const servers: Record<"everything" | "filesystem" | "memory", McpServerUnderTest> = {} as never;
const clients: Client[] = [];

beforeAll(async () => {
  [servers.everything, servers.filesystem, servers.memory] = await Promise.all([
    startMcpServer({ MCP_SERVER: npmServer("mcp-server-everything", "stdio"), MCP_BRIDGE_PROCESSES: "2" }),
    startMcpServer({ MCP_SERVER: npmServer("mcp-server-filesystem", dir) }),
    // Configured as the platform configures it: the service's own variable, handed on by name.
    startMcpServer({
      MCP_SERVER: npmServer("mcp-server-memory"),
      MEMORY_FILE_PATH: memoryFile,
      MCP_BRIDGE_ENV: "MEMORY_FILE_PATH",
      MCP_BRIDGE_CONCURRENCY: "1",
    }),
  ]);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stopMcpServers(...Object.values(servers));
  rmSync(dir, { recursive: true, force: true });
});

async function client(name: keyof typeof servers, transport: TransportName): Promise<Client> {
  const c = await connect(servers[name], transport);
  clients.push(c);
  return c;
}

describe.each(TRANSPORTS)("bridged npm servers over %s", (transport) => {
  test("server-everything: lists and calls its tools, prompts and resources", async () => {
    // GIVEN a client of the bridged server-everything
    const c = await client("everything", transport);
    // WHEN it lists and calls
    const tools = (await c.listTools()).tools.map((t) => t.name);
    const echo = await c.callTool({ name: "echo", arguments: { message: `via ${transport}` } });
    const sum = await c.callTool({ name: "get-sum", arguments: { a: 2, b: 40 } });
    const prompts = (await c.listPrompts()).prompts.map((p) => p.name);
    // THEN it sees the real server's catalog and results
    expect(c.getServerVersion()?.name).toBe("mcp-servers/everything");
    expect(tools).toEqual(expect.arrayContaining(["echo", "get-sum", "trigger-long-running-operation"]));
    expect(echo).toStrictEqual({ content: [{ type: "text", text: `Echo: via ${transport}` }] });
    expect(sum.content).toStrictEqual([{ type: "text", text: "The sum of 2 and 40 is 42." }]);
    expect(prompts.length).toBeGreaterThan(0);
  });

  test("server-filesystem on a temp folder: writes and reads a file", async () => {
    const c = await client("filesystem", transport);
    const file = join(dir, `note-${transport}.txt`);
    const written = await c.callTool({
      name: "write_file",
      arguments: { path: file, content: `hello ${transport}` },
    });
    const read = await c.callTool({ name: "read_text_file", arguments: { path: file } });
    expect(written.isError).toBeUndefined();
    expect(read.content).toStrictEqual([{ type: "text", text: `hello ${transport}` }]);
  });

  test("server-memory: stores an entity and reads it back", async () => {
    const c = await client("memory", transport);
    const entity = {
      name: `probe-${transport}`,
      entityType: "test",
      observations: [`seen over ${transport}`],
    };
    await c.callTool({ name: "create_entities", arguments: { entities: [entity] } });
    const found = await c.callTool({ name: "open_nodes", arguments: { names: [entity.name] } });
    const graph = JSON.parse((found.content as { text: string }[])[0]!.text) as { entities: unknown[] };
    expect(graph.entities).toStrictEqual([entity]);
    // AND it is stored where the service's MEMORY_FILE_PATH says (the volume, in the stacks)
    const stored = readFileSync(memoryFile, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { type: string; name?: string });
    expect(stored).toContainEqual({ type: "entity", ...entity });
  });
});

describe("sessions sharing bridge children", () => {
  test("20 concurrent sessions with interleaved calls each get exactly their own results", async () => {
    // GIVEN 20 sessions, half per transport, on a server with 2 children
    const sessions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client("everything", i % 2 === 0 ? "streamable-http" : "sse")),
    );
    // WHEN each sends 5 calls, all in flight together
    const results = await Promise.all(
      sessions.flatMap((c, s) =>
        Array.from({ length: 5 }, async (_, k) => {
          const r = await c.callTool({ name: "echo", arguments: { message: `session ${s} call ${k}` } });
          return [`session ${s} call ${k}`, r] as const;
        }),
      ),
    );
    // THEN every answer is the caller's own
    expect(results.map(([, r]) => r)).toStrictEqual(
      results.map(([sent]) => ({ content: [{ type: "text", text: `Echo: ${sent}` }] })),
    );
    expect(results).toHaveLength(100);
  });
});

test("server-memory, one call at a time (MCP_BRIDGE_CONCURRENCY=1), keeps every write of 10 sessions writing at once", async () => {
  // GIVEN 10 sessions of the memory service as the platform runs it (the child rewrites its
  // whole file per call: two calls at once lose one's write)
  const sessions = await Promise.all(
    Array.from({ length: 10 }, (_, i) => client("memory", TRANSPORTS[i % 2]!)),
  );

  // WHEN each creates 5 entities, all 50 calls at once
  await Promise.all(
    sessions.flatMap((c, i) =>
      Array.from({ length: 5 }, (_, j) =>
        c.callTool({
          name: "create_entities",
          arguments: { entities: [{ name: `concurrent-${i}-${j}`, entityType: "test", observations: [] }] },
        }),
      ),
    ),
  );

  // THEN the graph holds all 50
  const graph = await sessions[0]!.callTool({ name: "read_graph", arguments: {} });
  const names = (
    JSON.parse((graph.content as { text: string }[])[0]!.text) as { entities: { name: string }[] }
  ).entities
    .map((e) => e.name)
    .filter((name) => name.startsWith("concurrent-"));
  expect(names.length).toBe(50);
});
