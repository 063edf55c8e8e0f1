/**
 * The built mcp-server as a real process for tests, plus what the tests need around it: SDK
 * clients on both transports, the child processes it runs, and a raw JSON-RPC POST.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ServiceProcess } from "./service-process";
import { REPO_ROOT, startService, stopAllServices } from "./service-process";

/** The two MCP transports the server offers. */
export type TransportName = "streamable-http" | "sse";
export const TRANSPORTS: readonly TransportName[] = ["streamable-http", "sse"];

/** A started mcp-server. */
export interface McpServerUnderTest {
  readonly proc: ServiceProcess;
  readonly port: number;
  readonly base: string;
}

/** `MCP_SERVER` for one of the real npm stdio servers installed as dev dependencies. */
export function npmServer(
  bin: "mcp-server-everything" | "mcp-server-memory" | "mcp-server-filesystem",
  ...args: string[]
): string {
  return JSON.stringify({ command: join(REPO_ROOT, "node_modules", ".bin", bin), args });
}

/** Start the built mcp-server on 127.0.0.1 and wait until it is ready. */
export async function startMcpServer(env: Record<string, string> = {}): Promise<McpServerUnderTest> {
  const proc = startService("mcp-server", { HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env });
  const port = (await proc.waitForLog((l) => l.msg === "listening")).port as number;
  await proc.waitForLog((l) => l.msg === "bridge link up");
  return { proc, port, base: `http://127.0.0.1:${port}` };
}

/**
 * Stops servers the way a container stop does (SIGTERM, waiting for their exit), then kills
 * whatever a failed test left running.
 */
export async function stopMcpServers(...servers: McpServerUnderTest[]): Promise<void> {
  for (const server of servers) server.proc.child.kill("SIGTERM");
  await Promise.all(servers.map((server) => server.proc.exited));
  await stopAllServices();
}

/** An SDK client connected over the given transport. */
export async function connect(server: McpServerUnderTest, transport: TransportName): Promise<Client> {
  const client = new Client({ name: "mcp-platform-test", version: "1.0.0" });
  await client.connect(
    transport === "sse"
      ? new SSEClientTransport(new URL(`${server.base}/sse`))
      : new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`)),
  );
  return client;
}

/** PIDs of a process's direct children. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/**
 * Whether a process is still running. A zombie (exited, waiting for its new parent to reap it)
 * is not: it holds no resources and runs no code.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * The processes of `pids` still running once each had a moment to die: a process sent SIGKILL
 * goes only when it is next scheduled, which on a loaded machine may come after its killer's
 * exit. Polls up to `attempts` times, 50 ms apart.
 */
export async function survivors(pids: readonly number[], attempts = 40): Promise<number[]> {
  let alive = pids.filter(isAlive);
  for (let i = 0; i < attempts && alive.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** Kill leftovers by pid (test cleanup after a failure). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The protocol version the raw-HTTP tests negotiate. */
export const RAW_PROTOCOL = "2025-06-18";

/** An `initialize` request with id `id`, as the raw-HTTP tests send it. */
export function initializeBody(id = 0): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: { protocolVersion: RAW_PROTOCOL, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  });
}

/**
 * POST a raw body over a fresh connection; returns status, headers and text. node:http, not
 * fetch, so a test can send any `Host` header (fetch silently replaces it).
 */
export function rawPost(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers: h, text });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
