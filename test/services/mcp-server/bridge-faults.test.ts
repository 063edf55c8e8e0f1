/**
 * Faults of the stdio bridge with a real npm server: a child killed mid-call, and shutdown with
 * children and grandchildren running.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { connect as connectSocket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  childPids,
  connect,
  survivors,
  killAll,
  npmServer,
  startMcpServer,
  TRANSPORTS,
} from "../../helpers/mcp-server-process";
import { httpGet, stopAllServices } from "../../helpers/service-process";

jest.setTimeout(60_000);

const leftovers: number[] = [];
const clients: Client[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAllServices();
  killAll(leftovers.splice(0));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * `MCP_SERVER` for the real everything server behind a gate: its first start runs at once, every
 * later one (a restart) waits in `sh` until `open()` is called, and only then execs the server.
 * Readiness can then be seen false for as long as the test needs, without racing the backoff.
 */
function gatedEverythingServer(): { server: string; open: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "bridge-gate-"));
  dirs.push(dir);
  const [started, gate] = [join(dir, "started"), join(dir, "gate")];
  execFileSync("mkfifo", [gate]);
  const everything = (JSON.parse(npmServer("mcp-server-everything")) as { command: string }).command;
  const script = `if [ -e '${started}' ]; then read go < '${gate}'; fi; : > '${started}'; exec '${everything}' stdio`;
  return {
    server: JSON.stringify({ command: "sh", args: ["-c", script] }),
    // Opening a FIFO to write waits for its reader: this resolves once the restart passed the gate.
    open: () => writeFile(gate, "go\n"),
  };
}

describe.each(TRANSPORTS)("a child killed mid-call, over %s", (transport) => {
  test("fails the in-flight call clearly, readiness drops and recovers, and the next call succeeds", async () => {
    // GIVEN one bridged child whose restart waits at a gate until the test opens it, and a call
    // in flight on it
    const gated = gatedEverythingServer();
    const server = await startMcpServer({ MCP_SERVER: gated.server });
    const client = await connect(server, transport);
    clients.push(client);
    const [child] = childPids(server.proc.child.pid!);
    leftovers.push(child!);
    const started = server.proc.lines.length;
    // The child has the call once it reports the operation's first progress.
    let reached!: () => void;
    const onChild = new Promise<void>((resolve) => (reached = resolve));
    const inFlight = client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } },
      undefined,
      { onprogress: () => reached() },
    );
    const outcome = inFlight.then(
      () => "answered",
      (error: unknown) => error,
    );
    await onChild;

    // WHEN the child is killed
    process.kill(child!, "SIGKILL");

    // THEN the call fails with an error naming what happened
    const error = await outcome;
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32603);
    expect((error as McpError).message).toBe(
      "MCP error -32603: the tool server process was killed by SIGKILL while handling this request; it is being restarted",
    );
    // AND readiness is false once the link is down (its restart is held at the gate), then true
    // again once the new child is up
    await server.proc.waitForLog((l) => l.msg === "bridge link went down");
    const whileDown = (await httpGet(`${server.base}/health/ready`)).status;
    await gated.open();
    await server.proc.waitForLog((l) => l.msg === "bridge link up" && server.proc.lines.indexOf(l) > started);
    leftovers.push(...childPids(server.proc.child.pid!));
    const afterRestart = (await httpGet(`${server.base}/health/ready`)).status;
    expect([whileDown, afterRestart]).toStrictEqual([503, 200]);
    // AND the same session's next call succeeds on the new child
    expect(await client.callTool({ name: "echo", arguments: { message: "after restart" } })).toStrictEqual({
      content: [{ type: "text", text: "Echo: after restart" }],
    });
    const metrics = (await httpGet(`${server.base}/metrics`)).body;
    expect(metrics).toContain('mcp_bridge_child_restarts_total{service="mcp-server"} 1');
    expect(metrics).toContain(
      'mcp_tool_calls_total{tool="trigger-long-running-operation",outcome="crashed",service="mcp-server"} 1',
    );
  });
});

/** A server with 3 children, each a shell that leaves a grandchild behind before exec'ing server-memory. */
async function serverWithGrandchildren(env: Record<string, string> = {}) {
  const memory = JSON.parse(npmServer("mcp-server-memory")).command as string;
  const server = await startMcpServer({
    MCP_SERVER: JSON.stringify({ command: "sh", args: ["-c", `sleep 300 & exec ${memory}`] }),
    MCP_BRIDGE_PROCESSES: "3",
    ...env,
  });
  await server.proc.waitForLog(
    (l) =>
      server.proc.lines.filter((x) => x.msg === "bridge link up").length === 3 && l.msg === "bridge link up",
  );
  const children = childPids(server.proc.child.pid!);
  const grandchildren = children.flatMap((pid) => childPids(pid));
  leftovers.push(...children, ...grandchildren);
  expect([children.length, grandchildren.length]).toStrictEqual([3, 3]);
  return { server, started: [...children, ...grandchildren] };
}

test("no child or grandchild survives the server's shutdown", async () => {
  // GIVEN 3 children with a grandchild each
  const { server, started } = await serverWithGrandchildren();

  // WHEN the server is told to stop
  server.proc.child.kill("SIGTERM");
  const exit = await server.proc.exited;

  // THEN it exited cleanly and every process it started is gone
  expect(exit).toStrictEqual({ code: 0, signal: null });
  expect(await survivors(started)).toStrictEqual([]);
});

test("no child or grandchild survives a shutdown forced at its deadline", async () => {
  // GIVEN 3 children with a grandchild each, a 1.5 s shutdown budget, and a client that holds a
  // connection with a request it never finishes (so the close cannot complete in time)
  const { server, started } = await serverWithGrandchildren({ SHUTDOWN_TIMEOUT_MS: "1500" });
  const socket = connectSocket(server.port);
  await once(socket, "connect");
  socket.write("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n");

  // WHEN the server is told to stop
  server.proc.child.kill("SIGTERM");
  const exit = await server.proc.exited;
  socket.destroy();

  // THEN the close was forced, and still every process it started is gone
  expect(exit).toStrictEqual({ code: 1, signal: null });
  expect(server.proc.lines.some((l) => l.msg === "drain deadline passed; closing open connections")).toBe(
    true,
  );
  expect(await survivors(started)).toStrictEqual([]);
});

describe.each(TRANSPORTS)("a shutdown with a call still running, over %s", (transport) => {
  test("answers the call with an internal error before the session closes, and exits 0", async () => {
    // GIVEN a server whose shutdown waits 1 s for running calls (6 s budget, 5 s kept for the
    // children), and a call on it that runs far longer and has started
    const server = await startMcpServer({ SHUTDOWN_TIMEOUT_MS: "6000" });
    const client = await connect(server, transport);
    clients.push(client);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const call = client.callTool(
      { name: "progress", arguments: { steps: 10, intervalMs: 10_000 } },
      undefined,
      {
        onprogress: () => started(),
        timeout: 30_000,
      },
    );
    const outcome = call.then(
      () => "answered",
      (error: unknown) => error,
    );
    await running;

    // WHEN the server is told to stop
    server.proc.child.kill("SIGTERM");

    // THEN the call was answered with -32603 naming the shutdown (not ended by the stream's
    // close), and the server exited cleanly
    const error = await outcome;
    expect(error).toBeInstanceOf(McpError);
    expect([(error as McpError).code, (error as McpError).message]).toStrictEqual([
      -32603,
      "MCP error -32603: the session was closed (server shutting down)",
    ]);
    expect(await server.proc.exited).toStrictEqual({ code: 0, signal: null });
  });
});
