/**
 * The mcp-server's environment (DESIGN.md "How a service is started", mcp-server table),
 * validated at boot, so a bad deployment fails at start with the variable and the reason; the
 * values are summarised in `/info`.
 */
import {
  commaListField,
  commonEnvSchema,
  envNameField,
  integerField,
  jsonField,
  mcpTransportEnvShape,
  SECRET_ENV_NAMES,
} from "@mcp-platform/shared";
import { z } from "zod";

/** Default mcp-server port inside its container; each deployment sets its 111xx PORT. */
export const MCP_SERVER_DEFAULT_PORT = 8080;

/** Upper bound of `MCP_BRIDGE_PROCESSES`: each child is a full MCP server process. */
export const MAX_BRIDGE_PROCESSES = 64;

/**
 * One entry of the standard `mcpServers` configuration (as in Claude Desktop or Cursor):
 * the stdio server to bridge. Unknown keys are rejected so a typo such as `arg` fails at boot
 * instead of silently starting the server without arguments.
 */
export const McpServerEntrySchema = z.strictObject({
  command: z.string().min(1, { error: "must not be empty" }),
  args: z.array(z.string()).optional(),
  env: z.record(z.string().min(1), z.string()).optional(),
});

/** Parsed `MCP_SERVER`. */
export type McpServerEntry = z.infer<typeof McpServerEntrySchema>;

/** Every variable the mcp-server reads. */
export const McpServerEnvSchema = commonEnvSchema({
  port: MCP_SERVER_DEFAULT_PORT,
  serviceName: "mcp-server",
}).extend({
  /** The stdio MCP server to bridge; when unset the built-in diagnostic tool set is served. */
  MCP_SERVER: jsonField(McpServerEntrySchema).optional(),
  /** Number of long-lived bridge child processes. */
  MCP_BRIDGE_PROCESSES: integerField(1, MAX_BRIDGE_PROCESSES).default(1),
  /**
   * Names of variables of this server's own environment that the bridged child also receives
   * (the service's configured `env` and `secretEnv`). A child otherwise gets only a minimal safe
   * environment (`PATH`, `HOME`, …) plus `MCP_SERVER.env`, so nothing of the platform's own
   * settings reaches third-party code unasked. The platform's own secrets cannot be named.
   */
  MCP_BRIDGE_ENV: commaListField(
    envNameField().refine((name) => !SECRET_ENV_NAMES.includes(name), {
      error: "must not name the platform's own secret variables",
    }),
  ).default([]),
  /**
   * Most requests one child has in flight at once; unset, no limit. 1 for a server that keeps
   * its data in a file it reads and rewrites per call (server-memory), whose concurrent calls
   * would lose each other's writes; requests beyond it wait their turn.
   */
  MCP_BRIDGE_CONCURRENCY: integerField(1, 10_000).optional(),
  /** First delay before restarting a child that went down; doubles per failure up to 10 s. */
  MCP_BRIDGE_BACKOFF_MS: integerField(10, 60_000).default(250),
  /**
   * Most client sessions open at once (both transports); beyond it, a new session is refused
   * with 503. Each costs little, but without a bound a flood of `initialize` requests would
   * exhaust the server's memory before idle ones expire.
   */
  MCP_MAX_SESSIONS: integerField(1, 1_000_000).default(10_000),
  ...mcpTransportEnvShape,
});

/** The mcp-server's validated environment. */
export type McpServerEnv = z.infer<typeof McpServerEnvSchema>;
