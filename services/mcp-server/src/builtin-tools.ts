/**
 * The built-in diagnostic tool set, served when `MCP_SERVER` is unset: `echo`, `progress` (a
 * tool that reports progress over a few seconds) and `fail` (a tool error on purpose). Used for
 * health checks, load tests and trying the platform.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

/** Server name and version the built-in set reports in `initialize`. */
export const BUILTIN_SERVER_INFO = { name: "mcp-platform-diagnostics", version: "0.1.0" } as const;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new Error("cancelled"));
      },
      { once: true },
    );
  });

/** A new MCP server carrying the diagnostic tools. */
export function createBuiltinServer(): McpServer {
  const server = new McpServer(BUILTIN_SERVER_INFO, { capabilities: { tools: { listChanged: true } } });

  server.registerTool(
    "echo",
    {
      description: "Returns the message it is given.",
      inputSchema: { message: z.string().describe("Text to send back") },
    },
    ({ message }) => ({ content: [{ type: "text", text: message }] }),
  );

  server.registerTool(
    "progress",
    {
      description:
        "Reports progress in `steps` steps, `intervalMs` apart, then returns. Honours cancellation.",
      inputSchema: {
        steps: z.number().int().min(1).max(100).default(5),
        intervalMs: z.number().int().min(0).max(10_000).default(500),
      },
    },
    async ({ steps, intervalMs }, extra) => {
      const token = extra._meta?.progressToken;
      // Progress is reported as each step starts, so the last notification leaves a step's
      // time before the result: clients drop progress that arrives with or after the answer.
      for (let i = 0; i < steps; i++) {
        if (token !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: i, total: steps, message: `step ${i + 1} of ${steps}` },
          });
        }
        await sleep(intervalMs, extra.signal);
      }
      return { content: [{ type: "text", text: `done after ${steps} steps` }] };
    },
  );

  server.registerTool(
    "fail",
    {
      description: "Always fails with a tool error carrying the given reason.",
      inputSchema: { reason: z.string().default("requested failure") },
    },
    ({ reason }) => ({ isError: true, content: [{ type: "text", text: reason }] }),
  );

  return server;
}
